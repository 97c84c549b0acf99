"""Timestamp strings as OverTrack writes them in a frame.

``timestamp_str`` is ``YYYY/MM/DD HH:MM:SS.cc`` in UTC and ``relative_timestamp_str`` is
``HH:MM:SS.cc``. Both round the *whole* time to centiseconds first and only then split it
into fields, so 29.996 s prints ``00:00:30.00`` (not ``00:00:29.00`` or ``29.100``) and the
carry reaches minutes, hours and days.

Rounding is to the nearest centisecond of the exact value of the float (``Decimal(x)``),
halves away from zero: no ``x * 100`` step that could tip a value over a boundary.
"""
from __future__ import annotations

import datetime as _dt
import math
from decimal import ROUND_HALF_UP, Decimal

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_CENTI = Decimal("0.01")


def centiseconds(seconds: float) -> int:
    """``seconds`` rounded to the nearest whole centisecond (halves away from zero)."""
    if isinstance(seconds, bool) or not math.isfinite(seconds):
        raise ValueError(f"not a finite number of seconds: {seconds!r}")
    return int(Decimal(seconds).quantize(_CENTI, rounding=ROUND_HALF_UP) * 100)


def format_relative(seconds: float) -> str:
    """``HH:MM:SS.cc``; hours keep counting past 24 (``25:00:00.00``); negative gets a ``-``."""
    cs = centiseconds(seconds)
    sign = "-" if cs < 0 else ""
    cs = abs(cs)
    s, c = divmod(cs, 100)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{sign}{h:02d}:{m:02d}:{s:02d}.{c:02d}"


def format_timestamp(timestamp: float) -> str:
    """``YYYY/MM/DD HH:MM:SS.cc`` in UTC for a Unix timestamp in seconds."""
    cs = centiseconds(timestamp)
    s, c = divmod(cs, 100)  # floor division: correct for times before 1970 too
    t = _EPOCH + _dt.timedelta(seconds=s)
    return f"{t:%Y/%m/%d %H:%M:%S}.{c:02d}"
