"""Read a line of text from a prepared crop glyph by glyph: ink, glyphs, classify, join.

How it works
  1. Ink. The crop's polarity is decided by an Otsu split (the background is the side that
     holds most of the crop's outer ring; the minority when the ring is mixed). The crop is
     turned ink-bright, its background shading removed (top-hat: the crop less its opening by
     a square half its height and by a row four times that long), and cut at Otsu's level.
  2. Glyphs. Connected components; parts whose column ranges overlap by half the wider one are
     one glyph (':', 'i', '=', the pieces of a faint glyph). The text line (top, height) is the
     lower median rows of the largest class of tall components within 20% of each other's
     height, so punctuation, icons and smaller digits do not set it. Specks under
     (min_speck x line)^2 px are dropped, and blobs with no ink on the line's rows.
  3. Icons end the text. A blob reaching line_tol beyond the line, or cut by the crop's top or
     bottom edge beyond the line, is an icon. Glyphs form runs, broken by a gap over max_gap
     line heights or by an icon standing on the line in the gap; the run with the most tall
     glyphs is the text. A run of smaller glyphs on the baseline (or top line) beyond the gap,
     up to twice max_gap, joins the text when each of its glyphs reads clearly (Melee's
     centiseconds). A badge at either end (a squarish blob floating between the line's top
     and baseline that reads as no character: Valorant's currency sign, as close to the
     credits as the blank beside a '1') is left out.
  4. Dim padding. Each glyph's ink level (90th percentile of its pixels) over the background,
     relative to the brightest text glyph: leading glyphs under dim_ratio are padding ('040'
     reads '40'); the last glyph always stays (a lone '0' reads '0'), and a bright leading
     zero is a real zero ('012'). Trailing glyphs as dim are dropped too (the stage behind).
  5. Classify. Each glyph's patch (its columns over the line's rows, a ramp from 1/4 to 3/4 of
     its own contrast) goes to the classifier in one call, with: its patch over its own rows
     when it may be a smaller glyph (read both ways, the best character against the best other
     of either); the parts of each way to split a blob wider than the classifier's widest
     glyph; the union of neighbouring blobs whose columns overlap (a '%' in two parts); the ink
     of every blob left out. A glyph under the classifier's threshold, or within the margin it
     needs of its runner-up, makes the read null with a reason naming it. When the Otsu read
     fails, it is retried once at Otsu's cut among the pixels below the first cut (orange
     digits beside a white icon), unless the retry contradicts the first read.

Why the guards (a wrong number is far worse than a null): each turned measured wrong reads
into nulls, on Apex stress crops first, then on bench/digits_corpus.tsv (601 crops, 6 games).
  - Ink on the line at the crop's left/right edge, in or next to the text: null (the reserve
    box shifted onto the last 0 read '81', the cut 0 as a 1). A box needs >= 2 px of margin.
  - An icon with ink on the line over the text: null (a JPEG '19' whose 1 ran into the
    panel's lower edge read '9').
  - Anything left out of the text (icon, beyond the gap, dim) that reads as a glyph: null. A
    text that goes on in glyphs the layout left out is read short, a valid-looking wrong value
    (Melee's '07:48.19' read '07:48').
  - min_margin 0.035: all 13 misread glyphs of 920 on Apex stress crops were near ties,
    margin <= 0.030; right glyphs had a margin p5 0.040. Split parts need twice that, and no
    two neighbouring parts may read as one glyph. Small glyphs need more (_need: by the rows
    of their patch, fewer where the capture is soft): their wrong reads' margins reach 0.33.
  - The retry at the lower cut may not read a glyph the first read found ambiguous or read
    otherwise, nor leave out one the first read as a glyph.

Measured with bench/digits.py on the corpus (fonts cut from its tune rows, the Apex ammo
fonts from the shared templates; holdout rows only measured): 390 right / 84 null / 0 wrong
of 474 crops a font applies to (holdout 93 / 38 / 0); under its 7 capture variants 2319 /
997 / 2 (both a 2-character font's '12' split in three, '111'). The built-in digit reader
through the same code: 176 / 425 / 0 of 601, stressed 1068 / 3138 / 1 (a '14' shifted 2 px
read '1'). Speed (one core, median of 400 reads): 0.21-0.24 ms for Apex's clip, reserve and
Valorant's scoreboard numbers (2-3 glyphs); 0.6 ms for Melee's 7-glyph timer against a
66-example font; about 1 ms for a Melee damage crop over a busy stage that ends null.
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
    dropped: str | None = None  # "speck", "icon", "off the line", "beyond gap", "beyond icon", "dim padding",
    #                              "dim"; None: read
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
    the taller. A class is components within _SAME_HEIGHT of each other, not merely of one of
    them: a 19 px sliver of the stage beside Melee's 23 px '0' and 17 px '%' made one class of
    all three around itself, the '0' then stood too tall for the line and '0%' read '%'."""
    if not comps:
        return None
    tallest = max(c[3] for c in comps)
    tall = sorted((c for c in comps if c[3] >= _TALL * tallest), key=lambda c: c[3])
    best: tuple[int, float, int] | None = None
    members: list[list[int]] = []
    for k, c in enumerate(tall):  # each class: the shortest member, and all up to 1 / (1 - _SAME_HEIGHT) its height
        same = [d for d in tall[k:] if d[3] - c[3] <= _SAME_HEIGHT * d[3]]
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

