"""Screen regions: boxes in reference pixels, mapped to the 1920x1080 frame a plugin gets.

Two mappings are supported:

* **Aspect ratio.** A 21:9, 16:10 or 4:3 capture stretched to 1920x1080. The game fits its
  16:9 HUD inside the screen (scale ``min(W / 1920, H / 1080)``: the height on a wider
  screen, the width on a narrower one) and each element sticks to its anchor's edges, so a
  box anchored right in a 2560x1080 capture sits at ``2560 - (1920 - x)``, and one anchored
  bottom in a 1920x1200 capture at ``1200 - (1080 - y)``; then the whole picture is squeezed
  or stretched like the frame was. (Apex at 16:10 draws its HUD at the width's scale, stuck
  to the bottom; at 21:9 at the height's, stuck to the sides.)
* **Viewport.** A stream capture where the game is an inset: the reference space maps
  linearly onto the viewport box in frame pixels.

Mapped boxes are cached per source shape, so the per-frame cost is one dict lookup.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import cv2
import numpy as np

from engine.vision.frame import HEIGHT, WIDTH, source_size
from engine.vision.prep import to_grey
from engine.lang.schema import Bounds, ExactlyOne, Rule, param

Box = tuple[float, float, float, float]
# a box as a game file writes it: [x, y, w, h], with an area
BoxSpec = tuple[float, float, Annotated[float, Bounds(above=0, what="the box's width")],
                Annotated[float, Bounds(above=0, what="the box's height")]]
IntBox = tuple[int, int, int, int]
Anchor = Literal["top-left", "top", "top-right", "left", "center", "right",
                 "bottom-left", "bottom", "bottom-right"]


@dataclass(kw_only=True)
class Grid:
    """``n`` cells of ``box``'s size, each ``stride`` further than the last."""

    box: BoxSpec = param(help="the first cell [x, y, w, h]")
    n: int = param(help="number of cells", lo=1, hi=256)
    stride: tuple[float, float] = param(help="[dx, dy] from one cell to the next")


@dataclass(kw_only=True)
class RegionSpec:
    """A named place on screen: one box, a list of boxes, or a grid of cells."""

    rules: ClassVar[tuple[Rule, ...]] = (ExactlyOne("box", "boxes", "grid"),)

    box: BoxSpec | None = param(None, help="[x, y, w, h] in reference pixels")
    boxes: list[BoxSpec] | None = param(None, help="several boxes, read one by one")
    grid: Grid | None = param(None, help="n equal cells with a stride")
    anchor: Anchor = param("center", help="the screen edge or corner the HUD element sticks to")

    def reference_boxes(self) -> list[Box]:
        if self.box is not None:
            return [self.box]
        if self.boxes is not None:
            return list(self.boxes)
        g = self.grid
        assert g is not None
        x, y, w, h = g.box
        return [(x + i * g.stride[0], y + i * g.stride[1], w, h) for i in range(g.n)]


@dataclass(frozen=True)
class Geometry:
    """How reference pixels land in this frame: source shape plus optional viewport."""

    source_w: int
    source_h: int
    viewport: IntBox | None

    @property
    def key(self) -> tuple[int, int, IntBox | None]:
        return (self.source_w, self.source_h, self.viewport)


def geometry_for(frame: dict[str, Any], viewport: IntBox | None) -> Geometry:
    """Read ``source.original_shape`` ([h, w, ...]) from a frame; default is 1920x1080."""
    src = frame.get("source")
    size = source_size(src.get("original_shape")) if isinstance(src, dict) else None
    w, h = size if size is not None else (WIDTH, HEIGHT)
    return Geometry(w, h, viewport)


