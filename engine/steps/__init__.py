"""Step types: one file each, holding the spec (whose typed parameters are its YAML keys and
schema) and the compiled step that ``spec.compile`` returns.

Adding a step type means adding a file here and listing its spec class below.
"""
from __future__ import annotations

from engine.steps.bar import BarStep
from engine.steps.base import CompiledStep, Step
from engine.steps.color import ColorStep
from engine.steps.fraction import FractionStep
from engine.steps.glyphs import GlyphsStep
from engine.steps.ocr import OcrStep
from engine.steps.palette import PaletteStep
from engine.steps.template import TemplateStep

STEP_TYPES: dict[str, type[Step]] = {
    cls.kind: cls for cls in (OcrStep, GlyphsStep, TemplateStep, FractionStep, ColorStep, PaletteStep, BarStep)
}

__all__ = ["STEP_TYPES", "CompiledStep", "Step"]