# A glyph of a smaller size run (Melee's timer draws its centiseconds at 0.75 of the seconds'
# height, on their baseline; Melee's damage its '%' at 0.7): shorter than this x the line...
_SMALL_MAX = 0.85  # (Melee's big digits measure >= 0.875 of their line, the small ones <= 0.81)
_SMALL_MIN = 0.45  # ...and at least this tall (a '.', a '-' or a colon's dot is shorter)
_ALIGN = 0.1  # its bottom (or top) within this x the line (>= 1 px) of the line's
_MAYBE_SMALL = 0.95  # a glyph shorter than this x the line is also read as a small one


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
    small: tuple[tuple[int, int] | None, ...]  # per blob: the rows of its smaller size run, if it may be one
    leftover: tuple[int, ...]  # blobs not read but with ink on the line: none may read as a glyph
    tails: tuple[tuple[int, ...], ...]  # runs of smaller glyphs beyond the gap: text if they read clearly
    chains: tuple[tuple[int, ...], ...]  # runs of kept blobs whose columns overlap: maybe one glyph in parts

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def rows(self) -> slice:
        return slice(self.top, self.bottom)

    def kept(self) -> list[int]:
        return [i for i, why in enumerate(self.dropped) if why is None]


def _runs(blobs: list[_Blob], dropped: list[str | None], walls: list[bool],
          gap: float) -> tuple[list[list[int]], list[str], list[int]]:
    """Runs of the blobs not dropped, left to right, broken by a gap wider than `gap` px or by
    a wall (an icon on the line) standing in the gap; with the reason each run is apart from
    the one before it, and the gap in px."""
    standing = [b for b, w in zip(blobs, walls) if w]
    runs: list[list[int]] = []
    breaks: list[str] = []
    gaps: list[int] = []
    right = 0
    for i, b in enumerate(blobs):
        if dropped[i] is not None:
            continue
        if runs:
            walled = any(w.x0 >= right - 1 and w.x1 <= b.x0 + 1 for w in standing)
            if walled or b.x0 - right > gap:
                runs.append([])
                breaks.append("beyond icon" if walled else "beyond gap")
                gaps.append(b.x0 - right)
            runs[-1].append(i)
            right = max(right, b.x1)
        else:
            runs.append([i])
            right = b.x1
    return runs, breaks, gaps


def _short(b: _Blob, top: int, bottom: int, most: float = _SMALL_MAX) -> bool:
    """Whether a blob may be a glyph of a smaller size run on the line: shorter than `most` x
    the line but not punctuation-short, its bottom on the line's baseline or its top on the
    line's top (subscript-like or superscript-like digits)."""
    height = bottom - top
    align = max(1.0, _ALIGN * height)
    return (_SMALL_MIN * height <= b.h < most * height
            and (abs(b.y1 - bottom) <= align or abs(b.y0 - top) <= align))


def _small_rows(blobs: tuple[_Blob, ...] | list[_Blob], members: list[int], top: int,
                bottom: int) -> dict[int, tuple[int, int]]:
    """The rows of each smaller size run among `members` (left to right): consecutive short
    blobs within _SAME_HEIGHT of each other's height share their lower-median rows, so a small
    '1' is cut over the same rows as the small '9' beside it."""
    out: dict[int, tuple[int, int]] = {}
    group: list[int] = []

    def close() -> None:
        if group:
            y0 = _median([blobs[i].y0 for i in group])
            y1 = _median([blobs[i].y1 for i in group])
            out.update({i: (y0, max(y1, y0 + 1)) for i in group})
            group.clear()

    for i in members:
        b = blobs[i]
        if not _short(b, top, bottom):
            close()
            continue
        if group and abs(b.h - blobs[group[-1]].h) > _SAME_HEIGHT * max(b.h, blobs[group[-1]].h):
            close()
        group.append(i)
    close()
    return out


