"""The frame every step sees: raw BGR, 1920x1080, as the OverTrack wire protocol fixes it.

Captures of any other size (720p, 1440p, 21:9) reach the engine resized to this; regions
are mapped onto it (engine.vision.regions).
"""
from __future__ import annotations

import math
from typing import Any

WIDTH = 1920
HEIGHT = 1080
IMAGE_BYTES = WIDTH * HEIGHT * 3  # 6,220,800

# The largest capture side taken from a frame's ``source.original_shape``: 8K is 7680x4320, a
# 32:9 monitor pair 7680x2160; anything beyond 16384 is a client bug, not a screen.
MAX_SOURCE_SIDE = 16384


def source_size(shape: Any) -> tuple[int, int] | None:
    """(width, height) of a capture from ``source.original_shape`` ([h, w, ...]), or None when
    it is not one: both sides must be whole numbers from 1 to MAX_SOURCE_SIDE (``1080.0`` is
    fine; ``0.5``, ``1e400``, ``true`` and strings are not)."""
    if not isinstance(shape, (list, tuple)) or len(shape) < 2:
        return None
    sides = []
    for v in shape[:2]:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        if isinstance(v, float) and (not math.isfinite(v) or not v.is_integer()):
            return None
        if not 1 <= v <= MAX_SOURCE_SIDE:
            return None
        sides.append(int(v))
    return sides[1], sides[0]
