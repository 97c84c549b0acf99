"""A built-in reader of HUD digits that needs no font by example.

`DigitReader` classifies glyph patches (ink = 1, the glyph's own columns over the text
line's rows) into ``0123456789:./%+-,``. It was trained by ``scripts/train_digits.py`` on
glyphs rendered from Debian's free fonts (text and display faces) with capture-like damage,
cut by the glyph reader's own code, never on game frames. Besides the characters it has a
*reject* output, trained on letters that look like digits, icon-like blobs, touching pairs,
parts of digits, background texture and damage: a patch the model takes for one of those
gives every character a low score, so the read becomes null instead of wrong.

The model is a small CNN: 3x3 conv (16) -> max pool -> 3x3 conv (32) -> max pool -> dense
(96, with the patch's log aspect) -> 18 outputs; 0.2 MB of float32 arrays. It runs in numpy
(im2col by a strided view, single-threaded products), one batched pass per call. The MLP
before it (digits_check.npz) checks it: a character the MLP would not pick is ambiguous.

On bench/digits.py's 601 real crops through read_glyphs: 326 right / 275 null / 0 wrong
(the MLP alone: 176 / 425 / 0); holdout rows 116 / 119 / 0; under the 7 capture variants
1,904 / 2,302 / 1 (Overwatch's '55%' read '5596' at 720p). Before the training script
checked reject letters against every face's glyphs (see drop_rejects_like_any_glyph),
the same bench gave 284 / 317 / 0 and 1,808 / 2,396 / 3. A whole read (cutting and
classifying) takes 0.77 ms median at load 2.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from engine.vision.products import small_product


if TYPE_CHECKING:
    from .glyphread import GlyphScore

DEFAULT_MODEL = Path(__file__).with_name("digits_model.npz")
# The second opinion: the reader before the CNN, a multilayer perceptron (577 -> 384 -> 192
# -> 17) trained by scripts/train_digits.py as of commit 46bd322 on 357 faces. Trained apart,
# the two confuse different shapes: the CNN reads Melee's small '5' as '6' at 0.93-0.985
# (smuckers #180, #540, #780), while the MLP's best character for it is '5'. A glyph whose
# character the MLP would not pick is unclear (see DigitReader.classify).
DEFAULT_CHECK = Path(__file__).with_name("digits_check.npz")


@dataclass(frozen=True)
class _Mlp:
    """The checking model: ReLU layers, then softmax over the characters and reject."""

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    charset: str

    @classmethod
    def load(cls, path: Path) -> _Mlp:
        try:
            with np.load(path, allow_pickle=False) as npz:
                n = int(npz["layers"])
                layers = tuple((npz[f"w0_{i}"].astype(np.float32), npz[f"b0_{i}"].astype(np.float32))
                               for i in range(n))
                meta = json.loads(str(npz["meta"]))
        except (KeyError, ValueError, OSError) as e:
            raise ValueError(f"{path} is not the checking digit model ({e})") from e
        return cls(layers, str(meta["charset"]))

    def best(self, features: np.ndarray) -> list[str]:
        """Each row's most likely character (reject left out: the check vetoes only a
        character it would read otherwise)."""
        x = features
        for w, b in self.layers[:-1]:
            x = np.maximum(_product(x, w) + b, 0.0)
        w, b = self.layers[-1]
        logits = (_product(x, w) + b)[:, :len(self.charset)]
        return [self.charset[int(k)] for k in np.argmax(logits, axis=1)]


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


def features_of(canvases: np.ndarray, aspects: np.ndarray) -> np.ndarray:
    """The model's input rows: the canvas pixels, then the patch's log aspect ratio."""
    return np.concatenate([canvases.reshape(len(canvases), -1),
                           aspects.reshape(-1, 1).astype(np.float32)], axis=1)


def _product(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w`` single-threaded (engine/vision/products.py). OpenCV's gemm spreads over
    threads: at load 5-6 a read took 4.96 ms median (bench/digits.py), 5.44 ms in a later run
    beside other work."""
    return small_product(x, w)


def _taps_first(w: np.ndarray) -> np.ndarray:
    """Conv weights with rows in the training script's order (channel, dy, dx) reordered to
    (dy, dx, channel), the order _conv_relu_pool lays its columns out in."""
    c = w.shape[0] // 9
    return np.ascontiguousarray(w.reshape(c, 3, 3, -1).transpose(1, 2, 0, 3).reshape(9 * c, -1))


