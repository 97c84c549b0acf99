"""Typed parameters: a dataclass's fields are its YAML keys, its validation and its JSON Schema.

A step or block is declared once, as a dataclass whose fields carry type hints and, in
``field(metadata=...)``, a help text and bounds. :func:`parse` turns located YAML data into
an instance (or a located error saying what was expected), and :func:`json_schema` turns
the same class into the schema that editors use to validate and complete game files.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

from engine.lang.yamlsrc import KeyPath, Located

MISSING = dataclasses.MISSING


def param(default: Any = MISSING, *, help: str = "", lo: float | None = None, hi: float | None = None,
          default_factory: Any = MISSING, yaml_name: str | None = None) -> Any:
    """A dataclass field with the documentation and bounds that validation and schema use."""
    meta = {"help": help, "lo": lo, "hi": hi, "yaml": yaml_name}
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def yaml_key(f: dataclasses.Field) -> str:
    return f.metadata.get("yaml") or f.name


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


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def parse(cls: type, data: Any, path: KeyPath, src: Located) -> Any:
    """Build a ``cls`` dataclass from YAML data, checking every key and type."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise src.error(path, f"expected a mapping of {cls.__name__} keys, got {describe(data)}")
    hints = _hints(cls)
    fields = {yaml_key(f): f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        k = unknown[0]
        raise src.error(path + (k,), f"unknown key; expected one of: {', '.join(sorted(fields))}")
    kwargs: dict[str, Any] = {}
    for key, f in fields.items():
        if key in data:
            kwargs[f.name] = convert(hints[f.name], data[key], path + (key,), src, f)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise src.error(path, f"missing required key '{key}'" + (f" ({f.metadata['help']})" if f.metadata.get("help") else ""))
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if check is not None:
        message = check()
        if message:
            bad_key, text = message if isinstance(message, tuple) else (None, message)
            extra = bad_key if isinstance(bad_key, tuple) else ((bad_key,) if bad_key else ())
            raise src.error(path + extra, text)
    return obj


def convert(tp: Any, value: Any, path: KeyPath, src: Located, f: dataclasses.Field | None = None) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    lo = f.metadata.get("lo") if f else None
    hi = f.metadata.get("hi") if f else None

    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        same_kind = [o for o in options if _kind(o) == _kind_of_value(value)]
        if len(same_kind) == 1:
            # one alternative fits the shape written: its own, precise error is the useful one
            return convert(same_kind[0], value, path, src, f)
        for option in same_kind:
            try:
                return convert(option, value, path, src, f)
            except Exception:  # try the next alternative
                continue
        raise src.error(path, f"expected {' or '.join(expected_text(o, lo, hi) for o in options)}, got {describe(value)}")
    if tp is Any:
        return value
    if origin is Literal:
        if value in args:
            return value
        raise src.error(path, f"expected one of {', '.join(describe(a) for a in args)}, got {describe(value)}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise src.error(path, f"expected true or false, got {describe(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            _bounds(value, lo, hi, path, src, tp)
            return value
        raise src.error(path, f"expected {expected_text(int, lo, hi)}, got {describe(value)}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            _bounds(value, lo, hi, path, src, tp)
            return float(value)
        raise src.error(path, f"expected {expected_text(float, lo, hi)}, got {describe(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # `version: 1`, a vocabulary word like 2020
        raise src.error(path, f"expected a string, got {describe(value)}")
    if origin is list:
        if not isinstance(value, list):
            raise src.error(path, f"expected a list, got {describe(value)}")
        return [convert(args[0], v, path + (i,), src, None) for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, list) or (args[-1] is not Ellipsis and len(value) != len(args)):
            raise src.error(path, f"expected {expected_text(tp)}, got {describe(value)}")
        kinds = [args[0]] * len(value) if args[-1] is Ellipsis else list(args)
        return tuple(convert(k, v, path + (i,), src, f) for i, (k, v) in enumerate(zip(kinds, value)))
    if origin is dict:
        if not isinstance(value, dict):
            raise src.error(path, f"expected a mapping, got {describe(value)}")
        return {str(k): convert(args[1], v, path + (k,), src, None) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        custom = getattr(tp, "from_yaml", None)
        if custom is not None:
            return custom(value, path, src)
        return parse(tp, value, path, src)
    raise TypeError(f"unsupported parameter type {tp!r}")


def _kind(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return "list"
    if origin is dict or dataclasses.is_dataclass(tp):
        return "map"
    if origin is Literal:
        return _kind_of_value(typing.get_args(tp)[0])
    return {bool: "bool", int: "num", float: "num", str: "str"}.get(tp, "other")


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


def _bounds(value: float, lo: float | None, hi: float | None, path: KeyPath, src: Located, tp: Any) -> None:
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise src.error(path, f"expected {expected_text(tp, lo, hi)}, got {describe(value)}")


def expected_text(tp: Any, lo: float | None = None, hi: float | None = None) -> str:
    origin = typing.get_origin(tp)
    if tp is int or tp is float:
        noun = "an integer" if tp is int else "a number"
        if lo is not None and hi is not None:
            return f"{noun} {lo:g}-{hi:g}"
        if lo is not None:
            return f"{noun} >= {lo:g}"
        return noun
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if origin is Literal:
        return "one of " + ", ".join(describe(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        return f"a list of {len(args)} numbers" if args[-1] is not Ellipsis else "a list"
    if origin is list:
        return "a list"
    if origin is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    return str(tp)


# --- JSON Schema -------------------------------------------------------------------------

def json_schema(tp: Any, f: dataclasses.Field | None = None) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    lo = f.metadata.get("lo") if f else None
    hi = f.metadata.get("hi") if f else None
    if origin in (Union, types.UnionType):
        options = [json_schema(a, f) for a in args]
        return {"anyOf": options}
    if tp is type(None):
        return {"type": "null"}
    if tp is Any:
        return {}
    if origin is Literal:
        return {"enum": list(args)}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int or tp is float:
        out: dict[str, Any] = {"type": "integer" if tp is int else "number"}
        if lo is not None:
            out["minimum"] = lo
        if hi is not None:
            out["maximum"] = hi
        return out
    if tp is str:
        return {"type": "string"}
    if origin is list:
        return {"type": "array", "items": json_schema(args[0])}
    if origin is tuple:
        if args[-1] is Ellipsis:
            return {"type": "array", "items": json_schema(args[0])}
        return {"type": "array", "prefixItems": [json_schema(a) for a in args], "minItems": len(args),
                "maxItems": len(args)}
    if origin is dict:
        return {"type": "object", "additionalProperties": json_schema(args[1])}
    if dataclasses.is_dataclass(tp):
        custom = getattr(tp, "schema", None)
        if custom is not None:
            return custom()
        return object_schema(tp)
    raise TypeError(f"unsupported parameter type {tp!r}")


def object_schema(cls: type) -> dict[str, Any]:
    hints = _hints(cls)
    props: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        s = json_schema(hints[f.name], f)
        if f.metadata.get("help"):
            s = {**s, "description": f.metadata["help"]}
        props[yaml_key(f)] = s
        if f.default is MISSING and f.default_factory is MISSING:
            required.append(yaml_key(f))
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if cls.__doc__:
        out["description"] = " ".join(cls.__doc__.split())
    if required:
        out["required"] = required
    return out
