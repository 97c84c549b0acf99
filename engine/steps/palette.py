"""`palette`: the named colour nearest to the region's colour ("the shield is purple")."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from engine.vision.regions import CompiledRegion, IntBox
from engine.lang.schema import param
from engine.vision.prep import BGR
from engine.steps.base import BoxResult, CompiledStep, CompileContext, FrameContext, PrepChain, RelativeBox, Step
from engine.lang.yamlsrc import KeyPath


@dataclass(frozen=True, kw_only=True)
class PaletteStep(Step):
    """Nearest named colour to the region's median colour, compared in Lab (close to how eyes judge)."""

    kind = "palette"
    summary = "name of the nearest palette colour"

    colors: dict[str, BGR] = param(help="{name: [b, g, r]}, each 0-255", nonempty="give at least one named colour")
    max_distance: float = param(60.0, help="Lab distance beyond which no colour is named", lo=0)
    stat: Literal["mean", "median"] = param("median", help="how the region's colour is taken")

    def build(self, ctx: CompileContext, path: KeyPath, region: CompiledRegion | RelativeBox,
              prep: PrepChain) -> CompiledPalette:
        # colors is non-empty and 0-255 (its declaration): the swatch converts as written
        names = tuple(self.colors)
        swatch = np.array([[self.colors[n] for n in names]], dtype=np.uint8)
        lab = cv2.cvtColor(swatch, cv2.COLOR_BGR2LAB)[0].astype(np.float32)
        return CompiledPalette(self, region, prep, names=names, lab=lab)


@dataclass(frozen=True, eq=False, kw_only=True)
class CompiledPalette(CompiledStep[PaletteStep]):
    names: tuple[str, ...]
    lab: np.ndarray         # one Lab row per name

    def measure(self, crop: np.ndarray, prepared: np.ndarray, box: IntBox, fc: FrameContext) -> BoxResult:
        spec = self.spec
        img = prepared if prepared.ndim == 3 else cv2.cvtColor(prepared, cv2.COLOR_GRAY2BGR)
        flat = img.reshape(-1, 3)
        colour = np.median(flat, axis=0) if spec.stat == "median" else flat.mean(axis=0)
        lab = cv2.cvtColor(colour.astype(np.uint8).reshape(1, 1, 3), cv2.COLOR_BGR2LAB)[0, 0].astype(np.float32)
        d = np.linalg.norm(self.lab - lab, axis=1)
        order = np.argsort(d)
        best = int(order[0])
        details = {"color": [int(v) for v in colour], "distance": round(float(d[best]), 1)}
        if len(order) > 1:
            details["runner_up"] = self.names[int(order[1])]
        if d[best] > spec.max_distance:
            return BoxResult(value=None, hit=False, score=float(d[best]),
                             reason=f"nearest {self.names[best]} is {d[best]:.0f} away (> {spec.max_distance:g})", details=details)
        conf = max(0.0, 1.0 - float(d[best]) / max(spec.max_distance, 1e-6))
        return BoxResult(value=self.names[best], hit=True, score=float(d[best]), confidence=round(conf, 3), details=details)
