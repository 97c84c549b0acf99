"""What a box of a screenshot holds, measured for a game file's author (`otrig probe`).

New authors measured colours with their own numpy snippets before writing an `inrange` or a
threshold. This does it once: per-channel percentiles in BGR and HSV, the text's ink found
the way the glyph reader finds it (Otsu on grey, the minority side is ink), an `inrange` that
keeps that ink, widened so that other captures of it still fall inside, and how much of the
background it lets through, and the ink's boxes.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from engine.vision.regions import IntBox

PERCENTILES = (5, 25, 50, 75, 95)
CHANNELS = ("B", "G", "R", "H", "S", "V")
# Below this median saturation the ink is grey or white: its hue is noise and the range
# keeps every hue (HUD white text measures S 0-30; coloured text 120-255).
ACHROMATIC_S = 50
# Ink pixels the suggested range is fitted to: the extremes are edge pixels blended with the
# background, and a range wide enough for them lets the background in.
KEEP_SHARE = 0.96
# Blobs smaller than this share of the box's area are specks, not ink boxes.
MIN_BLOB_SHARE = 0.002


@dataclass(frozen=True)
class InRange:
    """An HSV range (one or two, when the ink's hues wrap around red) and how it splits the box."""

    ranges: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...]
    ink_kept: float        # share of the ink's pixels inside the range
    background_kept: float  # share of the background's pixels inside it (want ~0)

    def yaml(self) -> str:
        """The prep op as a game file writes it."""
        parts = ", ".join(f"[[{lo[0]}, {lo[1]}, {lo[2]}], [{hi[0]}, {hi[1]}, {hi[2]}]]" for lo, hi in self.ranges)
        return f"{{inrange: {{space: hsv, ranges: [{parts}]}}}}"


@dataclass(frozen=True)
class Probe:
    box: IntBox                                     # in frame pixels
    percentiles: dict[str, tuple[int, ...]]         # channel -> values at PERCENTILES
    ink_bright: bool                                # the ink is brighter than its background
    ink_share: float                                # of the box's pixels
    otsu: int                                       # grey level between ink and background
    inrange: InRange | None                         # None: no ink told apart
    ink_boxes: tuple[IntBox, ...]                   # in frame pixels, left to right
    ink_bounds: IntBox | None                       # the union of ink_boxes


def probe(image: np.ndarray, box: IntBox) -> Probe:
    """Measure ``box`` (frame pixels) of a BGR ``image``."""
    x, y, w, h = box
    crop = image[y:y + h, x:x + w]
    if crop.size == 0:
        raise ValueError(f"the box {box} holds no pixels of the {image.shape[1]}x{image.shape[0]} image")
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    pixels = np.concatenate([crop.reshape(-1, 3), hsv.reshape(-1, 3)], axis=1)
    pct = np.percentile(pixels, PERCENTILES, axis=0).round().astype(int)
    percentiles = {c: tuple(int(v) for v in pct[:, i]) for i, c in enumerate(CHANNELS)}

    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    level, split = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    bright = split > 0
    # text covers less of a box drawn around it than its background does
    ink_bright = int(np.count_nonzero(bright)) <= bright.size / 2
    ink = bright if ink_bright else ~bright
    if grey.max() - grey.min() < 16:  # a flat box: nothing to tell apart
        ink = np.zeros_like(ink)
    boxes = _ink_boxes(ink, (x, y))
    bounds = None
    if boxes:
        x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
        bounds = (x0, y0, x1 - x0, y1 - y0)
    return Probe(box=box, percentiles=percentiles, ink_bright=ink_bright,
                 ink_share=float(np.count_nonzero(ink)) / ink.size, otsu=int(level),
                 inrange=_inrange(hsv, ink) if ink.any() and not ink.all() else None,
                 ink_boxes=tuple(boxes), ink_bounds=bounds)


def _ink_boxes(ink: np.ndarray, origin: tuple[int, int]) -> list[IntBox]:
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    least = max(2, int(MIN_BLOB_SHARE * ink.size))
    out = [(int(s[0]) + origin[0], int(s[1]) + origin[1], int(s[2]), int(s[3]))
           for s in stats[1:n] if s[4] >= least]
    return sorted(out)


def _inrange(hsv: np.ndarray, ink: np.ndarray) -> InRange:
    """The range fitted to the ink, then widened as far as the background allows."""
    fg, bg = hsv[ink], hsv[~ink]
    tail = (1 - KEEP_SHARE) / 2 * 100
    lo_s, hi_s = (int(v) for v in np.percentile(fg[:, 1], (tail, 100 - tail)))
    lo_v, hi_v = (int(v) for v in np.percentile(fg[:, 2], (tail, 100 - tail)))
    chromatic = bool(np.median(fg[:, 1]) >= ACHROMATIC_S)
    start, width = _hue_arc(fg[:, 0]) if chromatic else (0, 180)
    fit = _Fit(start, width, lo_s, hi_s, lo_v, hi_v)
    fit = _widen(fit, bg, chromatic)
    ranges = fit.ranges()
    return InRange(ranges, _share_inside(fg, ranges), _share_inside(bg, ranges))


