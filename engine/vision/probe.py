"""What a box of a screenshot holds, measured for a game file's author (`otrig probe`).

New authors measured colours with their own numpy snippets before writing an `inrange` or a
threshold. This does it once: per-channel percentiles in BGR and HSV, the text's ink found
the way the glyph reader finds it (Otsu on grey, the minority side is ink), an `inrange` that
keeps that ink and how much of the background it lets through, and the ink's boxes.
"""
from __future__ import annotations

from dataclasses import dataclass

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
    fg, bg = hsv[ink], hsv[~ink]
    tail = (1 - KEEP_SHARE) / 2 * 100
    lo_s, hi_s = (int(v) for v in np.percentile(fg[:, 1], (tail, 100 - tail)))
    lo_v, hi_v = (int(v) for v in np.percentile(fg[:, 2], (tail, 100 - tail)))
    hues: list[tuple[int, int]]
    if np.median(fg[:, 1]) < ACHROMATIC_S:
        hues = [(0, 180)]
    else:
        hues = _hue_arc(fg[:, 0])
    ranges = tuple(((h0, lo_s, lo_v), (h1, hi_s, hi_v)) for h0, h1 in hues)
    return InRange(ranges, _share_inside(fg, ranges), _share_inside(bg, ranges))


def _hue_arc(h: np.ndarray) -> list[tuple[int, int]]:
    """The shortest arc of OpenCV hues (0-179, red at both ends) holding KEEP_SHARE of ``h``,
    as one range, or two when it wraps past 179."""
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
    lo, hi = start, start + width - 1
    if hi <= 179:
        return [(lo, hi)]
    return [(lo, 180), (0, hi - 180)]


def _share_inside(pixels: np.ndarray, ranges: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...]) -> float:
    if len(pixels) == 0:
        return 0.0
    inside = np.zeros(len(pixels), bool)
    for lo, hi in ranges:
        inside |= np.all((pixels >= np.array(lo)) & (pixels <= np.array(hi)), axis=1)
    return float(inside.mean())
