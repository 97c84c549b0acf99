#!/usr/bin/env python3
"""Train the built-in digit reader (engine/vision/digits_model.npz) from rendered fonts.

    python scripts/train_digits.py [--out PATH] [--lines N] [--epochs E] [--workers W] [--cache DIR]

Needs Pillow, PyTorch (the `model` extra) and the Debian font packages in APT_PACKAGES
(`--print-packages`). Glyph lines are rendered from those fonts (text faces, and for 30% of
lines fonts-aenigma's display faces: stencils, techno, heavy and italic titling), damaged the
way a capture damages them (8..60 px lines, supersampled then scaled down, blur, 720p round
trips, JPEG 40-90, outlines up to a fifth of the line, drop shadows, bolder or thinner
strokes, italic shear up to 0.3, squeeze and stretch, noise, low contrast, either polarity),
then cut into patches by the glyph reader's own code (engine/vision/glyphread.py: its ink,
line, blobs, smaller runs, splits of wide blobs, unions and left-out ink), so the model sees
exactly the patches it will be given. Patches are labelled from the renderer's own
per-character masks: a patch covering two touching characters or part of a digit is a
*reject*, as are letters, icon blobs, background texture and damage that no longer matches
the drawn glyph.

Font families are split by a hash of their name: a sixth of them is never trained on and is
the validation set, so the threshold is calibrated on fonts the model has not seen (as a
game's font is). The model is a small CNN (two 3x3 conv + max pool stages, one dense layer)
trained with PyTorch on 2 threads and exported as plain arrays; serving runs it in numpy and
OpenCV. Every random draw is seeded: the same fonts, arguments and torch build give the same
weights.

Time here (2 shared cores, another engineer's tests running: load 3-7): loading the 1,162
faces 24 s and checking their reject letters against every face's glyphs 2.2 min, rendering
100k train and 15k validation lines (542k + 81k glyphs) 14 min with 2 workers at load 7
(7.5 min at load 3; cached in --cache afterwards: 16 s to load), training 6 epochs 7-17 min
(23-280 s an epoch with the load), calibration under a minute.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.vision import glyphread as G  # noqa: E402
from engine.vision.digits import normalise  # noqa: E402

READER = G.GlyphOptions()  # the options a game file gets by default

CHARSET = "0123456789:./%+-,"
REJECT = len(CHARSET)  # label of the reject output
HEIGHT, WIDTH = 24, 24  # the model's canvas
FONT_DIR = Path("/usr/share/fonts")

# Debian packages whose fonts are rendered; `make model` needs them installed.
APT_PACKAGES = (
    "fonts-dejavu fonts-liberation2 fonts-freefont-ttf fonts-urw-base35 fonts-noto-core "
    "fonts-roboto-unhinted fonts-open-sans fonts-lato fonts-cantarell fonts-bebas-neue "
    "fonts-dseg fonts-opendin fonts-play fonts-quicksand fonts-comfortaa fonts-league-spartan "
    "fonts-inter fonts-karla fonts-oxygen fonts-croscore fonts-crosextra-carlito fonts-hack "
    "fonts-jetbrains-mono fonts-mplus fonts-adf-gillius fonts-adf-switzera "
    "fonts-adf-universalis fonts-ferrite-core fonts-3270 "
    # condensed, heavy, italic and display faces, as HUDs draw digits
    "fonts-noto-extra fonts-aenigma fonts-roadgeek fonts-paratype fonts-yanone-kaffeesatz fonts-f500 "
    "fonts-b612 fonts-cabin fonts-dosis fonts-jura fonts-beteckna fonts-millimetre fonts-national-park "
    "fonts-tiresias fonts-ocr-b fonts-clear-sans fonts-manrope fonts-sora fonts-allerta fonts-dustin "
    "fonts-tuffy fonts-routed-gothic"
).split()

# Font files by name. Symbol, script, math and variable fonts are left out: they either lack
# the digits or duplicate a static face.
FONT_FILES = re.compile(
    r"^(DejaVu(Sans|SansCondensed|SansMono|Serif|SerifCondensed)[-.]|Liberation|Free(Sans|Mono|Serif)"
    r"|Nimbus(Sans|SansNarrow|MonoPS|Roman)-|URWGothic|URWBookman|C059|P052|Noto(Sans|SansDisplay|Serif)-"
    r"|Roboto|OpenSans|Lato|Cantarell|BebasNeue|DSEG(7|14)(Classic|Modern)-|OSP-DIN|Play-"
    r"|Quicksand|Comfortaa|LeagueSpartan|Inter(Display)?-|Karla-|Oxygen|Arimo|Cousine|Tinos|Carlito"
    r"|Hack|JetBrainsMono|Mplus(1|2|1Code|CodeLatin60)-|GilliusADF-|SwitzeraADF|UniversalisADF"
    r"|FerriteCore|3270|RG20|PT[CFNS]\d|YanoneKaffeesatz|f500|B612|Cabin-|Dosis|Jura|Beteckna|millimetre"
    r"|NationalPark|tiresias|OCRB|ClearSans|Manrope|Sora|allerta_medium|Balker|Dustismo|Tuffy|routed-gothic)"
    r".*\.(ttf|otf)$")

# Shapes that are not glyphs of the charset. Letters are dropped per font where they draw the
# same as a charset glyph (DSEG's O is its 0): a label the pixels cannot carry teaches noise.
REJECT_LETTERS = "OoIlSBZAgDQUCGbqdeasTLJEFHKMNPRVWXYhkntuvxyz!?&#@$()[]|<>=*~^_\"'"
# fonts-aenigma's 465 display faces (one per family: stencils, squares, techno, heavy italics):
# drawn for this share of lines, so they widen the shapes seen without outnumbering text faces
DISPLAY_DIR = "aenigma"
DISPLAY_SHARE = 0.3
VALIDATION_SHARE = 6  # one family in this many is held out for validation and calibration


@dataclass(frozen=True)
class FontFace:
    path: str
    family: str
    chars: str  # the charset glyphs it draws
    rejects: str  # the letters that draw unlike every charset glyph
    digit_height: float  # ink height of the digits per unit of em size
    display: bool  # one of the decorative display faces (fonts-aenigma)


def font_files() -> list[Path]:
    if not FONT_DIR.is_dir():
        raise SystemExit(f"{FONT_DIR} is missing: install the fonts (apt-get install {' '.join(APT_PACKAGES)})")
    files = sorted(p for p in FONT_DIR.rglob("*") if FONT_FILES.match(p.name)
                   or (DISPLAY_DIR in p.parts and p.suffix.lower() in (".ttf", ".otf")))
    if not files:
        raise SystemExit(f"no fonts found: apt-get install {' '.join(APT_PACKAGES)}")
    return files


def _ink(font: ImageFont.FreeTypeFont, ch: str) -> np.ndarray:
    mask = font.getmask(ch)
    return np.asarray(mask, np.uint8).reshape(mask.size[1], mask.size[0])


def _line_patch(font: ImageFont.FreeTypeFont, ch: str, top: int, bottom: int) -> np.ndarray:
    """`ch` drawn alone, as the patch a reader would cut: its columns over the digits' rows."""
    img = Image.new("L", (200, 200))
    ImageDraw.Draw(img).text((50, 150), ch, font=font, fill=255, anchor="ls")
    a = np.asarray(img) > 127
    cols = np.flatnonzero(a.any(axis=0))
    if cols.size == 0:
        return np.zeros((bottom - top, 1), np.float32)
    return a[top:bottom, cols[0]:cols[-1] + 1].astype(np.float32)