# How far the suggested range may grow beyond the ink it was fitted to. A range fitted to one
# screenshot is as narrow as that screenshot's ink: the new-user exercise got S 56-63 and hue
# 99-100 for League's timer, which JPEG, a dimmer capture or colour grading step out of. So
# the range grows, a step at a time, while the background it lets in grows by at most
# BACKGROUND_SLACK of the background's pixels, and each bound by at most its slack: hue 10
# on each side (a capture shifts hue by a few units; 10 further is another colour), value 48
# (a 15% dimmer capture takes 255 to 217), saturation 40 (JPEG's halved chroma). Unbounded,
# a yellow number's saturation floor fell to 0 on a box with no white text in it, and the
# range would keep the white labels beside it on the next screen.
HUE_SLACK = 10
SLACK = {"s0": 40, "s1": 40, "v0": 48, "v1": 48}
BACKGROUND_SLACK = 0.005
_STEPS = (("start", -2), ("width", 2), ("s0", -8), ("s1", 8), ("v0", -8), ("v1", 8))


@dataclass(frozen=True)
class _Fit:
    start: int  # hue arc: first hue, and how many hues from there (wrapping past 179)
    width: int
    s0: int
    s1: int
    v0: int
    v1: int

    def ranges(self) -> tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...]:
        if self.width >= 180:
            return (((0, self.s0, self.v0), (180, self.s1, self.v1)),)
        lo, hi = self.start, self.start + self.width - 1
        if hi <= 179:
            return (((lo, self.s0, self.v0), (hi, self.s1, self.v1)),)
        return (((lo, self.s0, self.v0), (180, self.s1, self.v1)), ((0, self.s0, self.v0), (hi - 180, self.s1, self.v1)))

    def inside(self, pixels: np.ndarray) -> np.ndarray:
        h, sat, val = (pixels[:, i].astype(np.int64) for i in range(3))
        ok = (sat >= self.s0) & (sat <= self.s1) & (val >= self.v0) & (val <= self.v1)
        return ok if self.width >= 180 else ok & ((h - self.start) % 180 < self.width)


def _widen(fit: _Fit, bg: np.ndarray, chromatic: bool) -> _Fit:
    budget = (float(fit.inside(bg).mean()) if len(bg) else 0.0) + BACKGROUND_SLACK
    first = fit
    grown = True
    while grown:
        grown = False
        for name, step in _STEPS:
            if name in ("start", "width") and not chromatic:
                continue
            trial = _step(fit, first, name, step)
            if trial is not None and (len(bg) == 0 or float(trial.inside(bg).mean()) <= budget):
                fit, grown = trial, True
    return fit


def _step(fit: _Fit, first: _Fit, name: str, step: int) -> _Fit | None:
    """``fit`` with one bound moved outwards, or None when it may not move further."""
    if name in ("start", "width"):
        left = (first.start - fit.start) % 180  # hues added before the fitted arc
        right = fit.width - first.width - left  # and after it
        if (left if name == "start" else right) + abs(step) > HUE_SLACK or fit.width + abs(step) > 180:
            return None
        if name == "start":
            return replace(fit, start=(fit.start + step) % 180, width=fit.width - step)
        return replace(fit, width=fit.width + step)
    value = min(255, max(0, getattr(fit, name) + step))
    if value == getattr(fit, name) or abs(value - getattr(first, name)) > SLACK[name]:
        return None
    return replace(fit, **{name: value})


def _hue_arc(h: np.ndarray) -> tuple[int, int]:
    """The shortest arc of OpenCV hues (0-179, red at both ends) holding KEEP_SHARE of ``h``,
    as its first hue and its width (it wraps past 179 when first + width > 180)."""
    counts = np.bincount(h.astype(np.int64), minlength=180)[:180]
    need = KEEP_SHARE * counts.sum()
    doubled = np.concatenate([counts, counts])
    sums = np.concatenate([[0], np.cumsum(doubled)])
    best = (180, 0)
    for start in range(180):  # the narrowest window from each start (180 x log 180: trivial)
        end = int(np.searchsorted(sums, sums[start] + need, side="left"))
        width = end - start
        if width < best[0]:
            best = (width, start)
    width, start = best
    return start, max(1, width)


def _share_inside(pixels: np.ndarray, ranges: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...]) -> float:
    if len(pixels) == 0:
        return 0.0
    inside = np.zeros(len(pixels), bool)
    for lo, hi in ranges:
        inside |= np.all((pixels >= np.array(lo)) & (pixels <= np.array(hi)), axis=1)
    return float(inside.mean())
