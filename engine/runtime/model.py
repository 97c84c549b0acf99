"""The validated model of a game file: plain typed dataclasses, parsed from located YAML.

Every block of keys is declared once here (or by its step type or prep op): the loader's
checks, ``otrig schema`` and the key reference in docs/games.md all come from these
declarations (:mod:`engine.lang.schema`). Steps are written as a one-key mapping naming
their type (``ocr: {...}``), like MaaFramework's recognition nodes.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from engine.lang.schema import (Bounds, Choice, Duration, EntriesWith, ExactlyOne, Given, LowHigh, Name, NotBoth, Rule,
                                SchemaBuilder, needs, param, parse)
from engine.lang.yamlsrc import Located
from engine.steps import STEP_TYPES, Step
from engine.steps.template import TemplateStep
from engine.vision.prep import RANGES_EXAMPLE, RANGES_HELP, SPACE_HELP, ColorRangesRule
from engine.vision.regions import RegionSpec

RESERVED_PROCESSORS = frozenset({"errors", "explain", "otrig_conflicts"})
RESERVED_FIELDS = frozenset({"confidence", "null_reasons", "age"})

ProcessorName = Annotated[str, Name("processor", RESERVED_PROCESSORS, "the answer's own objects")]
FieldName = Annotated[str, Name("field", RESERVED_FIELDS, "the keys otrig adds to a processor's object")]
RegionName = Annotated[str, Name("region")]
#: A step written as a one-key mapping naming its type: ``{ocr: {region: clip}}``.
StepChoice = Annotated[Step, Choice("step type", STEP_TYPES, example="{ocr: {region: r}}")]

Size = Annotated[int, Bounds(lo=1, what="a width or height")]
Height = Annotated[float, Bounds(above=0, what="a height in reference pixels")]

_SMOOTHING = (Given("stable_for", above=1), Given("vote", above=1))


@dataclass(frozen=True, kw_only=True)
class FieldSpec:
    """One field of a processor's object: a step, plus optional smoothing."""

    rules: ClassVar[tuple[Rule, ...]] = (
        NotBoth(*_SMOOTHING),
        needs("within", *_SMOOTHING, message="within only matters with stable_for or vote"),
    )

    step: StepChoice = param(help="the step that reads the field, under its type's name", tagged=True)
    stable_for: int = param(1, help="report a value once N reads in a row agree; hold it until another value does",
                            lo=1, hi=1000)
    vote: int = param(1, help="the most common non-null value of the last N reads (ties: the most recent)", lo=1, hi=1000)
    within: Duration | None = param(None, above=0, help="stable_for/vote: reads farther apart in media time are not "
                                    "smoothed together, so a sparse stream is not answered with a stale value; "
                                    "default 3 x the processor's every, at least 1s")
    monotonic: Literal["up", "down"] | None = param(None, help="reject a read that goes the wrong way from the last "
                                                    "accepted value (a countdown timer), unless two reads in a row "
                                                    "agree on it (a reset)")
    when: str | None = param(None, help="read this field only when this expression is true, else null with the "
                             "reason; the processor's own name means its fields read so far this frame")
    emit: bool = param(True, help="false: read the field (relative boxes placed by it, `when`s) but leave it out of "
                                  "the answer")
    agree: list[StepChoice] = param(default_factory=list, help="other reads of the same thing (another prep, scale or "
                                    "step type): the value stands only when each of them reads the same value, else "
                                    "it is null with both reads in the reason (two ways of reading rarely make the "
                                    "same mistake; Tesseract misreads a name at 98% confidence); a list agrees "
                                    "element by element")


@dataclass(frozen=True, kw_only=True)
class ScreenSpec:
    """One screen of an exclusive group: it matches when all (or any) of its tests hit."""

    rules: ClassVar[tuple[Rule, ...]] = (ExactlyOne("all", "any", hint="each a list of steps"),)

    all: list[StepChoice] | None = param(None, help="every test must hit", nonempty="the list of tests is empty")
    any: list[StepChoice] | None = param(None, help="at least one test must hit", nonempty="the list of tests is empty")

    @property
    def mode(self) -> str:
        return "all" if self.all is not None else "any"

    @property
    def steps(self) -> list[Step]:
        return self.all if self.all is not None else self.any  # type: ignore[return-value]


_TEMPLATE_HELP = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(TemplateStep)}


@dataclass(frozen=True, kw_only=True)
class RowBand:
    """Rows are bands of colour across the region: runs of lines (pixel rows) with enough of
    their pixels in the colour ranges, as tall as a row."""

    rules: ClassVar[tuple[Rule, ...]] = (ColorRangesRule(), LowHigh("height"))

    space: Literal["bgr", "hsv"] = param("bgr", help=SPACE_HELP)
    ranges: list[Any] = param(help=RANGES_HELP, nonempty=f"expected a list of [low, high] colour pairs, e.g. {RANGES_EXAMPLE}")
    min: float = param(0.1, help="a line is part of a row when at least this share of its pixels, across the region, "
                                 "is in the ranges", lo=0, hi=1)
    height: tuple[Height, Height] = param(help="[low, high] height of a row in reference pixels; a band outside it "
                                               "is not a row (two rows run together, a stripe of scenery)")
    gap: float = param(2.0, help="lines below min inside a band, up to this many reference pixels, are bridged "
                                 "(text or an icon crossing the band)", lo=0, hi=100)


