"""Read a line of text from a prepared crop glyph by glyph (FIGURES_PLACEHOLDER)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
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
    charset: str  # characters it can return
    threshold: float  # a glyph whose best score is below this makes the read null

    def classify(self, patches: Sequence[np.ndarray]) -> list[GlyphScore]: ...


@dataclass(frozen=True)
class GlyphOptions:
    """How a crop is cut into glyphs. Lengths are in line heights (the text's cap height)."""

    polarity: Polarity = "auto"
    cut: int | None = None
    min_speck: float = 0.1
    line_tol: float = 0.25
    max_gap: float = 0.6
    dim_ratio: float = 0.7
    space: float | None = None
    split: bool = True

    def __post_init__(self) -> None:
        if self.polarity not in ("auto", "bright", "dark"):
            raise ValueError(f"glyph polarity must be auto, bright or dark, not {self.polarity!r}")
        if self.cut is not None and not 0 <= self.cut < 255:
            raise ValueError(f"glyph cut must be a grey level 0..254, not {self.cut}")
        for name in ("min_speck", "line_tol", "max_gap", "dim_ratio"):
            if getattr(self, name) < 0:
                raise ValueError(f"glyph option {name} must not be negative, not {getattr(self, name)}")
        if self.space is not None and self.space <= 0:
            raise ValueError(f"glyph option space must be positive (a gap in line heights), not {self.space}")


@dataclass(frozen=True)
class GlyphInfo:
    box: Box
    char: str | None = None
    score: float = 0.0
    runner_up: str | None = None
    margin: float = 0.0
    brightness: float = 0.0  # ink contrast over the background, relative to the brightest kept glyph
    dropped: str | None = None  # "speck", "icon", "beyond gap", "dim padding"; None when read
    split: bool = False  # one part of a wider blob cut at its weakest columns


@dataclass(frozen=True)
class GlyphRead:
    text: str | None
    confidence: float
    reason: str | None
    glyphs: tuple[GlyphInfo, ...]
    line_top: int = 0
    line_height: int = 0
    polarity: str = ""  # "bright" or "dark": the text's polarity as decided
    cut: int = 0  # the grey level (in text polarity) above which a pixel is ink
    read: tuple[int, ...] = field(default=())  # indices into glyphs of the characters of text
