"""Read a line of text from a prepared crop glyph by glyph: ink, glyphs, classify, join.

How it works
  1. Ink. The crop's polarity is decided by an Otsu split (the background is the side that
     holds most of the crop's outer ring; the minority when the ring is mixed). The crop is
     turned ink-bright, its background shading removed (top-hat: the crop less its opening by
     a square half its height and by a row four times that long), and cut at Otsu's level.
  2. Glyphs. Connected components; parts whose column ranges overlap by half the wider one are
     one glyph (':', '%', 'i', '=', the pieces of a faint glyph). The text line (top, height)
     is the lower median rows of the largest class of similar tall components, so
     punctuation and icons do not set it. Specks under (min_speck x line)^2 px are dropped.
  3. Icons end the text. A blob reaching line_tol beyond the line, or cut by the crop's top or
     bottom edge beyond the line, is an icon. Glyphs form runs, broken by a gap over max_gap
     line heights or by an icon standing in the gap; the run with the most tall glyphs is the
     text (a leading bullet icon starts it after, a trailing ammo icon ends it).
  4. Dim padding. Each glyph's ink level (90th percentile of its pixels) over the background,
     relative to the brightest text glyph: leading glyphs under dim_ratio are padding ('040'
     reads '40'); the last glyph always stays (a lone '0' reads '0'), and a bright leading
     zero is a real zero ('012').
  5. Classify. Each glyph's patch (its columns over the line's rows, a ramp from 1/4 to 3/4 of
     its own contrast, so it does not depend on where the cut fell) goes to the classifier in
     one call, with the parts of each way to split a blob wider than the classifier's widest
     glyph at its thinnest columns (kept only when every part reads clearly and beats the
     whole). A glyph under the classifier's threshold, or within min_margin of its runner-up,
     makes the read null with a reason naming it. When the Otsu read fails, it is retried
     once at Otsu's cut among the pixels below the first cut (orange digits beside a white
     icon: the icon took the first split).

Why the guards (a wrong number is far worse than a null): each turned measured wrong reads
into nulls on the stress set below.
  - Ink on the line at the crop's left/right edge, in or next to the text: null (the reserve
    box shifted onto the last 0 read '81', the cut 0 as a 1). A box needs >= 2 px of margin.
  - An icon (a blob off the line) with ink on the line over the text, or next to it with ink
    that reads as a glyph: null (a JPEG '19' whose 1 ran into the panel's lower edge read '9').
  - min_margin 0.035: all 13 misread glyphs of 920 (the outlined Apex reserve 8, read 9 or 6
    under blur, JPEG 50 or a 540p copy) were near ties, margin <= 0.030; right glyphs have a
    margin p5 0.040, median 0.135, and 0.035 keeps 96% of them. Split parts need twice that.

Measured on real Apex HUD crops (t8cp8hhm clip '12' / reserve '019', hud_21_9_pathfinder clip
'03' / reserve '080'; the overtrack-digits fonts), 22 capture versions (JPEG 30-90, scale
0.5-2x, 720p/540p round trips + JPEG, noise, gamma, dimmer, blur) x 6 box margins = 528
reads: 473 right, 55 null, 0 wrong (clip 257/264). The nulls are mostly the 21:9 frame's
outlined orange reserve '80' at 0.5-0.75x scale or after a 540p/720p round trip (its 8 then
scores within a hair of 6 and 9), and boxes with 1 px margins. Dim padding: Apex's padding zeros measure 0.14-0.35 of
the digits' contrast (0.48 at worst, blurred), digits >= 0.75 of the brightest (p5 0.90):
dim_ratio 0.6. Stream thumbnails (480x270, digits ~7 px) upscaled to 1080p read '5' (its dim
0 dropped) and '24' with either font. Speed: 0.19 ms median per read of the '12' crop (1000
reads, one core): Otsu + top-hat + connected components, one patch per glyph, one classify.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h in crop pixels
Polarity = Literal["auto", "bright", "dark"]


@dataclass(frozen=True)
class GlyphScore:
    char: str  # best character
    score: float  # its calibrated score in [0, 1]
    runner_up: str  # best *other* character
    margin: float  # score - runner-up's score


class GlyphClassifier(Protocol):
    # charset and threshold as read-only members: a plain attribute or a property satisfies them
    @property
    def charset(self) -> str:  # characters it can return
        ...

    @property
    def threshold(self) -> float:  # a glyph whose best score is below this makes the read null
        ...

    def classify(self, patches: Sequence[np.ndarray]) -> list[GlyphScore]: ...


@dataclass(frozen=True)
class GlyphOptions:
    """How a crop is cut into glyphs. Lengths are in line heights (the tall glyphs' height),
    so one set of options fits any capture resolution."""

    polarity: Polarity = "auto"  # text brighter ("bright") or darker ("dark") than its background
    cut: int | None = None  # a fixed ink cut (grey level of the crop as given); None: Otsu's
    min_speck: float = 0.1  # ink of fewer than (min_speck x line)^2 pixels is a speck
    line_tol: float = 0.25  # a blob reaching this far beyond the line, or this much taller, is an icon
    max_gap: float = 0.6  # a wider gap ends the text (Apex: digit gaps 0.2-0.3, reserve bullet 0.74)
    dim_ratio: float = 0.6  # leading glyphs with less contrast than this x the brightest are padding
    min_margin: float = 0.035  # a glyph whose score beats the runner-up's by less is ambiguous
    space: float | None = None  # a gap wider than this inserts a space; None: never (numbers)
    split: bool = True  # split blobs too wide for one glyph at their thinnest columns
    flatten: bool = True  # remove the background's shading before Otsu (not with a fixed cut)

    def __post_init__(self) -> None:
        if self.polarity not in ("auto", "bright", "dark"):
            raise ValueError(f"glyph polarity must be auto, bright or dark, not {self.polarity!r}")
        if self.cut is not None and not 0 <= self.cut <= 254:
            raise ValueError(f"glyph cut must be a grey level 0..254, not {self.cut}")
        for name in ("min_speck", "line_tol", "max_gap", "dim_ratio", "min_margin"):
            if getattr(self, name) < 0:
                raise ValueError(f"glyph option {name} must not be negative, not {getattr(self, name)}")
        if self.space is not None and self.space <= 0:
            raise ValueError(f"glyph option space must be a positive gap in line heights, not {self.space}")


@dataclass(frozen=True)
class GlyphInfo:
    """One blob of ink, read or dropped, for the debug report and --explain."""

    box: Box  # its ink's bounding box in crop pixels
    char: str | None = None  # None when dropped
    score: float = 0.0
    runner_up: str | None = None
    margin: float = 0.0
    brightness: float = 0.0  # ink contrast over the background, relative to the brightest text glyph
    dropped: str | None = None  # "speck", "icon", "beyond gap", "beyond icon", "dim padding"; None: read
    split: bool = False  # one part of a blob too wide for one glyph, cut at its thinnest column


@dataclass(frozen=True)
class GlyphRead:
    text: str | None  # None: not read (see reason)
    confidence: float  # the weakest read glyph's score
    reason: str | None  # why text is None
    glyphs: tuple[GlyphInfo, ...]  # every blob left to right, read or dropped
    line_top: int = 0  # the text line's rows: line_top .. line_top + line_height - 1
    line_height: int = 0
    polarity: str = ""  # "bright" or "dark", as decided
    cut: int = 0  # the ink cut, on the crop turned ink-bright (and flattened unless a fixed cut)


# --- ink ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Text:
    image: np.ndarray  # the crop turned ink-bright, shading removed, uint8
    polarity: str  # "bright" or "dark"
    cut: int  # the first ink cut to try on image


@dataclass(frozen=True)
class _Ink:
    image: np.ndarray  # _Text.image
    labels: np.ndarray  # its connected components above the cut
    comps: list[list[int]]  # per label 1.. : x, y, w, h, area
    background: float  # median level of the pixels that are not ink
    cut: int


def _as_grey(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    if img.dtype != np.uint8:  # a float or 16-bit crop: its own range stretched to 0..255
        f = img.astype(np.float64)
        f -= f.min()
        img = (f * (255.0 / max(float(f.max()), 1e-9))).astype(np.uint8)
    return np.ascontiguousarray(img)


def _otsu(values: np.ndarray) -> int:
    level, _ = cv2.threshold(values, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return int(level)


def _bright_is_text(bright: np.ndarray) -> bool:
    """Whether the bright side of a split is the text: the background holds most of the crop's
    outer ring (a text box has margins); when the ring is mixed (text cut tight, touching the
    edges) the text is the minority of the crop."""
    ring = np.concatenate((bright[0], bright[-1], bright[1:-1, 0], bright[1:-1, -1]))
    share = float(ring.mean())
    if share < 0.35:
        return True
    if share > 0.65:
        return False
    return bool(bright.mean() < 0.5)


def _text(grey: np.ndarray, options: GlyphOptions) -> _Text:
    cut = _otsu(grey) if options.cut is None else options.cut
    if options.polarity == "auto":
        bright_text = _bright_is_text(grey > cut)
    else:
        bright_text = options.polarity == "bright"
    image = grey if bright_text else cv2.bitwise_not(grey)
    polarity = "bright" if bright_text else "dark"
    if options.cut is not None:
        return _Text(image, polarity, cut if bright_text else 254 - cut)
    if options.flatten:
        # The background's shading is what survives an opening no stroke survives: a square
        # half the crop's height, or a row four times that long (a band along the box's edge).
        # The Apex reserve panel runs from 122 at its top to 145 at its bottom, the digits are
        # 175: on a JPEG copy one Otsu cut joined the bottom rows to the digits.
        k = max(3, grey.shape[0] // 2) | 1
        shade = cv2.morphologyEx(image, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
        band = cv2.morphologyEx(image, cv2.MORPH_OPEN, np.ones((1, 4 * k), np.uint8))
        image = cv2.subtract(image, cv2.max(shade, band))
    return _Text(image, polarity, _otsu(image))


def _lower_cut(text: _Text) -> int | None:
    """Otsu's cut among the pixels below the first cut: the text's level when something
    brighter than the text (a white icon beside orange digits) took the first split."""
    below = text.image[text.image <= text.cut]
    if below.size < 2 or int(below.min()) == int(below.max()):
        return None
    return _otsu(below.reshape(1, -1))


def _ink(text: _Text, cut: int) -> _Ink:
    ink = (text.image > cut).view(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    rest = text.image[ink == 0]
    background = float(np.partition(rest, rest.size // 2)[rest.size // 2]) if rest.size else 0.0
    return _Ink(text.image, labels, stats[1:].tolist(), background, cut)


# --- the text line ----------------------------------------------------------------------------
# Plain Python from here on where the data is a handful of components: numpy's per-call cost
# was most of the time (the layout took 88 us with numpy, 27 us without).

# Components within this fraction of each other's height are one size class; the largest class
# of tall components is the text. Digits of one font differ by a pixel or two (the Apex clip 1
# and 2 are 28 and 29 px), icons and punctuation by far more.
_SAME_HEIGHT = 0.2
_TALL = 0.4  # components shorter than this x the tallest never set the line


def _median(values: list[int]) -> int:
    """The lower median: of two tall glyphs, the tighter line (the upper median, one row looser
    on two-digit reads, read 10 fewer of 264 stressed Apex reserve crops)."""
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def _line(comps: list[list[int]], crop_h: int) -> tuple[int, int] | None:
    """(top, bottom) of the text line from the largest class of similar tall components; ties
    go to the class touching the crop's top or bottom least (an icon cut by the box), then to
    the taller."""
    if not comps:
        return None
    tallest = max(c[3] for c in comps)
    tall = [c for c in comps if c[3] >= _TALL * tallest]
    best: tuple[int, float, int] | None = None
    members: list[list[int]] = []
    for c in tall:
        same = [d for d in tall if abs(d[3] - c[3]) <= _SAME_HEIGHT * max(d[3], c[3])]
        touching = sum(d[1] <= 0 or d[1] + d[3] >= crop_h for d in same) / len(same)
        key = (len(same), -touching, c[3])
        if best is None or key > best:
            best, members = key, same
    top = _median([c[1] for c in members])
    bottom = _median([c[1] + c[3] for c in members])
    return top, max(bottom, top + 1)


# --- blobs: components stacked into glyphs --------------------------------------------------------

@dataclass(frozen=True)
class _Blob:
    x0: int
    y0: int
    x1: int  # one past the last column
    y1: int  # one past the last row
    ids: tuple[int, ...]  # its components' labels
    area: int

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    @property
    def h(self) -> int:
        return self.y1 - self.y0

    @property
    def box(self) -> Box:
        return (self.x0, self.y0, self.x1 - self.x0, self.y1 - self.y0)


def _blobs(comps: list[tuple[int, list[int]]]) -> list[_Blob]:
    """Components (label, x y w h area) whose column ranges overlap by half the wider one's
    width are one glyph; a line under the text, wider than two glyphs, joins nothing."""
    parent = list(range(len(comps)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, (_, a) in enumerate(comps):
        for j in range(i + 1, len(comps)):
            b = comps[j][1]
            if 2 * (min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])) >= max(a[2], b[2]):
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(comps)):
        groups.setdefault(root(i), []).append(i)
    blobs = []
    for group in groups.values():
        rows = [comps[i][1] for i in group]
        blobs.append(_Blob(min(r[0] for r in rows), min(r[1] for r in rows), max(r[0] + r[2] for r in rows),
                           max(r[1] + r[3] for r in rows), tuple(comps[i][0] for i in group),
                           sum(r[4] for r in rows)))
    return blobs


def _own(ink: _Ink, blob: _Blob, rows: slice, x0: int, x1: int) -> np.ndarray:
    """Mask of the blob's own ink in rows x columns x0..x1."""
    labels = ink.labels[rows, x0:x1]
    return labels == blob.ids[0] if len(blob.ids) == 1 else np.isin(labels, blob.ids)


def _level(ink: _Ink, blob: _Blob) -> float:
    """The blob's ink level: the 90th percentile of its pixels (the stroke's core, not its
    anti-aliased edge, so thin and bold glyphs of one colour measure the same)."""
    vals = ink.image[blob.y0:blob.y1, blob.x0:blob.x1][_own(ink, blob, slice(blob.y0, blob.y1), blob.x0, blob.x1)]
    if not vals.size:
        return 0.0
    k = (len(vals) * 9) // 10
    return float(np.partition(vals, k)[k])


# --- layout: which blobs are the text ----------------------------------------------------------

@dataclass(frozen=True)
class _Layout:
    ink: _Ink
    top: int
    bottom: int
    blobs: tuple[_Blob, ...]  # every blob, specks too, left to right
    dropped: tuple[str | None, ...]  # per blob: why it is not text, or None
    brightness: tuple[float, ...]  # per blob: contrast relative to the brightest text glyph
    levels: tuple[float, ...]  # per blob: its ink level
    edges: tuple[str, ...]  # "left", "right": crop edges the text (or ink next to it) touches
    over: tuple[int, ...]  # icons with ink on the line over the text's columns
    near: tuple[int, ...]  # icons with ink on the line within max_gap of the text

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def rows(self) -> slice:
        return slice(self.top, self.bottom)

    def kept(self) -> list[int]:
        return [i for i, why in enumerate(self.dropped) if why is None]


def _runs(blobs: list[_Blob], dropped: list[str | None], gap: float) -> tuple[list[list[int]], list[str]]:
    """Runs of the blobs not dropped, left to right, broken by a gap wider than `gap` px or by
    an icon standing in the gap; with the reason each run is apart from the one before it."""
    walls = [b for b, why in zip(blobs, dropped) if why == "icon"]
    runs: list[list[int]] = []
    breaks: list[str] = []
    right = 0
    for i, b in enumerate(blobs):
        if dropped[i] is not None:
            continue
        if runs:
            walled = any(w.x0 >= right - 1 and w.x1 <= b.x0 + 1 for w in walls)
            if walled or b.x0 - right > gap:
                runs.append([])
                breaks.append("beyond icon" if walled else "beyond gap")
            runs[-1].append(i)
            right = max(right, b.x1)
        else:
            runs.append([i])
            right = b.x1
    return runs, breaks


def _layout(ink: _Ink, options: GlyphOptions) -> _Layout | None:
    crop_h, crop_w = ink.image.shape
    line = _line(ink.comps, crop_h)
    if line is None:
        return None
    top, bottom = line
    height = bottom - top
    least = (options.min_speck * height) ** 2
    blobs = _blobs([(n, c) for n, c in enumerate(ink.comps, 1) if c[4] >= least])
    blobs += [_Blob(c[0], c[1], c[0] + c[2], c[1] + c[3], (n,), c[4]) for n, c in enumerate(ink.comps, 1)
              if c[4] < least]
    blobs.sort(key=lambda b: (b.x0, b.y0))
    speck = [b.area < least for b in blobs]

    # Off the line: reaching line_tol beyond it, or taller; or cut by the crop's top or bottom
    # edge beyond the line (text is boxed with a margin; the Apex ammo icon beside the clip is
    # cut by the box 3 px above the digits' top).
    tol = options.line_tol * height
    edge = max(2.0, 0.07 * height)
    icon = [not s and (b.y0 < top - tol or b.y1 > bottom + tol or b.h > height + tol
                       or (b.y0 == 0 and top >= edge) or (b.y1 == crop_h and b.y1 - bottom >= edge))
            for b, s in zip(blobs, speck)]
    dropped: list[str | None] = ["speck" if s else "icon" if i else None for s, i in zip(speck, icon)]
    runs, breaks = _runs(blobs, dropped, options.max_gap * height)
    if not runs:
        return _Layout(ink, top, bottom, tuple(blobs), tuple(dropped), (0.0,) * len(blobs), (0.0,) * len(blobs),
                       (), (), ())
    chosen = max(range(len(runs)), key=lambda k: (sum(blobs[i].h >= height - tol for i in runs[k]),
                                                  len(runs[k]), sum(blobs[i].w for i in runs[k])))
    for k, run in enumerate(runs):
        if k != chosen:
            why = breaks[chosen] if k > chosen else breaks[chosen - 1]  # the break beside the text
            for i in run:
                dropped[i] = why
    x0, x1 = blobs[runs[chosen][0]].x0, max(blobs[i].x1 for i in runs[chosen])

    # Blobs with ink on the line at the crop's left or right edge, in the text or next to it,
    # may be glyphs cut by the box: the rest reads as another glyph ('80' boxed short read '81',
    # the cut 0 as a 1) or is dropped ('136' boxed short reads '36').
    reach = options.max_gap * height
    on_line = [not s and int(_own(ink, b, slice(top, bottom), b.x0, b.x1).sum()) >= least
               for b, s in zip(blobs, speck)]
    edges = tuple(side for side, hit in (
        ("left", any(b.x0 <= 0 and b.x1 >= x0 - reach for b, o in zip(blobs, on_line) if o)),
        ("right", any(b.x1 >= crop_w and b.x0 <= x1 + reach for b, o in zip(blobs, on_line) if o))) if hit)
    # Icons with ink on the line, over the text or next to it: a glyph joined to something off
    # the line (a JPEG '19' whose 1 ran into the panel's lower edge) is dropped with it and the
    # rest reads as a shorter, wrong number. The read checks these.
    over, near = [], []
    for i, b in enumerate(blobs):
        if not icon[i] or not on_line[i]:
            continue
        if b.x0 < x1 and b.x1 > x0:
            over.append(i)
        elif max(b.x0 - x1, x0 - b.x1) <= reach:
            near.append(i)

    levels = [0.0 if s else _level(ink, b) for b, s in zip(blobs, speck)]
    contrast = [max(level - ink.background, 0.0) for level in levels]
    text = runs[chosen]
    brightest = max(contrast[i] for i in text)
    brightness = tuple(c / brightest if brightest > 0 else 0.0 for c in contrast)
    for i in text[:-1]:  # leading padding: dim glyphs before the first bright one, never the last
        if brightness[i] >= options.dim_ratio:
            break
        dropped[i] = "dim padding"
    return _Layout(ink, top, bottom, tuple(blobs), tuple(dropped), brightness, tuple(levels), edges,
                   tuple(over), tuple(near))


# --- patches ----------------------------------------------------------------------------------

def _patch(ink: _Ink, rows: slice, blob: _Blob, level: float, x0: int, x1: int, *,
           own_only: bool = False) -> np.ndarray:
    """Columns x0..x1 of the line's rows as ink in [0, 1]: a ramp from 1/4 to 3/4 of this
    glyph's own contrast, so the patch does not depend on where the global cut fell (fat under
    a low cut, broken under a high one) and keeps the anti-aliased edge. Other blobs' ink in
    these columns is cleared (and everything not the blob's own ink, with own_only)."""
    lo = ink.background + 0.25 * (level - ink.background)
    span = max(0.5 * (level - ink.background), 1.0)
    patch: np.ndarray = np.clip((ink.image[rows, x0:x1].astype(np.float32) - lo) / span, 0.0, 1.0)
    own = _own(ink, blob, rows, x0, x1)
    patch[~own if own_only else (ink.labels[rows, x0:x1] != 0) & ~own] = 0.0
    return patch


def _splits(layout: _Layout, blob: _Blob, widest: float) -> list[list[tuple[int, int]]]:
    """Ways to cut a blob too wide for one glyph into n = ceil(w / widest) and n + 1 parts (as
    column ranges), each cut at the column with the least ink near its even share (the neck
    where two glyphs touch); the cut column goes to neither part."""
    own = _own(layout.ink, blob, slice(blob.y0, blob.y1), blob.x0, blob.x1)
    profile = own.sum(axis=0)
    w = blob.w
    n_lo = max(2, math.ceil(w / max(widest, 1.0)))
    ways = []
    for n in (n_lo, n_lo + 1):
        step = w / n
        if step < 2:
            break
        bounds = [0]
        for k in range(1, n):
            ideal = k * step
            lo, hi = max(int(ideal - 0.3 * step), 1), min(int(ideal + 0.3 * step) + 1, w - 1)
            if hi <= lo:
                break
            cols = np.arange(lo, hi)
            bounds.append(int(cols[np.lexsort((np.abs(cols - ideal), profile[lo:hi]))[0]]))  # least ink, nearest
        if len(bounds) != n:
            continue
        bounds.append(w)
        parts = []
        for k in range(n):
            a = bounds[k] + (1 if k else 0)
            cols = np.flatnonzero(own[:, a:bounds[k + 1]].any(axis=0))
            if cols.size:
                parts.append((blob.x0 + a + int(cols[0]), blob.x0 + a + int(cols[-1]) + 1))
        if len(parts) == n:
            ways.append(parts)
    return ways


def _part_box(layout: _Layout, blob: _Blob, x0: int, x1: int) -> Box:
    rows = np.flatnonzero(_own(layout.ink, blob, slice(blob.y0, blob.y1), x0, x1).any(axis=1))
    return (x0, blob.y0 + int(rows[0]), x1 - x0, int(rows[-1]) - int(rows[0]) + 1)


def _widest(classifier: GlyphClassifier, layout: _Layout, kept: list[int]) -> float:
    """The widest one glyph may be, in px: the classifier's widest glyph for this line height
    when it knows it (a Font does), else 1.5x the median width of the tall glyphs."""
    aspect = getattr(classifier, "max_aspect", None)
    if isinstance(aspect, (int, float)) and aspect > 0:
        # 15% and 2 px of slack: blur and JPEG grow a glyph by a pixel or so at each side
        return float(aspect) * layout.height * 1.15 + 2
    widths = sorted(layout.blobs[i].w for i in kept if layout.blobs[i].h >= 0.75 * layout.height)
    return 1.5 * widths[(len(widths) - 1) // 2] if len(widths) >= 2 else float(layout.height)


# --- reading ------------------------------------------------------------------------------

def glyph_patches(grey: np.ndarray, options: GlyphOptions = GlyphOptions(), *,
                  expect: int | None = None) -> list[tuple[Box, np.ndarray]]:
    """The kept glyphs of a crop, left to right, as (box, patch), before classification (so
    without the touching-glyph split, which needs a classifier): to cut a crop into font
    examples. With `expect` (the number of characters the crop shows) a first cut that finds
    another number of glyphs is retried at the lower cut, as read_glyphs retries."""
    grey = _as_grey(grey)
    if grey.size == 0:
        return []
    text = _text(grey, options)
    cuts = [text.cut]
    lower = _lower_cut(text) if options.cut is None and expect is not None else None
    if lower is not None and lower != text.cut:
        cuts.append(lower)
    out: list[tuple[Box, np.ndarray]] = []
    for cut in cuts:
        layout = _layout(_ink(text, cut), options)
        if layout is None:
            continue
        out = [(layout.blobs[i].box, _patch(layout.ink, layout.rows, layout.blobs[i], layout.levels[i],
                                            layout.blobs[i].x0, layout.blobs[i].x1)) for i in layout.kept()]
        if expect is None or len(out) == expect:
            break
    return out


def read_glyphs(grey: np.ndarray, classifier: GlyphClassifier, *,
                options: GlyphOptions = GlyphOptions()) -> GlyphRead:
    """Read the text of a prepared crop (uint8 grey; text bright on dark or dark on bright).

    Cut at Otsu's level; a failed read is retried once at Otsu's level among the pixels below
    the first cut (text that is not the brightest thing in the crop). Each read must pass
    every guard on its own; when both fail, the first read's reason is given."""
    grey = _as_grey(grey)
    if grey.size == 0:
        return GlyphRead(None, 0.0, "the crop is empty", ())
    text = _text(grey, options)
    first = _read(text, text.cut, classifier, options)
    if first.text is not None or options.cut is not None:
        return first
    lower = _lower_cut(text)
    if lower is None or lower == text.cut:
        return first
    second = _read(text, lower, classifier, options)
    return second if second.text is not None else first


def _read(text: _Text, cut: int, classifier: GlyphClassifier, options: GlyphOptions) -> GlyphRead:
    layout = _layout(_ink(text, cut), options)
    if layout is None:
        return GlyphRead(None, 0.0, "no ink in the crop", (), polarity=text.polarity, cut=cut)

    def result(value: str | None, confidence: float, reason: str | None, infos: list[GlyphInfo]) -> GlyphRead:
        infos.sort(key=lambda g: (g.box[0], g.box[1]))
        return GlyphRead(value, confidence, reason, tuple(infos), layout.top, layout.height, text.polarity, cut)

    kept = layout.kept()
    if not kept:
        return result(None, 0.0, "no glyphs on the text line",
                      [GlyphInfo(b.box, brightness=layout.brightness[i], dropped=layout.dropped[i])
                       for i, b in enumerate(layout.blobs)])

    # One classify call: each kept glyph whole; the parts of each way to split a wide one; the
    # line-rows ink of each icon next to the text (if that reads as a glyph, a glyph is in it).
    patches = [_patch(layout.ink, layout.rows, layout.blobs[i], layout.levels[i], layout.blobs[i].x0,
                      layout.blobs[i].x1) for i in kept]
    ways: dict[int, list[tuple[int, list[tuple[int, int]]]]] = {}  # blob -> (first patch, parts)
    if options.split:
        widest = _widest(classifier, layout, kept)
        for i in kept:
            b = layout.blobs[i]
            if b.w > widest:
                for parts in _splits(layout, b, widest):
                    ways.setdefault(i, []).append((len(patches), parts))
                    patches.extend(_patch(layout.ink, layout.rows, b, layout.levels[i], a, z) for a, z in parts)
    checks = []
    for i in layout.near:
        b = layout.blobs[i]
        cols = np.flatnonzero(_own(layout.ink, b, layout.rows, b.x0, b.x1).any(axis=0))
        checks.append((i, len(patches)))
        patches.append(_patch(layout.ink, layout.rows, b, layout.levels[i], b.x0 + int(cols[0]),
                              b.x0 + int(cols[-1]) + 1, own_only=True))
    scores = classifier.classify(patches)
    threshold = classifier.threshold

    infos: list[GlyphInfo] = []
    read: list[GlyphInfo] = []
    for k, i in enumerate(kept):
        b, bright, whole = layout.blobs[i], layout.brightness[i], scores[k]
        best: list[tuple[Box, GlyphScore]] | None = None
        best_low = whole.score
        for first, parts in ways.get(i, []):
            got = scores[first:first + len(parts)]
            low = min(s.score for s in got)
            # A split stands when every part reads clearly and the weakest beats the whole: the
            # cut is a guess at where glyphs meet, so no part may be a near tie (a blurred '80'
            # split into a 6 at 0.78 over the 8 at 0.75: twice min_margin turned it to a null).
            if low >= threshold and low > best_low and all(s.margin >= 2 * options.min_margin for s in got):
                best, best_low = [(_part_box(layout, b, a, z), s) for (a, z), s in zip(parts, got)], low
        for box, s, split in [(b.box, whole, False)] if best is None else [(box, s, True) for box, s in best]:
            read.append(GlyphInfo(box, s.char, s.score, s.runner_up, s.margin, bright, split=split))
    infos = read + [GlyphInfo(b.box, brightness=layout.brightness[i], dropped=layout.dropped[i])
                    for i, b in enumerate(layout.blobs) if layout.dropped[i] is not None]

    confidence = min(g.score for g in read)
    if layout.edges:
        return result(None, confidence, f"the text touches the crop's {layout.edges[0]} edge: a glyph may be "
                      "cut off (give the box a margin)", infos)
    for i in layout.over:
        x, _, w, _ = layout.blobs[i].box
        return result(None, confidence, f"ink off the text line (an icon?) at x {x}..{x + w - 1} runs over "
                      "the text", infos)
    for i, n in checks:
        if scores[n].score >= threshold:
            x, _, w, _ = layout.blobs[i].box
            return result(None, confidence, f"ink off the text line (an icon?) at x {x}..{x + w - 1}, next to "
                          f"the text, reads as {scores[n].char!r} at {scores[n].score:.2f}: a glyph may be "
                          "joined to it", infos)
    for n, g in enumerate(read, 1):
        if g.score < threshold:
            return result(None, confidence, f"glyph {n} of {len(read)} is unclear: best {g.char!r} at "
                          f"{g.score:.2f} < {threshold:.2f}", infos)
        if g.margin < options.min_margin:
            return result(None, confidence, f"glyph {n} of {len(read)} is ambiguous: {g.char!r} at "
                          f"{g.score:.2f}, {g.runner_up!r} at {g.score - g.margin:.2f} (margin {g.margin:.2f} "
                          f"< {options.min_margin:.2f})", infos)
    chars = [read[0].char or ""]
    for prev, g in zip(read, read[1:]):
        if options.space is not None and g.box[0] - (prev.box[0] + prev.box[2]) > options.space * layout.height:
            chars.append(" ")
        chars.append(g.char or "")
    return result("".join(chars), confidence, None, infos)


def example_patch(image: np.ndarray) -> np.ndarray:
    """The patch of a one-character example image (a font by example), segmented as the reader
    segments a crop: its ink (specks dropped) over its line. The line is the ink's own rows
    when the ink fills most of the image's height (a digit or letter: margins dropped), else
    the image's rows, since a short glyph ('.', '-', ':') keeps its place on the line only when
    it was cut with the line's rows, as glyph_patches gives them. ValueError when there is no ink."""
    grey = _as_grey(image)
    if grey.size == 0 or int(grey.min()) == int(grey.max()):
        raise ValueError("the image has no ink (it is one flat grey level)")
    text = _text(grey, GlyphOptions())
    ink = _ink(text, text.cut)
    line = _line(ink.comps, grey.shape[0])
    if line is None:
        raise ValueError("the image has no ink")
    least = (GlyphOptions().min_speck * (line[1] - line[0])) ** 2
    blobs = _blobs([(n, c) for n, c in enumerate(ink.comps, 1) if c[4] >= least])
    x0, x1 = min(b.x0 for b in blobs), max(b.x1 for b in blobs)
    y0, y1 = min(b.y0 for b in blobs), max(b.y1 for b in blobs)
    rows = slice(y0, y1) if y1 - y0 >= 0.6 * grey.shape[0] else slice(0, grey.shape[0])
    union = _Blob(x0, y0, x1, y1, tuple(c for b in blobs for c in b.ids), sum(b.area for b in blobs))
    return _patch(ink, rows, union, max(_level(ink, b) for b in blobs), x0, x1)
