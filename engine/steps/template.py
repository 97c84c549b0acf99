"""`template`: which of a set of icons is in the region, how sure, and where.

Templates are loaded once; a PNG's alpha channel becomes the match mask. Matching runs in
greyscale unless ``grey: false`` (colour costs about 3x). Templates are rescaled once per
source geometry, so a 21:9 or inset capture matches at the right size.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from engine.lang.assets import resolve_glob
from engine.vision.regions import CompiledRegion, IntBox
from engine.lang.schema import param
from engine.steps.base import BoxResult, CompiledStep, CompileContext, FrameContext, PrepChain, RelativeBox, Step
from engine.lang.yamlsrc import KeyPath

_METHODS = {
    "ccoeff_normed": cv2.TM_CCOEFF_NORMED,
    "ccorr_normed": cv2.TM_CCORR_NORMED,
    "sqdiff_normed": cv2.TM_SQDIFF_NORMED,
}


@dataclass(frozen=True)
class _Template:
    label: str
    image: np.ndarray
    mask: np.ndarray | None


@dataclass(frozen=True, kw_only=True)
class TemplateStep(Step):
    """Match icons in the region: best label, score, margin over the runner-up, location."""

    kind = "template"
    summary = "label of the best-matching icon"

    templates: str = param(help="a folder or glob of PNGs, relative to the game file or asset roots; label = file name")
    method: Literal["ccoeff_normed", "ccorr_normed", "sqdiff_normed"] = param(
        "ccoeff_normed", help="OpenCV matching method; scores are turned so that higher is better")
    threshold: float = param(0.7, help="score a match needs to count", lo=-1, hi=1)
    grey: bool = param(True, help="match in greyscale (faster); false matches colour")
    mask: Literal["auto", "none"] = param("auto", help="auto: use the PNG's alpha channel as the mask")
    scale: float = param(1.0, help="template pixels per reference pixel is 1/scale: resize templates by this first", lo=0.05, hi=20)
    match_scale: float = param(1.0, help="match at this fraction of the size (0.5 is ~4x faster for big icons)", lo=0.1, hi=1)
    all: bool = param(False, help="return every match above the threshold (killfeed rows), not just the best")
    max_hits: int = param(16, help="at most this many matches with all: true", lo=1, hi=1000)

    def build(self, ctx: CompileContext, path: KeyPath, region: CompiledRegion | RelativeBox,
              prep: PrepChain) -> CompiledTemplate:
        files = resolve_glob(self.templates, ctx, path + ("templates",))
        ctx.loaded_files.extend(files)
        templates: list[_Template] = []
        for f in files:
            img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
            if img is None:
                raise ctx.src.error(path + ("templates",), f"cannot read template image {f.name}")
            mask: np.ndarray | None = None
            if img.ndim == 3 and img.shape[2] == 4:
                alpha = img[:, :, 3]
                if self.mask == "auto" and alpha.min() < 255:
                    mask = (alpha > 127).astype(np.uint8) * 255
                img = img[:, :, :3]
            if img.ndim == 2:
                img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
            if self.scale != 1.0:
                img = cv2.resize(img, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)
                if mask is not None:
                    mask = cv2.resize(mask, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST)
            if self.grey:
                img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            templates.append(_Template(f.stem, img, mask))
        return CompiledTemplate(self, region, prep, templates=templates, method=_METHODS[self.method])


@dataclass(frozen=True, eq=False, kw_only=True)
class CompiledTemplate(CompiledStep[TemplateStep]):
    """A template step ready for frames: its templates as loaded, and rescaled per capture geometry."""

    templates: list[_Template]
    method: int
    # the templates at each frame scale seen (a bounded cache: a client cannot grow it)
    _by_scale: dict[tuple[float, float], list[_Template]] = field(default_factory=dict, init=False, repr=False)

    @property
    def threshold(self) -> float:
        return self.spec.threshold

    def _scaled(self, scale: tuple[float, float]) -> list[_Template]:
        key = (round(scale[0] * self.spec.match_scale, 3), round(scale[1] * self.spec.match_scale, 3))
        found = self._by_scale.get(key)
        if found is None:
            if abs(key[0] - 1) < 0.02 and abs(key[1] - 1) < 0.02:
                found = self.templates
            else:
                found = []
                for t in self.templates:
                    size = (max(1, round(t.image.shape[1] * key[0])), max(1, round(t.image.shape[0] * key[1])))
                    img = cv2.resize(t.image, size, interpolation=cv2.INTER_AREA)
                    mask = cv2.resize(t.mask, size, interpolation=cv2.INTER_NEAREST) if t.mask is not None else None
                    found.append(_Template(t.label, img, mask))
            if len(self._by_scale) < 16:
                self._by_scale[key] = found
        return found

    def _score_map(self, image: np.ndarray, t: _Template) -> np.ndarray:
        res = cv2.matchTemplate(image, t.image, self.method, mask=t.mask)
        if self.method == cv2.TM_SQDIFF_NORMED:
            res = 1.0 - res
        # masked matching can divide by zero on flat patches
        return np.nan_to_num(res, copy=False, nan=-1.0, posinf=-1.0, neginf=-1.0)

    def measure(self, crop: np.ndarray, prepared: np.ndarray, box: IntBox, fc: FrameContext) -> BoxResult:
        image = prepared
        if self.spec.grey and image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        elif not self.spec.grey and image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        templates = self._scaled(fc.scale)
        ms = self.spec.match_scale
        if ms != 1.0:
            image = cv2.resize(image, None, fx=ms, fy=ms, interpolation=cv2.INTER_AREA)
        ih, iw = image.shape[:2]
        if self.spec.all:
            r = self._measure_all(image, templates, box)
            if ms != 1.0:
                for hit in r.value:
                    b = hit["box"]
                    hit["box"] = [box[0] + round((b[0] - box[0]) / ms), box[1] + round((b[1] - box[1]) / ms),
                                  round(b[2] / ms), round(b[3] / ms)]
            return r
        ranked: list[tuple[float, str, IntBox]] = []
        for t in templates:
            th, tw = t.image.shape[:2]
            if th > ih or tw > iw:
                continue
            res = self._score_map(image, t)
            _, best, _, loc = cv2.minMaxLoc(res)
            ranked.append((float(best), t.label, (round(loc[0] / ms), round(loc[1] / ms), round(tw / ms), round(th / ms))))
        if not ranked:
            return BoxResult(value=None, hit=False, reason="every template is larger than the region")
        ranked.sort(key=lambda r: -r[0])
        score, label, loc = ranked[0]
        runner = ranked[1] if len(ranked) > 1 else None
        margin = score - runner[0] if runner else score
        # where each candidate matched best, in frame pixels: a miss says where the best
        # candidate was (a box off by a few pixels shows as a match at its edge)
        details = {"best": label, "best_box": _in_frame(loc, box), "runner_up": runner[1] if runner else None,
                   "runner_up_score": round(runner[0], 4) if runner else None,
                   "runner_up_box": _in_frame(runner[2], box) if runner else None, "margin": round(margin, 4),
                   "top": [[lbl, round(s, 4)] for s, lbl, _ in ranked[:5]]}
        if score < self.threshold:
            return BoxResult(value=None, hit=False, score=score, confidence=max(score, 0.0), reason=f"best {label} scored {score:.3f} < threshold {self.threshold:g}",
                             details=details)
        return BoxResult(value=label, hit=True, score=score, confidence=max(0.0, min(1.0, score)), location=loc, details=details)

    def _measure_all(self, image: np.ndarray, templates: list[_Template], box: IntBox) -> BoxResult:
        hits: list[tuple[float, str, IntBox]] = []
        ih, iw = image.shape[:2]
        for t in templates:
            th, tw = t.image.shape[:2]
            if th > ih or tw > iw:
                continue
            res = self._score_map(image, t)
            ys, xs = np.nonzero(res >= self.threshold)
            for y, x in zip(ys.tolist(), xs.tolist()):
                hits.append((float(res[y, x]), t.label, (x, y, tw, th)))
        hits.sort(key=lambda h: -h[0])
        kept: list[tuple[float, str, IntBox]] = []
        for h in hits:  # non-maximum suppression: one hit per place
            if all(_iou(h[2], k[2]) < 0.3 for k in kept):
                kept.append(h)
                if len(kept) >= self.spec.max_hits:
                    break
        kept.sort(key=lambda h: (h[2][1], h[2][0]))  # top to bottom, like killfeed rows
        value = [{"label": lbl, "score": round(s, 4), "box": [b[0] + box[0], b[1] + box[1], b[2], b[3]]}
                 for s, lbl, b in kept]
        best = max((s for s, _, _ in kept), default=None)
        return BoxResult(value=value, hit=bool(kept), score=best, confidence=best,
                         reason=None if kept else f"nothing scored >= {self.threshold:g}",
                         details={"hits": len(kept)})


def _in_frame(loc: IntBox, box: IntBox) -> list[int]:
    """A match's box in the crop's pixels, as [x, y, w, h] in the frame's."""
    return [loc[0] + box[0], loc[1] + box[1], loc[2], loc[3]]


def _iou(a: IntBox, b: IntBox) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0
