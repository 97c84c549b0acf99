"""`color`: the mean or median colour of the region."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from engine.vision.prep import to_space
from engine.vision.regions import CompiledRegion, IntBox
from engine.lang.schema import param
from engine.lang.yamlsrc import KeyPath
from engine.steps.base import BoxResult, CompiledStep, CompileContext, FrameContext, PrepChain, RelativeBox, Step


@dataclass(frozen=True, kw_only=True)
class ColorStep(Step):
    """Mean or median colour of the region, as [b, g, r] (or [h, s, v])."""

    kind = "color"
    summary = "[b, g, r] mean or median"

    stat: Literal["mean", "median"] = param("mean", help="mean is faster; median ignores small overlays")
    space: Literal["bgr", "hsv"] = param("bgr", help="colour space of the answer")

    def build(self, ctx: CompileContext, path: KeyPath, region: CompiledRegion | RelativeBox,
              prep: PrepChain) -> CompiledColor:
        return CompiledColor(self, region, prep)


@dataclass(frozen=True, eq=False)
class CompiledColor(CompiledStep[ColorStep]):
    def measure(self, crop: np.ndarray, prepared: np.ndarray, box: IntBox, fc: FrameContext) -> BoxResult:
        img = to_space(prepared, self.spec.space) if prepared.ndim == 3 else prepared
        if self.spec.stat == "mean":
            value = [round(v, 1) for v in cv2.mean(img)[: (3 if img.ndim == 3 else 1)]]
        else:
            flat = img.reshape(-1, img.shape[2] if img.ndim == 3 else 1)
            value = [float(v) for v in np.median(flat, axis=0)]
        return BoxResult(value=value, hit=True)
