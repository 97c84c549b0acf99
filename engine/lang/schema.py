"""Typed parameters: one declaration gives a game file's keys, their checks, the JSON Schema
editors use, and the generated key reference (docs/gen_reference.py).

A block of keys is a dataclass whose fields carry type hints and, through :func:`param`, a
help text and bounds. Inside a type, ``Annotated`` adds what a plain hint cannot say:

* :class:`Bounds`: ``Annotated[float, Bounds(lo=0, hi=255)]``, a number in a list or tuple;
* :class:`Name`: ``dict[Annotated[str, Name("region")], RegionSpec]``, keys that name things;
* :class:`Choice`: a value whose one key names its class, a step ``{ocr: {...}}`` or a prep
  op ``{scale: 2}`` (an op without argument is written as its bare name, ``grey``);
* :class:`ValueType`: a scalar with its own syntax (:data:`Duration`);
* :class:`AsWritten`: checked like another type, kept as written for the code that compiles it.

Constraints across keys of one mapping are :class:`Rule` objects in the class's ``rules``.
:func:`parse` turns located YAML data into instances or a located error; :class:`SchemaBuilder`
turns the same declarations into JSON Schema, so an editor refuses what the loader refuses.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Union

from engine.lang.errors import GameFileError, GameFileErrors, Problems
from engine.lang.yamlsrc import KeyPath, Located

MISSING = dataclasses.MISSING
NAME_PATTERN = "[A-Za-z_][A-Za-z0-9_]*"


# --- declarations --------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Bounds:
    """Limits of a number (``lo``/``hi`` inclusive, ``above`` exclusive) or, with ``nonempty``,
    the message for an empty list or mapping. ``what`` names the quantity in errors."""

    lo: float | None = None
    hi: float | None = None
    above: float | None = None
    what: str | None = None
    nonempty: str | None = None

    def fits(self, v: float) -> bool:
        return ((self.lo is None or v >= self.lo) and (self.hi is None or v <= self.hi)
                and (self.above is None or v > self.above))

    def numeric_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.lo is not None:
            out["minimum"] = self.lo
        if self.hi is not None:
            out["maximum"] = self.hi
        if self.above is not None:
            out["exclusiveMinimum"] = self.above
        if self.what:
            out["description"] = self.what
        return out


def param(default: Any = MISSING, *, help: str = "", lo: float | None = None, hi: float | None = None,
          above: float | None = None, what: str | None = None, nonempty: str | None = None,
          default_factory: Any = MISSING, yaml_name: str | None = None, tagged: bool = False) -> Any:
    """A dataclass field with the documentation and bounds that checks, schema and docs use.

    ``tagged``: the field's type is a :class:`Choice` whose names are written among this
    mapping's own keys (a field is ``{ocr: {...}, stable_for: 3}``).
    """
    bounds = None
    if any(v is not None for v in (lo, hi, above, what, nonempty)):
        bounds = Bounds(lo=lo, hi=hi, above=above, what=what, nonempty=nonempty)
    meta = {"help": help, "bounds": bounds, "yaml": yaml_name, "tagged": tagged}
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class Name:
    """The keys of a mapping name things (regions, processors, fields): identifiers that the
    expressions in ``when:`` can refer to, and not words the answer uses itself."""

    what: str
    reserved: frozenset[str] = frozenset()
    reserved_for: str = ""

    def problem(self, key: Any) -> str | None:
        if not isinstance(key, str) or not re.fullmatch(NAME_PATTERN, key):
            return f"{self.what} name '{key}' must be an identifier (letters, digits, _)"
        if key in self.reserved:
            return f"'{key}' is reserved for {self.reserved_for}; pick another name"
        return None

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pattern": f"^{NAME_PATTERN}$"}
        if self.reserved:
            out["not"] = {"enum": sorted(self.reserved)}
        return out


@dataclass(frozen=True)
class AsWritten:
    """Checked against ``tp`` while the file is parsed, kept as written: the code that
    compiles it (``compile_prep``) reads the raw value and checks it the same way."""

    tp: Any


class ValueType(ABC):
    """A scalar with a syntax of its own, described to editors by a pattern."""

    kinds: ClassVar[frozenset[str]]

    @abstractmethod
    def convert(self, value: Any, bounds: Bounds | None) -> Any:
        """The value, or ValueError whose text says what was expected ("a duration like 2s")."""

    @abstractmethod
    def schema(self, bounds: Bounds | None) -> dict[str, Any]: ...

    @abstractmethod
    def doc_text(self, bounds: Bounds | None) -> str: ...


DURATION_RE = r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m)?\s*"


def parse_duration(value: Any) -> float | None:
    """``2``, ``2s``, ``500ms``, ``1.5 s``, ``1m`` -> seconds; None if not a duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value >= 0 else None
    if isinstance(value, str):
        m = re.fullmatch(DURATION_RE, value)
        if m:
            n = float(m.group(1))
            return {"ms": n / 1000, "s": n, None: n, "m": n * 60}[m.group(2)]
    return None


