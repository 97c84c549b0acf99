"""Matrix products for the hot path: a number is 1-6 glyphs, so every product is tiny.

OpenBLAS spreads even a 3x577 @ 577x384 product across cores; under load (a plugin server's
other threads, Tesseract, a second process) that product took 56-63 ms median instead of
0.13 ms single-threaded. numpy's einsum loop never threads and took 0.06 ms (both cores busy,
median of 300 calls). Every glyph classifier scores through this.
"""
from __future__ import annotations

import numpy as np


def small_product(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w`` for a few rows of ``x``, without BLAS threads."""
    return np.einsum("ij,jk->ik", x, w, optimize=False)