def inspect_font(path: Path) -> FontFace | None:
    """The face's usable glyphs, or None when it draws no digits."""
    shapes = _inspect(path)
    return None if shapes is None else shapes.face


@dataclass(frozen=True)
class _Shapes:
    """A face, with the canvases its charset glyphs and its kept reject letters are drawn as."""
    face: FontFace
    glyphs: np.ndarray  # (n, HEIGHT * WIDTH) canvases of face.chars
    glyph_aspects: np.ndarray
    rejects: np.ndarray  # (m, HEIGHT * WIDTH) canvases of face.rejects
    reject_aspects: np.ndarray


def _inspect(path: Path) -> _Shapes | None:
    try:
        font = ImageFont.truetype(str(path), 64)
    except OSError:
        return None
    missing = _ink(font, "\U0010fffd").tobytes()
    chars = "".join(c for c in CHARSET if _ink(font, c).any() and _ink(font, c).tobytes() != missing)
    if not all(d in chars for d in "0123456789"):
        return None
    img = Image.new("L", (200, 200))
    ImageDraw.Draw(img).text((50, 150), "0123456789", font=font, fill=255, anchor="ls")
    rows = np.flatnonzero((np.asarray(img) > 127).any(axis=1))
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    glyphs = [normalise(_line_patch(font, c, top, bottom), HEIGHT, WIDTH) for c in chars]
    rejects = []
    for letter in REJECT_LETTERS:
        ink = _ink(font, letter)
        if not ink.any() or ink.tobytes() == missing:
            continue
        canvas, aspect = normalise(_line_patch(font, letter, top, bottom), HEIGHT, WIDTH)
        # mean pixel difference (plus a tenth of the log-aspect one): Bebas Neue's O against
        # its 0 is 0.00, DSEG7's O 0.17, Roboto's O 0.24, DejaVu Sans's I against its 1 0.26
        if min(np.abs(canvas - g).mean() + abs(aspect - a) * 0.1 for g, a in glyphs) > 0.08:
            rejects.append(letter)
    family = re.split(r"[-.]", path.name)[0]
    if family.startswith("DSEG"):
        rejects = []  # segment letters are digits' segments: its T is a 7, its Z a 2
    display = DISPLAY_DIR in path.parts
    if display:
        family = path.stem  # one face per family there
    face = FontFace(str(path), family, chars, "".join(rejects), (bottom - top) / 64, display)
    kept = [normalise(_line_patch(font, letter, top, bottom), HEIGHT, WIDTH) for letter in rejects]
    return _Shapes(face, np.stack([g.reshape(-1) for g, _ in glyphs]), np.array([a for _, a in glyphs], np.float32),
                   np.stack([c.reshape(-1) for c, _ in kept]) if kept else np.zeros((0, HEIGHT * WIDTH), np.float32),
                   np.array([a for _, a in kept], np.float32))


def load_faces(workers: int) -> list[FontFace]:
    files = font_files()
    with ProcessPoolExecutor(workers) as pool:
        shapes = [f for f in pool.map(_inspect, files) if f is not None]
    return drop_rejects_like_any_glyph(shapes)


# A reject letter is cut over the digits' rows, as the reader cuts every blob, so a letter
# that reaches below the baseline loses its lower part: Noto Sans's ']' cut there is a stem
# with a flag at its top left, the '1' of Apex's HUD font (mean difference 0.023, nearer than
# any face's '1'). Checked against its own face only, such a letter was a reject, and the
# model learnt flag-topped 1s as rejects: Apex's summary '1's scored 0.34-0.57, CS:GO's and
# Valorant's 0.49-0.59. So every reject is also checked against every face's glyphs.
def drop_rejects_like_any_glyph(shapes: Sequence[_Shapes], limit: float = 0.08) -> list[FontFace]:
    """The faces, each without the reject letters drawn like some face's charset glyph
    (mean pixel difference plus a tenth of the log-aspect one at most ``limit``, the rule
    inspect_font applies within a face)."""
    pool = np.concatenate([s.glyphs for s in shapes]).astype(np.float32)
    pool_aspects = np.concatenate([s.glyph_aspects for s in shapes])
    pool_sq = (pool * pool).sum(axis=1)
    dims = pool.shape[1]
    out = []
    for s in shapes:
        keep = []
        for i, letter in enumerate(s.face.rejects):
            c = s.rejects[i].astype(np.float32)
            # canvases lie in [0, 1], so the mean squared difference is at most the mean
            # absolute one: a cheap product finds every glyph that can be within the limit
            mean_sq = (float(c @ c) + pool_sq - 2.0 * (pool @ c)) / dims
            near = np.flatnonzero(mean_sq <= limit)
            if near.size:
                d = np.abs(pool[near] - c).mean(axis=1) + np.abs(pool_aspects[near] - s.reject_aspects[i]) * 0.1
                if float(d.min()) <= limit:
                    continue
            keep.append(letter)
        out.append(replace(s.face, rejects="".join(keep)))
    return out


