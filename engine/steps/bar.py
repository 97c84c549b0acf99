"""`bar`: how full a bar is ("health 82%")."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from engine.lang.schema import param
from engine.lang.yamlsrc import KeyPath
from engine.steps.base import (BoxResult, ColorRangeStep, CompiledStep, CompileContext, FrameContext, PrepChain,
                               RelativeBox)
from engine.vision.prep import ColorRanges
from engine.vision.regions import CompiledRegion, IntBox


@dataclass(frozen=True, kw_only=True)
class BarStep(ColorRangeStep):
    """Fill of a bar: the share of columns (or rows) whose pixels are mostly in the colour ranges."""

    kind = "bar"
    summary = "fill 0..1 (or percent)"

    direction: Literal["right", "left", "up", "down"] = param("right", help="the way the bar grows")
    column_fraction: float = param(0.5, help="a column counts as filled when this share of it is in range", lo=0, hi=1)
    percent: bool = param(False, help="answer 0-100 instead of 0-1")

    def build(self, ctx: CompileContext, path: KeyPath, region: CompiledRegion | RelativeBox,
              prep: PrepChain) -> CompiledBar:
        return CompiledBar(self, region, prep, ranges=self.color_ranges())


@dataclass(frozen=True, eq=False, kw_only=True)
class CompiledBar(CompiledStep[BarStep]):
    ranges: ColorRanges

    def measure(self, crop: np.ndarray, prepared: np.ndarray, box: IntBox, fc: FrameContext) -> BoxResult:
        spec = self.spec
        mask = self.ranges.mask(prepared) > 0
        axis = 0 if spec.direction in ("right", "left") else 1
        filled = mask.mean(axis=axis) >= spec.column_fraction
        if spec.direction in ("left", "up"):
            filled = filled[::-1]
        # the fill runs from the start: the last filled cell tells the level, robust to a gap
        # left by an overlapping icon or a damage flash inside the bar
        idx = np.nonzero(filled)[0]
        fill = float(idx[-1] + 1) / len(filled) if len(idx) else 0.0
        value = round(fill * 100, 1) if spec.percent else round(fill, 4)
        return BoxResult(value=value, hit=True, score=fill)
