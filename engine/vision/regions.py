"""Screen regions: boxes in reference pixels, mapped to the 1920x1080 frame a plugin gets.

Two mappings are supported:

* **Aspect ratio.** A 21:9, 16:10 or 4:3 capture stretched to 1920x1080. A HUD keeps its
  size relative to the screen height and sticks to its anchor edge, so a box anchored
  right in a 2560x1080 capture sits at ``2560 - (1920 - x)``; then the whole picture is
  squeezed like the frame was.
* **Viewport.** A stream capture where the game is an inset: the reference space maps
  linearly onto the viewport box in frame pixels.

Mapped boxes are cached per source shape, so the per-frame cost is one dict lookup.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from engine.vision.frame import HEIGHT, WIDTH
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
    w, h = WIDTH, HEIGHT
    src = frame.get("source")
    if isinstance(src, dict):
        shape = src.get("original_shape")
        if (isinstance(shape, (list, tuple)) and len(shape) >= 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in shape[:2])
                and shape[0] > 0 and shape[1] > 0):
            h, w = int(shape[0]), int(shape[1])
    return Geometry(w, h, viewport)


class RegionMapper:
    """Maps reference boxes to frame pixels for a given geometry."""

    def __init__(self, reference: tuple[int, int]):
        self.ref_w, self.ref_h = reference

    def scale(self, geo: Geometry) -> tuple[float, float]:
        """Frame pixels per reference pixel, for sizes (used by relative boxes and templates)."""
        if geo.viewport is not None:
            return geo.viewport[2] / self.ref_w, geo.viewport[3] / self.ref_h
        s = geo.source_h / self.ref_h
        return s * WIDTH / geo.source_w, s * HEIGHT / geo.source_h

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
        s = sh / self.ref_h  # the HUD keeps its size relative to the height
        horizontal = anchor.split("-")[-1] if "-" in anchor else anchor
        if horizontal == "left":
            rx = x * s
        elif horizontal == "right":
            rx = sw - (self.ref_w - x) * s
        else:
            rx = sw / 2 + (x - self.ref_w / 2) * s
        ry = y * s
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
