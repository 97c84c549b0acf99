"""Image preparation ops, compiled once into a chain of functions run on each crop.

Written in a game file as a list: ``prep: [grey, {scale: 3}, {threshold: otsu}, invert]``.
Each op is a class below, listed in :data:`PREP_OPS`: its fields are its argument, so their
types, bounds and help give the loader's checks, the JSON Schema and the key reference at
once; ``build`` makes the function run on each crop. Every op takes a crop (BGR, one
channel, or a 0/255 mask) and returns a new image, so the frame itself is never written to.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any, Callable, ClassVar, Literal

import cv2
import numpy as np

from engine.lang.schema import (AsWritten, Bounds, Choice, Rule, SchemaBuilder, convert, fits, low_above_high, param,
                               value_of)
from engine.lang.yamlsrc import KeyPath, Located
from engine.vision.spacing import clear_border, spread

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


# --- colours -------------------------------------------------------------------------------
# OpenCV's 8-bit HSV halves the hue to fit a byte: 0-179. A high bound of 180 is allowed (it
# selects the same pixels as 179): it is how "every hue" is usually written.

Level = Annotated[float, Bounds(lo=0, hi=255)]
Hue = Annotated[float, Bounds(lo=0, hi=179, what="hue: 0-179 in OpenCV (half degrees)")]
HueHigh = Annotated[float, Bounds(lo=0, hi=180, what="hue: 0-179 in OpenCV (half degrees); a high of 180 means up to 179")]
BGR = tuple[Level, Level, Level]
BgrRange = tuple[BGR, BGR]
HsvRange = tuple[tuple[Hue, Level, Level], tuple[HueHigh, Level, Level]]
RANGE_TEXT = {"bgr": "three numbers 0-255 each",
              "hsv": "three numbers each: hue 0-179 (OpenCV's scale; a high hue may be 180), saturation and value 0-255"}
RANGES_EXAMPLE = "[[[0, 0, 200], [180, 40, 255]]]"


@dataclass
class ColorRanges:
    """Colour ranges in BGR or HSV (OpenCV's H is 0-179); pixels in any range count."""

    space: str
    ranges: list[tuple[np.ndarray, np.ndarray]]

    @classmethod
    def of(cls, space: str, ranges: list[Any]) -> ColorRanges:
        """From ranges that :func:`check_ranges` accepted."""
        return cls(space, [(np.array(lo, dtype=np.uint8), np.array(hi, dtype=np.uint8)) for lo, hi in ranges])

    def mask(self, img: np.ndarray) -> np.ndarray:
        if img.ndim == 2 and self.space == "bgr":
            # a grey pixel v is the colour (v, v, v)
            out = cv2.inRange(img, int(self.ranges[0][0].max()), int(self.ranges[0][1].min()))
            for lo, hi in self.ranges[1:]:
                np.bitwise_or(out, cv2.inRange(img, int(lo.max()), int(hi.min())), out=out)
            return out
        conv = to_space(img, self.space)
        out = cv2.inRange(conv, self.ranges[0][0], self.ranges[0][1])
        for lo, hi in self.ranges[1:]:
            np.bitwise_or(out, cv2.inRange(conv, lo, hi), out=out)
        return out


def check_ranges(space: str, ranges: list[Any]) -> tuple[KeyPath, str] | None:
    """The first problem of ``ranges`` in ``space`` (path inside the list, message), or None."""
    if not ranges:
        return (), f"expected a list of [low, high] colour pairs, e.g. {RANGES_EXAMPLE}"
    pair_type = HsvRange if space == "hsv" else BgrRange
    for i, pair in enumerate(ranges):
        if not fits(pair_type, pair):
            return (i,), f"expected [low, high] with {RANGE_TEXT[space]}, got {pair!r}"
        if (problem := low_above_high(pair[0], pair[1])) is not None:
            return (i,), problem
    return None


@dataclass(frozen=True)
class ColorRangesRule(Rule):
    """``ranges`` hold [low, high] colour pairs in the mapping's ``space``."""

    space: str = "space"
    ranges: str = "ranges"

    def check(self, obj: Any) -> tuple[KeyPath, str] | None:
        problem = check_ranges(value_of(obj, self.space), value_of(obj, self.ranges))
        return None if problem is None else ((self.ranges,) + problem[0], problem[1])

    def schema(self, build: SchemaBuilder) -> dict[str, Any]:
        def ranges(pair: Any) -> dict[str, Any]:
            return {"properties": {self.ranges: {"items": build.of(pair)}}}
        return {"if": {"properties": {self.space: {"const": "hsv"}}, "required": [self.space]},
                "then": ranges(HsvRange), "else": ranges(BgrRange)}

    def text(self) -> str:
        return (f"Each of `{self.ranges}` is [low, high]: in `bgr`, {RANGE_TEXT['bgr']}; in `hsv`, "
                f"{RANGE_TEXT['hsv']}. Low is not above high in any channel.")


RANGES_HELP = "[[low, high], ...], each a triple; a pixel in any range counts"
SPACE_HELP = "colour space of the ranges: bgr 0-255; hsv as OpenCV has it, hue 0-179, saturation and value 0-255"


# --- ops -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PrepOp:
    """Base of the prep ops. ``argument`` names the field written as the op's value."""

    name: ClassVar[str] = ""
    argument: ClassVar[str | None] = None

    def build(self) -> Op:
        raise NotImplementedError


@dataclass(frozen=True)
class Grey(PrepOp):
    """luma (BT.601 grey)"""

    name = "grey"

    def build(self) -> Op:
        return to_grey


@dataclass(frozen=True)
class Gray(Grey):
    """same as grey"""

    name = "gray"


@dataclass(frozen=True)
class Hsv(PrepOp):
    """convert BGR to HSV"""

    name = "hsv"

    def build(self) -> Op:
        return lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2HSV)