def _conv_relu_pool(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A 3x3 valid convolution of channels-last images (im2col, one product), then a 2x2 max
    pool (an odd last row or column is dropped, as torch's pool drops it), bias and ReLU.
    ``w`` has rows in (dy, dx, channel) order (_taps_first).

    Bias and ReLU come after the pool, on a quarter of the values: both commute with a max.
    The columns are the nine shifted views side by side, and the pool the max of four
    strided views: against a sliding-window view reshaped into columns, a reduction over
    the pool's axes and ReLU before the pool, 2.9x faster for conv1 and 1.6x for conv2 on 5
    patches (44 vs 143 and 81 vs 132 us in a one-off timing loop, old and new in one run)."""
    n, h, wd, c = x.shape
    ho, wo = h - 2, wd - 2
    cols = np.concatenate([x[:, dy:dy + ho, dx:dx + wo, :] for dy in range(3) for dx in range(3)], axis=3)
    y = _product(cols.reshape(n * ho * wo, 9 * c), w).reshape(n, ho, wo, -1)
    h2, w2 = 2 * (ho // 2), 2 * (wo // 2)
    p = np.maximum(np.maximum(y[:, 0:h2:2, 0:w2:2], y[:, 1:h2:2, 0:w2:2]),
                   np.maximum(y[:, 0:h2:2, 1:w2:2], y[:, 1:h2:2, 1:w2:2]))
    p += b
    return np.maximum(p, 0.0, out=p)


class DigitReader:
    """Classifies glyph patches of ``0-9 : . / % + - ,`` with a built-in model.

    ``threshold`` is the score at and above which the model's reads were right. The training
    script chooses it on its synthetic validation set: glyphs rendered from font families
    that were never trained on, with the same capture damage. It is the lowest score above
    which at most 1 in 2,000 validation glyphs reads as a wrong character (a reject read as a
    character counts as wrong), after a softmax temperature fitted on the same set. The rule
    allows 1 in 200 (see DEFAULTS in the script for why): for the shipped weights 0.898
    (temperature 1.07) on 81,279 glyphs of 183 held-out faces, where 58% of characters read
    at or above it, 0.12% of characters wrong and 0.86% of rejects (background texture, split
    parts, left-out ink the reader's other guards mostly null). On the real crops of
    bench/digits.py no read was wrong with it, as stored or under 7 capture variants (holdout
    rows). The value and its measurement are stored in the weights file.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], charset: str, height: int, width: int,
                 threshold: float, temperature: float, settings: dict[str, object],
                 check: _Mlp | None = None) -> None:
        try:
            self._convs = tuple((_taps_first(np.asarray(arrays[f"conv{i}_w"], np.float32)),
                                 np.asarray(arrays[f"conv{i}_b"], np.float32)) for i in range(2))
            self._dense = tuple((np.asarray(arrays[f"dense{i}_w"], np.float32),
                                 np.asarray(arrays[f"dense{i}_b"], np.float32)) for i in range(2))
        except KeyError as e:
            raise ValueError(f"the digit model has no array {e}") from e
        if self._dense[1][0].shape[1] != len(charset) + 1:
            raise ValueError(f"the digit model has {self._dense[1][0].shape[1]} outputs for a charset of "
                             f"{len(charset)} (+ reject)")
        self.charset = charset
        self.height = height
        self.width = width
        self.threshold = threshold
        self.temperature = temperature
        self.settings = settings
        self.check = check

    @classmethod
    def load(cls, path: Path | None = None, check: Path | None = DEFAULT_CHECK) -> DigitReader:
        """The reader whose weights are in ``path`` (default: the packaged model), checked by
        the model in ``check`` (default: the packaged MLP; None: unchecked)."""
        path = DEFAULT_MODEL if path is None else Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"digit model {path} is missing: run `python scripts/train_digits.py` to make it")
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files if k.startswith(("conv", "dense"))}
                meta = json.loads(str(npz["meta"]))
            return cls(arrays, meta["charset"], meta["height"], meta["width"],
                       meta["threshold"], meta["temperature"], meta,
                       None if check is None else _Mlp.load(Path(check)))
        except (KeyError, ValueError, OSError) as e:
            raise ValueError(f"{path} is not a digit model written by scripts/train_digits.py ({e})") from e

    def features(self, patches: Sequence[np.ndarray]) -> np.ndarray:
        """The model's input rows for ``patches``."""
        canvases = np.empty((len(patches), self.height, self.width), np.float32)
        aspects = np.empty(len(patches), np.float32)
        for i, patch in enumerate(patches):
            canvases[i], aspects[i] = normalise(patch, self.height, self.width)
        return features_of(canvases, aspects)

    def logits(self, features: np.ndarray) -> np.ndarray:
        """The model's raw outputs (before temperature and softmax) for rows of ``features``."""
        n = len(features)
        x = np.ascontiguousarray(features[:, :-1], np.float32).reshape(n, self.height, self.width, 1)
        for w, b in self._convs:
            x = _conv_relu_pool(x, w, b)
        x = np.concatenate([x.reshape(n, -1), features[:, -1:].astype(np.float32)], axis=1)
        (w0, b0), (w1, b1) = self._dense
        hidden = _product(x, w0) + b0
        return _product(np.maximum(hidden, 0.0, out=hidden), w1) + b1

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, one row per input, one column per output
        (the characters of ``charset``, then reject)."""
        z = self.logits(features) / self.temperature
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

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
        features = self.features(patches)
        p = self.probabilities(features)[:, :len(self.charset)]
        order = np.argsort(-p, axis=1)
        # The check's veto: where the checking model would pick another character, that one
        # is the runner-up at no margin, so the glyph is ambiguous (the read is null, naming
        # both). The score stays the CNN's, so ink the reader leaves out of the text still
        # counts as glyph-like. On the corpus the veto cost 0 of 284 right reads of the earlier
        # weights, 1 of 305 at 720p (1 of 327 of these); on Melee's timer it turns the
        # 5-read-as-6 reads null.
        check = self.check
        picks = check.best(features) if check is not None else None
        out = []
        for k, (row, (a, b)) in enumerate(zip(p, order[:, :2])):
            char = self.charset[a]
            # the MLP has no ',': it must take a comma for its nearest, a '.'
            checked = "." if char == "," else char
            if picks is not None and check is not None and checked in check.charset and picks[k] != checked:
                out.append(GlyphScore(char, float(row[a]), picks[k], 0.0))
                continue
            out.append(GlyphScore(char, float(row[a]), self.charset[b], float(row[a] - row[b])))
        return out