def split_faces(faces: Sequence[FontFace]) -> tuple[list[FontFace], list[FontFace]]:
    """Train and validation faces, split by family with a stable hash (not Python's)."""
    def held_out(face: FontFace) -> bool:
        return int(hashlib.sha1(face.family.encode()).hexdigest(), 16) % VALIDATION_SHARE == 0
    return [f for f in faces if not held_out(f)], [f for f in faces if held_out(f)]


# ---------------------------------------------------------------------------------------
# What the reader does to a crop (kept here, the same for training data and for the tests'
# own crops, so the model is trained on the patches it will be given).

@dataclass(frozen=True)
class Cut:
    x0: int
    x1: int
    top: int  # the line's rows, shared by every glyph of the line
    bottom: int


def binarise(grey: np.ndarray, bright: bool | None = None) -> np.ndarray:
    """Otsu's split of a grey crop; ink is the text's side (the minority side when
    ``bright`` is None)."""
    _, split = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    if bright is None:
        bright = split.sum() * 2 < split.size
    return split if bright else 1 - split


def cut_glyphs(ink: np.ndarray, min_speck: float = 0.1, tall: float = 0.6) -> list[Cut]:
    """Glyph column ranges and the line's rows, from connected components.

    Parts stacked in the same columns are one glyph (the dots of ``:``, the rings of ``%``).
    The line's rows are the median top and bottom of the components at least ``tall`` times
    the tallest one; parts smaller than ``min_speck`` line heights both ways are specks.
    """
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    if n <= 1:
        return []
    boxes = [tuple(int(v) for v in stats[i, :4]) for i in range(1, n)]
    tallest = max(h for _, _, _, h in boxes)
    tall_boxes = [b for b in boxes if b[3] >= tall * tallest]
    top = int(np.median([b[1] for b in tall_boxes]))
    bottom = int(np.median([b[1] + b[3] for b in tall_boxes]))
    line = max(1, bottom - top)
    merged: list[list[int]] = []  # x0, x1, height of the tallest part, centre x of the last part
    for x, y, w, h in sorted((b for b in boxes if max(b[2], b[3]) >= min_speck * line)):
        x0, x1 = x, x + w
        for m in merged:
            overlap = min(x1, m[1]) - max(x0, m[0])
            short = min(h, m[2]) < 0.75 * line
            # Full-height glyphs share columns only through italics (up to a quarter of the
            # narrower one); a short part (a dot of :, a ring of %) belongs to the glyph it
            # shares 40% of its columns with, or whose short part sits within a fifth of a
            # line above or below it (an italic colon's dots are offset by the slant).
            stacked = short and m[2] < 0.75 * line and abs((x0 + x1) / 2 - m[3]) <= 0.2 * line
            if overlap >= (0.4 if short else 0.5) * min(x1 - x0, m[1] - m[0]) or stacked:
                m[0], m[1], m[2], m[3] = min(m[0], x0), max(m[1], x1), max(m[2], h), (x0 + x1) // 2
                break
        else:
            merged.append([x0, x1, h, (x0 + x1) // 2])
    merged.sort()
    return [Cut(x0, x1, top, max(bottom, top + 1)) for x0, x1, _, _ in merged]


def patches_of(ink: np.ndarray, cuts: Sequence[Cut]) -> list[np.ndarray]:
    return [ink[c.top:c.bottom, c.x0:c.x1].astype(np.float32) for c in cuts]


# ---------------------------------------------------------------------------------------
# Rendering a damaged line of glyphs

@dataclass(frozen=True)
class Item:
    kind: str  # "char", "letter", "icon", "half"
    text: str  # the character drawn ("" for icons)
    label: int  # index into CHARSET, or REJECT
    scale: float = 1.0  # size relative to the line's digits (a small % sign)


def _digits(rng: np.random.Generator, lo: int, hi: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(lo, hi + 1))))


def pick_text(rng: np.random.Generator, face: FontFace) -> list[Item]:
    """A HUD-like string: numbers, times, percentages, fractions, signs, thousands; or a
    reject mix."""
    has = set(face.chars)
    kind = rng.random()
    small_from = 99  # characters from this index on are drawn smaller (Melee's centiseconds)
    if kind < 0.27:
        s = _digits(rng, 1, 4)
    elif kind < 0.37 and ":" in has:
        s = f"{_digits(rng, 1, 2)}:{_digits(rng, 2, 2)}"
        r = rng.random()
        if r < 0.25 and "." in has:
            s += "." + _digits(rng, 1, 2)
        elif r < 0.45:  # centiseconds in smaller type on the baseline, no dot
            small_from = len(s)
            s += _digits(rng, 2, 2)
    elif kind < 0.45 and "%" in has:
        s = _digits(rng, 1, 3) + "%"
    elif kind < 0.51 and "/" in has:
        s = "/".join(_digits(rng, 1, 3) for _ in range(int(rng.integers(2, 4))))
    elif kind < 0.57 and "." in has:
        s = _digits(rng, 1, 3) + "." + _digits(rng, 1, 2)
    elif kind < 0.63 and "," in has:
        s = _digits(rng, 1, 3) + "," + _digits(rng, 3, 3)
    elif kind < 0.69 and ("+" in has or "-" in has):
        s = rng.choice([c for c in "+-" if c in has]) + _digits(rng, 1, 3)
    else:
        return _reject_text(rng, face)
    small_scale = float(rng.uniform(0.65, 0.85))
    items = []
    for i, c in enumerate(s):
        # a sign or unit drawn smaller than the digits, bottom aligned (Melee's 18%)
        scale = float(rng.uniform(0.5, 1.0)) if c == "%" and rng.random() < 0.4 else 1.0
        items.append(Item("char", c, CHARSET.index(c), small_scale if i >= small_from else scale))
    return items


