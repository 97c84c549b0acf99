"""A box drawn on the frame, back in a game file's reference pixels.

The inverse of :meth:`engine.vision.regions.RegionMapper.map` for one anchor: the box a game
file would write so that the engine maps it onto the dragged frame box. Kept beside the
studio (the engine only maps forward), and checked by mapping the answer forward again.
"""
from __future__ import annotations

from engine.vision.frame import HEIGHT, WIDTH
from engine.vision.regions import Geometry, IntBox, RegionMapper


def reference_box(mapper: RegionMapper, box: IntBox, anchor: str, geo: Geometry) -> IntBox:
    """``box`` (pixels of the 1920x1080 frame) in reference pixels, as a region with
    ``anchor`` on a frame of geometry ``geo`` would have to be written; rounded to whole
    pixels, with an area of at least 1x1."""
    fx, fy, fw, fh = (float(v) for v in box)
    if geo.viewport is not None:
        vx, vy, vw, vh = geo.viewport
        sx, sy = vw / mapper.ref_w, vh / mapper.ref_h
        return _whole((fx - vx) / sx, (fy - vy) / sy, fw / sx, fh / sy)
    sw, sh = geo.source_w, geo.source_h
    if abs(sw * mapper.ref_h - sh * mapper.ref_w) <= 0.01 * sh * mapper.ref_w:
        sx, sy = WIDTH / mapper.ref_w, HEIGHT / mapper.ref_h  # same aspect: a plain scale
        return _whole(fx / sx, fy / sy, fw / sx, fh / sy)
    s = mapper.hud_scale(geo)
    kx, ky = WIDTH / sw, HEIGHT / sh          # the capture was stretched to 1920x1080 by these
    rx, ry = fx / kx, fy / ky                 # the box's corner in capture pixels
    horizontal = anchor.split("-")[-1] if "-" in anchor else anchor
    vertical = anchor.split("-")[0] if "-" in anchor else anchor
    x = _unmap(rx, sw, mapper.ref_w, s, {"left": "start", "right": "end"}.get(horizontal, "center"))
    y = _unmap(ry, sh, mapper.ref_h, s, {"top": "start", "bottom": "end"}.get(vertical, "center"))
    return _whole(x, y, fw / (s * kx), fh / (s * ky))


def _unmap(r: float, size: float, ref: float, s: float, side: str) -> float:
    """A capture coordinate ``r`` (of ``size``) back on the reference axis (of ``ref``), for a
    region stuck to that axis's start, end or centre at HUD scale ``s``."""
    if side == "start":
        return r / s
    if side == "end":
        return ref - (size - r) / s
    return (r - size / 2) / s + ref / 2


def _whole(x: float, y: float, w: float, h: float) -> IntBox:
    return int(round(x)), int(round(y)), max(1, int(round(w))), max(1, int(round(h)))


def box_yaml(box: IntBox) -> str:
    """The box as a game file writes it."""
    return f"box: [{box[0]}, {box[1]}, {box[2]}, {box[3]}]"
