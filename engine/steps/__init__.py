"""Step types: one class per file, whose typed parameters are its YAML keys and schema.

Adding a step type means adding a file here and listing its class below.
"""
from __future__ import annotations

from engine.steps.bar import BarStep
from engine.steps.base import Step
from engine.steps.color import ColorStep
from engine.steps.fraction import FractionStep
from engine.steps.glyphs import GlyphsStep
from engine.steps.ocr import OcrStep
from engine.steps.palette import PaletteStep
from engine.steps.template import TemplateStep

STEP_TYPES: dict[str, type[Step]] = {
    cls.kind: cls for cls in (OcrStep, GlyphsStep, TemplateStep, FractionStep, ColorStep, PaletteStep, BarStep)
}