def _chains(blobs: list[_Blob], members: list[int]) -> list[tuple[int, ...]]:
    """Runs of consecutive blobs whose column ranges overlap (by less than the half that makes
    them one blob): a glyph broken into parts ('%' as its upper ring and the rest) or two
    glyphs kerned into each other's columns."""
    out: list[tuple[int, ...]] = []
    chain: list[int] = []
    for i in members:
        if chain and blobs[i].x0 < max(blobs[j].x1 for j in chain):
            chain.append(i)
            continue
        if len(chain) > 1:
            out.append(tuple(chain))
        chain = [i]
    if len(chain) > 1:
        out.append(tuple(chain))
    return out


def _rows_of(layout: _Layout, b: _Blob) -> slice:
    """The rows a glyph is cut over: the line's, down to its own last row for a short glyph
    hanging below the baseline (a comma: cut at the baseline it is a '.', and a reader without
    a ',' read the '5,832' of Overwatch's cards as '5.832')."""
    hang = b.y1 - layout.bottom
    if b.h < _SMALL_MAX * layout.height and hang >= max(2.0, _ALIGN * layout.height):
        return slice(layout.top, b.y1)
    return layout.rows


def _union(blobs: list[_Blob] | tuple[_Blob, ...], members: tuple[int, ...]) -> _Blob:
    parts = [blobs[i] for i in members]
    return _Blob(min(b.x0 for b in parts), min(b.y0 for b in parts), max(b.x1 for b in parts),
                 max(b.y1 for b in parts), tuple(c for b in parts for c in b.ids), sum(b.area for b in parts))


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
    on_line = [not s and int(_own(ink, b, slice(top, bottom), b.x0, b.x1).sum()) >= least
               for b, s in zip(blobs, speck)]

    # Off the line: reaching line_tol beyond it, or taller; or cut by the crop's top or bottom
    # edge beyond the line (text is boxed with a margin; the Apex ammo icon beside the clip is
    # cut by the box 3 px above the digits' top).
    tol = options.line_tol * height
    edge = max(2.0, 0.07 * height)
    icon = [not s and (b.y0 < top - tol or b.y1 > bottom + tol or b.h > height + tol
                       or (b.y0 == 0 and top >= edge) or (b.y1 == crop_h and b.y1 - bottom >= edge))
            for b, s in zip(blobs, speck)]
    # A blob with (next to) no ink on the line's rows is no glyph of it: a sliver of the stage
    # two rows above Melee's '%' chained its parts to itself.
    dropped: list[str | None] = ["speck" if s else "icon" if i else "off the line" if not o else None
                                 for s, i, o in zip(speck, icon, on_line)]
    # Only an icon standing on the line (over half its rows) stands between glyphs: a 2x2 px
    # corner of the background at the crop's top edge split Melee's '07:59' from its '00', a
    # sliver of the stage reaching 2 rows into the line split Melee's '0' from its '%'.
    walls = [i and min(b.y1, bottom) - max(b.y0, top) >= 0.5 * height for b, i in zip(blobs, icon)]
    runs, breaks, gaps = _runs(blobs, dropped, walls, options.max_gap * height)
    if not runs:
        return _Layout(ink, top, bottom, tuple(blobs), tuple(dropped), (0.0,) * len(blobs), (0.0,) * len(blobs),
                       (), (), (None,) * len(blobs), (), (), ())
    chosen = max(range(len(runs)), key=lambda k: (sum(blobs[i].h >= height - tol for i in runs[k]),
                                                  len(runs[k]), sum(blobs[i].w for i in runs[k])))
    text = runs[chosen]
    for k, run in enumerate(runs):
        if k != chosen:
            why = breaks[chosen] if k > chosen else breaks[chosen - 1]  # the break beside the text
            for i in run:
                dropped[i] = why
    # A run of smaller glyphs on the line's baseline (or top) right after or before the text may
    # continue it across up to twice max_gap: Melee's centiseconds stand 0.5-0.94 line heights
    # after the seconds (ink to ink, 51 tune frames; the most after a '1'). The read joins it
    # when every glyph of it reads clearly; else it is left out, and must not read as a glyph.
    tails = tuple(tuple(runs[k]) for k, brk in ((chosen + 1, chosen), (chosen - 1, chosen - 1))
                  if 0 <= k < len(runs) and 0 <= brk < len(breaks) and breaks[brk] == "beyond gap"
                  and gaps[brk] <= 2 * options.max_gap * height
                  and all(_short(blobs[i], top, bottom) for i in runs[k]))
    x0, x1 = blobs[text[0]].x0, max(blobs[i].x1 for i in text)

    # Blobs with ink on the line at the crop's left or right edge, in the text or next to it,
    # may be glyphs cut by the box: the rest reads as another glyph ('80' boxed short read '81',
    # the cut 0 as a 1) or is dropped ('136' boxed short reads '36'). Dim ink too: the remnant
    # of a cut glyph is often a column of its edge, at 0.23-0.60 of the brightest glyph's
    # contrast. Leaving dim edge ink out read the stage beside Melee's '0%' (116 more right
    # reads of the corpus's crops with a box edge moved 1..N px inward) but read a cut '245' as
    # '24' and a cut '12' as '2' (91 more wrong ones); width and contrast did not tell them apart.
    reach = options.max_gap * height
    edges = tuple(side for side, hit in (
        ("left", any(b.x0 <= 0 and b.x1 >= x0 - reach for b, o in zip(blobs, on_line) if o)),
        ("right", any(b.x1 >= crop_w and b.x0 <= x1 + reach for b, o in zip(blobs, on_line) if o))) if hit)
    # Icons with ink on the line over the text: a glyph joined to something off the line (a JPEG
    # '19' whose 1 ran into the panel's lower edge) is dropped with it and the rest reads as a
    # shorter, wrong number. The read checks these.
    over = tuple(i for i, b in enumerate(blobs) if icon[i] and on_line[i] and b.x0 < x1 and b.x1 > x0)

    levels = [0.0 if s else _level(ink, b) for b, s in zip(blobs, speck)]
    contrast = [max(level - ink.background, 0.0) for level in levels]
    brightest = max(contrast[i] for i in text)
    brightness = tuple(c / brightest if brightest > 0 else 0.0 for c in contrast)
    for i in text[:-1]:  # leading padding: dim glyphs before the first bright one, never the last
        if brightness[i] >= options.dim_ratio:
            break
        dropped[i] = "dim padding"
    # Trailing ink as dim is no glyph of the text either (the stage behind Melee's '0%' at 0.5
    # of the digits' contrast): dropped, it must not read as a glyph (a dim last digit is null).
    for i in reversed(text):
        if dropped[i] is not None or brightness[i] >= options.dim_ratio:
            break
        dropped[i] = "dim"
    kept = [i for i in text if dropped[i] is None]
    small = _small_rows(blobs, kept, top, bottom)
    # Whatever else has ink on the line, icon or beyond the gap, must not read as a glyph: a text
    # that goes on in glyphs the layout left out would be read short ('07:48' for '07:48.19').
    for tail in tails:
        small.update(_small_rows(blobs, list(tail), top, bottom))
    leftover = tuple(i for i, why in enumerate(dropped)
                     if why in ("icon", "beyond gap", "beyond icon", "dim") and on_line[i] and i not in over)
    return _Layout(ink, top, bottom, tuple(blobs), tuple(dropped), brightness, tuple(levels), edges, over,
                   tuple(small.get(i) for i in range(len(blobs))), leftover, tails, tuple(_chains(blobs, kept)))


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
    examples. A glyph of a smaller size run is cut over that run's rows, and overlapping parts
    that are not glyphs of the line's height alone are one glyph ('%' in two parts), as the
    reader reads them when they read best so. With `expect` (the number of characters the crop
    shows) a first cut that finds another number of glyphs is retried at the lower cut, as
    read_glyphs retries."""
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
        out = []
        tall = _SMALL_MAX * layout.height
        merged = {c[0]: c for c in layout.chains if all(layout.blobs[i].h < tall for i in c)}
        skip: set[int] = set()
        for i in layout.kept():
            if i in skip:
                continue
            chain = merged.get(i, (i,))
            skip.update(chain)
            b = layout.blobs[i] if len(chain) == 1 else _union(layout.blobs, chain)
            level = max(layout.levels[j] for j in chain)
            rows = layout.small[i] if len(chain) == 1 else (b.y0, b.y1) if _short(b, layout.top, layout.bottom) \
                else None
            out.append((b.box, _patch(layout.ink, slice(*rows) if rows else _rows_of(layout, b), b, level, b.x0,
                                      b.x1)))
        if expect is None or len(out) == expect:
            break
    return out


def read_glyphs(grey: np.ndarray, classifier: GlyphClassifier, *,
                options: GlyphOptions = GlyphOptions()) -> GlyphRead:
    """Read the text of a prepared crop (uint8 grey; text bright on dark or dark on bright).

    Cut at Otsu's level; a failed read is retried once at Otsu's level among the pixels below
    the first cut (text that is not the brightest thing in the crop). Each read must pass
    every guard on its own; when both fail, the first read's reason is given. The retry
    segments the ink anew but cannot settle what the first read found ambiguous: a glyph
    the first read took for two characters, or clearly for another one, keeps it null."""
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
    if second.text is None or _disagree(first, second, classifier.threshold, options):
        return first
    return second


def _disagree(first: GlyphRead, second: GlyphRead, threshold: float, options: GlyphOptions) -> bool:
    """Whether the second read contradicts the first: a glyph of the first that passed the
    threshold, over the same columns as a glyph of the second, was ambiguous or read as another
    character (Melee's '07:59' at Otsu's cut read its 5 as 6 at 0.88 or 5 at 0.87; the lower cut
    read '6' clearly: '07:69'); or a glyph-like glyph of the first is not read by the second at
    all (the lower cut joined '03' of a JPEG '203' to the box's edge as an icon: '2')."""
    need = _need(options.min_margin, first.line_height)
    read = [h for h in second.glyphs if h.char is not None]
    for g in first.glyphs:
        if g.char is None:
            continue
        over = [h for h in read if 2 * (min(g.box[0] + g.box[2], h.box[0] + h.box[2]) - max(g.box[0], h.box[0]))
                >= min(g.box[2], h.box[2])]
        if g.score >= min(threshold, _GLYPH_LIKE) and not over:
            return True
        if g.score >= threshold and any(g.margin < need or g.char != h.char for h in over):
            return True
    return False


# Rows of a glyph's patch below which its margin must grow: small glyphs hold little shape.
# Measured with fonts cut (as the bench cuts them) from half the corpus's tune crops of each
# field and the other half read, at 1, 0.7, 0.5 and 0.4x scale, as captured and JPEG 60:
# wrong glyphs' margins reached 0.10 on 13-16 rows, 0.15 on 9, 0.22 on 7, 0.33 on 5, while
# the right ones' fell too (p25 0.16). min_margin x (16 / rows) ** 2.5 let no wrong glyph
# through on 5-11 rows and kept 934 of 1117 right ones at 0.7x, 400 of 666 at 0.5x (1125 of
# 1177 at 1x: the rest were already under min_margin); the power 2 let 8 wrong through.
# Ink left out of the text that scores this much (or the classifier's threshold, if lower) is
# a glyph, not an icon: fonts by example score icons beside Apex's digits at most 0.53-0.56,
# glyphs cut by a box 0.62. A classifier with a stricter threshold (the built-in reader's is
# 0.96) would let a digit cut by the box's edge, or cut over another line's rows, pass as an
# icon: Melee's '0' beside a '%' that set the line scored under 0.96 and '0%' read '%'.
_GLYPH_LIKE = 0.7
_FULL_ROWS = 16
_POWER = 2.5
_SHARP = 0.8  # px an edge takes to rise on a sharp capture, at most (see _softness)


def _need(min_margin: float, rows: float) -> float:
    """The margin over the runner-up a glyph needs when its patch has this many rows."""
    return min_margin * max(1.0, _FULL_ROWS / max(rows, 1.0)) ** _POWER


def _softness(patch: np.ndarray) -> float:
    """How many px an edge of the glyph takes to rise: pixels neither ink nor background (the
    patch's ramp) per edge crossing. Captured at its size a HUD glyph measures 0.4-0.85
    (medians per game, tune crops); scaled to 720p and back, 0.95-1.2: its rows hold less
    shape than their count says."""
    ink = patch >= 0.5
    soft = int(np.count_nonzero((patch > 0.02) & (patch < 0.98)))
    edges = int(np.count_nonzero(ink[:, 1:] != ink[:, :-1])) + int(np.count_nonzero(ink[1:] != ink[:-1]))
    return soft / max(edges, 1)


# The margin of a blob that reads clearly in two ways (whole and split, or split two ways):
# below any margin a glyph may need, min_margin 0 included, so the read is null whatever the
# options (with min_margin 0 and a margin of 0, Overwatch's 720p '55%' read '5596').
_TWO_WAYS = -1.0


def _combine(ways: Sequence[GlyphScore]) -> GlyphScore:
    """One reading of a glyph from its readings as patches of other rows (the line's, a smaller
    run's): the best character of any, against the best *other* character of any."""
    best = max(ways, key=lambda s: s.score)
    rival, rival_score = best.runner_up, best.score - best.margin
    for s in ways:
        for char, score in ((s.char, s.score), (s.runner_up, s.score - s.margin)):
            if char != best.char and score > rival_score:
                rival, rival_score = char, score
    return GlyphScore(best.char, best.score, rival, best.score - rival_score)


@dataclass
class _Batch:
    """Patches for one classify call, and where each reading's patches are in it."""
    patches: list[np.ndarray]

    def add(self, *patches: np.ndarray) -> list[int]:
        self.patches.extend(patches)
        return list(range(len(self.patches) - len(patches), len(self.patches)))


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

    # One classify call: each kept glyph over the line's rows, and over its smaller run's rows
    # when it may be one; the parts of each way to split a wide one; the union of each chain of
    # overlapping blobs; the ink on the line of every blob left out.
    blobs, top, bottom = layout.blobs, layout.top, layout.bottom
    batch = _Batch([])

    def ways_of(b: _Blob, level: float, small: tuple[int, int] | None, own_only: bool = False) -> list[int]:
        cols = (b.x0, b.x1)
        if own_only:
            used = np.flatnonzero(_own(layout.ink, b, layout.rows, b.x0, b.x1).any(axis=0))
            cols = (b.x0 + int(used[0]), b.x0 + int(used[-1]) + 1)
        out = batch.add(_patch(layout.ink, _rows_of(layout, b), b, level, *cols, own_only=own_only))
        if small is not None:
            out += batch.add(_patch(layout.ink, slice(*small), b, level, b.x0, b.x1, own_only=own_only))
        return out

    # A glyph up to _MAYBE_SMALL of the line is read both ways: blurred, Melee's small digits
    # grow to 0.88 of the line, and read over the line's rows (ink at the bottom) a 9 or 6
    # read as a 4.
    whole = {i: ways_of(blobs[i], layout.levels[i], layout.small[i] or (
        (blobs[i].y0, blobs[i].y1) if _short(blobs[i], top, bottom, _MAYBE_SMALL) else None)) for i in kept}
    tails = [{i: ways_of(blobs[i], layout.levels[i], layout.small[i]) for i in tail} for tail in layout.tails]
    # blob -> (parts, their patches, the patches of each two neighbouring parts together)
    splits: dict[int, list[tuple[list[tuple[int, int]], list[int], list[int]]]] = {}
    if options.split:
        widest = _widest(classifier, layout, kept)
        for i in kept:
            b = blobs[i]
            if b.w > widest:
                for parts in _splits(layout, b, widest):
                    neighbours = list(zip(parts, parts[1:])) if len(parts) > 2 else []
                    splits.setdefault(i, []).append(
                        (parts, batch.add(*(_patch(layout.ink, layout.rows, b, layout.levels[i], a, z)
                                            for a, z in parts)),
                         batch.add(*(_patch(layout.ink, layout.rows, b, layout.levels[i], p[0], q[1])
                                     for p, q in neighbours))))
    unions = []
    for chain in layout.chains:
        u = _union(blobs, chain)
        unions.append((chain, u, ways_of(u, max(layout.levels[i] for i in chain),
                                         (u.y0, u.y1) if _short(u, top, bottom) else None)))
    # each blob left out, and each chain of them that overlap (a '%' in parts, walled off)
    left: list[tuple[int, ...]] = [(i,) for i in layout.leftover] + _chains(list(blobs), list(layout.leftover))
    # Each is read over the line's rows and over its own (short, or reaching past the line: a
    # bigger glyph cut by the box's top, as Melee's italic 7 of '7%' after JPEG 60, read over
    # the line's rows alone lost its bar and read as nothing, and the '%' read alone).
    checks = []
    for chain in left:
        u = _union(blobs, chain)
        own = (u.y0, u.y1) if _short(u, top, bottom) or u.y0 < top or u.y1 > bottom else None
        checks.append((chain[0], ways_of(u, max(layout.levels[i] for i in chain), own, own_only=True)))
    scores = classifier.classify(batch.patches)
    threshold = classifier.threshold

    def reading(indices: list[int]) -> GlyphScore:
        return _combine([scores[k] for k in indices])

    # The crop's softness scales the rows a glyph's margin is judged by: an edge wider than a
    # pixel spreads the same shape over more rows (sharp: 1 px or less).
    soft = sorted(_softness(batch.patches[whole[i][0]]) for i in kept)
    sharp = min(1.0, _SHARP / max(soft[(len(soft) - 1) // 2], 1e-6))

    def need_of(indices: list[int]) -> float:  # the margin the best reading's patch needs
        best = max(indices, key=lambda k: scores[k].score)
        return _need(options.min_margin, batch.patches[best].shape[0] * sharp)


    # Each kept blob as one glyph, or as the parts of its best split: a split stands when every
    # part reads clearly and the weakest beats the whole: the cut is a guess at where glyphs
    # meet, so no part may be a near tie (a blurred '80' split into a 6 at 0.78 over the 8 at
    # 0.75: twice min_margin turned it to a null), nor may two neighbouring parts read as one
    # glyph together (a JPEG '12' on 12 px split in three read '111'; its last two parts read
    # '2' at 0.77).
    units: dict[int, list[tuple[Box, GlyphScore, bool, float]]] = {}  # (box, score, split, margin needed)
    for i in kept:
        b, s = blobs[i], reading(whole[i])
        best: list[tuple[Box, GlyphScore, bool, float]] = [(b.box, s, False, need_of(whole[i]))]
        best_low = s.score
        # every clear reading of the blob, whole or split: when two disagree, the blob is
        # ambiguous (null, naming both), not read as the higher-scoring one. A 720p Overwatch
        # '%' read whole at 0.98 split into a '9' and a '6' at 0.99.
        clear = {s.char} if s.score >= threshold and s.margin >= best[0][3] else set()
        for parts, indices, pairs in splits.get(i, []):
            got = [scores[k] for k in indices]
            low = min(g.score for g in got)
            need = need_of(indices[:1])
            if low >= threshold and all(g.margin >= 2 * need for g in got) \
                    and all(scores[k].score < threshold for k in pairs):
                clear.add("".join(g.char for g in got))
                if low > best_low:
                    best = [(_part_box(layout, b, a, z), g, True, need) for (a, z), g in zip(parts, got)]
                    best_low = low
        if len(clear) > 1:
            chosen = "".join(g.char for _, g, _, _ in best)
            other = sorted(clear - {chosen})[0]
            best = [(b.box, GlyphScore(chosen, best_low, other, _TWO_WAYS), False, need_of(whole[i]))]
        units[i] = best
    # A chain of overlapping blobs is one glyph in parts when their union reads clearly and
    # better than the weakest part reads alone (Melee's '%' fell in two: its upper ring read as
    # an 8, '18%' as '188%').
    merged: dict[int, tuple[Box, GlyphScore, bool, float]] = {}
    for chain, u, indices in unions:
        s, need = reading(indices), need_of(indices)
        if s.score >= threshold and s.margin >= need \
                and s.score > min(g.score for i in chain for _, g, _, _ in units[i]):
            merged[chain[0]] = (u.box, s, False, need)
            for i in chain[1:]:
                units[i] = []
    # A smaller run beyond the gap that reads clearly, glyph by glyph, continues the text.
    joined: set[int] = set()
    for tail in tails:
        tail_reads = {i: (reading(k), need_of(k)) for i, k in tail.items()}
        if all(g.score >= threshold and g.margin >= need for g, need in tail_reads.values()):
            joined.update(tail)
            units.update({i: [(blobs[i].box, g, False, need)] for i, (g, need) in tail_reads.items()})
    badges = _badges(layout, [*kept, *joined], merged, units, min(threshold, _GLYPH_LIKE))
    read: list[GlyphInfo] = []
    needs: list[float] = []
    for i in sorted([*kept, *joined], key=lambda i: (blobs[i].x0, blobs[i].y0)):
        if i in badges:
            continue
        for box, s, split, need in [merged[i]] if i in merged else units[i]:
            read.append(GlyphInfo(box, s.char, s.score, s.runner_up, s.margin, layout.brightness[i], split=split))
            needs.append(need)
    infos = read + [GlyphInfo(b.box, brightness=layout.brightness[i], dropped=layout.dropped[i])
                    for i, b in enumerate(blobs) if layout.dropped[i] is not None and i not in joined]
    infos += [GlyphInfo(blobs[i].box, brightness=layout.brightness[i], dropped="badge") for i in sorted(badges)]

    confidence = min(g.score for g in read)
    crop_w = layout.ink.image.shape[1]
    edges = layout.edges + tuple(side for side, hit in (("left", any(blobs[i].x0 <= 0 for i in joined)),
                                                        ("right", any(blobs[i].x1 >= crop_w for i in joined))) if hit)
    if edges:
        return result(None, confidence, f"the text touches the crop's {edges[0]} edge: a glyph may be "
                      "cut off (give the box a margin)", infos)
    for i in layout.over:
        x, _, w, _ = blobs[i].box
        return result(None, confidence, f"ink off the text line (an icon?) at x {x}..{x + w - 1} runs over "
                      "the text", infos)
    for i, indices in checks:
        if i in joined:
            continue
        s = reading(indices)
        if s.score >= min(threshold, _GLYPH_LIKE):
            x, _, w, _ = blobs[i].box
            return result(None, confidence, f"ink on the text line at x {x}..{x + w - 1}, left out of the text "
                          f"({layout.dropped[i]}), reads as {s.char!r} at {s.score:.2f}: the text may go on "
                          "there, or a glyph be joined to an icon", infos)
    for n, (g, need) in enumerate(zip(read, needs), 1):
        if g.score < threshold:
            return result(None, confidence, f"glyph {n} of {len(read)} is unclear: best {g.char!r} at "
                          f"{g.score:.2f} < {threshold:.2f}", infos)
        if g.margin == _TWO_WAYS:
            return result(None, confidence, f"glyph {n} of {len(read)} reads clearly two ways, {g.char!r} and "
                          f"{g.runner_up!r} (as one glyph and split where glyphs may touch, or split two ways)",
                          infos)
        if g.margin < need:
            return result(None, confidence, f"glyph {n} of {len(read)} is ambiguous: {g.char!r} at "
                          f"{g.score:.2f}, {g.runner_up!r} at {g.score - g.margin:.2f} (margin {g.margin:.2f} "
                          f"< {need:.2f})", infos)
    chars = [read[0].char or ""]
    for prev, g in zip(read, read[1:]):
        if options.space is not None and g.box[0] - (prev.box[0] + prev.box[2]) > options.space * layout.height:
            chars.append(" ")
        chars.append(g.char or "")
    return result("".join(chars), confidence, None, infos)


def _badges(layout: _Layout, kept: list[int], merged: dict[int, tuple[Box, GlyphScore, bool, float]],
            units: dict[int, list[tuple[Box, GlyphScore, bool, float]]], glyph_like: float) -> set[int]:
    """The text's first or last blob when it is a badge, not a glyph: about as tall as wide,
    floating between the line's top and its baseline, and read as no character (under
    ``glyph_like``). Valorant's currency sign stands 5-6 px before the credits, as close as
    the blank beside a '1', so no gap can tell it from the text; its shape and place can. A
    glyph in that place is read, not dropped ('-' is flat, '+' and '*' score as themselves),
    and what remains must still read clearly on its own."""
    order = sorted(kept, key=lambda i: (layout.blobs[i].x0, layout.blobs[i].y0))  # joined tails too
    if len(order) < 2:
        return set()
    chained = {i for chain in layout.chains for i in chain}
    h = layout.height
    out = set()
    for i in {order[0], order[-1]}:
        b = layout.blobs[i]
        above, below = (b.y0 - layout.top) / h, (layout.bottom - b.y1) / h  # clear of the top line / baseline
        floating = (b.h <= _BADGE_HEIGHT * h and min(above, below) >= _BADGE_CLEAR
                    and abs(above - below) <= _BADGE_CENTRED)
        squarish = 1 / _BADGE_ASPECT <= b.h / max(b.w, 1) <= _BADGE_ASPECT
        unread = all(s.score < glyph_like for _, s, _, _ in units.get(i, []))
        if floating and squarish and unread and i not in merged and i not in chained:
            out.add(i)
    # badges at both ends of two blobs would leave nothing to read: then they are the text
    return out if len(out) < len(order) else set()


# A badge's shape, measured on Valorant's currency sign (4 HUD frames, the step's 1.5x): 0.65
# of the digits' height, its top 0.20 of it below theirs, its bottom 0.15 above the baseline
# (centred on the line), height / width 1.0. Letters and digits stand on the baseline; a
# letter drawn over the Apex clip's line (tests/test_glyphs_step.py) stood 0.08 above it, with
# 0.28 above its top: off centre, so it is read (null), not dropped.
_BADGE_HEIGHT = 0.8
_BADGE_CLEAR = 0.12
_BADGE_CENTRED = 0.12
_BADGE_ASPECT = 1.7


@dataclass(frozen=True)
class _Example:
    ink: _Ink
    union: _Blob  # all its ink but specks
    level: float


def _example(image: np.ndarray) -> _Example:
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
    union = _Blob(x0, y0, x1, y1, tuple(c for b in blobs for c in b.ids), sum(b.area for b in blobs))
    return _Example(ink, union, max(_level(ink, b) for b in blobs))


def example_rows(image: np.ndarray) -> tuple[int, int]:
    """The rows (first, one past the last) of an example image's ink, as example_patch
    segments it. ValueError when there is no ink."""
    union = _example(image).union
    return union.y0, union.y1


def example_patch(image: np.ndarray, *, line: tuple[int, int] | None = None) -> np.ndarray:
    """The patch of a one-character example image (a font by example), segmented as the reader
    segments a crop: its ink (specks dropped) over its line. With `line` (rows of the image,
    first and one past the last) the patch is those rows: a font knows its line from its tall
    examples (Font.load). Without, the line is the ink's own rows when the ink fills most of
    the image's height (a digit or letter: margins dropped), else the image's rows, since a
    short glyph ('.', '-') keeps its place on the line only when it was cut with the line's
    rows, as glyph_patches gives them. ValueError when there is no ink."""
    ex = _example(image)
    height = ex.ink.image.shape[0]
    if line is not None:
        rows = slice(max(0, min(line[0], height - 1)), max(1, min(line[1], height)))
        if rows.stop <= rows.start:
            raise ValueError(f"the line rows {line} are outside the image's {height} rows")
    else:
        u = ex.union
        rows = slice(u.y0, u.y1) if u.y1 - u.y0 >= 0.6 * height else slice(0, height)
    return _patch(ex.ink, rows, ex.union, ex.level, ex.union.x0, ex.union.x1)
