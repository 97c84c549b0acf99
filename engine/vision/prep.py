"""Image preparation ops, compiled once into a chain of functions run on each crop.

Written in a game file as a list: ``prep: [grey, {scale: 3}, {threshold: otsu}, invert]``.
Every op takes a crop (BGR, one channel, or a 0/255 mask) and returns a new image, so the
frame itself is never written to.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import cv2
import numpy as np

from engine.vision.spacing import clear_border, spread
from engine.lang.yamlsrc import KeyPath, Located

Op = Callable[[np.ndarray], np.ndarray]

_CHANNELS = {"b": 0, "g": 1, "r": 2, "h": 0, "s": 1, "v": 2}


def to_grey(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def to_space(img: np.ndarray, space: str) -> np.ndarray:
    if img.ndim == 2:
        raise ValueError(f"cannot convert a one-channel image to {space}; put colour ops before grey/threshold")
    if space == "hsv":
        return cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    if space == "lab":
        return cv2.cvtColor(img, cv2.COLOR_BGR2LAB)
    return img


@dataclass
class ColorRanges:
    """Colour ranges in BGR or HSV (OpenCV's H is 0-180); pixels in any range count."""

    space: str
    ranges: list[tuple[np.ndarray, np.ndarray]]

    def mask(self, img: np.ndarray) -> np.ndarray:
        if img.ndim == 2 and self.space == "bgr":
            # a grey pixel v is the colour (v, v, v)
            out = cv2.inRange(img, int(self.ranges[0][0].max()), int(self.ranges[0][1].min()))
            for lo, hi in self.ranges[1:]:
                out |= cv2.inRange(img, int(lo.max()), int(hi.min()))
            return out
        conv = to_space(img, self.space)
        out = cv2.inRange(conv, self.ranges[0][0], self.ranges[0][1])
        for lo, hi in self.ranges[1:]:
            out |= cv2.inRange(conv, lo, hi)
        return out


def parse_ranges(space: Any, ranges: Any, path: KeyPath, src: Located) -> ColorRanges:
    if space not in ("bgr", "hsv"):
        raise src.error(path + ("space",), f'expected "bgr" or "hsv", got {space!r}')
    if not isinstance(ranges, list) or not ranges:
        raise src.error(path + ("ranges",), "expected a list of [low, high] colour pairs, "
                                            "e.g. [[[0, 0, 200], [180, 40, 255]]]")
    out = []
    for i, pair in enumerate(ranges):
        p = path + ("ranges", i)
        ok = (isinstance(pair, list) and len(pair) == 2 and all(
            isinstance(c, list) and len(c) == 3 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                        and 0 <= v <= 255 for v in c) for c in pair))
        if not ok:
            raise src.error(p, f"expected [low, high] with three numbers 0-255 each, got {pair!r}")
        lo, hi = (np.array(c, dtype=np.uint8) for c in pair)
        if np.any(lo > hi):
            raise src.error(p, f"low {pair[0]} is above high {pair[1]} in some channel")
        out.append((lo, hi))
    return ColorRanges(space, out)


def _odd(k: int) -> int:
    return k if k % 2 == 1 else k + 1


def _threshold(arg: Any, path: KeyPath, src: Located) -> Op:
    if arg == "otsu":
        return lambda im: cv2.threshold(to_grey(im), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]
    if isinstance(arg, (int, float)) and not isinstance(arg, bool) and 0 <= arg <= 255:
        t = float(arg)
        return lambda im: cv2.threshold(to_grey(im), t, 255, cv2.THRESH_BINARY)[1]
    if isinstance(arg, dict) and set(arg) == {"adaptive"}:
        a = arg["adaptive"] or {}
        if not isinstance(a, dict) or set(a) - {"block", "c"}:
            raise src.error(path + ("adaptive",), "expected {block: odd size >= 3, c: offset}")
        block, c = a.get("block", 31), a.get("c", 0)
        if not isinstance(block, int) or block < 3:
            raise src.error(path + ("adaptive", "block"), f"expected an odd integer >= 3, got {block!r}")
        block = _odd(block)
        return lambda im: cv2.adaptiveThreshold(to_grey(im), 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C,
                                                cv2.THRESH_BINARY, block, float(c))
    raise src.error(path, f'expected a level 0-255, "otsu" or {{adaptive: {{block, c}}}}, got {arg!r}')