class DurationType(ValueType):
    """Media time: seconds as a number, or a string with a unit (ms, s, m)."""

    kinds = frozenset({"num", "str"})

    def convert(self, value: Any, bounds: Bounds | None) -> float:
        d = parse_duration(value)
        if d is None:
            raise ValueError("a duration like 2s, 500ms or 1.5")
        if bounds is not None and not bounds.fits(d):
            raise ValueError(f"a duration {_bounds_words(bounds)}")
        return d

    def schema(self, bounds: Bounds | None) -> dict[str, Any]:
        number: dict[str, Any] = {"minimum": 0}
        pattern = DURATION_RE
        if bounds is not None:
            if (bounds.lo, bounds.hi, bounds.above) not in ((None, None, 0), (None, None, None)):
                raise TypeError("a duration's schema can only say 'above zero'")
            if bounds.above == 0:
                number = {"exclusiveMinimum": 0}
                pattern = "(?=[^1-9]*[1-9])" + pattern  # some digit that is not 0
        # if/then rather than anyOf: a validator's error then says what is wrong with the value
        return {"type": ["number", "string"], "if": {"type": "number"}, "then": number,
                "else": {"pattern": f"^{pattern}$"}}

    def doc_text(self, bounds: Bounds | None) -> str:
        return "duration" + (f" {_bounds_words(bounds)}" if bounds is not None else "")


DURATION = DurationType()
#: Seconds of media time, written ``2``, ``2s``, ``500ms`` or ``1m``; parsed to a float.
Duration = Annotated[float, DURATION]


@dataclass(frozen=True, eq=False)
class Choice:
    """A value whose one key names its class: ``{ocr: {...}}`` or ``{scale: 2}``.

    A class without fields (a plain op) is written as its bare name. A class whose
    ``argument`` names its one field takes that field's value directly (``{scale: 2}``);
    any other class takes a mapping of its keys (``{ocr: {region: r}}``).
    """

    what: str                       # "step type", "op"
    types: Mapping[str, type]
    example: str                    # shown when the shape is wrong: "{scale: 2}"

    def names(self) -> str:
        return ", ".join(self.types)

    def a_what(self) -> str:
        return ("an " if self.what[0] in "aeiou" else "a ") + self.what

    def expected(self) -> str:
        if any(form(c) == "plain" for c in self.types.values()):
            return f"{self.a_what()} name or a one-key mapping like {self.example}"
        return f"a one-key mapping naming the {self.what}, like {self.example} ({self.names()})"

    def unknown(self, name: Any) -> str:
        return f"unknown {self.what} {name!r}; expected one of: {', '.join(sorted(self.types))}"

    def convert(self, value: Any, path: KeyPath, src: Located) -> Any:
        if isinstance(value, str):
            cls = self.types.get(value)
            if cls is None:
                raise src.error(path, self.unknown(value))
            if form(cls) != "plain":
                needs = "an argument" if form(cls) == "argument" else "its keys"
                raise src.error(path, f"'{value}' needs {needs}: {{{value}: ...}} ({doc_of(cls)})")
            return cls()
        if not isinstance(value, dict):
            raise src.error(path, f"expected {self.expected()}, got {describe(value)}")
        if len(value) != 1:
            raise src.error(path, f"expected exactly one {self.what} key ({self.names()}), "
                                  f"got {', '.join(map(str, value)) or 'none'}")
        (name, arg), = value.items()
        return self.convert_named(name, arg, path + (name,), src)

    def convert_named(self, name: Any, arg: Any, path: KeyPath, src: Located) -> Any:
        cls = self.types.get(name)
        if cls is None:
            raise src.error(path, self.unknown(name))
        kind = form(cls)
        if kind == "plain":
            raise src.error(path, f"'{name}' takes no argument; write it as a plain list item")
        if kind == "argument":
            f, hint = argument_field(cls)
            return _construct(cls, {f.name: convert(hint, arg, path, src, bounds_of(f))}, path, src)
        return parse(cls, arg, path, src)


