"""`fraction`: how much of the region is in a colour range ("is the ammo panel there?")."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.lang.schema import param
from engine.lang.yamlsrc import KeyPath
from engine.steps.base import (BoxResult, ColorRangeStep, CompiledStep, CompileContext, FrameContext, PrepChain,
                               RelativeBox)
from engine.vision.prep import ColorRanges
from engine.vision.regions import CompiledRegion, IntBox


@dataclass(frozen=True, kw_only=True)
class FractionStep(ColorRangeStep):
    """Fraction (0-1) of the region's pixels inside any of the colour ranges."""

    kind = "fraction"
    summary = "0..1 of pixels in the colour ranges"

    min: float = param(0.0, help="hit when the fraction is at least this", lo=0, hi=1)
    max: float = param(1.0, help="and at most this", lo=0, hi=1)

    def build(self, ctx: CompileContext, path: KeyPath, region: CompiledRegion | RelativeBox,
              prep: PrepChain) -> CompiledFraction:
        return CompiledFraction(self, region, prep, ranges=self.color_ranges())


@dataclass(frozen=True, eq=False, kw_only=True)
class CompiledFraction(CompiledStep[FractionStep]):
    ranges: ColorRanges

    @property
    def threshold(self) -> float:
        return self.spec.min

    def measure(self, crop: np.ndarray, prepared: np.ndarray, box: IntBox, fc: FrameContext) -> BoxResult:
        lo, hi = self.spec.min, self.spec.max
        mask = self.ranges.mask(prepared)
        frac = cv2.countNonZero(mask) / mask.size
        hit = lo <= frac <= hi
        reason = None if hit else f"fraction {frac:.3f} not in [{lo:g}, {hi:g}]"
        return BoxResult(value=round(frac, 4), hit=hit, score=frac, reason=reason)