def _positive(arg: Any, path: KeyPath, src: Located, integer: bool, what: str) -> float:
    if isinstance(arg, bool) or not isinstance(arg, (int, float)) or arg <= 0 or (integer and not isinstance(arg, int)):
        raise src.error(path, f"expected {'a positive integer' if integer else 'a positive number'} ({what}), got {arg!r}")
    return arg


def _unsharp(amount: float) -> Op:
    def op(im: np.ndarray) -> np.ndarray:
        blurred = cv2.GaussianBlur(im, (0, 0), 2.0)
        return cv2.addWeighted(im, 1 + amount, blurred, -amount, 0)
    return op


def _scale(f: float) -> Op:
    interp = cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA
    return lambda im: cv2.resize(im, None, fx=f, fy=f, interpolation=interp)


def _morph(kind: int, k: int) -> Op:
    kernel = np.ones((k, k), np.uint8)
    return lambda im: cv2.morphologyEx(im, kind, kernel)


def _channel(name: Any, path: KeyPath, src: Located) -> Op:
    if name in ("b", "g", "r"):
        i = _CHANNELS[name]
        return lambda im: np.ascontiguousarray(im[:, :, i])
    if name in ("h", "s", "v"):
        i = _CHANNELS[name]
        return lambda im: np.ascontiguousarray(cv2.cvtColor(im, cv2.COLOR_BGR2HSV)[:, :, i])
    if name in ("grey", "gray", "luma"):
        return to_grey
    raise src.error(path, f'expected one of b, g, r, h, s, v, grey; got {name!r}')


# op name -> (takes an argument?, builder, help). The table is the documentation and schema.
SIMPLE_OPS: dict[str, tuple[Op, str]] = {
    "grey": (to_grey, "luma (BT.601 grey)"),
    "gray": (to_grey, "same as grey"),
    "hsv": (lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2HSV), "convert BGR to HSV"),
    "max": (lambda im: im.max(axis=2) if im.ndim == 3 else im, "brightest channel per pixel (white and coloured text alike)"),
    "min": (lambda im: im.min(axis=2) if im.ndim == 3 else im, "darkest channel per pixel (only white stays bright)"),
    "invert": (lambda im: cv2.bitwise_not(im), "255 - value (Tesseract prefers dark text on light)"),
    "normalize": (lambda im: cv2.normalize(im, None, 0, 255, cv2.NORM_MINMAX), "stretch to the full 0-255 range"),
    "clear_border": (clear_border, "remove blobs of ink (the minority of an Otsu split) that touch the crop's edge: "
                                   "things beside the text that would read as extra characters"),
    "otsu": (lambda im: cv2.threshold(to_grey(im), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1], "same as {threshold: otsu}"),
}
ARG_OPS: dict[str, str] = {
    "channel": "one channel: b, g, r, h, s, v or grey",
    "inrange": "{space: bgr|hsv, ranges: [[low, high], ...]}: a 0/255 mask of pixels in any range",
    "threshold": 'a level 0-255, "otsu", or {adaptive: {block, c}}',
    "scale": "resize by this factor (cubic up, area down)",
    "blur": "Gaussian blur with this kernel size (made odd)",
    "unsharp": "sharpen by this amount (0.5-2 typical)",
    "dilate": "grow bright areas with a k x k kernel",
    "erode": "shrink bright areas with a k x k kernel",
    "pad": "add this many pixels of border in the corner pixel's colour (helps Tesseract)",
    "keep": "{space: bgr|hsv, ranges: [[low, high], ...]}: black out pixels outside the ranges, keep the rest as they are (anti-aliased glyph edges survive, unlike inrange)",
    "height": "resize so the crop is this many pixels high (one setting fits any viewport size)",
    "spread": "widen every gap between glyphs (blank columns) to at least this many text heights, e.g. 0.3: "
              "narrow digits that Tesseract would merge (\"11\" read \"N\") are read apart; word gaps are kept",
}


