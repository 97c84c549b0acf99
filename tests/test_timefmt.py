"""Timestamp strings: rounded as a whole before splitting into fields."""
from __future__ import annotations

import calendar

import pytest

from engine.media.timefmt import centiseconds, format_relative, format_timestamp


@pytest.mark.parametrize("seconds, text", [
    (0.0, "00:00:00.00"),
    (29.994, "00:00:29.99"),
    (29.996, "00:00:30.00"),
    (29.999, "00:00:30.00"),
    (29.995, "00:00:30.00"),        # 29.995 is stored as 29.99500000000000099...: rounds up
    (59.999, "00:01:00.00"),
    (3599.996, "01:00:00.00"),
    (86399.997, "24:00:00.00"),     # hours keep counting, no day roll-over
    (90061.5, "25:01:01.50"),
    (0.125, "00:00:00.13"),         # an exact half rounds away from zero
    (1.005, "00:00:01.00"),         # 1.005 is really 1.00499999999999989...: rounds down
])
def test_relative(seconds, text):
    assert format_relative(seconds) == text


@pytest.mark.parametrize("when, frac, text", [
    ((2019, 5, 3, 3, 52, 29), 0.3732016, "2019/05/03 03:52:29.37"),
    ((2019, 5, 3, 3, 52, 29), 0.996, "2019/05/03 03:52:30.00"),
    ((2019, 5, 3, 3, 59, 59), 0.999, "2019/05/03 04:00:00.00"),
    ((2019, 12, 31, 23, 59, 59), 0.997, "2020/01/01 00:00:00.00"),   # carries into the year
    ((2019, 12, 31, 23, 59, 59), 0.994, "2019/12/31 23:59:59.99"),
])
def test_timestamp_utc(when, frac, text):
    ts = calendar.timegm(when) + frac
    assert format_timestamp(ts) == text


def test_before_epoch():
    assert format_timestamp(-0.004) == "1970/01/01 00:00:00.00"
    assert format_timestamp(-0.5) == "1969/12/31 23:59:59.50"


def test_centiseconds_rejects_nonsense():
    assert centiseconds(2.5) == 250
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            centiseconds(bad)
