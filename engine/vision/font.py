"""A font by example: a folder of glyph images named by their character, as a GlyphClassifier.

Files. One image per example, any of .png .jpg .jpeg .bmp .webp .tif .tiff (other files and
hidden files are ignored): grey, BGR or BGRA (an image with transparency is read by its alpha),
text bright on dark or dark on bright. The character is the file stem up to its first '_' or
'-' after the first character, so '7.png', '7_2.png' and '7-b.png' are three 7s. A stem of one
character is that character ('-.png' and '_.png' too); a longer one must be a name from
NAMED_CHARS (case ignored), for characters that cannot be or are awkward in file names:
colon, slash, backslash, percent, dot/period, comma, minus/dash, plus, underscore, hash,
star/asterisk, question, exclamation, at, and, quote, apostrophe, lparen, rparen, lbracket,
rbracket, less, greater, equals, pipe, tilde, dollar ('percent_2.png' is another '%'). On a
case-insensitive file system 'a.png' and 'A.png' are one file: keep such fonts in two folders.

How it classifies. Each example becomes a patch as the reader cuts a glyph (its ink's columns
over its line: glyphread.example_patch); the line of a folder's examples is the rows its tall
examples' ink spans (font_lines), so a ':' or a small digit cut over the line keeps its place.
Every patch is cut at half its contrast, scaled to the font's canonical height (the examples'
median height, at most 24 px) with its aspect kept, centred on a canvas as wide as the widest
example (+1 px of margin all round), and blurred (sigma 0.04 x the height), so a 1440p, 1080p
or 720p capture meets the same examples. A glyph's score for a character is the best
correlation (zero-mean, unit-norm vectors) with any of its examples, each stored at the nine
1 px shifts, computed for all glyphs and all examples as one matrix product, clipped at 0,
and scaled down for a patch wider than any example allows (two touching glyphs).

Measured (Apex overtrack-digits clip and reserve fonts; the real glyphs of t8cp8hhm '12' /
'19' and hud_21_9_pathfinder '3' / '80' under 11 capture versions, 77 glyphs): right glyphs
score p5 0.81, median 0.94 (min 0.69: the outlined reserve 8 after a 720p round trip + JPEG);
icons beside the digits (bullet, ammo type) score at most 0.53, pieces of glyphs cut by the
box 0.62, letters unlike the digits (A, K, X, #, drawn with cv2.putText) 0.46: so the default
threshold 0.7. A threshold cannot tell shapes the font's digits share: letters like a digit
score like one (B as 8 0.84, E as 6 0.80, H as 4 0.74), and in this squarish font 8, 9 and 6
differ by one short stroke (the best wrong digit reaches 0.91). The margin over the runner-up
is the tell for digits (glyphread's min_margin); a field that may show letters wants a font
that has them. Blur: sigma 1 px at the canonical height read 43 of 44 stressed numbers right,
41 without; scoring over +-1 px shifts was needed (38-39 without). Weighting pixels by how much
the characters differ there, gradient features and per-zone scores separated no better.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.vision.products import small_product

from engine.vision.glyphread import GlyphScore, example_patch, example_rows

NAMED_CHARS: dict[str, str] = {
    "colon": ":", "slash": "/", "backslash": "\\", "percent": "%", "dot": ".", "period": ".",
    "comma": ",", "minus": "-", "dash": "-", "plus": "+", "underscore": "_", "hash": "#",
    "star": "*", "asterisk": "*", "question": "?", "exclamation": "!", "at": "@", "and": "&",
    "quote": '"', "apostrophe": "'", "lparen": "(", "rparen": ")", "lbracket": "[", "rbracket": "]",
    "less": "<", "greater": ">", "equals": "=", "pipe": "|", "tilde": "~", "dollar": "$",
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")

DEFAULT_THRESHOLD = 0.7
_MAX_HEIGHT = 24  # canonical height cap, px (24 and 32 read the same; 16 misread)
_BLUR = 0.04  # Gaussian sigma in canonical heights: 1 px at 24
_SHIFTS = (-1, 0, 1)  # px at the canonical size, each way
# A patch wider than the widest example (with slack for blur: 20% and 2 px at the canonical
# height) is squeezed onto the canvas and its scores scaled by how much: squeezed freely, two
# touching glyphs ('52' on 13 px) read as one 5 at 0.91. A wider canvas instead (room for 1.5x
# the widest) let the blank columns every glyph shares raise every score: the Apex reserve's 9
# then beat the 8 by 0.023 (0.038 on the glyph-wide canvas).
_SLACK = (1.2, 2.0)


class FontError(ValueError):
    """A font that cannot be used; the message names the folder or file and what to do."""


def char_of(stem: str) -> str | None:
    """The character a file stem names (see the module docstring), or None."""
    head = stem
    for sep in ("_", "-"):
        cut = head.find(sep)
        if cut > 0:
            head = head[:cut]
    if len(head) == 1:
        return head
    return NAMED_CHARS.get(head.lower())


@dataclass(frozen=True)
class _Canvas:
    height: int  # the glyph's line height on the canvas
    width: int  # room for the widest glyph

    def image(self, patch: np.ndarray, blur: float) -> np.ndarray:
        """The patch cut at half its contrast, scaled to the canvas height (aspect kept),
        centred, 1 px margin, blurred. The cut keeps the glyph's shape and drops the softness of
        its capture: soft, a small digit scaled up (Melee's centiseconds) looked more like the
        softer examples of another digit than like its own (its 5 read 6 at 0.95). Cut, wrong
        glyphs on the corpus's tune crops under stress fell from 255 to 37 of 7,000, wrong
        reads from 19 to 4; a larger or smaller blur did worse either way."""
        h, w = patch.shape
        scale = self.height / h
        nw = min(max(round(w * scale), 1), self.width)
        ink = (patch >= 0.5).astype(np.float32)
        small = cv2.resize(ink, (nw, self.height), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        out = np.zeros((self.height + 2, self.width + 2), np.float32)
        x = 1 + (self.width - nw) // 2
        out[1:-1, x:x + nw] = small
        return cv2.GaussianBlur(out, (0, 0), blur) if blur > 0 else out


def _shifted(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """img moved by (dy, dx) px, zeros coming in (np.roll would wrap the bottom row to the top)."""
    out = np.zeros_like(img)
    h, w = img.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = img[max(-dy, 0):h - max(dy, 0),
                                                                    max(-dx, 0):w - max(dx, 0)]
    return out


def _unit(rows: np.ndarray) -> np.ndarray:
    """Zero mean, unit norm per row: the dot product of two rows is their correlation."""
    centred: np.ndarray = rows - rows.mean(axis=1, keepdims=True)
    unit: np.ndarray = centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-6)
    return unit


def font_lines(images: Sequence[np.ndarray]) -> dict[int, tuple[int, int]]:
    """The text line (first row, one past the last) of a font's example images, per image
    height: the rows the tall examples' ink spans (lower medians of their first and last rows;
    tall: at least 0.6 of the image's height and 0.8 of the tallest ink among images of that
    height). A short glyph (':', '.', '-', a small digit) is then cut over the same rows as the
    tall ones, as the reader cuts it over the line: cut on its own ink's rows, a colon cut by
    `otrig cut --text` scored 0.49 against itself read over the line. Images of a height with
    no tall example are left out (example_patch then decides alone). ValueError for an image
    without ink."""
    by_height: dict[int, list[tuple[int, int]]] = {}
    for image in images:
        by_height.setdefault(image.shape[0], []).append(example_rows(image))
    lines = {}
    for height, rows in by_height.items():
        tallest = max(y1 - y0 for y0, y1 in rows)
        tall = [(y0, y1) for y0, y1 in rows if y1 - y0 >= max(0.6 * height, 0.8 * tallest)]
        if tall:
            tops, bottoms = sorted(y0 for y0, _ in tall), sorted(y1 for _, y1 in tall)
            lines[height] = (tops[(len(tops) - 1) // 2], bottoms[(len(bottoms) - 1) // 2])
    return lines


class Font:
    """Classifies glyph patches against example glyphs; implements glyphread.GlyphClassifier.

    `charset`: the characters it can return; `threshold`: the score under which a glyph is
    unclear; `max_aspect`: the widest example's width / line height (for splitting touching
    glyphs)."""

    def __init__(self, examples: Sequence[tuple[str, np.ndarray]], *, threshold: float = DEFAULT_THRESHOLD,
                 name: str = "font") -> None:
        if not examples:
            raise FontError(f"{name}: a font needs at least one example glyph")
        if not 0.0 <= threshold <= 1.0:
            raise FontError(f"{name}: the threshold is a score in 0..1, not {threshold}")
        self.name = name
        self.threshold = threshold
        self._chars = sorted({c for c, _ in examples})
        self.charset = "".join(self._chars)
        self.max_aspect = max(p.shape[1] / p.shape[0] for _, p in examples)
        height = min(int(np.median([p.shape[0] for _, p in examples])), _MAX_HEIGHT)
        self._canvas = _Canvas(height, math.ceil(self.max_aspect * height))
        self._blur = _BLUR * height
        rows, owners = [], []
        for char, patch in sorted(examples, key=lambda e: e[0]):  # each character's rows together
            img = self._canvas.image(patch, self._blur)
            for dy in _SHIFTS:
                for dx in _SHIFTS:
                    rows.append(_shifted(img, dy, dx).ravel())
                    owners.append(char)
        self._examples = _unit(np.stack(rows)).T.copy()  # pixels x (examples x shifts)
        self._starts = np.flatnonzero([i == 0 or owners[i] != owners[i - 1] for i in range(len(owners))])

    @classmethod
    def load(cls, folder: Path, *, threshold: float = DEFAULT_THRESHOLD) -> Font:
        """The font in a folder of glyph images (see the module docstring); FontError names the
        folder or file when it cannot be used."""
        folder = Path(folder)
        if not folder.is_dir():
            raise FontError(f"font folder {folder} does not exist: make a folder of glyph images named by "
                            f"their character (0.png .. 9.png)")
        files = sorted(p for p in folder.iterdir()
                       if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FontError(f"font folder {folder} holds no glyph images ({' '.join(IMAGE_SUFFIXES)}): add one "
                            f"image per character, named by it (7.png)")
        images: list[tuple[Path, str, np.ndarray]] = []
        for path in files:
            char = char_of(path.stem)
            if char is None:
                raise FontError(f"{path}: {path.stem!r} is not a character: name a glyph image by its character "
                                f"(7.png; more examples 7_2.png) or, for one that cannot be a file name, by "
                                f"one of {', '.join(NAMED_CHARS)}")
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image is None:
                raise FontError(f"{path}: not a readable image")
            if image.ndim == 3 and image.shape[2] == 4 and int(image[..., 3].min()) < 255:
                image = image[..., 3]  # drawn on transparency: the alpha is the ink
            images.append((path, char, image))
        return cls.from_images([(char, image) for _, char, image in images], threshold=threshold,
                               name=str(folder), sources=[str(path) for path, _, _ in images])

    @classmethod
    def from_images(cls, images: Sequence[tuple[str, np.ndarray]], *, threshold: float = DEFAULT_THRESHOLD,
                    name: str = "font", sources: Sequence[str] | None = None) -> Font:
        """The font of (character, example image) pairs, segmented as Font.load segments its
        files (each image's patch over the line of its font, font_lines). FontError names the
        image (by `sources`, else its index) that has no ink."""
        try:
            lines = font_lines([image for _, image in images])
        except ValueError:
            lines = {}  # the image without ink is named below
        examples: list[tuple[str, np.ndarray]] = []
        for k, (char, image) in enumerate(images):
            try:
                examples.append((char, example_patch(image, line=lines.get(image.shape[0]))))
            except ValueError as e:
                where = sources[k] if sources is not None else f"{name}: example {k} ({char!r})"
                raise FontError(f"{where}: {e}: draw the character in a colour that stands out from "
                                f"its background") from None
        return cls(examples, threshold=threshold, name=name)

    def scores(self, patches: Sequence[np.ndarray]) -> np.ndarray:
        """patches x charset: each character's best correlation over its examples and their
        shifts, clipped at 0, and scaled down for a patch too wide for any example. One matrix
        product for all patches against all examples."""
        vectors = _unit(np.stack([self._canvas.image(p, self._blur).ravel() for p in patches]))
        best = np.clip(np.maximum.reduceat(small_product(vectors, self._examples), self._starts, axis=1), 0.0, 1.0)
        room = self._canvas.width * _SLACK[0] + _SLACK[1]
        fit = np.array([min(1.0, room * p.shape[0] / (self._canvas.height * max(p.shape[1], 1))) for p in patches])
        out: np.ndarray = best * fit[:, None].astype(best.dtype)
        return out

    def classify(self, patches: Sequence[np.ndarray]) -> list[GlyphScore]:
        if not patches:
            return []
        best = self.scores(patches)
        out = []
        for row in best.tolist():
            first = max(range(len(row)), key=row.__getitem__)
            rest = [j for j in range(len(row)) if j != first]
            second = max(rest, key=row.__getitem__) if rest else None
            runner = row[second] if second is not None else 0.0
            out.append(GlyphScore(self._chars[first], row[first], self._chars[second] if second is not None else "",
                                  row[first] - runner))
        return out