def _pad(n: int) -> Op:
    def op(im: np.ndarray) -> np.ndarray:
        corner = im[0, 0].tolist() if im.size else 0
        return cv2.copyMakeBorder(im, n, n, n, n, cv2.BORDER_CONSTANT, value=corner)
    return op


def _keep(cr: ColorRanges) -> Op:
    def op(im: np.ndarray) -> np.ndarray:
        return cv2.bitwise_and(im, im, mask=cr.mask(im))
    return op


def _to_height(h: int) -> Op:
    def op(im: np.ndarray) -> np.ndarray:
        if im.shape[0] == 0:
            return im
        f = h / im.shape[0]
        return cv2.resize(im, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA)
    return op


def compile_prep(items: Any, path: KeyPath, src: Located) -> list[tuple[str, Op]]:
    """Turn a ``prep:`` list into ``[(label, op)]``, with located errors."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise src.error(path, "expected a list of ops, e.g. [grey, {scale: 2}, {threshold: otsu}]")
    chain: list[tuple[str, Op]] = []
    for i, item in enumerate(items):
        p = path + (i,)
        if isinstance(item, str):
            if item in SIMPLE_OPS:
                chain.append((item, SIMPLE_OPS[item][0]))
                continue
            if item in ARG_OPS:
                raise src.error(p, f"'{item}' needs an argument: {{{item}: ...}} ({ARG_OPS[item]})")
            raise src.error(p, f"unknown op {item!r}; expected one of: {', '.join(sorted([*SIMPLE_OPS, *ARG_OPS]))}")
        if not isinstance(item, dict) or len(item) != 1:
            raise src.error(p, "expected an op name or a one-key mapping like {scale: 2}")
        (name, arg), = item.items()
        p = p + (name,)
        if name == "channel":
            op = _channel(arg, p, src)
        elif name in ("inrange", "keep"):
            if not isinstance(arg, dict):
                raise src.error(p, "expected {space: bgr|hsv, ranges: [[low, high], ...]}")
            extra = set(arg) - {"space", "ranges"}
            if extra:
                raise src.error(p + (sorted(extra)[0],), "unknown key; expected space or ranges")
            cr = parse_ranges(arg.get("space", "bgr"), arg.get("ranges"), p, src)
            op = cr.mask if name == "inrange" else _keep(cr)
        elif name == "height":
            op = _to_height(int(_positive(arg, p, src, True, "pixels")))
        elif name == "threshold":
            op = _threshold(arg, p, src)
        elif name == "scale":
            op = _scale(float(_positive(arg, p, src, False, "resize factor")))
        elif name == "blur":
            op = (lambda k: (lambda im: cv2.GaussianBlur(im, (k, k), 0)))(_odd(int(_positive(arg, p, src, True, "kernel size"))))
        elif name == "unsharp":
            op = _unsharp(float(_positive(arg, p, src, False, "amount")))
        elif name in ("dilate", "erode"):
            k = int(_positive(arg, p, src, True, "kernel size"))
            op = _morph(cv2.MORPH_DILATE if name == "dilate" else cv2.MORPH_ERODE, k)
        elif name == "spread":
            op = (lambda g: (lambda im: spread(im, g)))(float(_positive(arg, p, src, False, "text heights")))
        elif name == "pad":
            op = _pad(int(_positive(arg, p, src, True, "pixels")))
        elif name in SIMPLE_OPS:
            raise src.error(p, f"'{name}' takes no argument; write it as a plain list item")
        else:
            raise src.error(p, f"unknown op {name!r}; expected one of: {', '.join(sorted([*SIMPLE_OPS, *ARG_OPS]))}")
        chain.append((f"{name}={arg}", op))
    return chain


def run_prep(chain: list[tuple[str, Op]], img: np.ndarray) -> np.ndarray:
    for _, op in chain:
        img = op(img)
    return img


def prep_schema() -> dict[str, Any]:
    simple = {"enum": sorted(SIMPLE_OPS)}
    arg = [{"type": "object", "properties": {k: {"description": v}}, "required": [k],
            "additionalProperties": False} for k, v in ARG_OPS.items()]
    return {"type": "array", "description": "image preparation ops, run in order",
            "items": {"anyOf": [simple, *arg]}}
