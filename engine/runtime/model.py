"""The validated model of a game file: plain typed dataclasses, parsed from located YAML.

Every block of keys is declared once here (or by its step type or prep op): the loader's
checks, ``otrig schema`` and the key reference in docs/games.md all come from these
declarations (:mod:`engine.lang.schema`). Steps are written as a one-key mapping naming
their type (``ocr: {...}``), like MaaFramework's recognition nodes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from engine.lang.schema import (Bounds, Choice, Duration, ExactlyOne, Given, Name, NotBoth, Rule, SchemaBuilder,
                                needs, param, parse)
from engine.lang.yamlsrc import Located
from engine.steps import STEP_TYPES, Step
from engine.vision.regions import RegionSpec

RESERVED_PROCESSORS = frozenset({"errors", "explain", "otrig_conflicts"})
RESERVED_FIELDS = frozenset({"confidence", "null_reasons", "age"})

ProcessorName = Annotated[str, Name("processor", RESERVED_PROCESSORS, "the answer's own objects")]
FieldName = Annotated[str, Name("field", RESERVED_FIELDS, "the keys otrig adds to a processor's object")]
RegionName = Annotated[str, Name("region")]
#: A step written as a one-key mapping naming its type: ``{ocr: {region: clip}}``.
StepChoice = Annotated[Step, Choice("step type", STEP_TYPES, example="{ocr: {region: r}}")]

Size = Annotated[int, Bounds(lo=1, what="a width or height")]

_SMOOTHING = (Given("stable_for", above=1), Given("vote", above=1))


@dataclass(kw_only=True)
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


@dataclass(kw_only=True)
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


@dataclass(kw_only=True)
class ProcessorSpec:
    """A processor: one top-level object in the answer, with fields or a screen group."""

    rules: ClassVar[tuple[Rule, ...]] = (
        ExactlyOne("fields", "screens"),
        needs("default", "screens", message="default applies only to a screen group (screens:)"),
    )

    fields: dict[FieldName, FieldSpec] | None = param(None, help="the object's fields, each read by a step",
                                                      nonempty="no fields declared")
    screens: dict[str, ScreenSpec] | None = param(None, help="an exclusive screen group: the first screen that matches wins",
                                                  nonempty="no screens declared")
    default: str | None = param(None, help="screen name when no screen matches")
    every: Duration | None = param(None, above=0, help="run at most once per this much media time: 2s, 500ms (default: every frame)")
    offset: Duration = param(0.0, help="shift the cadence: with every: 2s, offset: 1s runs at 1, 3, 5 s")
    on_skip: Literal["omit", "repeat"] = param("omit", help="on frames it does not run: omit the object, or repeat the last one with its age")
    when: str | None = param(None, help='gate expression, e.g. screen == "in_game" and weapon.clip > 0')
    look_behind: Duration = param(0.0, help="keep the gate open this long after it was last true: 3s")
    confidence: bool = param(False, help="add a confidence object {field: 0..1}")
    emit: bool = param(True, help="false: compute for gates only, leave out of the answer")


@dataclass(kw_only=True)
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