@dataclass(frozen=True, kw_only=True)
class RowTemplate:
    """Each match of these templates (a marker drawn on every row) is a row: the match's
    lines, across the region."""

    templates: str = param(help=_TEMPLATE_HELP["templates"])
    threshold: float = param(0.8, help=_TEMPLATE_HELP["threshold"], lo=-1, hi=1)
    grey: bool = param(True, help=_TEMPLATE_HELP["grey"])
    scale: float = param(1.0, help=_TEMPLATE_HELP["scale"], lo=0.05, hi=20)
    match_scale: float = param(1.0, help=_TEMPLATE_HELP["match_scale"], lo=0.1, hi=1)

    def marker(self, region: str, max_hits: int) -> TemplateStep:
        """The template step that finds the markers over the rows' region: every match, with
        this block's keys (each of them a TemplateStep key of the same name and meaning)."""
        keys = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return TemplateStep(region=region, all=True, max_hits=max_hits, **keys)


@dataclass(frozen=True, kw_only=True)
class RowsSpec:
    """Rows found on each frame (a killfeed, a results table). The processor reads its fields
    once per row, placing boxes relative to the row (`region: {from: row, ...}`); its object
    is {"rows": [{field: value, ...}, ...]}, top to bottom."""

    rules: ClassVar[tuple[Rule, ...]] = (NotBoth(Given("band"), Given("template")),)

    region: str = param(help="the region rows are looked for in (one box); without band or template, each of its "
                             "boxes (boxes, grid) is a row")
    band: RowBand | None = param(None, help="rows are bands of colour: {space, ranges, min, height, gap}")
    template: RowTemplate | None = param(None, help="each match of a marker template is a row: {templates, threshold, "
                                                    "grey, scale, match_scale}")
    max: int = param(8, help="read at most this many rows, the first ones from the top", lo=1, hi=64)
    present: list[StepChoice] = param(default_factory=list, help="tests run on each row before its fields, usually "
                                      "with region: {from: row, ...}; a row is read only when every test hits, so "
                                      "an empty row slot or scenery that looks like a row reads nothing")


@dataclass(frozen=True, kw_only=True)
class ProcessorSpec:
    """A processor: one top-level object in the answer, with fields or a screen group."""

    rules: ClassVar[tuple[Rule, ...]] = (
        ExactlyOne("fields", "screens"),
        needs("default", "screens", message="default applies only to a screen group (screens:)"),
        needs("rows", "fields", message="rows reads the processor's fields once per row: give fields, not screens"),
        EntriesWith(Given("rows"), "fields", FieldSpec,
                    names=frozenset({"row"}), name_message="'row' names the row being read in a processor with "
                                                           "rows; pick another field name",
                    keys=("stable_for", "vote", "monotonic", "within"),
                    key_message="{key} follows one value across frames; a processor with rows reads a new list "
                                "of rows each frame, whose rows move as new ones arrive"),
    )

    fields: dict[FieldName, FieldSpec] | None = param(None, help="the object's fields, each read by a step",
                                                      nonempty="no fields declared")
    screens: dict[str, ScreenSpec] | None = param(None, help="an exclusive screen group: the first screen that matches wins",
                                                  nonempty="no screens declared")
    default: str | None = param(None, help="screen name when no screen matches")
    rows: RowsSpec | None = param(None, help="read the fields once per row found on the frame (a killfeed, a results "
                                             "table): the object is {rows: [{field: value}, ...]}, top to bottom")
    every: Duration | None = param(None, above=0, help="run at most once per this much media time: 2s, 500ms (default: every frame)")
    offset: Duration = param(0.0, help="shift the cadence: with every: 2s, offset: 1s runs at 1, 3, 5 s")
    on_skip: Literal["omit", "repeat"] = param("omit", help="on frames it does not run: omit the object, or repeat the last one with its age")
    when: str | None = param(None, help='gate expression, e.g. screen == "in_game" and weapon.clip > 0')
    look_behind: Duration = param(0.0, help="keep the gate open this long after it was last true: 3s")
    confidence: bool = param(False, help="add a confidence object {field: 0..1}")
    emit: bool = param(True, help="false: compute for gates only, leave out of the answer")


@dataclass(frozen=True, kw_only=True)
class GameSpec:
    """A game file."""

    game: str = param(help="the game's name")
    version: str | int | float = param("", help="shown in /health")
    description: str = param("", help="free text")
    reference: tuple[Size, Size] = param((1920, 1080), help="[width, height] of the pixel space boxes are written in")
    viewport: tuple[int, int, Size, Size] | None = param(None, help="[x, y, w, h] of the game picture inside the 1920x1080 frame")
    assets: list[str] = param(default_factory=list, help="extra asset folders, relative to this file")
    budget_ms: float = param(2000.0, help="per-frame time budget: processors not started by then are skipped", lo=1)
    regions: dict[RegionName, RegionSpec] = param(default_factory=dict, help="named screen regions")
    processors: dict[ProcessorName, ProcessorSpec] = param(default_factory=dict, help="one top-level answer object each")


def parse_game(src: Located) -> GameSpec:
    return parse(GameSpec, src.data, (), src)


def game_schema() -> dict[str, Any]:
    """The JSON Schema of game files (``otrig schema``)."""
    return SchemaBuilder().document(GameSpec, "otrig game file")
