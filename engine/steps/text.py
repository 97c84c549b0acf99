"""What every text-reading step shares: the rules that turn read text into a checked value,
and text at its true aspect.

`ocr` (Tesseract) and `glyphs` (glyph by glyph) read text differently and validate it the
same way, with the same YAML keys: :class:`TextStep` declares them once, and
:class:`CompiledText` holds the compiled rules.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeVar

from engine.lang.schema import Given, LowHigh, NotBoth, Rule, needs, param
from engine.lang.yamlsrc import KeyPath
from engine.steps.base import CompiledStep, CompileContext, FrameContext, Step
from engine.vision.frame import HEIGHT, WIDTH
from engine.vision.regions import Geometry
from engine.vision.textpost import TextRules


@dataclass(frozen=True, kw_only=True)
class TextStep(Step):
    """A step that reads text and turns it into a value (or null with a reason)."""

    rules: ClassVar[tuple[Rule, ...]] = (
        needs("group", "regex", message="group needs a regex"),
        needs("format", "regex", message="format needs a regex whose groups it joins"),
        NotBoth(Given("group"), Given("format")),
        LowHigh("range"),
    )

    upper: bool = param(False, help="upper-case the text before matching")
    subs: dict[str, str] = param(default_factory=dict, help="replacements applied first, e.g. {O: \"0\", I: \"1\"}")
    regex: str | None = param(None, help="extract this pattern (group 1 if it has one, or `group`)")
    group: int | str | None = param(None, help="which regex group is the value: a number or a (?P<name>...) name")
    format: str | None = param(None, help='build the value from regex groups: "{1}:{2}.{3}" or "{mm}:{ss}" ({0} = whole match)')
    vocabulary: list[str] | None = param(None, help="the value must be one of these words (fuzzy matched)",
                                         nonempty="the vocabulary is empty")
    max_distance: int = param(2, help="edits allowed when matching the vocabulary (never more than one per three characters of the word)", lo=0, hi=20)
    cast: Literal["str", "int", "float", "number", "mss", "time"] = param(
        "str", help="type of the value; number reads counts with a k/m/b suffix and thousands commas (41.1k: "
                    "41100); mss/time read m:ss[.cc] as seconds")
    range: tuple[float, float] | None = param(None, help="[low, high] allowed for numbers")

    def compile_rules(self, ctx: CompileContext, path: KeyPath) -> TextRules:
        """Build the rules, with the checks a declaration cannot make: the regex compiles, the
        group or format names groups it has. (group/format need a regex, not both, a non-empty
        vocabulary, low <= high: the declarations above refuse those first.)"""
        try:
            pattern = re.compile(self.regex) if self.regex else None
        except re.error as e:
            raise ctx.src.error(path + ("regex",), f"bad regular expression: {e}") from None
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


T = TypeVar("T", bound=TextStep)

# OverTrack resizes every capture to 1920x1080, so a 21:9 or 16:10 one arrives squeezed or
# stretched, and its text is narrower or wider than the font it was drawn in. The apex
# hud_21_9_pathfinder frame (2560x1080) arrives at 0.75x its width: its clip 3 scored 0.65
# against the font there, and Tesseract read the name's speaker icon as a joined "4".
# Text steps read each crop widened back to the capture's own pixels. The squeeze is taken
# from the capture's shape, not from the viewport's mapping (fc.scale): a viewport's aspect
# is the stream layout's or the game's own (Melee's 584x480 picture shown at 4:3), and
# correcting that too cost Melee's smuckers clip 46 of its 290 right damage reads.
# Below 3% the glyphs barely change (a 1366x768 capture is 0.05% off 16:9).
_ASPECT_TOLERANCE = 0.03


def capture_widening(geo: Geometry) -> float:
    """How much wider the capture drew what the 1920x1080 frame shows: 4/3 for a 2560x1080
    capture squeezed into the frame, 1 for any 16:9 one (within 3%)."""
    widen = (geo.source_w / WIDTH) / (geo.source_h / HEIGHT)
    return widen if abs(widen - 1) > _ASPECT_TOLERANCE else 1.0


@dataclass(frozen=True, eq=False, kw_only=True)
class CompiledText(CompiledStep[T]):
    """A text step ready for frames: the compiled validation rules, and crops read at the
    capture's own aspect (:func:`capture_widening`)."""

    rules: TextRules

    def widen(self, fc: FrameContext) -> float:
        return capture_widening(fc.geo)