class Rule(ABC):
    """A constraint across the keys of one mapping: the loader checks it on the parsed
    object, and the same object writes it into the JSON Schema and the docs."""

    @abstractmethod
    def check(self, obj: Any) -> tuple[KeyPath, str] | None:
        """None, or the key path (inside the mapping) and message of the problem."""

    @abstractmethod
    def schema(self, build: SchemaBuilder) -> dict[str, Any]:
        """The rule as JSON Schema, or {} where JSON Schema cannot say it (:class:`LowHigh`)."""

    @abstractmethod
    def text(self) -> str:
        """One markdown sentence for the key reference."""


@dataclass(frozen=True)
class Given:
    """A key is written, not null, and (with ``above``) a number above that."""

    key: str
    above: float | None = None

    def holds(self, obj: Any) -> bool:
        v = value_of(obj, self.key)
        return v is not None and (self.above is None or v > self.above)

    def schema(self) -> dict[str, Any]:
        inner: dict[str, Any] = {"not": {"type": "null"}}
        if self.above is not None:
            inner["exclusiveMinimum"] = self.above
        return {"required": [self.key], "properties": {self.key: inner}}

    def text(self) -> str:
        return f"`{self.key}`" + (f" above {self.above:g}" if self.above is not None else "")


def _given(k: str | Given) -> Given:
    return k if isinstance(k, Given) else Given(k)


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


@dataclass(frozen=True, init=False)
class ExactlyOne(Rule):
    """Exactly one of these keys is given: ``box``, ``boxes`` or ``grid``."""

    keys: tuple[str, ...]
    hint: str

    def __init__(self, *keys: str, hint: str = "") -> None:
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "hint", hint)

    def check(self, obj: Any) -> tuple[KeyPath, str] | None:
        given = [k for k in self.keys if Given(k).holds(obj)]
        if len(given) == 1:
            return None
        message = f"give exactly one of {_or(list(self.keys))}" + (f", {self.hint}" if self.hint else "")
        if given:
            return (given[1],), f"{message} (got {', '.join(given)})"
        return (), message

    def schema(self, build: SchemaBuilder) -> dict[str, Any]:
        return {"oneOf": [Given(k).schema() for k in self.keys]}

    def text(self) -> str:
        return f"Give exactly one of {_or([f'`{k}`' for k in self.keys])}."


@dataclass(frozen=True)
class NotBoth(Rule):
    """Not both of two keys: ``use stable_for or vote, not both``."""

    first: Given
    second: Given

    def check(self, obj: Any) -> tuple[KeyPath, str] | None:
        if self.first.holds(obj) and self.second.holds(obj):
            return (self.second.key,), f"use {self.first.key} or {self.second.key}, not both"
        return None

    def schema(self, build: SchemaBuilder) -> dict[str, Any]:
        return {"not": {"allOf": [self.first.schema(), self.second.schema()]}}

    def text(self) -> str:
        return f"Use {self.first.text()} or {self.second.text()}, not both."


@dataclass(frozen=True)
class Needs(Rule):
    """A key only makes sense with one of some others: ``group`` needs ``regex``."""

    key: Given
    any_of: tuple[Given, ...]
    message: str

    def check(self, obj: Any) -> tuple[KeyPath, str] | None:
        if self.key.holds(obj) and not any(g.holds(obj) for g in self.any_of):
            return (self.key.key,), self.message
        return None

    def schema(self, build: SchemaBuilder) -> dict[str, Any]:
        return {"if": self.key.schema(), "then": {"anyOf": [g.schema() for g in self.any_of]}}

    def text(self) -> str:
        return f"{self.key.text()} needs {_or([g.text() for g in self.any_of])}."


def needs(key: str | Given, *any_of: str | Given, message: str) -> Needs:
    return Needs(_given(key), tuple(_given(k) for k in any_of), message)


def low_above_high(low: Any, high: Any) -> str | None:
    """What is wrong with a [low, high] pair whose low is above its high (two numbers, or two
    colours compared channel by channel), or None."""
    if isinstance(low, (int, float)):
        return f"low {low:g} is above high {high:g}" if low > high else None
    if any(a > b for a, b in zip(low, high)):
        return f"low {low} is above high {high} in some channel"
    return None


