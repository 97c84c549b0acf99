"""The validated model of a game file: plain typed dataclasses, parsed from located YAML.

Steps are written as a one-key mapping naming their type (``ocr: {...}``), like
MaaFramework's recognition nodes; the type's class holds the parameters.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from engine.vision.regions import RegionSpec
from engine.lang.schema import describe, object_schema, param, parse
from engine.steps import STEP_TYPES, Step
from engine.vision.prep import prep_schema
from engine.lang.yamlsrc import KeyPath, Located

RESERVED_PROCESSORS = {"errors", "explain", "otrig_conflicts"}
RESERVED_FIELDS = {"confidence", "null_reasons", "age"}
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_duration(value: Any) -> float | None:
    """``2``, ``2s``, ``500ms``, ``1.5 s``, ``1m`` -> seconds; None if not a duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value >= 0 else None
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*", value)
        if m:
            n = float(m.group(1))
            return {"ms": n / 1000, "s": n, None: n, "m": n * 60}[m.group(2)]
    return None


def parse_step(value: Any, path: KeyPath, src: Located) -> Step:
    types = ", ".join(STEP_TYPES)
    if not isinstance(value, dict):
        raise src.error(path, f"expected a step, a mapping with one of: {types}; got {describe(value)}")
    kinds = [k for k in value if k in STEP_TYPES]
    if len(kinds) != 1:
        raise src.error(path, f"expected exactly one step type key ({types}), got {', '.join(map(str, value)) or 'none'}")
    kind = kinds[0]
    return parse(STEP_TYPES[kind], value[kind], path + (kind,), src)


def step_schema() -> dict[str, Any]:
    options = []
    for kind, cls in STEP_TYPES.items():
        s = object_schema(cls)
        s["properties"]["prep"] = prep_schema()
        s["properties"]["region"] = {"anyOf": [{"type": "string"}, s["properties"]["region"]["anyOf"][1]],
                                     "description": "a region name, or {from, offset, size}"}
        options.append({"type": "object", "properties": {kind: s}, "required": [kind],
                        "description": cls.summary})
    return {"anyOf": options}


@dataclass(kw_only=True)
class FieldSpec:
    """One field of a processor's object: a step, plus optional temporal smoothing."""

    step: Step
    stable_for: int = 1
    vote: int = 1
    monotonic: str | None = None  # "up" or "down"
    when: str | None = None       # read this field only when true (the step is skipped otherwise)
    within: float | None = None   # seconds; reads farther apart are not smoothed together

    @classmethod
    def from_yaml(cls, value: Any, path: KeyPath, src: Located) -> "FieldSpec":
        if not isinstance(value, dict):
            raise src.error(path, f"expected a field: {{STEP: {{...}}, stable_for: N, vote: N}}, got {describe(value)}")
        extra = [k for k in value if k not in STEP_TYPES and k not in ("stable_for", "vote", "monotonic", "when", "within")]
        if extra:
            raise src.error(path + (extra[0],), f"unknown key; expected a step type ({', '.join(STEP_TYPES)}), "
                                                f"stable_for, vote, within, monotonic or when")
        step = parse_step({k: v for k, v in value.items() if k in STEP_TYPES}, path, src)
        out = cls(step=step)
        for key in ("stable_for", "vote"):
            if key in value:
                n = value[key]
                if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
                    raise src.error(path + (key,), f"expected an integer 1-1000, got {describe(n)}")
                setattr(out, key, n)
        if "when" in value:
            if not isinstance(value["when"], str):
                raise src.error(path + ("when",), f"expected an expression, got {describe(value['when'])}")
            out.when = value["when"]
        if "monotonic" in value:
            if value["monotonic"] not in ("up", "down"):
                raise src.error(path + ("monotonic",), f'expected "up" or "down", got {describe(value["monotonic"])}')
            out.monotonic = value["monotonic"]
        if out.stable_for > 1 and out.vote > 1:
            raise src.error(path, "use stable_for or vote, not both")
        if "within" in value:
            d = parse_duration(value["within"])
            if d is None or d <= 0:
                raise src.error(path + ("within",), f"expected a duration like 1s or 500ms, got {describe(value['within'])}")
            if out.stable_for == 1 and out.vote == 1:
                raise src.error(path + ("within",), "within only matters with stable_for or vote")
            out.within = d
        return out

    @classmethod
    def schema(cls) -> dict[str, Any]:
        s = step_schema()
        smooth = {"stable_for": {"type": "integer", "minimum": 1, "description": "report a value once N reads in a row agree"},
                  "vote": {"type": "integer", "minimum": 1, "description": "majority over the last N reads"},
                  "within": {"type": ["string", "number"], "description": "stable_for/vote: reads farther apart than this "
                             "(media time) are taken one by one, so a sparse stream is not answered with a stale value; "
                             "default 3 x the processor's every, at least 1s"},
                  "when": {"type": "string", "description": "read this field only when the expression is true; "
                           "the processor's own name means its fields read so far this frame"},
                  "monotonic": {"enum": ["up", "down"], "description": "reject a read that goes the wrong way "
                                "(a timer counting down), unless two reads in a row agree on it (a reset)"}}
        return {"allOf": [s], "properties": smooth, "description": "a step, with optional smoothing"}