def _reject_text(rng: np.random.Generator, face: FontFace) -> list[Item]:
    items: list[Item] = []
    for _ in range(int(rng.integers(2, 6))):
        r = rng.random()
        if r < 0.4 and face.rejects:
            items.append(Item("letter", str(rng.choice(list(face.rejects))), REJECT))
        elif r < 0.6:
            items.append(Item("icon", "", REJECT))
        elif r < 0.72:
            items.append(Item("half", str(rng.integers(0, 10)), REJECT))
        else:  # digits among the rejects keep the two apart in one line
            c = str(rng.integers(0, 10))
            items.append(Item("char", c, CHARSET.index(c)))
    return items


def _icon(draw: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, top: float, size: float,
          fill: int) -> float:
    """An icon-like blob in the box at x; returns its width."""
    # no smaller than half the line: a small bar or dot *is* a - or a .
    w = size * float(rng.uniform(0.5, 1.3))
    h = size * float(rng.uniform(0.5, 1.2))
    y = top + (size - h) * float(rng.uniform(0, 1))
    kind = int(rng.integers(0, 8))
    box = (x, y, x + w, y + h)
    if kind == 0:
        draw.ellipse(box, fill=fill)
    elif kind == 1:
        draw.rectangle(box, fill=fill)
    elif kind == 2:
        draw.rounded_rectangle(box, radius=min(w, h) / 3, fill=fill)
    elif kind == 3:  # a ring, wider than tall: a line-high ring narrower than that is a 0
        h = min(h, w / 1.2)
        y = top + (size - h) * float(rng.uniform(0, 1))
        t = max(1.0, h * float(rng.uniform(0.1, 0.3)))
        draw.ellipse((x, y, x + w, y + h), outline=fill, width=int(t))
    elif kind == 4:  # bullet: a capsule with a pointed top
        draw.rectangle((x, y + h * 0.35, x + w * 0.5, y + h), fill=fill)
        draw.polygon([(x, y + h * 0.35), (x + w * 0.25, y), (x + w * 0.5, y + h * 0.35)], fill=fill)
        w *= 0.5
    elif kind == 5:  # bars, like an ammo icon
        n = int(rng.integers(2, 5))
        bw = w / (2 * n - 1)
        for i in range(n):
            draw.rectangle((x + 2 * i * bw, y, x + (2 * i + 1) * bw, y + h), fill=fill)
    else:  # random polygon, a star, a shield, a skull outline
        k = int(rng.integers(3, 9))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = rng.uniform(0.4, 1.0, k)
        pts = [(x + w / 2 + w / 2 * r * np.cos(a), y + h / 2 + h / 2 * r * np.sin(a)) for a, r in zip(ang, rad)]
        draw.polygon(pts, fill=fill)
    return w


@lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _background(rng: np.random.Generator, h: int, w: int, level: float) -> np.ndarray:
    """A flat, graded or textured background around ``level``."""
    bg = np.full((h, w), level, np.float32)
    if rng.random() < 0.5:
        gx, gy = rng.uniform(-40, 40, 2)
        bg += gx * np.linspace(-0.5, 0.5, w)[None, :] + gy * np.linspace(-0.5, 0.5, h)[:, None]
    if rng.random() < 0.5:
        small = rng.normal(0, rng.uniform(5, 30), (max(2, h // 8), max(2, w // 8))).astype(np.float32)
        bg += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return bg


def render_line(rng: np.random.Generator, face: FontFace, items: Sequence[Item]
                ) -> tuple[np.ndarray, np.ndarray, int, bool] | None:
    """The damaged grey crop, the render-scale label map (item index + 1 per pixel), the
    supersampling factor, and whether the text is brighter than its background."""
    line_h = float(np.exp(rng.uniform(np.log(8), np.log(60))))  # digit height at capture scale
    k = 1 if rng.random() < 0.15 else int(rng.integers(2, 5))
    size = max(6, round(line_h * k / face.digit_height))
    font = _font(face.path, size)
    R = face.digit_height * size  # digit height in render pixels
    pad = int(R * 0.8) + 8
    gaps = rng.normal(0.08, 0.08, len(items)) * R
    for i, it in enumerate(items):  # fonts space punctuation: a dot is never under a digit
        if it.text in ":./%" or (i + 1 < len(items) and items[i + 1].text in ":./%"):
            gaps[i] = max(gaps[i], 0.04 * R)
    widths = []
    for it, g in zip(items, gaps):
        if it.kind == "icon":
            widths.append(R * 1.4 + max(g, 0))
        else:
            f = font if it.scale == 1.0 else _font(face.path, max(4, round(size * it.scale)))
            widths.append(f.getlength(it.text) + g)
    W = int(sum(widths) + 2 * pad + R)
    H = int(R + 2 * pad)
    base = pad + R  # baseline row
    label = Image.new("L", (W, H))
    dl = ImageDraw.Draw(label)
    dl.fontmode = "1"  # no anti-aliasing: an edge pixel must carry one item's index, not a blend
    x = float(pad)
    stroke = int(rng.choice([1, 2, 3, 4]) * max(1, R / 20)) if rng.random() < 0.3 else 0
    outline = Image.new("L", (W, H)) if stroke else None
    for i, (it, g) in enumerate(zip(items, gaps)):
        if it.kind == "icon":
            w = _icon(dl, rng, x, base - R, R, i + 1)
            x += w + R * 0.15 + max(g, 0)
            continue
        f = font if it.scale == 1.0 else _font(face.path, max(4, round(size * it.scale)))
        dl.text((x, base), it.text, font=f, fill=i + 1, anchor="ls")
        if it.kind == "half":  # keep one side, top or bottom of a digit: a glyph cut apart
            arr = np.array(label)
            sel = arr == i + 1
            ys, xs = np.nonzero(sel)
            if ys.size:
                side = int(rng.integers(0, 4))
                keep = float(rng.uniform(0.3, 0.55))  # of the glyph's width or height
                if side == 0:
                    sel &= np.arange(W)[None, :] > xs.max() - keep * (xs.max() - xs.min())
                elif side == 1:
                    sel &= np.arange(W)[None, :] < xs.min() + keep * (xs.max() - xs.min())
                elif side == 2:
                    sel &= np.arange(H)[:, None] > ys.max() - keep * (ys.max() - ys.min())
                else:
                    sel &= np.arange(H)[:, None] < ys.min() + keep * (ys.max() - ys.min())
                arr[arr == i + 1] = 0
                arr[sel] = i + 1
                label = Image.fromarray(arr)
                dl = ImageDraw.Draw(label)
                dl.fontmode = "1"
        elif outline is not None:
            ImageDraw.Draw(outline).text((x, base), it.text, font=f, fill=255, anchor="ls",
                                         stroke_width=stroke)
        x += widths[i]
    lab = np.asarray(label)
    # The drawn ink is the label map itself; the anti-aliasing comes from supersampling
    # (k = 2..4, then INTER_AREA down) and the capture blur below.
    a_text = (lab > 0).astype(np.float32)
    a_out = np.asarray(outline, np.float32) / 255 if outline is not None else None

    # colours: text vs background with a random contrast and polarity
    bright = rng.random() < 0.75  # HUD digits are mostly light on darker scenes
    contrast = float(rng.uniform(45, 230))
    bg_level = float(rng.uniform(0, 255 - contrast))
    fg_level = bg_level + contrast
    if not bright:
        bg_level, fg_level = 255 - bg_level, 255 - fg_level
    img = _background(rng, H, W, bg_level)
    dark = (fg_level - contrast * float(rng.uniform(0.7, 1.3))) if bright else min(255.0, fg_level + contrast)
    if rng.random() < 0.2:  # drop shadow
        s = max(1, int(R * float(rng.uniform(0.04, 0.12))))
        sh = np.roll(np.roll(a_text, s, axis=0), s, axis=1)
        img = img * (1 - sh) + dark * sh
    if a_out is not None:
        img = img * (1 - a_out) + dark * a_out
    # stroke weight: grey dilate or erode of the drawn ink
    if rng.random() < 0.3:
        r = max(1, int(R * float(rng.uniform(0.02, 0.07))))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        a_text = np.asarray((cv2.dilate if rng.random() < 0.5 else cv2.erode)(a_text, kernel), np.float32)
    fill = fg_level + rng.normal(0, 4, (H, W)).astype(np.float32) * (rng.random() < 0.5)
    img = img * (1 - a_text) + fill * a_text

    # geometry: italic shear and horizontal stretch, about the line's centre
    shear = float(rng.normal(0, 0.08)) + (float(rng.uniform(0.1, 0.3)) if rng.random() < 0.25 else 0.0)
    # Letters keep their own proportions: an O squeezed to a 0's width *is* a 0, and a
    # reject label on it taught the model to doubt every narrow 0 (Valorant's read 0.94).
    squeeze = (0.9, 1.12) if any(it.kind == "letter" for it in items) else (0.6, 1.35)
    stretch = float(np.exp(rng.uniform(np.log(squeeze[0]), np.log(squeeze[1]))))
    M = np.array([[stretch, -shear, shear * base], [0, 1, 0]], np.float32)
    W2 = int(W * stretch + abs(shear) * H) + 2
    img = cv2.warpAffine(img, M, (W2, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    lab = cv2.warpAffine(lab, M, (W2, H), flags=cv2.INTER_NEAREST, borderValue=0)

    # capture: down to capture scale, blur, 720p round trip, noise, JPEG
    small: np.ndarray = cv2.resize(img, (max(1, round(W2 / k)), max(1, round(H / k))),
                                   interpolation=cv2.INTER_AREA)
    if rng.random() < 0.6:
        small = cv2.GaussianBlur(small, (0, 0), float(rng.uniform(0.3, 1.0)))
    if rng.random() < 0.3:
        h, w = int(small.shape[0]), int(small.shape[1])
        small = cv2.resize(cv2.resize(small, (max(1, w * 2 // 3), max(1, h * 2 // 3)),
                                      interpolation=cv2.INTER_AREA), (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        small = small + rng.normal(0, rng.uniform(1, 8), small.shape).astype(np.float32)
    grey = np.clip(small, 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        ok, buf = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 91))])
        grey = np.asarray(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), np.uint8)
    return grey, lab, k, bright


def reader_patches(grey: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int, int, np.ndarray]]:
    """Every patch the glyph reader would classify on this crop, as (first column, one past the
    last, first row, patch): its glyphs over the line's rows (and over their own rows when they
    may be a smaller run), the parts of its splits of wide blobs, the unions of overlapping
    blobs, and the ink it left out of the text. Cut by the reader's own code
    (engine/vision/glyphread.py), so the model learns the patches it will be given; one line
    in five is cut at the reader's retry level instead (Otsu among the pixels below the first
    cut)."""
    text = G._text(grey, READER)
    cut = text.cut
    if rng.random() < 0.2:
        cut = G._lower_cut(text) or cut
    layout = G._layout(G._ink(text, cut), READER)
    if layout is None:
        return []
    blobs, top, bottom = layout.blobs, layout.top, layout.bottom
    out: list[tuple[int, int, int, np.ndarray]] = []

    def add(b: Any, level: float, small: tuple[int, int] | None, own_only: bool = False) -> None:
        x0, x1 = b.x0, b.x1
        if own_only:
            used = np.flatnonzero(G._own(layout.ink, b, layout.rows, b.x0, b.x1).any(axis=0))
            if not used.size:
                return
            x0, x1 = b.x0 + int(used[0]), b.x0 + int(used[-1]) + 1
        rows = G._rows_of(layout, b)
        out.append((x0, x1, rows.start, G._patch(layout.ink, rows, b, level, x0, x1, own_only=own_only)))
        if small is not None:
            out.append((b.x0, b.x1, small[0], G._patch(layout.ink, slice(*small), b, level, b.x0, b.x1,
                                                        own_only=own_only)))

    kept = layout.kept()
    for i in kept:
        b = blobs[i]
        add(b, layout.levels[i], layout.small[i] or (
            (b.y0, b.y1) if G._short(b, top, bottom, G._MAYBE_SMALL) else None))
    for tail in layout.tails:
        for i in tail:
            add(blobs[i], layout.levels[i], layout.small[i])
    if kept:
        widest = G._widest(None, layout, kept)  # type: ignore[arg-type]  # no max_aspect: the reader's default
        for i in kept:
            b = blobs[i]
            if b.w > widest:
                for parts in G._splits(layout, b, widest):
                    pairs = list(zip(parts, parts[1:])) if len(parts) > 2 else []
                    for a, z in [*parts, *((p[0], q[1]) for p, q in pairs)]:
                        out.append((a, z, top, G._patch(layout.ink, layout.rows, b, layout.levels[i], a, z)))
    for chain in layout.chains:
        u = G._union(blobs, chain)
        add(u, max(layout.levels[i] for i in chain), (u.y0, u.y1) if G._short(u, top, bottom) else None)
    for chain in [(i,) for i in layout.leftover] + G._chains(list(blobs), list(layout.leftover)):
        u = G._union(blobs, chain)
        add(u, max(layout.levels[i] for i in chain), (u.y0, u.y1) if G._short(u, top, bottom) else None,
            own_only=True)
    return out


def line_samples(rng: np.random.Generator, face: FontFace) -> list[tuple[np.ndarray, int]]:
    """Patches of one rendered line as the reader cuts them, and their labels (ambiguous
    patches left out)."""
    items = pick_text(rng, face)
    out = render_line(rng, face, items)
    if out is None:
        return []
    grey, lab, k, bright = out
    # the crop a game file would give: the text's box and a margin of 2..5 px (the reader nulls
    # text touching the box's edge, so a tighter box teaches nothing)
    ys, xs = np.nonzero(lab)
    if ys.size == 0:
        return []
    m = int(rng.integers(2, 6))
    y0, y1 = max(0, ys.min() // k - m), min(grey.shape[0], ys.max() // k + 1 + m)
    x0, x1 = max(0, xs.min() // k - m), min(grey.shape[1], xs.max() // k + 1 + m)
    crop = grey[y0:y1, x0:x1]
    if crop.size == 0 or int(crop.min()) == int(crop.max()):
        return []
    cuts = reader_patches(crop, rng)
    # label mass per item and render column, to attribute each cut
    n = len(items)
    cols = np.zeros((n + 1, lab.shape[1] + 1), np.int64)
    for i in range(1, n + 1):
        cols[i, 1:] = np.cumsum((lab == i).sum(axis=0))
    totals = cols[:, -1]
    samples = []
    for a0, a1, top, patch in cuts:
        if patch.size == 0 or not (patch >= 0.5).any():
            continue
        a, b = (a0 + x0) * k, min(lab.shape[1], (a1 + x0) * k)
        share = np.array([(cols[i, b] - cols[i, a]) / totals[i] if totals[i] else 0.0
                          for i in range(1, n + 1)])
        if share.size == 0:
            continue
        best = int(share.argmax())
        others = np.delete(share, best)
        if share[best] < 0.05:
            # nothing drawn there: background texture or capture damage the reader took for ink
            if (patch >= 0.5).sum() >= 4:
                samples.append((patch, REJECT))
            continue
        if share[best] < 0.3:
            continue  # a speck of a glyph: nothing to learn from it
        if others.size and others.max() >= 0.5:
            label = REJECT  # two glyphs touching
        elif share[best] >= 0.85 and (others.size == 0 or others.max() < 0.25):
            label = items[best].label
            if label != REJECT:
                fit = _ink_fit(patch, lab == best + 1, k, grey.shape, (x0 + a0, y0 + top))
                if fit < 0.4:
                    label = REJECT  # damage, not the glyph: the split took noise or background
                elif fit < 0.7:
                    continue
        elif share[best] < 0.6 and (others.size == 0 or others.max() < 0.25):
            if items[best].text in ":./%+-,":
                continue  # a dot of a colon, a segment of DSEG's minus: a glyph of its own
            label = REJECT  # part of a digit
        else:
            continue
        samples.append((patch, label))
    return samples


def _ink_fit(patch: np.ndarray, mask: np.ndarray, k: int, shape: tuple[int, ...],
             origin: tuple[int, int]) -> float:
    """How well a patch's ink matches the glyph drawn there: the lower of the share of ink
    near the drawn shape and the share of the shape covered by ink (1 is a clean cut)."""
    small = cv2.resize(mask.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    x, y = origin
    drawn = small[y:y + patch.shape[0], x:x + patch.shape[1]] > 0.25
    if drawn.shape != patch.shape or not drawn.any() or not patch.any():
        return 0.0
    ink = patch >= 0.5
    near = cv2.dilate(drawn.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    precision = (ink & near).sum() / ink.sum()
    covered = cv2.dilate(ink.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    recall = (drawn & covered).sum() / drawn.sum()
    return float(min(precision, recall))


def generate(args: tuple[int, int, Sequence[FontFace]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canvases, log aspects and labels of the glyphs of ``count`` lines seeded by ``seed``."""
    seed, count, faces = args
    rng = np.random.default_rng(seed)
    groups = [sorted({f.family for f in faces if f.display == d}) for d in (False, True)]
    by_family = {fam: [i for i, f in enumerate(faces) if f.family == fam] for g in groups for fam in g}
    canvases, aspects, labels = [], [], []
    for _ in range(count):
        # a family first, then one of its faces: Inter's 36 faces weigh as much as OSP-DIN's one
        group = groups[1] if groups[1] and (rng.random() < DISPLAY_SHARE or not groups[0]) else groups[0]
        fi = int(rng.choice(by_family[group[int(rng.integers(len(group)))]]))
        try:
            samples = line_samples(rng, faces[fi])
        except (OSError, ValueError):  # a face FreeType cannot draw at this size: no line
            samples = []
        for patch, label in samples:
            canvas, aspect = normalise(patch, HEIGHT, WIDTH)
            canvases.append(canvas)
            aspects.append(aspect)
            labels.append(label)
    if not labels:
        return np.zeros((0, HEIGHT, WIDTH), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    return np.stack(canvases), np.array(aspects, np.float32), np.array(labels, np.int64)


def dataset(faces: Sequence[FontFace], lines: int, seed: int, workers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canvases (uint8, 255 = ink), log aspects and labels of ``lines`` rendered lines (chunks
    seeded by index, so the result does not depend on the number of workers)."""
    chunk = 500
    jobs = [(seed * 1_000_003 + i, min(chunk, lines - i * chunk), faces)
            for i in range((lines + chunk - 1) // chunk)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(generate, jobs))
    canvases = np.concatenate([np.round(p[0] * 255).astype(np.uint8) for p in parts])
    return canvases, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


def cached_dataset(faces: Sequence[FontFace], lines: int, seed: int, workers: int,
                   cache: Path | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`dataset`, kept in ``cache`` under a hash of the rendering code (this file from CHARSET
    up to the model), the faces and the arguments: training runs re-use the rendered glyphs."""
    if cache is None:
        return dataset(faces, lines, seed, workers)
    source = Path(__file__).read_text(encoding="utf-8").split(_MODEL_MARK)[0]
    source = source[source.index("\nCHARSET = "):]  # the code, not the docstring
    key = hashlib.sha1(json.dumps([source, [f.path for f in faces], lines, seed]).encode()).hexdigest()[:16]
    path = cache / f"glyphs-{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            return z["canvases"], z["aspects"], z["labels"]
    canvases, aspects, labels = dataset(faces, lines, seed, workers)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, canvases=canvases, aspects=aspects, labels=labels)
    return canvases, aspects, labels


_MODEL_MARK = "# " + "-" * 87 + "\n# The model"
# ---------------------------------------------------------------------------------------
# The model: a small CNN trained with PyTorch, served in numpy + OpenCV (engine/vision/digits.py)

def build_net(convs: Sequence[int], dense: int, classes: int) -> Any:
    """conv 3x3 -> ReLU -> max pool 2, twice (24 -> 22 -> 11 -> 9 -> 4), flattened channels-last,
    the log aspect appended, one hidden dense layer, the outputs."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    side = ((HEIGHT - 2) // 2 - 2) // 2

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(1, convs[0], 3)
            self.c2 = nn.Conv2d(convs[0], convs[1], 3)
            self.f1 = nn.Linear(side * side * convs[1] + 1, dense)
            self.f2 = nn.Linear(dense, classes)

        def forward(self, x: Any, aspect: Any) -> Any:
            x = F.max_pool2d(F.relu(self.c1(x)), 2)
            x = F.max_pool2d(F.relu(self.c2(x)), 2)
            x = torch.cat([x.permute(0, 2, 3, 1).flatten(1), aspect[:, None]], 1)
            return self.f2(F.relu(self.f1(x)))

    return Net()


def train(canvases: np.ndarray, aspects: np.ndarray, y: np.ndarray, convs: Sequence[int], dense: int,
          epochs: int, seed: int) -> Any:
    import torch
    from torch.nn import functional as F

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    net = build_net(convs, dense, REJECT + 1)
    x = torch.from_numpy(canvases)
    a = torch.from_numpy(aspects.astype(np.float32))
    t = torch.from_numpy(y.astype(np.int64))
    batch = 256
    steps = epochs * (len(y) // batch)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        order = torch.randperm(len(y), generator=gen)
        total, t0 = 0.0, time.perf_counter()
        net.train()
        for s in range(len(y) // batch):
            idx = order[s * batch:(s + 1) * batch]
            xb = x[idx].to(torch.float32)[:, None] / 255
            loss = F.cross_entropy(net(xb, a[idx]), t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        print(f"  epoch {epoch + 1}/{epochs}: loss {total / max(1, len(y) // batch):.4f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    net.eval()
    return net


def export(net: Any) -> dict[str, np.ndarray]:
    """The net as the arrays engine/vision/digits.py runs: each conv as an im2col matrix
    (input channel, row, column) x output channel, each dense layer as inputs x outputs."""
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    out = {}
    for i, name in enumerate(("c1", "c2")):
        w = sd[f"{name}.weight"]
        out[f"conv{i}_w"] = np.ascontiguousarray(w.reshape(w.shape[0], -1).T)
        out[f"conv{i}_b"] = sd[f"{name}.bias"]
    for i, name in enumerate(("f1", "f2")):
        out[f"dense{i}_w"] = np.ascontiguousarray(sd[f"{name}.weight"].T)
        out[f"dense{i}_b"] = sd[f"{name}.bias"]
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature minimising the validation log-loss (a grid is enough)."""
    best, best_t = np.inf, 1.0
    for t in np.exp(np.linspace(np.log(0.5), np.log(4), 50)):
        p = softmax(logits / t)
        nll = -np.log(p[np.arange(len(y)), y] + 1e-12).mean()
        if nll < best:
            best, best_t = nll, float(t)
    return best_t


def choose_threshold(p: np.ndarray, y: np.ndarray, max_wrong: float) -> float:
    """The lowest score above which at most ``max_wrong`` of the validation glyphs read as a
    wrong character (a reject read as a character counts as wrong)."""
    chars = p[:, :REJECT]
    best = chars.argmax(axis=1)
    score = chars.max(axis=1)
    wrong = best != y
    order = np.argsort(-score)
    cum_wrong = np.cumsum(wrong[order])
    allowed = cum_wrong <= max_wrong * len(y)
    last = int(np.flatnonzero(allowed)[-1]) if allowed.any() else 0
    return float(min(0.999, max(0.5, score[order][last])))


def probe_patches() -> list[np.ndarray]:
    """Fixed patches drawn with OpenCV's Hershey fonts (no font files) and seeded noise.

    The training run records the model's probabilities on them in the npz; the tests
    recompute them with the serving code, so weights and serving code cannot drift apart.
    """
    out = []
    for face in (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX):
        for scale, thick in ((0.4, 1), (0.9, 2), (1.8, 3)):
            img = np.zeros((int(60 * scale) + 20, int(400 * scale) + 20), np.uint8)
            cv2.putText(img, "10:52.3/4%+6-789", (6, int(40 * scale) + 6), face, scale, 255, thick, cv2.LINE_AA)
            ink = binarise(img, bright=True)
            out.extend(patches_of(ink, cut_glyphs(ink)))
    rng = np.random.default_rng(0)
    out.extend((rng.random((h, w)) > 0.6).astype(np.float32) for h, w in ((12, 7), (30, 18), (20, 20)))
    return out


# max_wrong 1/200 of validation glyphs, not 1/2000: the validation glyphs include every blob the
# reader hands over (background texture, split parts, left-out ink), most of which the reader's
# other guards (margins, layout, left-out ink) null anyway. On the corpus's tune rows (holdout
# never used), with this model: 1/2000 (threshold 0.986) read 36% of crops right under 7 capture
# variants, 1/500 (0.956) 33%, 1/200 (0.894) 42% with 3 wrong of 2,562 stressed reads (0.12%),
# 1/100 (0.802) 50% with 4 wrong. 6 epochs: 87-280 s each on the loaded 2-core machine.
DEFAULTS = {"lines": 100_000, "val_lines": 15_000, "epochs": 6, "convs": [16, 32], "dense": 96,
            "seed": 7, "max_wrong": 1 / 200}


def recorded_settings() -> dict[str, object]:
    """What the shipped weights must have been made with (the tests compare)."""
    return {"charset": CHARSET, "height": HEIGHT, "width": WIDTH, **DEFAULTS}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "engine" / "vision" / "digits_model.npz")
    ap.add_argument("--lines", type=int, default=DEFAULTS["lines"], help="training lines rendered")
    ap.add_argument("--val-lines", type=int, default=DEFAULTS["val_lines"])
    ap.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    ap.add_argument("--convs", type=int, nargs=2, default=DEFAULTS["convs"], help="channels of the two convs")
    ap.add_argument("--dense", type=int, default=DEFAULTS["dense"], help="units of the hidden dense layer")
    ap.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/otrig-digit-glyphs"),
                    help="keep the rendered glyphs here (re-used while the rendering code, faces and "
                         "arguments are the same)")
    ap.add_argument("--render-only", action="store_true", help="render (and cache) the glyphs, then stop")
    ap.add_argument("--print-packages", action="store_true", help="print the Debian font packages and stop")
    args = ap.parse_args(argv)
    if args.print_packages:
        print(" ".join(APT_PACKAGES))
        return
    max_wrong = float(DEFAULTS["max_wrong"])  # type: ignore[arg-type]
    t0 = time.perf_counter()
    faces = load_faces(args.workers)
    train_faces, val_faces = split_faces(faces)
    print(f"{len(faces)} faces ({len({f.family for f in faces})} families, "
          f"{sum(f.display for f in faces)} display): {len(train_faces)} train, {len(val_faces)} validation",
          flush=True)
    cx, ax, y = cached_dataset(train_faces, args.lines, args.seed, args.workers, args.cache)
    cv, av, yv = cached_dataset(val_faces, args.val_lines, args.seed + 1, args.workers, args.cache)
    t1 = time.perf_counter()
    print(f"{len(y)} train and {len(yv)} validation glyphs in {t1 - t0:.0f} s; "
          f"class counts {np.bincount(y, minlength=REJECT + 1).tolist()}", flush=True)
    if args.render_only:
        return
    net = train(cx, ax, y, args.convs, args.dense, args.epochs, args.seed)
    arrays: dict[str, Any] = export(net)
    t2 = time.perf_counter()
    # calibrated on the serving code's own logits of the validation glyphs
    from engine.vision.digits import DigitReader
    reader = DigitReader(arrays, CHARSET, HEIGHT, WIDTH, threshold=0.5, temperature=1.0, settings={})
    feats = np.concatenate([cv.reshape(len(cv), -1).astype(np.float32) / 255, av[:, None]], axis=1)
    logits = np.concatenate([reader.logits(feats[i:i + 4096]) for i in range(0, len(feats), 4096)])
    temperature = fit_temperature(logits, yv)
    pv = softmax(logits / temperature)
    threshold = choose_threshold(pv, yv, max_wrong)
    chars = pv[:, :REJECT]
    accepted = chars.max(axis=1) >= threshold
    is_char = yv < REJECT
    read_wrong = accepted & is_char & (chars.argmax(axis=1) != yv)
    stats = {
        "val_glyphs": int(len(yv)),
        "val_accuracy": round(float((pv.argmax(axis=1) == yv).mean()), 4),
        "val_char_accuracy": round(float((pv.argmax(axis=1)[is_char] == yv[is_char]).mean()), 4),
        "val_char_read": round(float(accepted[is_char].mean()), 4),
        "val_char_wrong": round(float(read_wrong.sum() / is_char.sum()), 5),
        "val_reject_read": round(float(accepted[~is_char].mean()), 5),
    }
    meta: dict[str, object] = {
        **recorded_settings(),
        "lines": args.lines, "val_lines": args.val_lines, "epochs": args.epochs,
        "convs": list(args.convs), "dense": args.dense, "seed": args.seed,
        "threshold": threshold, "temperature": temperature,
        "threshold_rule": f"lowest validation score above which at most {max_wrong:.4g} of glyphs read wrong",
        "fonts": len(faces), "families": len({f.family for f in faces}),
        "train_faces": len(train_faces), "val_faces": len(val_faces),
        "val_families": sorted({f.family for f in val_faces}),
        "train_glyphs": int(len(y)), "class_counts": np.bincount(y, minlength=REJECT + 1).tolist(),
        "render_seconds": round(t1 - t0, 1), "train_seconds": round(t2 - t1, 1),
        "torch": __import__("torch").__version__,
        **stats,
    }
    head: dict[str, Any] = {"meta": np.array(json.dumps(meta))}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **head, **arrays)
    # the serving code's view of the fresh weights on the fixed probes (see the tests)
    reader = DigitReader.load(args.out)
    probe = reader.probabilities(reader.features(probe_patches()))
    np.savez_compressed(args.out, **head, probe=probe.astype(np.float32), **arrays)
    print(json.dumps(meta, indent=1))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
