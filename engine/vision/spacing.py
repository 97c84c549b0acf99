"""Glyphs in a text crop: where the ink is, and how to space it out for Tesseract.

Tesseract's line model reads narrow neighbours as one shape: Apex's summary kills ``11``
(two flag-and-stem ones, 4 px apart) reads ``N``, ``W`` or nothing under every threshold,
scale and page mode tried. Rebuilt with the gap between the two widened to a third of the
text height, the same line reads ``11`` at 99. Reading each glyph alone (``psm 10``) was
tried first and is worse: single ``0`` and ``9`` glyphs read as nothing more often than not,
since the model wants a line around a character.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_MIN_INK = 3  # pixels; a smaller run of ink columns is a speck, not a glyph


@dataclass(frozen=True)
class Glyph:
    x0: int  # first ink column
    x1: int  # one past the last ink column


def ink_mask(img: np.ndarray) -> np.ndarray:
    """Boolean mask of the text pixels of a prepared crop, whatever its polarity.

    Text is the minority class of an Otsu split: a crop is mostly background, whether the
    preparation left dark text on white (for Tesseract) or white text on black.
    """
    grey = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if grey.dtype != np.uint8:
        span = float(grey.max()) - float(grey.min())
        grey = ((grey - grey.min()) * (255.0 / span if span else 0.0)).astype(np.uint8)
    if grey.size == 0 or int(grey.min()) == int(grey.max()):
        return np.zeros(grey.shape, bool)
    _, split = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    bright = split.astype(bool)
    return bright if bright.sum() * 2 < bright.size else ~bright


def split_glyphs(ink: np.ndarray) -> list[Glyph]:
    """Runs of columns holding ink, left to right, without specks."""
    counts = ink.sum(axis=0)
    cols = np.flatnonzero(counts)
    if cols.size == 0:
        return []
    glyphs = []
    for run in np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1):
        x0, x1 = int(run[0]), int(run[-1]) + 1
        if counts[x0:x1].sum() >= _MIN_INK:
            glyphs.append(Glyph(x0, x1))
    return glyphs


# A digit or capital is at most this wide for its height (W and M aside); a run of ink
# wider than a multiple of it can hold that many touching characters.
_CHAR_WIDTH = 0.45


def character_bounds(img: np.ndarray, min_height: float = 0.5) -> tuple[int, int]:
    """How few and how many characters a prepared crop can hold, from its glyphs.

    Glyphs are runs of ink columns. A run at least ``min_height`` as tall as the median run
    is a glyph: it holds at least one character, and a run as wide as k character widths can
    hold k touching ones (small text touches: "2250" can be three runs). A shorter run (a dot,
    a comma, a hyphen) may or may not be a character: it adds to the most only. A read
    outside the bounds has a character made up ("982" read "9182") or merged away ("11" read
    "1").

    The median, not the tallest, is the reference: in a name, lower-case letters stand half
    as tall as a run joining an ascender to a descender ("gl"), and measured against that run
    they were left out of the count, so a right read of a proportional name had more
    characters than the most allowed. In a number every digit is as tall, so the median is
    the digits' height and a "." in "41.1k" is the short run it is.
    """
    ink = ink_mask(img)
    glyphs = split_glyphs(ink)
    if not glyphs:
        return 0, 0
    sizes = []
    for g in glyphs:
        rows = np.flatnonzero(ink[:, g.x0:g.x1].any(axis=1))
        sizes.append((g.x1 - g.x0, int(rows[-1]) + 1 - int(rows[0])))
    ref = float(np.median([h for _, h in sizes]))
    kept = [w for w, h in sizes if h >= min_height * ref]
    marks = len(sizes) - len(kept)
    return len(kept), sum(max(1, int(w / (_CHAR_WIDTH * ref))) for w in kept) + marks


def spread(img: np.ndarray, gap: float) -> np.ndarray:
    """The crop rebuilt with every gap between glyphs at least ``gap`` text heights wide.

    Wider gaps (between words) are kept as they are, so spaces survive; margins are kept;
    the new columns are filled with the background's own colour.
    """
    ink = ink_mask(img)
    glyphs = split_glyphs(ink)
    if len(glyphs) < 2:
        return img
    rows = np.flatnonzero(ink.any(axis=1))
    least = max(1, round(gap * (int(rows[-1]) + 1 - int(rows[0]))))
    background = np.median(img[~ink], axis=0).astype(img.dtype)
    parts = [img[:, :glyphs[0].x1]]
    for before, g in zip(glyphs, glyphs[1:]):
        have = g.x0 - before.x1
        if have < least:
            fill = np.empty((img.shape[0], least - have) + img.shape[2:], img.dtype)
            fill[...] = background
            parts.append(fill)
        parts.append(img[:, before.x1:g.x1])
    parts.append(img[:, glyphs[-1].x1:])
    return np.ascontiguousarray(np.hstack(parts))


def clear_border(img: np.ndarray) -> np.ndarray:
    """The crop with every blob of ink that touches its edge painted over with background.

    A box sized for its text has the text inside it; what touches the edge is whatever lies
    beside the text (a stage edge, a bar, an icon cut by the box), which Tesseract would
    otherwise read as an extra leading or trailing character ("83%" read "783%").
    """
    ink = ink_mask(img)
    if not ink.any():
        return img
    _, labels = cv2.connectedComponents(ink.astype(np.uint8), connectivity=8)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge = edge[edge != 0]
    if edge.size == 0:
        return img
    drop = np.isin(labels, edge)
    out = img.copy()
    out[drop] = np.median(img[~ink], axis=0).astype(img.dtype)
    return out