@dataclass(frozen=True)
class Max(PrepOp):
    """brightest channel per pixel (white and coloured text alike)"""

    name = "max"

    def build(self) -> Op:
        return lambda im: im.max(axis=2) if im.ndim == 3 else im


@dataclass(frozen=True)
class Min(PrepOp):
    """darkest channel per pixel (only white stays bright)"""

    name = "min"

    def build(self) -> Op:
        return lambda im: im.min(axis=2) if im.ndim == 3 else im


@dataclass(frozen=True)
class Invert(PrepOp):
    """255 - value (Tesseract prefers dark text on light)"""

    name = "invert"

    def build(self) -> Op:
        return lambda im: cv2.bitwise_not(im)


def dark_text(im: np.ndarray) -> np.ndarray:
    """Grey, with the text dark on a light background whichever way the crop has it."""
    grey = to_grey(im)
    if grey.size == 0 or grey.shape[0] < 3 or grey.shape[1] < 3:
        return grey
    level, _ = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    ring = np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])
    # the background is the side of the split that holds most of the crop's outer ring
    background_dark = np.count_nonzero(ring > level) * 2 < ring.size
    return cv2.bitwise_not(grey) if background_dark else grey


@dataclass(frozen=True)
class DarkText(PrepOp):
    """grey with the text dark on light, whichever way the crop has it (the background is the
    side of an Otsu split that holds most of the crop's edge): rows highlighted as dark text on
    a light panel and plain rows of light text read alike"""

    name = "dark_text"

    def build(self) -> Op:
        return dark_text


@dataclass(frozen=True)
class Normalize(PrepOp):
    """stretch to the full 0-255 range"""

    name = "normalize"

    def build(self) -> Op:
        # OpenCV's stubs want a dst array; None (allocate one) is what the C++ API takes
        return lambda im: cv2.normalize(im, None, 0, 255, cv2.NORM_MINMAX)  # type: ignore[call-overload]


@dataclass(frozen=True)
class ClearBorder(PrepOp):
    """remove blobs of ink (the minority of an Otsu split) that touch the crop's edge: things
    beside the text that would read as extra characters"""

    name = "clear_border"

    def build(self) -> Op:
        return clear_border


def _otsu(im: np.ndarray) -> np.ndarray:
    return cv2.threshold(to_grey(im), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]


