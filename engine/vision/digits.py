"""A built-in reader of HUD digits that needs no font by example.

`DigitReader` classifies glyph patches (ink = 1, the glyph's own columns over the text
line's rows) into ``0123456789:./%+-``. It was trained by ``scripts/train_digits.py`` on
glyphs rendered from Debian's free fonts with capture-like damage, never on game frames.
Besides the characters it has a *reject* output, trained on letters that look like digits,
icon-like blobs, touching pairs, parts of digits and damage: a patch the model takes for one
of those gives every character a low score, so the read becomes null instead of wrong.

The model is a multilayer perceptron (577 -> 384 -> 192 -> 17) evaluated in numpy: one
batched forward pass per call, no per-pixel Python. A 3-glyph number classifies in 0.10 ms
(median of 1000 calls on one core of a loaded 2-core machine); reading the first layer's
0.9 MB of weights is most of it.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from engine.vision.products import small_product

if TYPE_CHECKING:
    from .glyphread import GlyphScore

DEFAULT_MODEL = Path(__file__).with_name("digits_model.npz")


def normalise(patch: np.ndarray, height: int, width: int) -> tuple[np.ndarray, float]:
    """A patch scaled to ``height`` rows, centred on a ``width``-column canvas.

    The width is scaled by the same factor as the height, so a narrow ``1`` stays narrow;
    it is squeezed only when wider than the canvas. Returns the canvas (float32, ink = 1)
    and log(width / height) of the patch, which tells the model the shape it had before
    any squeeze (two touching digits are wider than one).
    """
    if patch.ndim != 2 or patch.shape[0] < 1 or patch.shape[1] < 1:
        raise ValueError(f"a glyph patch must be a non-empty 2-D array, not shape {patch.shape}")
    # Binary at half the ink's contrast: the model was trained on Otsu-cut ink, and a reader
    # that hands over a soft ramp (the glyph reader's patches) is cut where Otsu would be.
    src = (np.asarray(patch) >= 0.5).astype(np.float32)
    h, w = src.shape
    scale = height / h
    new_w = max(1, min(width, round(w * scale)))
    # INTER_AREA averages when shrinking (a 60 px line to 24 rows keeps thin strokes);
    # growing an 8 px line, it would repeat pixels in blocks, so bilinear is used there.
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(src, (new_w, height), interpolation=interp)
    canvas = np.zeros((height, width), np.float32)
    x0 = (width - new_w) // 2
    canvas[:, x0:x0 + new_w] = small
    return canvas, float(np.log(w / h))


@dataclass(frozen=True)
class _Layer:
    weight: np.ndarray  # (inputs, outputs) float32
    bias: np.ndarray  # (outputs,) float32


def features_of(canvases: np.ndarray, aspects: np.ndarray) -> np.ndarray:
    """The model's input rows: the canvas pixels, then the patch's log aspect ratio.

    Pixels alone: gradient-orientation histograms added to them (8 directions in 6 px cells)
    read no better on validation and doubled the time per call."""
    return np.concatenate([canvases.reshape(len(canvases), -1),
                           aspects.reshape(-1, 1).astype(np.float32)], axis=1)


class DigitReader:
    """Classifies glyph patches of ``0-9 : . / % + -`` with a built-in model.

    ``threshold`` is the score at and above which the model's reads were right. The training
    script chooses it on its synthetic validation set: 43k glyphs rendered from 88 faces of
    14 font families that were never trained on, with the same capture damage. It is the
    lowest score above which at most 1 in 2,000 validation glyphs reads as a wrong character
    (a reject read as a character counts as wrong), after a softmax temperature fitted on
    the same set. For the shipped weights: 0.960 (temperature 1.86); 62.5% of validation
    characters read at or above it, none wrong, and 0.16% of validation rejects. Checked on
    real crops from Valorant, Apex, CS:GO and Melee frames, as given and after a 720p round
    trip or JPEG 60 (tests/test_digits.py): 44 of 72 reads right, 26 null, and no glyph read
    wrong at or above it. The value and its measurement are stored in the weights file.
    """

    def __init__(self, nets: Sequence[Sequence[_Layer]], charset: str, height: int, width: int,
                 threshold: float, temperature: float, settings: dict[str, object]) -> None:
        self._nets = tuple(tuple(layers) for layers in nets)
        self.charset = charset
        self.height = height
        self.width = width
        self.threshold = threshold
        self.temperature = temperature
        self.settings = settings

    @classmethod
    def load(cls, path: Path | None = None) -> DigitReader:
        """The reader whose weights are in ``path`` (default: the packaged model)."""
        path = DEFAULT_MODEL if path is None else Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"digit model {path} is missing: run `python scripts/train_digits.py` to make it")
        try:
            with np.load(path, allow_pickle=False) as npz:
                n, members = int(npz["layers"]), int(npz["members"])
                nets = [[_Layer(npz[f"w{m}_{i}"].astype(np.float32), npz[f"b{m}_{i}"].astype(np.float32))
                         for i in range(n)] for m in range(members)]
                meta = json.loads(str(npz["meta"]))
        except (KeyError, ValueError, OSError) as e:
            raise ValueError(f"{path} is not a digit model written by scripts/train_digits.py ({e})") from e
        return cls(nets, meta["charset"], meta["height"], meta["width"],
                   meta["threshold"], meta["temperature"], meta)

    def features(self, patches: Sequence[np.ndarray]) -> np.ndarray:
        """The model's input rows for ``patches``."""
        canvases = np.empty((len(patches), self.height, self.width), np.float32)
        aspects = np.empty(len(patches), np.float32)
        for i, patch in enumerate(patches):
            canvases[i], aspects[i] = normalise(patch, self.height, self.width)
        return features_of(canvases, aspects)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, one row per input, one column per output
        (the characters of ``charset``, then reject)."""
        total = np.zeros((len(features), len(self.charset) + 1), np.float32)
        for layers in self._nets:
            x = features
            for layer in layers[:-1]:
                x = np.maximum(small_product(x, layer.weight) + layer.bias, 0.0)
            logits = (small_product(x, layers[-1].weight) + layers[-1].bias) / self.temperature
            logits -= logits.max(axis=1, keepdims=True)
            e = np.exp(logits)
            total += e / e.sum(axis=1, keepdims=True)
        return total / len(self._nets)

    def classify(self, patches: Sequence[np.ndarray]) -> list[GlyphScore]:
        """The best character of each patch, its score, and the runner-up's.

        Scores are probabilities of the characters alone: a patch the model takes for a
        non-glyph gives its best character a low score, whatever its rank among them.
        """
        # Imported here, not at the top: the glyph reader may import this module for its
        # default classifier, and a top-level import both ways would be circular.
        from .glyphread import GlyphScore

        if len(patches) == 0:
            return []
        p = self.probabilities(self.features(patches))[:, :len(self.charset)]
        order = np.argsort(-p, axis=1)
        out = []
        for row, (a, b) in zip(p, order[:, :2]):
            out.append(GlyphScore(self.charset[a], float(row[a]), self.charset[b],
                                  float(row[a] - row[b])))
        return out
