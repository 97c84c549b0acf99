"""What every text-reading step shares: the rules that turn read text into a checked value.

`ocr` (Tesseract) and `glyphs` (glyph by glyph) read text differently and validate it the
same way, with the same YAML keys: this class declares them once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Literal

from engine.lang.schema import Given, NotBoth, Rule, needs, param
from engine.lang.yamlsrc import KeyPath
from engine.steps.base import CompileContext, Step
from engine.vision.textpost import TextRules


@dataclass(kw_only=True)
class TextStep(Step):
    """A step that reads text and turns it into a value (or null with a reason)."""

    rules: ClassVar[tuple[Rule, ...]] = (
        needs("group", "regex", message="group needs a regex"),
        needs("format", "regex", message="format needs a regex whose groups it joins"),
        NotBoth(Given("group"), Given("format")),
    )

    upper: bool = param(False, help="upper-case the text before matching")
    subs: dict[str, str] = param(default_factory=dict, help="replacements applied first, e.g. {O: \"0\", I: \"1\"}")
    regex: str | None = param(None, help="extract this pattern (group 1 if it has one, or `group`)")
    group: int | str | None = param(None, help="which regex group is the value: a number or a (?P<name>...) name")
    format: str | None = param(None, help='build the value from regex groups: "{1}:{2}.{3}" or "{mm}:{ss}" ({0} = whole match)')
    vocabulary: list[str] | None = param(None, help="the value must be one of these words (fuzzy matched)",
                                         nonempty="the vocabulary is empty")
    max_distance: int = param(2, help="edits allowed when matching the vocabulary (never more than one per three characters of the word)", lo=0, hi=20)
    cast: Literal["str", "int", "float", "mss", "time"] = param("str", help="type of the value; mss/time read m:ss[.cc] as seconds")
    range: tuple[float, float] | None = param(None, help="[low, high] allowed for numbers")

    def compile_rules(self, ctx: CompileContext, path: KeyPath) -> TextRules:
        """Build the rules, with the checks a declaration cannot make: the regex compiles, the
        group or format names groups it has, low <= high. (group/format need a regex, not both,
        a non-empty vocabulary: the declarations above refuse those first.)"""
        try:
            pattern = re.compile(self.regex) if self.regex else None
        except re.error as e:
            raise ctx.src.error(path + ("regex",), f"bad regular expression: {e}") from None
        if self.range is not None and self.range[0] > self.range[1]:
            raise ctx.src.error(path + ("range",), f"low {self.range[0]:g} is above high {self.range[1]:g}")
        if self.group is not None and pattern is not None:
            valid = (isinstance(self.group, int) and 0 <= self.group <= pattern.groups) or (
                isinstance(self.group, str) and self.group in pattern.groupindex)
            if not valid:
                raise ctx.src.error(path + ("group",), f"the regex has no group {self.group!r} "
                                                       f"(groups: {pattern.groups}, names: {sorted(pattern.groupindex) or 'none'})")
        if self.format is not None and pattern is not None:
            try:
                self.format.format(*["0"] * (pattern.groups + 1), **{k: "0" for k in pattern.groupindex})
            except (IndexError, KeyError, ValueError) as e:
                raise ctx.src.error(path + ("format",), f"format refers to a group the regex does not have: {e}") from None
        return TextRules(self.subs, pattern, self.vocabulary, self.max_distance, self.cast, self.range,
                         self.upper, self.group, self.format)
