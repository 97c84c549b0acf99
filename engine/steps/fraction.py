"""`fraction`: how much of the region is in a colour range ("is the ammo panel there?")."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.vision.regions import IntBox
from engine.lang.schema import param
from engine.steps.base import BoxResult, ColorRangeStep, FrameContext


@dataclass(kw_only=True)
class FractionStep(ColorRangeStep):
    """Fraction (0-1) of the region's pixels inside any of the colour ranges."""

    kind = "fraction"
    summary = "0..1 of pixels in the colour ranges"

    min: float = param(0.0, help="hit when the fraction is at least this", lo=0, hi=1)
    max: float = param(1.0, help="and at most this", lo=0, hi=1)

    @property
    def threshold(self) -> float:  # type: ignore[override]
        return self.min

    def measure(self, crop: np.ndarray, prepared: np.ndarray, box: IntBox, fc: FrameContext) -> BoxResult:
        mask = self._ranges.mask(prepared)
        frac = cv2.countNonZero(mask) / mask.size
        hit = self.min <= frac <= self.max
        reason = None if hit else f"fraction {frac:.3f} not in [{self.min:g}, {self.max:g}]"
        return BoxResult(value=round(frac, 4), hit=hit, score=frac, reason=reason)
