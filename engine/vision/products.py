"""Matrix products for the hot path: a number is 1-6 glyphs, so every product is small.

OpenBLAS spreads a product across cores once M x N x K passes its threshold (65536 x 4);
under load (a plugin server's other threads, Tesseract, a second process) a threaded
3x577 @ 577x384 product took 56-63 ms median instead of 0.13 ms single-threaded. numpy's
einsum loop never threads, but is slow on the CNN digit reader's convolutions: 1.64 ms for
the second one of 20 patches (2000x144 @ 144x32) against 0.26 ms for BLAS in pieces each
under the threshold, which stayed 0.26 ms median (p90 0.27) with both cores busy with other
processes. So every product is cut into pieces small enough that BLAS runs each on the
calling thread.
"""
from __future__ import annotations

import numpy as np

# M x N x K per BLAS call: under OpenBLAS's threading threshold (65536 x 4), with a margin.
PIECE = 200_000


def small_product(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w`` in pieces that BLAS runs single-threaded."""
    m, k = x.shape
    n = w.shape[1]
    if m * n * k <= PIECE:
        return np.asarray(x @ w)
    out = np.empty((m, n), np.result_type(x, w))
    cols = n if k * n <= PIECE else max(1, PIECE // k)
    rows = max(1, PIECE // (k * cols))
    for j in range(0, n, cols):
        part = w[:, j:j + cols]
        for i in range(0, m, rows):
            out[i:i + rows, j:j + cols] = x[i:i + rows] @ part
    return out
