"""`palette`: the named colour nearest to the region's colour ("the shield is purple")."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from engine.vision.regions import IntBox
from engine.lang.schema import param
from engine.vision.prep import BGR
from engine.steps.base import BoxResult, CompileContext, FrameContext, Step
from engine.lang.yamlsrc import KeyPath


@dataclass(kw_only=True)
class PaletteStep(Step):
    """Nearest named colour to the region's median colour, compared in Lab (close to how eyes judge)."""

    kind = "palette"
    summary = "name of the nearest palette colour"

    colors: dict[str, BGR] = param(help="{name: [b, g, r]}, each 0-255", nonempty="give at least one named colour")
    max_distance: float = param(60.0, help="Lab distance beyond which no colour is named", lo=0)
    stat: Literal["mean", "median"] = param("median", help="how the region's colour is taken")

    def compile_step(self, ctx: CompileContext, path: KeyPath) -> None:
        if not self.colors:
            raise ctx.src.error(path + ("colors",), "give at least one named colour")
        for name, bgr in self.colors.items():
            if not all(0 <= v <= 255 for v in bgr):
                raise ctx.src.error(path + ("colors", name), f"expected three numbers 0-255, got {list(bgr)}")
        names = list(self.colors)
        swatch = np.array([[self.colors[n] for n in names]], dtype=np.uint8)
        self._names = names
        self._lab = cv2.cvtColor(swatch, cv2.COLOR_BGR2LAB)[0].astype(np.float32)

    def measure(self, crop: np.ndarray, prepared: np.ndarray, box: IntBox, fc: FrameContext) -> BoxResult:
        img = prepared if prepared.ndim == 3 else cv2.cvtColor(prepared, cv2.COLOR_GRAY2BGR)
        flat = img.reshape(-1, 3)
        colour = np.median(flat, axis=0) if self.stat == "median" else flat.mean(axis=0)
        lab = cv2.cvtColor(colour.astype(np.uint8).reshape(1, 1, 3), cv2.COLOR_BGR2LAB)[0, 0].astype(np.float32)
        d = np.linalg.norm(self._lab - lab, axis=1)
        order = np.argsort(d)
        best = int(order[0])
        details = {"color": [int(v) for v in colour], "distance": round(float(d[best]), 1)}
        if len(order) > 1:
            details["runner_up"] = self._names[int(order[1])]
        if d[best] > self.max_distance:
            return BoxResult(value=None, hit=False, score=float(d[best]),
                             reason=f"nearest {self._names[best]} is {d[best]:.0f} away (> {self.max_distance:g})", details=details)
        conf = max(0.0, 1.0 - float(d[best]) / max(self.max_distance, 1e-6))
        return BoxResult(value=self._names[best], hit=True, score=float(d[best]), confidence=round(conf, 3), details=details)
