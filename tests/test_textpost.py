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


@pytest.mark.parametrize(("text", "value"), [("1,200", 1200), ("1,234,567", 1234567), ("-1,000", -1000),
                                             ("1 2", 12), ("650", 650)])
def test_thousands_separators(text, value):
    assert _rules("int", (-10**9, 10**9)).apply(text)[0] == value


@pytest.mark.parametrize("text", ["2,5", "12,34", "1,2000"])
def test_a_comma_outside_thousands_groups_is_no_number(text):
    # "2.5" misread as "2,5" must not become 25
    with pytest.raises(Rejected, match="is not an integer"):
        _rules("int", (-10**9, 10**9)).apply(text)


@pytest.mark.parametrize(("text", "value"), [("41.1k", 41100), ("1.2M", 1_200_000), ("1,234", 1234), ("3.5", 3.5),
                                             ("12", 12), ("2 K", 2000)])
def test_number_cast_reads_counts_with_suffixes(text, value):
    got = _rules("number", (0, 10**10)).apply(text)[0]
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text", ["2,5k", "k", "41.1x", "1.2.3"])
def test_number_cast_refuses_what_is_no_count(text):
    with pytest.raises(Rejected, match="is not a number like 1,234 or 41.1k"):
        _rules("number", (0, 10**10)).apply(text)


def _table_distance(a: str, b: str) -> int:
    """The textbook edit-distance table, as the reference for the bit-parallel one."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def test_levenshtein_equals_the_table_on_random_and_vocabulary_words():
    import random

    from engine.vision.textpost import levenshtein
    rng = random.Random(7)
    # a small alphabet makes repeats and near-misses common; lengths cross 0 and 64 bits
    pairs = [("".join(rng.choice("AB1 -") for _ in range(rng.randint(0, 70))),
              "".join(rng.choice("AB1 -") for _ in range(rng.randint(0, 70)))) for _ in range(3000)]
    pairs += [("R301CARBINE", "R99"), ("ALTERNATOR", "ALTERNATCR"), ("", "P2020"), ("G7SCOUT", "G7 SCOUT")]
    for a, b in pairs:
        assert levenshtein(a, b) == _table_distance(a, b), (a, b)