@dataclass(frozen=True)
class Otsu(PrepOp):
    """same as {threshold: otsu}"""

    name = "otsu"

    def build(self) -> Op:
        return _otsu


@dataclass(frozen=True, kw_only=True)
class Channel(PrepOp):
    """one channel: b, g, r, h, s, v or grey"""

    name = "channel"
    argument = "channel"
    channel: Literal["b", "g", "r", "h", "s", "v", "grey", "gray", "luma"] = param()

    def build(self) -> Op:
        if self.channel in ("grey", "gray", "luma"):
            return to_grey
        i = _CHANNELS[self.channel]
        if self.channel in ("b", "g", "r"):
            return lambda im: np.ascontiguousarray(im[:, :, i])
        return lambda im: np.ascontiguousarray(cv2.cvtColor(im, cv2.COLOR_BGR2HSV)[:, :, i])


@dataclass(frozen=True, kw_only=True)
class InRange(PrepOp):
    """a 0/255 mask of pixels in any range"""

    name = "inrange"
    rules: ClassVar[tuple[Rule, ...]] = (ColorRangesRule(),)
    space: Literal["bgr", "hsv"] = param("bgr", help=SPACE_HELP)
    ranges: list[Any] = param(help=RANGES_HELP, nonempty=f"expected a list of [low, high] colour pairs, e.g. {RANGES_EXAMPLE}")

    def build(self) -> Op:
        return ColorRanges.of(self.space, self.ranges).mask


@dataclass(frozen=True, kw_only=True)
class Keep(InRange):
    """black out pixels outside the ranges, keep the rest as they are (anti-aliased glyph edges
    survive, unlike inrange)"""

    name = "keep"

    def build(self) -> Op:
        mask = ColorRanges.of(self.space, self.ranges).mask
        return lambda im: cv2.bitwise_and(im, im, mask=mask(im))


@dataclass(frozen=True, kw_only=True)
class Adaptive:
    """A level per neighbourhood, for uneven light: its Gaussian-weighted mean minus `c`."""

    block: int = param(31, help="neighbourhood size in pixels (made odd)", lo=3)
    c: float = param(0.0, help="subtracted from the mean: negative keeps only pixels clearly brighter than around them")


@dataclass(frozen=True, kw_only=True)
class AdaptiveLevel:
    """{adaptive: {block, c}}"""

    adaptive: Adaptive = param(help="a level per neighbourhood")


def _odd(k: int) -> int:
    return k if k % 2 == 1 else k + 1


@dataclass(frozen=True, kw_only=True)
class Threshold(PrepOp):
    """black and white: a level 0-255, "otsu" (the level that splits the crop best), or
    {adaptive: {block, c}}"""

    name = "threshold"
    argument = "level"
    level: float | Literal["otsu"] | AdaptiveLevel = param(lo=0, hi=255)

    def build(self) -> Op:
        if self.level == "otsu":
            return _otsu
        if isinstance(self.level, AdaptiveLevel):
            block, c = _odd(self.level.adaptive.block), float(self.level.adaptive.c)
            return lambda im: cv2.adaptiveThreshold(to_grey(im), 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C,
                                                    cv2.THRESH_BINARY, block, c)
        t = float(self.level)
        return lambda im: cv2.threshold(to_grey(im), t, 255, cv2.THRESH_BINARY)[1]


@dataclass(frozen=True, kw_only=True)
class Scale(PrepOp):
    """resize by this factor (cubic up, area down)"""

    name = "scale"
    argument = "factor"
    factor: float = param(above=0, what="resize factor")

    def build(self) -> Op:
        f = self.factor
        interp = cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA
        return lambda im: cv2.resize(im, None, fx=f, fy=f, interpolation=interp)


@dataclass(frozen=True, kw_only=True)
class Blur(PrepOp):
    """Gaussian blur with this kernel size (made odd)"""

    name = "blur"
    argument = "size"
    size: int = param(lo=1, what="kernel size")

    def build(self) -> Op:
        k = _odd(self.size)
        return lambda im: cv2.GaussianBlur(im, (k, k), 0)