@dataclass(kw_only=True)
class ScreenSpec:
    """One screen of an exclusive group: it matches when all (or any) of its tests hit."""

    all: list[Any] | None = param(None, help="every test must hit")
    any: list[Any] | None = param(None, help="at least one test must hit")

    @classmethod
    def from_yaml(cls, value: Any, path: KeyPath, src: Located) -> "ScreenSpec":
        out = parse(cls, value, path, src)
        if (out.all is None) == (out.any is None):
            raise src.error(path, "give exactly one of all or any, each a list of steps")
        key = "all" if out.all is not None else "any"
        items = getattr(out, key)
        if not items:
            raise src.error(path + (key,), "the list of tests is empty")
        setattr(out, key, [parse_step(v, path + (key, i), src) for i, v in enumerate(items)])
        return out

    @classmethod
    def schema(cls) -> dict[str, Any]:
        steps = {"type": "array", "items": step_schema(), "minItems": 1}
        return {"type": "object", "properties": {"all": steps, "any": steps}, "additionalProperties": False,
                "description": "a screen: all or any of these tests hit"}

    @property
    def mode(self) -> str:
        return "all" if self.all is not None else "any"

    @property
    def steps(self) -> list[Step]:
        return self.all if self.all is not None else self.any  # type: ignore[return-value]


@dataclass(kw_only=True)
class ProcessorSpec:
    """A processor: one top-level object in the answer, with fields or a screen group."""

    fields: dict[str, FieldSpec] | None = param(None, help="the object's fields, each read by a step")
    screens: dict[str, ScreenSpec] | None = param(None, help="an exclusive screen group: the first screen that matches wins")
    default: str | None = param(None, help="screen name when no screen matches")
    every: float | str | None = param(None, help="run at most once per this much media time: 2s, 500ms (default: every frame)")
    offset: float | str = param(0.0, help="shift the cadence: with every: 2s, offset: 1s runs at 1, 3, 5 s")
    on_skip: Literal["omit", "repeat"] = param("omit", help="on frames it does not run: omit the object, or repeat the last one with its age")
    when: str | None = param(None, help='gate expression, e.g. screen == "in_game" and weapon.clip > 0')
    look_behind: float | str = param(0.0, help="keep the gate open this long after it was last true: 3s")
    confidence: bool = param(False, help="add a confidence object {field: 0..1}")
    emit: bool = param(True, help="false: compute for gates only, leave out of the answer")

    def validate(self) -> tuple[Any, str] | None:
        if (self.fields is None) == (self.screens is None):
            return ("fields", "give exactly one of fields or screens")
        for key in ("every", "offset", "look_behind"):
            raw = getattr(self, key)
            if raw is None:
                continue
            d = parse_duration(raw)
            if d is None:
                return (key, f"expected a duration like 2s, 500ms or 1.5, got {describe(raw)}")
            if key == "every" and d <= 0:
                return (key, "expected a duration above zero")
            setattr(self, key, d)
        if self.fields is not None:
            for name in self.fields:
                if not NAME_RE.match(name) or name in RESERVED_FIELDS:
                    return (("fields", name), f"field name '{name}' must be an identifier and not one of {sorted(RESERVED_FIELDS)}")
            if not self.fields:
                return ("fields", "no fields declared")
        if self.screens is not None and not self.screens:
            return ("screens", "no screens declared")
        if self.default is not None and self.screens is None:
            return ("default", "default applies only to a screen group (screens:)")
        return None


@dataclass(kw_only=True)
class GameSpec:
    """A game file."""

    game: str = param(help="the game's name")
    version: str | int | float = param("", help="shown in /health")
    description: str = param("", help="free text")
    reference: tuple[int, int] = param((1920, 1080), help="[width, height] of the pixel space boxes are written in")
    viewport: tuple[int, int, int, int] | None = param(None, help="[x, y, w, h] of the game picture inside the 1920x1080 frame")
    assets: list[str] = param(default_factory=list, help="extra asset folders, relative to this file")
    budget_ms: float = param(2000.0, help="per-frame time budget: processors not started by then are skipped", lo=1)
    regions: dict[str, RegionSpec] = param(default_factory=dict, help="named screen regions")
    processors: dict[str, ProcessorSpec] = param(default_factory=dict, help="one top-level answer object each")

    def validate(self) -> tuple[Any, str] | None:
        if self.reference[0] <= 0 or self.reference[1] <= 0:
            return ("reference", "width and height must be positive")
        if self.viewport is not None and (self.viewport[2] <= 0 or self.viewport[3] <= 0):
            return ("viewport", "width and height must be positive")
        for name in self.processors:
            if not NAME_RE.match(name):
                return (("processors", name), f"processor name '{name}' must be an identifier (letters, digits, _)")
            if name in RESERVED_PROCESSORS:
                return (("processors", name), f"'{name}' is reserved for the answer's own objects; pick another name")
        for name in self.regions:
            if not NAME_RE.match(name):
                return (("regions", name), f"region name '{name}' must be an identifier (letters, digits, _)")
        return None


def parse_game(src: Located) -> GameSpec:
    return parse(GameSpec, src.data, (), src)


def game_schema() -> dict[str, Any]:
    from engine.lang.schema import json_schema
    s = json_schema(GameSpec)
    s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    s["title"] = "otrig game file"
    return s
