"""`bar`: how full a bar is ("health 82%")."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from engine.vision.regions import IntBox
from engine.lang.schema import param
from engine.steps.base import BoxResult, ColorRangeStep, FrameContext


@dataclass(kw_only=True)
class BarStep(ColorRangeStep):
    """Fill of a bar: the share of columns (or rows) whose pixels are mostly in the colour ranges."""

    kind = "bar"
    summary = "fill 0..1 (or percent)"

    direction: Literal["right", "left", "up", "down"] = param("right", help="the way the bar grows")
    column_fraction: float = param(0.5, help="a column counts as filled when this share of it is in range", lo=0, hi=1)
    percent: bool = param(False, help="answer 0-100 instead of 0-1")

    def measure(self, crop: np.ndarray, prepared: np.ndarray, box: IntBox, fc: FrameContext) -> BoxResult:
        mask = self._ranges.mask(prepared) > 0
        axis = 0 if self.direction in ("right", "left") else 1
        filled = mask.mean(axis=axis) >= self.column_fraction
        if self.direction in ("left", "up"):
            filled = filled[::-1]
        # the fill runs from the start: the last filled cell tells the level, robust to a gap
        # left by an overlapping icon or a damage flash inside the bar
        idx = np.nonzero(filled)[0]
        fill = float(idx[-1] + 1) / len(filled) if len(idx) else 0.0
        value = round(fill * 100, 1) if self.percent else round(fill, 4)
        return BoxResult(value=value, hit=True, score=fill)