@dataclass(frozen=True)
class LowHigh(Rule):
    """A [low, high] pair (``range: [0, 999]``, ``height: [20, 40]``): low is not above high.

    The loader's rule alone: JSON Schema cannot compare two values of one document, so the
    schema describes the pair's shape and bounds, and an editor accepts [40, 30] that
    ``otrig check`` refuses. Colour ranges make the same check through
    :func:`low_above_high` inside their own rule (``engine.vision.prep.ColorRangesRule``).
    """

    key: str

    def check(self, obj: Any) -> tuple[KeyPath, str] | None:
        pair = value_of(obj, self.key)
        problem = None if pair is None else low_above_high(pair[0], pair[1])
        return None if problem is None else ((self.key,), problem)

    def schema(self, build: SchemaBuilder) -> dict[str, Any]:
        return {}  # not expressible: see the class's docstring

    def text(self) -> str:
        return f"In `{self.key}`, low is not above high."


@dataclass(frozen=True)
class EntriesWith(Rule):
    """With ``given`` written, the entries of the mapping ``entries`` do not take the names
    ``names`` and leave ``keys`` at their defaults: a processor with ``rows`` reads its fields
    anew on each row, so no field is called ``row`` and none is smoothed across frames."""

    given: Given
    entries: str
    entry_type: type                    # the entries' dataclass: its defaults are "not set"
    names: frozenset[str]
    name_message: str
    keys: tuple[str, ...]
    key_message: str                    # formatted with {key}

    def _defaults(self) -> dict[str, Any]:
        return {k: f.default for k, f, _ in fields_of(self.entry_type) if k in self.keys}

    def check(self, obj: Any) -> tuple[KeyPath, str] | None:
        if not self.given.holds(obj):
            return None
        defaults = self._defaults()
        for name, entry in (value_of(obj, self.entries) or {}).items():
            if name in self.names:
                return (self.entries, name), self.name_message
            for key in self.keys:
                if value_of(entry, key) != defaults[key]:
                    return (self.entries, name, key), self.key_message.format(key=key)
        return None

    def schema(self, build: SchemaBuilder) -> dict[str, Any]:
        entry = {"properties": {k: {"const": v} for k, v in self._defaults().items()}}
        entries = {"propertyNames": {"not": {"enum": sorted(self.names)}}, "additionalProperties": entry}
        return {"if": self.given.schema(), "then": {"properties": {self.entries: entries}}}

    def text(self) -> str:
        names = _or([f"`{n}`" for n in sorted(self.names)])
        keys = _or([f"`{k}`" for k in self.keys])
        return f"With {self.given.text()}, no entry of `{self.entries}` is named {names} or sets {keys}."


# --- reading declarations ------------------------------------------------------------------

def yaml_key(f: dataclasses.Field) -> str:
    return f.metadata.get("yaml") or f.name


def bounds_of(f: dataclasses.Field | None) -> Bounds | None:
    return f.metadata.get("bounds") if f is not None else None