class RegionMapper:
    """Maps reference boxes to frame pixels for a given geometry."""

    def __init__(self, reference: tuple[int, int]):
        self.ref_w, self.ref_h = reference

    def scale(self, geo: Geometry) -> tuple[float, float]:
        """Frame pixels per reference pixel, for sizes (used by relative boxes and templates)."""
        if geo.viewport is not None:
            return geo.viewport[2] / self.ref_w, geo.viewport[3] / self.ref_h
        s = self.hud_scale(geo)
        return s * WIDTH / geo.source_w, s * HEIGHT / geo.source_h

    def hud_scale(self, geo: Geometry) -> float:
        """Capture pixels per reference pixel: the 16:9 reference fitted inside the capture."""
        return min(geo.source_w / self.ref_w, geo.source_h / self.ref_h)

    def map(self, box: Box, anchor: str, geo: Geometry) -> IntBox:
        x, y, w, h = box
        if geo.viewport is not None:
            vx, vy, vw, vh = geo.viewport
            sx, sy = vw / self.ref_w, vh / self.ref_h
            return _clip(vx + x * sx, vy + y * sy, w * sx, h * sy)
        sw, sh = geo.source_w, geo.source_h
        if abs(sw * self.ref_h - sh * self.ref_w) <= 0.01 * sh * self.ref_w:
            # same aspect ratio: a plain scale, anchors do not matter
            sx, sy = WIDTH / self.ref_w, HEIGHT / self.ref_h
            return _clip(x * sx, y * sy, w * sx, h * sy)
        s = self.hud_scale(geo)
        horizontal = anchor.split("-")[-1] if "-" in anchor else anchor
        if horizontal == "left":
            rx = x * s
        elif horizontal == "right":
            rx = sw - (self.ref_w - x) * s
        else:
            rx = sw / 2 + (x - self.ref_w / 2) * s
        vertical = anchor.split("-")[0] if "-" in anchor else anchor
        if vertical == "top":  # (on a wider screen the three agree: the height is the scale)
            ry = y * s
        elif vertical == "bottom":
            ry = sh - (self.ref_h - y) * s
        else:
            ry = sh / 2 + (y - self.ref_h / 2) * s
        fx, fy = WIDTH / sw, HEIGHT / sh  # then the capture was stretched to 1920x1080
        return _clip(rx * fx, ry * fy, w * s * fx, h * s * fy)


def _clip(x: float, y: float, w: float, h: float) -> IntBox:
    x0 = max(0, min(WIDTH, int(round(x))))
    y0 = max(0, min(HEIGHT, int(round(y))))
    x1 = max(x0, min(WIDTH, int(round(x + w))))
    y1 = max(y0, min(HEIGHT, int(round(y + h))))
    return x0, y0, x1 - x0, y1 - y0


class CompiledRegion:
    """A region ready for frames: its boxes mapped once per geometry, then looked up."""

    def __init__(self, name: str, spec: RegionSpec, mapper: RegionMapper):
        self.name = name
        self.spec = spec
        self.mapper = mapper
        self.reference = spec.reference_boxes()
        self.multi = spec.box is None
        self._cache: dict[tuple[Any, ...], list[IntBox]] = {}

    def boxes(self, geo: Geometry) -> list[IntBox]:
        found = self._cache.get(geo.key)
        if found is None:
            found = [self.mapper.map(b, self.spec.anchor, geo) for b in self.reference]
            if len(self._cache) < 64:  # bounded: a client cannot grow it without limit
                self._cache[geo.key] = found
        return found


# --- places found on the frame ---------------------------------------------------------------

def line_runs(fill: np.ndarray, min_fill: float, gap: int, low: float, high: float) -> list[tuple[int, int]]:
    """Bands of lines: runs of ``fill >= min_fill`` (fill: the share of each line that is in
    some colour), bridging up to ``gap`` lines below it (text or an icon crossing the band),
    kept when ``low <= height <= high``. Returns ``(first line, one past the last)`` pairs,
    top to bottom."""
    on = np.flatnonzero(np.asarray(fill) >= min_fill)
    if on.size == 0:
        return []
    runs = np.split(on, np.flatnonzero(np.diff(on) > gap + 1) + 1)
    out = []
    for r in runs:
        y0, y1 = int(r[0]), int(r[-1]) + 1
        if low <= y1 - y0 <= high:
            out.append((y0, y1))
    return out