@dataclass(frozen=True, kw_only=True)
class Unsharp(PrepOp):
    """sharpen by this amount (0.5-2 typical)"""

    name = "unsharp"
    argument = "amount"
    amount: float = param(above=0, what="amount")

    def build(self) -> Op:
        amount = self.amount

        def op(im: np.ndarray) -> np.ndarray:
            blurred = cv2.GaussianBlur(im, (0, 0), 2.0)
            return cv2.addWeighted(im, 1 + amount, blurred, -amount, 0)
        return op


@dataclass(frozen=True, kw_only=True)
class Dilate(PrepOp):
    """grow bright areas with a k x k kernel"""

    name = "dilate"
    argument = "size"
    morph: ClassVar[int] = cv2.MORPH_DILATE
    size: int = param(lo=1, what="kernel size")

    def build(self) -> Op:
        kernel = np.ones((self.size, self.size), np.uint8)
        morph = self.morph
        return lambda im: cv2.morphologyEx(im, morph, kernel)


@dataclass(frozen=True, kw_only=True)
class Erode(Dilate):
    """shrink bright areas with a k x k kernel"""

    name = "erode"
    morph = cv2.MORPH_ERODE


@dataclass(frozen=True, kw_only=True)
class Pad(PrepOp):
    """add this many pixels of border in the corner pixel's colour (helps Tesseract)"""

    name = "pad"
    argument = "pixels"
    pixels: int = param(lo=1, what="pixels")

    def build(self) -> Op:
        n = self.pixels

        def op(im: np.ndarray) -> np.ndarray:
            corner = im[0, 0].tolist() if im.size else 0
            return cv2.copyMakeBorder(im, n, n, n, n, cv2.BORDER_CONSTANT, value=corner)
        return op


@dataclass(frozen=True, kw_only=True)
class Height(PrepOp):
    """resize so the crop is this many pixels high (one setting fits any viewport size)"""

    name = "height"
    argument = "pixels"
    pixels: int = param(lo=1, what="pixels")

    def build(self) -> Op:
        h = self.pixels

        def op(im: np.ndarray) -> np.ndarray:
            if im.shape[0] == 0:
                return im
            f = h / im.shape[0]
            return cv2.resize(im, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA)
        return op


@dataclass(frozen=True, kw_only=True)
class Spread(PrepOp):
    """widen every gap between glyphs (blank columns) to at least this many text heights, e.g.
    0.3: narrow digits that Tesseract would merge ("11" read "N") are read apart; word gaps are kept"""

    name = "spread"
    argument = "gap"
    gap: float = param(above=0, what="text heights")

    def build(self) -> Op:
        gap = self.gap
        return lambda im: spread(im, gap)


PREP_OPS: MappingProxyType[str, type[PrepOp]] = MappingProxyType({cls.name: cls for cls in (
    Grey, Gray, Hsv, Max, Min, Invert, DarkText, Normalize, ClearBorder, Otsu,
    Channel, InRange, Threshold, Scale, Blur, Unsharp, Dilate, Erode, Pad, Keep, Height, Spread)})

#: One item of a ``prep:`` list: ``grey`` or ``{scale: 2}``.
PrepItem = Annotated[PrepOp, Choice("op", PREP_OPS, example="{scale: 2}")]
#: A ``prep:`` list as a step declares it: checked while parsing, compiled by compile_prep.
PrepList = Annotated[list[Any], AsWritten(list[PrepItem])]


def compile_prep(items: Any, path: KeyPath, src: Located) -> list[tuple[str, Op]]:
    """Turn a ``prep:`` list into ``[(label, op)]``, with located errors."""
    if items is None:
        return []
    ops: list[PrepOp] = convert(list[PrepItem], items, path, src)
    return [(item if isinstance(item, str) else "{}={}".format(*next(iter(item.items()))), op.build())
            for item, op in zip(items, ops)]


def run_prep(chain: list[tuple[str, Op]], img: np.ndarray) -> np.ndarray:
    for _, op in chain:
        img = op(img)
    return img
