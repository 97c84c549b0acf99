"""Generate the key reference of docs/games.md from the engine's own declarations.

Every table comes from the dataclasses the loader parses game files with (their fields,
type hints, defaults, bounds, help texts and rules) and from the prep op registry, the same
declarations `otrig check` validates with and `otrig schema` is built from, so the
reference cannot drift from what the engine accepts.

    python docs/gen_reference.py            # print the markdown
    python docs/gen_reference.py --write    # replace the generated part of docs/games.md
    python docs/gen_reference.py --check    # exit 1 if docs/games.md is out of date
"""
from __future__ import annotations

import dataclasses
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.lang.schema import (MISSING, AsWritten, Bounds, Choice, Name, ValueType, argument_field,  # noqa: E402
                                bounds_of, doc_of, fields_of, form, rules_of, tagged_choice, unwrap)
from engine.runtime.model import FieldSpec, GameSpec, ProcessorSpec, RowBand, RowTemplate, RowsSpec, ScreenSpec  # noqa: E402
from engine.steps import STEP_TYPES  # noqa: E402
from engine.steps.base import RelativeRegion, Step  # noqa: E402
from engine.vision.prep import PREP_OPS, Adaptive  # noqa: E402
from engine.vision.regions import Grid, RegionSpec  # noqa: E402

DOC = ROOT / "docs" / "games.md"
BEGIN = "<!-- BEGIN GENERATED REFERENCE (docs/gen_reference.py --write) -->"
END = "<!-- END GENERATED REFERENCE -->"
# blocks documented under their own heading; any other block shows its keys: {prep, psm, whitelist}
NAMES = {"RegionSpec": "region", "ProcessorSpec": "processor", "Grid": "grid", "FieldSpec": "field",
         "ScreenSpec": "screen", "AdaptiveLevel": "{adaptive: {block, c}}"}


def bounds_text(noun: str, b: Bounds | None) -> str:
    if b is None:
        return noun
    if b.lo is not None and b.hi is not None:
        return f"{noun} {b.lo:g}–{b.hi:g}"
    if b.above is not None:
        return f"{noun} > {b.above:g}" + (f", ≤ {b.hi:g}" if b.hi is not None else "")
    if b.lo is not None:
        return f"{noun} ≥ {b.lo:g}"
    if b.hi is not None:
        return f"{noun} ≤ {b.hi:g}"
    return noun


def type_text(tp: Any, bounds: Bounds | None = None) -> str:
    tp, extras = unwrap(tp)
    bounds = next((x for x in extras if isinstance(x, Bounds)), bounds)
    for x in extras:
        if isinstance(x, AsWritten):
            return type_text(x.tp, bounds)
        if isinstance(x, ValueType):
            return x.doc_text(bounds)
        if isinstance(x, Choice):
            return "step" if x.what == "step type" else x.what
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        opts = [a for a in args if a is not type(None)]
        text = " or ".join(type_text(a, bounds) for a in opts)
        return text + (" or null" if len(opts) < len(args) else "")
    if tp is Any:
        return "any"
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if tp is bool:
        return "true/false"
    if tp in (int, float):
        return bounds_text("integer" if tp is int else "number", bounds)
    if tp is str:
        return "string"
    if origin is tuple:
        if args and args[-1] is Ellipsis:
            return f"list of {type_text(args[0])}"
        return "[" + ", ".join(type_text(a) for a in args) + "]"
    if origin is list:
        inner = type_text(args[0]) if args else "any"
        text = "list" if inner == "any" else f"list of {inner}"
        return text + (", not empty" if bounds is not None and bounds.nonempty else "")
    if origin is dict:
        return f"{{name: {type_text(args[1])}}}"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return NAMES.get(tp.__name__) or "{" + ", ".join(k for k, _, _ in fields_of(tp)) + "}"
    return str(tp)


