"""From read text to a value: what a null reason says when a value is refused (issue 14)."""
from __future__ import annotations

import re

import pytest

from engine.vision.textpost import Rejected, TextRules


def _rules(cast: str, rng: tuple[float, float]) -> TextRules:
    return TextRules(subs={}, regex=None, vocabulary=None, max_distance=0, cast=cast, range=rng)


@pytest.mark.parametrize(("cast", "text", "reason"), [
    ("mss", "7:50", "'7:50' read as 470 s is outside the range [0, 180]"),
    ("int", "1,250", "'1,250' read as 1250 is outside the range [0, 999]"),
    ("float", "3.5", "'3.5' read as 3.5 is outside the range [0, 1]"),
])
def test_a_refused_value_quotes_what_was_read(cast, text, reason):
    hi = {"mss": 180, "int": 999, "float": 1}[cast]
    with pytest.raises(Rejected, match=re.escape(reason)):
        _rules(cast, (0, hi)).apply(text)


def test_a_value_in_range_is_kept():
    assert _rules("mss", (0, 600)).apply("7:50")[0] == 470