def text_run(img: np.ndarray, side: str, height: float, gap: float) -> tuple[int, int] | None:
    """Columns ``[c0, c1)`` of the run of text nearest ``side`` ("left"/"right") of a crop,
    with up to half a gap of background around it; None when there is none, or when the run
    cannot be told apart from an icon.

    Ink is what stands out from the crop's median level (its background) on the side of its
    more extreme pixels: past the midpoint between the median and that extreme, so bright
    text on a dark band and dark (inverted) text on a light one are alike. A blob of ink
    no larger than a fifth of ``height`` each way is a speck and ignored (an i's dot, JPEG
    crumbs of an icon's outline). A blob taller than
    ``height`` px, or one of a quarter of it touching the crop's top or bottom edge (off the
    text line: a portrait's frame, an icon cut by the box), is an icon; the others are glyphs.
    The text line is the median top to the median bottom of the glyphs at least a third of
    ``height`` tall; glyphs and icons count where they cross it.

    From ``side``: icons within ``gap`` px of the edge are skipped (something the box edge cuts
    through); the first glyph starts the run, which ends at the first blank wider than ``gap``
    px. An icon before the first glyph, or within ``gap`` px after the run's last glyph, gives
    None: the text may run into it, and half a name is worse than none. So ``gap`` must be
    wider than a word space and narrower than the space between the text and its icons.
    """
    grey = to_grey(img)
    if grey.size == 0:
        return None
    med = float(np.median(grey))
    lo, hi = float(grey.min()), float(grey.max())
    if hi - lo < 24:  # a flat crop: nothing stands out
        return None
    ink = grey > (med + hi) / 2 if hi - med >= med - lo else grey < (med + lo) / 2
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    rows, width = grey.shape
    speck = max(1.0, height / 5)
    y, w, h = stats[:, cv2.CC_STAT_TOP], stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    real = (h > speck) | (w > speck)
    icon = real & ((h > height) | (((y == 0) | (y + h == rows)) & (h >= height / 4)))
    kind = np.where(icon, 2, np.where(real, 1, 0)).astype(np.uint8)  # 0 background or speck, 1 glyph, 2 icon
    kind[0] = 0
    letters = (kind == 1) & (h >= height / 3)
    if not letters.any():
        return None
    # the text line: where the letter-sized glyphs are; icons count only where they are on it
    # (a slanted portrait frame reaching under the first letter does not touch the text)
    top, bottom = int(np.median(y[letters])), int(np.median((y + h)[letters]))
    on_line = kind[labels[top:bottom]]
    text = (on_line == 1).any(axis=0)
    wall = (on_line == 2).any(axis=0)
    inked: np.ndarray = np.asarray(ink.any(axis=0))  # any ink, specks too, on the line or not: the margin stops there
    order = range(width - 1, -1, -1) if side == "right" else range(width)
    first = last = None
    blank = 0
    for d, c in enumerate(order):
        if first is None:
            if wall[c]:
                if d <= gap:
                    continue  # an icon the box's edge cuts through
                return None  # an icon before any text
            if text[c]:
                first = last = c
            continue
        if wall[c]:
            if blank <= gap:
                return None  # the text runs into an icon: where it ends is unclear
            break
        if text[c]:
            last = c
            blank = 0
        else:
            blank += 1
            if blank > gap:
                break
    if first is None or last is None:
        return None
    c0, c1 = (last, first + 1) if side == "right" else (first, last + 1)
    # half a gap of background each side, never reaching other ink
    margin = max(1, int(gap / 2))
    left = c0
    while left > 0 and c0 - left < margin and not inked[left - 1]:
        left -= 1
    right = c1
    while right < width and right - c1 < margin and not inked[right]:
        right += 1
    return left, right