def default_text(f: dataclasses.Field) -> str:
    if f.default is not MISSING:
        v = f.default
    elif f.default_factory is not MISSING:  # type: ignore[misc]
        v = f.default_factory()  # type: ignore[misc]
    else:
        return "**required**"
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "`true`" if v else "`false`"
    if isinstance(v, str):
        return f'`{v}`' if v else '`""`'
    if isinstance(v, tuple):
        return "`[" + ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v) + "]`"
    if isinstance(v, (list, dict)) and not v:
        return "`[]`" if isinstance(v, list) else "`{}`"
    if isinstance(v, float):
        return f"`{v:g}`"
    return f"`{v}`"


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def names_text(key: str, hint: Any) -> str:
    """The rule on the names of a mapping's entries (its keys), if it has one."""
    tp = unwrap(hint)[0]
    if typing.get_origin(tp) in (Union, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if typing.get_origin(tp) is not dict:
        return ""
    name = next((x for x in unwrap(typing.get_args(tp)[0])[1] if isinstance(x, Name)), None)
    if name is None:
        return ""
    reserved = f", and not {', '.join(f'`{r}`' for r in sorted(name.reserved))} ({name.reserved_for})" if name.reserved else ""
    return f"The names in `{key}` are identifiers (letters, digits, `_`){reserved}."


def table(cls: type, skip: tuple[str, ...] = ()) -> str:
    """The keys of ``cls`` as a markdown table, then its rules, one sentence each."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, f, hint in fields_of(cls):
        if f.name in skip:
            continue
        help_ = cell(f.metadata.get("help") or "")
        if (choice := tagged_choice(f, hint)) is not None:
            names = ", ".join(f"`{n}`" for n in choice.types)
            rows.append(f"| *{choice.what}* | mapping | **required** | exactly one of {names}: {help_} |")
            continue
        rows.append(f"| `{key}` | {type_text(hint, bounds_of(f))} | {default_text(f)} | {help_} |")
    rules = [r.text() for r in rules_of(cls)] + [names_text(key, hint) for key, _, hint in fields_of(cls)]
    rules = [r for r in rules if r]
    return "\n".join(rows) + ("\n\n" + " ".join(rules) if rules else "")


def generate() -> str:
    out: list[str] = []
    add = out.append
    add("### Top level\n")
    add(table(GameSpec))
    add("\n### Regions (`regions: {name: ...}`)\n")
    add(doc_of(RegionSpec) + "\n")
    add(table(RegionSpec))
    add("\n`grid:` " + doc_of(Grid).replace("``", "`") + "\n")
    add(table(Grid))
    add("\n### Processors (`processors: {name: ...}`)\n")
    add(doc_of(ProcessorSpec) + "\n")
    add(table(ProcessorSpec))
    add("\nA field (`fields: {name: ...}`): " + doc_of(FieldSpec) + "\n")
    add(table(FieldSpec))
    add("\nA screen (`screens: {name: ...}`): " + doc_of(ScreenSpec) + "\n")
    add(table(ScreenSpec))
    add("\n`rows:` " + doc_of(RowsSpec) + "\n")
    add(table(RowsSpec))
    add("\n`rows: {band: ...}`: " + doc_of(RowBand) + "\n")
    add(table(RowBand))
    add("\n`rows: {template: ...}`: " + doc_of(RowTemplate) + "\n")
    add(table(RowTemplate))
    add("\n### Steps\n")
    add("A step is a one-key mapping naming its type: `{ocr: {region: clip, ...}}`. Every step type takes these keys:\n")
    add(table(Step))
    add("\n`region: {from, offset, size}`: " + doc_of(RelativeRegion) + "\n")
    add(table(RelativeRegion))
    common = {f.name for f in dataclasses.fields(Step)}
    for kind, cls in STEP_TYPES.items():
        add(f"\n#### `{kind}`: {cls.summary}\n")
        add(" ".join((cls.__doc__ or "").split()) + "\n")
        add(table(cls, skip=tuple(common)))
        for _, f, hint in fields_of(cls):
            inner = unwrap(hint)[0]
            item = typing.get_args(inner)[0] if typing.get_origin(inner) is list else None
            if item is not None and dataclasses.is_dataclass(item):
                add(f"\n`{f.name}:` items: " + doc_of(item) + "\n")
                add(table(item))
    add("\n### Prep ops (`prep: [...]`)\n")
    add("Ops without an argument are written as a list item (`grey`); the others as a one-key "
        "mapping (`{scale: 2}`).\n")
    rows = ["| op | argument | what it does |", "|---|---|---|"]
    keyed: list[type] = []
    for name, op in PREP_OPS.items():
        kind = form(op)
        if kind == "plain":
            arg = "–"
        elif kind == "argument":
            f, hint = argument_field(op)
            b = bounds_of(f)
            arg = type_text(hint, b) + (f" ({b.what})" if b is not None and b.what else "")
        else:
            arg = "{" + ", ".join(k for k, _, _ in fields_of(op)) + "}"
            if not any(op is not k and issubclass(op, k) for k in keyed):
                keyed.append(op)
        rows.append(f"| `{name}` | {arg} | {cell(doc_of(op))} |")
    add("\n".join(rows))
    for base in keyed:
        names = " and ".join(f"`{n}`" for n, c in PREP_OPS.items() if issubclass(c, base))
        add(f"\n{names} take:\n")
        add(table(base))
    add("\n`{threshold: {adaptive: ...}}`: " + doc_of(Adaptive) + "\n")
    add(table(Adaptive))
    return "\n".join(out) + "\n"


def splice(doc: str, generated: str) -> str:
    if BEGIN not in doc or END not in doc:
        raise SystemExit(f"{DOC}: markers not found; add {BEGIN!r} and {END!r}")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n\n{generated}\n{END}{tail}"


def main(argv: list[str]) -> int:
    generated = generate()
    if "--write" in argv or "--check" in argv:
        doc = DOC.read_text(encoding="utf-8")
        new = splice(doc, generated)
        if "--check" in argv:
            if new != doc:
                print(f"{DOC} is out of date: run python docs/gen_reference.py --write", file=sys.stderr)
                return 1
            return 0
        DOC.write_text(new, encoding="utf-8")
        print(f"wrote the reference into {DOC}", file=sys.stderr)
        return 0
    sys.stdout.write(generated)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
