"""`color`: the mean or median colour of the region."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from engine.vision.prep import to_space
from engine.vision.regions import IntBox
from engine.lang.schema import param
from engine.steps.base import BoxResult, FrameContext, Step


@dataclass(kw_only=True)
class ColorStep(Step):
    """Mean or median colour of the region, as [b, g, r] (or [h, s, v])."""

    kind = "color"
    summary = "[b, g, r] mean or median"

    stat: Literal["mean", "median"] = param("mean", help="mean is faster; median ignores small overlays")
    space: Literal["bgr", "hsv"] = param("bgr", help="colour space of the answer")

    def measure(self, crop: np.ndarray, prepared: np.ndarray, box: IntBox, fc: FrameContext) -> BoxResult:
        img = to_space(prepared, self.space) if prepared.ndim == 3 else prepared
        if self.stat == "mean":
            value = [round(v, 1) for v in cv2.mean(img)[: (3 if img.ndim == 3 else 1)]]
        else:
            flat = img.reshape(-1, img.shape[2] if img.ndim == 3 else 1)
            value = [float(v) for v in np.median(flat, axis=0)]
        return BoxResult(value=value, hit=True)
