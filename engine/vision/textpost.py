"""From OCR text to a trusted value: substitutions, regex, vocabulary, cast and range.

Every stage either passes a value on or stops with a reason; a value that fails is
reported as null with that reason, never as a wrong number.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable


class Rejected(Exception):
    """The text could not be turned into a valid value; the message says why."""


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert, delete, substitute), by Hyyrö's bit-parallel form of Myers'
    algorithm: one column of the distance table is two bit vectors (Python ints), so a
    character of ``a`` costs a few integer operations instead of a loop over ``b``. Exact,
    and 3x faster than the table on vocabulary words (4.6 vs 13.8 us a pair): an Apex
    in-game frame matches its weapon reads against 51 words."""
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if m == 0:
        return len(a)
    peq: dict[str, int] = {}  # character -> the positions of b holding it
    for i, c in enumerate(b):
        peq[c] = peq.get(c, 0) | (1 << i)
    mask, last = (1 << m) - 1, 1 << (m - 1)
    pv, mv, score = mask, 0, m  # vertical +1 / -1 deltas of the column; its last cell
    for c in a:
        eq = peq.get(c, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | ~(xh | pv)
        mh = pv & xh
        if ph & last:
            score += 1
        elif mh & last:
            score -= 1
        ph = ((ph << 1) | 1) & mask
        mh = (mh << 1) & mask
        pv = mh | (~(xv | ph) & mask)
        mv = ph & xv
    return score


def _norm(s: str) -> str:
    return re.sub(r"[\s_\-.:'`]+", "", s).upper()


class Vocabulary:
    """Words normalised once at load time, so a lookup costs only the edit distances."""

    def __init__(self, words: list[str]):
        self.words = words
        self.keys = [_norm(w) for w in words]

    def closest(self, text: str, max_distance: int) -> tuple[str, int, str | None]:
        """The word nearest to ``text`` (case and spacing ignored), its distance, runner-up."""
        key = _norm(text)
        scored = []
        for i, (k, w) in enumerate(zip(self.keys, self.words)):
            # a word whose length differs by more than the allowance cannot be in range
            d = levenshtein(key, k) if abs(len(k) - len(key)) <= max_distance + 1 else max_distance + 1 + abs(len(k) - len(key))
            scored.append((d, i, w))
        scored.sort()
        best_d, _, best = scored[0]
        runner = scored[1][2] if len(scored) > 1 else None
        # At most one edit per three characters of the word: two edits make a short word out
        # of almost anything ("REE ~." is two edits from "RE-45"), a long one stays distinctive.
        allowed = min(max_distance, max(1, len(self.keys[scored[0][1]]) // 3))
        if best_d > allowed:
            raise Rejected(f"{text!r} is not within {allowed} edits of any vocabulary word (closest {best!r}, {best_d})")
        if len(scored) > 1 and scored[1][0] == best_d and _norm(scored[1][2]) != _norm(best):
            raise Rejected(f"{text!r} is as close to {best!r} as to {scored[1][2]!r}")
        return best, best_d, runner


def closest(text: str, vocabulary: list[str], max_distance: int) -> tuple[str, int, str | None]:
    return Vocabulary(vocabulary).closest(text, max_distance)


# Thousands separators: a comma only between groups of three digits, so "2.5" misread as "2,5"
# is no number rather than 25. (Spaces go anywhere: OCR puts them between digits.)
_GROUPED = re.compile(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?")


def _ungroup(s: str) -> str:
    t = re.sub(r"\s", "", s)
    return t.replace(",", "") if _GROUPED.fullmatch(t) else t


def _cast_int(s: str) -> int:
    digits = _ungroup(s)
    if not re.fullmatch(r"[-+]?\d+", digits):
        raise Rejected(f"{s!r} is not an integer")
    return int(digits)


def _cast_float(s: str) -> float:
    t = _ungroup(s)
    if not re.fullmatch(r"[-+]?\d+(\.\d+)?", t):
        raise Rejected(f"{s!r} is not a number")
    return float(t)


_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000}


def _cast_number(s: str) -> int | float:
    """A count as HUDs print it: ``41.1k`` -> 41100, ``1.2M`` -> 1200000, ``1,234`` -> 1234;
    whole results are ints."""
    m = re.fullmatch(r"(.*?)([kKmMbB]?)", re.sub(r"\s", "", s))
    assert m is not None  # the pattern matches any text
    try:
        value = _cast_float(m.group(1)) * _SUFFIX[m.group(2).lower()]
    except Rejected:
        raise Rejected(f"{s!r} is not a number like 1,234 or 41.1k") from None
    return int(round(value)) if abs(value - round(value)) < 1e-6 else value


def _cast_mss(s: str) -> float:
    """``m:ss`` or ``h:mm:ss`` (optionally ``.cc``) to seconds."""
    m = re.fullmatch(r"(?:(\d+):)?(\d{1,2}):(\d{2})(?:[.,](\d+))?", s.strip())
    if not m:
        raise Rejected(f"{s!r} is not a time like m:ss")
    h, mi, se, frac = m.groups()
    if int(se) >= 60 or (h is not None and int(mi) >= 60):
        raise Rejected(f"{s!r} has seconds or minutes of 60 or more")
    value = int(h or 0) * 3600 + int(mi) * 60 + int(se)
    return value + (float("0." + frac) if frac else 0.0)


CASTS: dict[str, Callable[[str], Any]] = {
    "str": lambda s: s,
    "int": _cast_int,
    "float": _cast_float,
    "number": _cast_number,
    "mss": _cast_mss,
    "time": _cast_mss,
}


@dataclass
class TextRules:
    subs: dict[str, str]
    regex: re.Pattern[str] | None
    vocabulary: list[str] | None
    max_distance: int
    cast: str
    range: tuple[float, float] | None
    upper: bool = False
    group: int | str | None = None
    format: str | None = None

    def __post_init__(self) -> None:
        self._vocab = Vocabulary(self.vocabulary) if self.vocabulary else None

    def apply(self, text: str) -> tuple[Any, dict[str, Any]]:
        """Return ``(value, details)``; raises :class:`Rejected` with a reason."""
        details: dict[str, Any] = {}
        s = " ".join(text.split())
        if self.upper:
            s = s.upper()
        for a, b in self.subs.items():
            s = s.replace(a, b)
        if self.regex is not None:
            m = self.regex.search(s)
            if not m:
                raise Rejected(f"{s!r} does not match /{self.regex.pattern}/")
            if self.format is not None:
                groups = [g or "" for g in (m.group(0), *m.groups())]
                s = self.format.format(*groups, **{k: v or "" for k, v in m.groupdict().items()})
            elif self.group is not None:
                s = m.group(self.group) or ""
            else:
                s = m.group(1) if m.groups() else m.group(0)
        if not s:
            raise Rejected("no text")
        if self._vocab is not None:
            s, d, runner = self._vocab.closest(s, self.max_distance)
            details["distance"] = d
            if runner is not None:
                details["runner_up"] = runner
        value = CASTS[self.cast](s)
        if self.range is not None and isinstance(value, (int, float)):
            lo, hi = self.range
            if not lo <= value <= hi:
                unit = " s" if self.cast in ("mss", "time") else ""
                raise Rejected(f"{s!r} read as {value:g}{unit} is outside the range [{lo:g}, {hi:g}]")
        return value, details