def unwrap(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    """``Annotated[T, x, y]`` -> ``(T, (x, y))``; any other type -> ``(tp, ())``."""
    if typing.get_origin(tp) is Annotated:
        return tp.__origin__, tuple(tp.__metadata__)
    return tp, ()


def _extra(extras: tuple[Any, ...], kind: type) -> Any:
    return next((x for x in extras if isinstance(x, kind)), None)


def fields_of(cls: type) -> list[tuple[str, dataclasses.Field, Any]]:
    """``(yaml key, field, type hint)`` of each key of a dataclass, in declaration order."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return [(yaml_key(f), f, hints[f.name]) for f in dataclasses.fields(cls) if f.init]


def form(cls: type) -> Literal["plain", "argument", "keys"]:
    """How a :class:`Choice` member is written: a bare name, ``{name: value}`` or ``{name: {keys}}``."""
    if getattr(cls, "argument", None):
        return "argument"
    return "keys" if fields_of(cls) else "plain"


def argument_field(cls: type) -> tuple[dataclasses.Field, Any]:
    name = getattr(cls, "argument")
    for _, f, hint in fields_of(cls):
        if f.name == name:
            return f, hint
    raise TypeError(f"{cls.__name__}.argument names no field {name!r}")


def tagged_choice(f: dataclasses.Field, hint: Any) -> Choice | None:
    return _extra(unwrap(hint)[1], Choice) if f.metadata.get("tagged") else None


def value_of(obj: Any, key: str) -> Any:
    """The value of a YAML key on a parsed object (``from`` is the attribute ``from_``)."""
    for f in dataclasses.fields(obj):
        if yaml_key(f) == key:
            return getattr(obj, f.name)
    raise TypeError(f"{type(obj).__name__} has no key {key!r}")


def rules_of(cls: type) -> tuple[Rule, ...]:
    return tuple(getattr(cls, "rules", ()))


def doc_of(cls: type) -> str:
    """One-line description of a class: its ``summary`` if it has one, else its docstring."""
    return getattr(cls, "summary", "") or " ".join((cls.__doc__ or "").split())


def describe(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        text = repr(value)
        return text if len(text) <= 60 else "a list"
    return repr(value)


# --- parsing -------------------------------------------------------------------------------

# Keys the loader ignores, at any level: a home for YAML anchors (`x-white: &white [...]`,
# then `ranges: *white`), as Compose files have them.
EXTENSION_KEY = "^x-"


def _extension(key: Any) -> bool:
    return isinstance(key, str) and key.startswith("x-")


def parse(cls: type, data: Any, path: KeyPath, src: Located) -> Any:
    """Build a ``cls`` dataclass from YAML data, checking every key, type and rule."""
    if data is None:
        data = {}
    spec = fields_of(cls)
    if not isinstance(data, dict):
        keys = ", ".join(f"<{c.what}>: {{...}}" if (c := tagged_choice(f, h)) else k for k, f, h in spec)
        raise src.error(path, f"expected a mapping {{{keys}}}, got {describe(data)}")
    choice = next((c for _, f, h in spec if (c := tagged_choice(f, h)) is not None), None)
    known = {k for k, f, h in spec if not tagged_choice(f, h)}
    tags = [k for k in data if choice is not None and k in choice.types]
    unknown = [k for k in data if k not in known and k not in tags and not _extension(k)]
    # Every independent problem of the mapping is reported in one pass: each unknown key, each
    # value that does not convert, each missing key; the rules between keys only once all
    # convert (they would report the same problem again).
    problems = Problems()
    listed = f"one of: {', '.join(sorted(known))}"
    if choice is not None:
        listed = f"{choice.a_what()} ({choice.names()}) or {listed}"
    for k in unknown:
        problems.add(src.error(path + (k,), f"unknown key; expected {listed}"))
    kwargs: dict[str, Any] = {}
    for key, f, hint in spec:
        with problems.check():
            if (c := tagged_choice(f, hint)) is not None:
                if len(tags) != 1:
                    raise src.error(path, f"expected exactly one {c.what} key ({c.names()}), "
                                          f"got {', '.join(map(str, data)) or 'none'}")
                kwargs[f.name] = c.convert_named(tags[0], data[tags[0]], path + (tags[0],), src)
            elif key in data:
                kwargs[f.name] = convert(hint, data[key], path + (key,), src, bounds_of(f))
            elif f.default is MISSING and f.default_factory is MISSING:
                raise src.error(path, f"missing required key '{key}'" + (f" ({f.metadata['help']})" if f.metadata.get("help") else ""))
    problems.raise_any()
    return _construct(cls, kwargs, path, src)


def _construct(cls: type, kwargs: dict[str, Any], path: KeyPath, src: Located) -> Any:
    obj = cls(**kwargs)
    for rule in rules_of(cls):
        problem = rule.check(obj)
        if problem is not None:
            raise src.error(path + problem[0], problem[1])
    return obj


def convert(tp: Any, value: Any, path: KeyPath, src: Located, bounds: Bounds | None = None) -> Any:
    """Check ``value`` against the type ``tp`` and return it converted, or raise a located error."""
    tp, extras = unwrap(tp)
    bounds = _extra(extras, Bounds) or bounds
    if (written := _extra(extras, AsWritten)) is not None:
        convert(written.tp, value, path, src, bounds)
        return value
    if (vt := _extra(extras, ValueType)) is not None:
        try:
            return vt.convert(value, bounds)
        except ValueError as e:
            raise src.error(path, f"expected {e}, got {describe(value)}") from None
    if (choice := _extra(extras, Choice)) is not None:
        return choice.convert(value, path, src)

    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        same_kind = [o for o in options if _kind_of_value(value) in _kinds(o)]
        if len(same_kind) == 1 and typing.get_origin(unwrap(same_kind[0])[0]) is not Literal:
            # one alternative fits the shape written: its own, precise error is the useful one
            return convert(same_kind[0], value, path, src, bounds)
        for option in same_kind:
            try:
                return convert(option, value, path, src, bounds)
            except (GameFileError, GameFileErrors):  # try the next alternative
                continue
        raise src.error(path, f"expected {' or '.join(expected_text(o, bounds) for o in options)}, got {describe(value)}")
    if tp is Any:
        return value
    if origin is Literal:
        if value in args and not (isinstance(value, bool) and not any(a is value for a in args)):
            return value
        raise src.error(path, f"expected {expected_text(tp)}, got {describe(value)}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise src.error(path, f"expected true or false, got {describe(value)}")
    if tp is int or tp is float:
        ok = isinstance(value, int) if tp is int else isinstance(value, (int, float))
        if ok and not isinstance(value, bool) and (bounds is None or bounds.fits(value)):
            return float(value) if tp is float else value
        raise src.error(path, f"expected {expected_text(tp, bounds)}, got {describe(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # `version: 1`, a vocabulary word like 2020
        raise src.error(path, f"expected a string, got {describe(value)}")
    if origin is list:
        if not isinstance(value, list):
            raise src.error(path, f"expected a list, got {describe(value)}")
        _nonempty(value, bounds, path, src)
        problems = Problems()
        items = []
        for i, v in enumerate(value):
            with problems.check():
                items.append(convert(args[0], v, path + (i,), src))
        problems.raise_any()
        return items
    if origin is tuple:
        if not isinstance(value, list) or (args[-1] is not Ellipsis and len(value) != len(args)):
            raise src.error(path, f"expected {expected_text(tp)}, got {describe(value)}")
        kinds = [args[0]] * len(value) if args[-1] is Ellipsis else list(args)
        return tuple(convert(k, v, path + (i,), src) for i, (k, v) in enumerate(zip(kinds, value)))
    if origin is dict:
        if value is None:  # `processors:` with nothing under it: none
            value = {}
        if not isinstance(value, dict):
            raise src.error(path, f"expected a mapping, got {describe(value)}")
        _nonempty(value, bounds, path, src)
        name = _extra(unwrap(args[0])[1], Name)
        out = {}
        problems = Problems()
        for k, v in value.items():
            if _extension(k):  # an anchor's home inside a map of names (regions, fields)
                continue
            with problems.check():
                problem = name.problem(k) if name is not None else None
                if problem:
                    raise src.error(path + (k,), problem)
                out[str(k)] = convert(args[1], v, path + (k,), src)
        problems.raise_any()
        return out
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return parse(tp, value, path, src)
    raise TypeError(f"unsupported parameter type {tp!r}")


def fits(tp: Any, value: Any) -> bool:
    """Whether ``value`` converts to ``tp`` (for rules that word their own message)."""
    try:
        convert(tp, value, (), Located("", value))
    except (GameFileError, GameFileErrors):
        return False
    return True


def _nonempty(value: list[Any] | dict[Any, Any], bounds: Bounds | None, path: KeyPath, src: Located) -> None:
    if not value and bounds is not None and bounds.nonempty:
        raise src.error(path, bounds.nonempty)


def _kinds(tp: Any) -> frozenset[str]:
    tp, extras = unwrap(tp)
    if (vt := _extra(extras, ValueType)) is not None:
        return vt.kinds
    if (choice := _extra(extras, Choice)) is not None:
        plain = any(form(c) == "plain" for c in choice.types.values())
        return frozenset({"map", "str"} if plain else {"map"})
    if (written := _extra(extras, AsWritten)) is not None:
        return _kinds(written.tp)
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return frozenset({"list"})
    if origin is dict or (isinstance(tp, type) and dataclasses.is_dataclass(tp)):
        return frozenset({"map"})
    if origin is Literal:
        return frozenset(_kind_of_value(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return frozenset().union(*(_kinds(a) for a in typing.get_args(tp)))
    return frozenset({bool: {"bool"}, int: {"num"}, float: {"num"}, str: {"str"}}.get(tp, {"other"}))


def _kind_of_value(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "num"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    return "other"


def _bounds_words(b: Bounds) -> str:
    """"0-13", ">= 1", "above zero" (after the noun)."""
    if b.above == 0 and b.hi is None:
        return "above zero"
    if b.lo is not None and b.hi is not None:
        return f"{b.lo:g}-{b.hi:g}"
    if b.above is not None:
        return f"> {b.above:g}" + (f" and <= {b.hi:g}" if b.hi is not None else "")
    if b.lo is not None:
        return f">= {b.lo:g}"
    if b.hi is not None:
        return f"<= {b.hi:g}"
    return ""


def expected_text(tp: Any, bounds: Bounds | None = None) -> str:
    """What a value of ``tp`` looks like, for error messages: "an integer 0-13"."""
    tp, extras = unwrap(tp)
    bounds = _extra(extras, Bounds) or bounds
    if (written := _extra(extras, AsWritten)) is not None:
        return expected_text(written.tp, bounds)
    if (vt := _extra(extras, ValueType)) is not None:
        return "a " + vt.doc_text(bounds)
    if (choice := _extra(extras, Choice)) is not None:
        return choice.expected()
    origin = typing.get_origin(tp)
    if tp is int or tp is float:
        noun = "an integer" if tp is int else "a number"
        positive = bounds is not None and bounds.hi is None and (
            bounds.above == 0 or (tp is int and bounds.lo == 1 and bounds.above is None))
        if positive:
            text = "a positive integer" if tp is int else "a positive number"
        else:
            words = _bounds_words(bounds) if bounds is not None else ""
            text = f"{noun} {words}" if words else noun
        return text + (f" ({bounds.what})" if bounds is not None and bounds.what else "")
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if origin is Literal:
        args = typing.get_args(tp)
        return describe(args[0]) if len(args) == 1 else "one of " + ", ".join(describe(a) for a in args)
    if origin is tuple:
        args = typing.get_args(tp)
        if args[-1] is Ellipsis:
            return "a list"
        numeric = all(unwrap(a)[0] in (int, float) for a in args)
        return f"a list of {len(args)} {'numbers' if numeric else 'items'}"
    if origin is list:
        return "a list"
    if origin is dict:
        return "a mapping"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return "{" + ", ".join(k for k, f, h in fields_of(tp) if not tagged_choice(f, h)) + "}"
    if tp is type(None):
        return "null"
    return str(tp)


# --- JSON Schema ---------------------------------------------------------------------------

class SchemaBuilder:
    """JSON Schema (draft 2020-12) of declared types; each dataclass once, under ``$defs``."""

    def __init__(self) -> None:
        self.defs: dict[str, dict[str, Any]] = {}
        self._names: dict[type, str] = {}

    def document(self, cls: type, title: str) -> dict[str, Any]:
        """The schema of a whole file whose top level is ``cls``."""
        root = self.object_schema(cls)
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, **root,
                "$defs": dict(sorted(self.defs.items()))}

    def ref(self, cls: type) -> dict[str, Any]:
        name = self._names.get(cls)
        if name is None:
            name = cls.__name__ if cls.__name__ not in self.defs else f"{cls.__module__}.{cls.__qualname__}"
            self._names[cls] = name
            self.defs[name] = {}  # taken before recursing: a class may contain itself
            self.defs[name] = self.object_schema(cls)
        return {"$ref": f"#/$defs/{name}"}

    def of(self, tp: Any, bounds: Bounds | None = None) -> dict[str, Any]:
        tp, extras = unwrap(tp)
        bounds = _extra(extras, Bounds) or bounds
        if (written := _extra(extras, AsWritten)) is not None:
            return self.of(written.tp, bounds)
        if (vt := _extra(extras, ValueType)) is not None:
            return vt.schema(bounds)
        if (choice := _extra(extras, Choice)) is not None:
            return self.choice(choice)
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (Union, types.UnionType):
            # in a union a number goes to the numeric alternatives only (see convert)
            options = [{"type": "string"} if unwrap(a)[0] is str else self.of(a, bounds)
                       for a in args if a is not type(None)]
            if type(None) in args and len(options) == 1:
                return _or_null(options[0])
            return {"anyOf": options + ([{"type": "null"}] if type(None) in args else [])}
        if tp is type(None):
            return {"type": "null"}
        if tp is Any:
            return {}
        if origin is Literal:
            return {"const": args[0]} if len(args) == 1 else {"enum": list(args)}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int or tp is float:
            return {"type": "integer" if tp is int else "number", **(bounds.numeric_schema() if bounds else {})}
        if tp is str:
            return {"type": ["string", "number"]}  # the loader reads `game: 2048` as "2048"
        if origin is list:
            out: dict[str, Any] = {"type": "array", "items": self.of(args[0])}
            if bounds is not None and bounds.nonempty:
                out["minItems"] = 1
            return out
        if origin is tuple:
            if args[-1] is Ellipsis:
                return {"type": "array", "items": self.of(args[0])}
            return {"type": "array", "prefixItems": [self.of(a) for a in args], "minItems": len(args),
                    "maxItems": len(args)}
        if origin is dict:
            out = {"type": "object", "additionalProperties": self.of(args[1]),
                   "patternProperties": {EXTENSION_KEY: {}}}
            name = _extra(unwrap(args[0])[1], Name)
            if name is not None:
                out["propertyNames"] = {"anyOf": [name.schema(), {"pattern": EXTENSION_KEY}]}
            if bounds is not None and bounds.nonempty:
                out["minProperties"] = 1
            else:
                out["type"] = ["object", "null"]  # convert() reads null as an empty mapping
            return out
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self.ref(tp)
        raise TypeError(f"unsupported parameter type {tp!r}")

    def choice(self, choice: Choice) -> dict[str, Any]:
        plain = [n for n, c in choice.types.items() if form(c) == "plain"]
        props = {n: self.member(c) for n, c in choice.types.items() if form(c) != "plain"}
        one_key = {"type": "object", "properties": props, "additionalProperties": False,
                   "minProperties": 1, "maxProperties": 1}
        if not plain:
            return one_key
        return {"type": ["string", "object"], "if": {"type": "string"}, "then": {"enum": plain}, "else": one_key}

    def member(self, cls: type) -> dict[str, Any]:
        """The schema of the value under a :class:`Choice` member's name."""
        if form(cls) == "argument":
            f, hint = argument_field(cls)
            s = self.of(hint, bounds_of(f))
        else:
            s = self.ref(cls)
        return {**s, "description": doc_of(cls)} if doc_of(cls) else s

    def object_schema(self, cls: type) -> dict[str, Any]:
        props: dict[str, Any] = {}
        required: list[str] = []
        constraints: list[dict[str, Any]] = []
        for key, f, hint in fields_of(cls):
            if (choice := tagged_choice(f, hint)) is not None:
                for name, member in choice.types.items():
                    props[name] = self.member(member)
                constraints.append({"oneOf": [{"required": [name]} for name in choice.types]})
                continue
            s = self.of(hint, bounds_of(f))
            if f.metadata.get("help"):
                s = {**s, "description": f.metadata["help"]}
            default = _json_default(f)
            if default is not MISSING:
                s = {**s, "default": default}
            props[key] = s
            if f.default is MISSING and f.default_factory is MISSING:
                required.append(key)
        constraints += [c for rule in rules_of(cls) if (c := rule.schema(self))]  # {}: the loader's alone
        # parse() reads null as an empty mapping: fine where nothing is required
        nullable = not required and not constraints
        out: dict[str, Any] = {"type": ["object", "null"] if nullable else "object", "properties": props,
                               "patternProperties": {EXTENSION_KEY: {}}, "additionalProperties": False}
        if cls.__doc__:
            out["description"] = " ".join(cls.__doc__.split())
        if required:
            out["required"] = required
        if constraints:
            out["allOf"] = constraints
        return out


def _or_null(s: dict[str, Any]) -> dict[str, Any]:
    """``s`` or null, written so that a validator's errors stay at the key, not in an anyOf."""
    if "enum" in s:
        return {**s, "enum": [*s["enum"], None]}
    if "const" in s:
        return {**{k: v for k, v in s.items() if k != "const"}, "enum": [s["const"], None]}
    if isinstance(s.get("type"), str) and "anyOf" not in s:
        return {**s, "type": [s["type"], "null"]}
    if isinstance(s.get("type"), list) and "anyOf" not in s:
        return {**s, "type": s["type"] + (["null"] if "null" not in s["type"] else [])}
    if "anyOf" in s and len(s) == 1:
        return {"anyOf": [*s["anyOf"], {"type": "null"}]}
    return {"anyOf": [s, {"type": "null"}]}


def _json_default(f: dataclasses.Field) -> Any:
    value = f.default if f.default is not MISSING else (
        f.default_factory() if f.default_factory is not MISSING else MISSING)  # type: ignore[misc]
    if value is None or value is MISSING:
        return MISSING
    if isinstance(value, tuple):
        return list(value)
    return value if isinstance(value, (bool, int, float, str, list, dict)) else MISSING
