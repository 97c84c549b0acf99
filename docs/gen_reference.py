"""Generate the key reference of docs/games.md from the engine's own classes.

Every table comes from the dataclasses the loader parses game files with (their fields,
type hints, defaults, bounds and help texts) and from the prep op tables, so the reference
cannot drift from what the engine accepts.

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

from engine.runtime.model import GameSpec, ProcessorSpec, ScreenSpec  # noqa: E402
from engine.vision.prep import ARG_OPS, SIMPLE_OPS  # noqa: E402
from engine.vision.regions import Grid, RegionSpec  # noqa: E402
from engine.lang.schema import MISSING, yaml_key  # noqa: E402
from engine.steps import STEP_TYPES  # noqa: E402
from engine.steps.base import RelativeRegion, Step  # noqa: E402

DOC = ROOT / "docs" / "games.md"
BEGIN = "<!-- BEGIN GENERATED REFERENCE (docs/gen_reference.py --write) -->"
END = "<!-- END GENERATED REFERENCE -->"


def type_text(tp: Any, lo: float | None = None, hi: float | None = None) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        opts = [a for a in args if a is not type(None)]
        text = " or ".join(type_text(a, lo, hi) for a in opts)
        return text + (" or null" if len(opts) < len(args) else "")
    if tp is Any:
        return "any"
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if tp is bool:
        return "true/false"
    if tp in (int, float):
        noun = "integer" if tp is int else "number"
        if lo is not None and hi is not None:
            return f"{noun} {lo:g}–{hi:g}"
        if lo is not None:
            return f"{noun} ≥ {lo:g}"
        return noun
    if tp is str:
        return "string"
    if origin is tuple:
        if args and args[-1] is Ellipsis:
            return f"list of {type_text(args[0])}"
        return "[" + ", ".join(type_text(a) for a in args) + "]"
    if origin is list:
        inner = type_text(args[0]) if args else "any"
        return "list" if inner == "any" else f"list of {inner}"
    if origin is dict:
        return f"{{name: {type_text(args[1])}}}"
    if dataclasses.is_dataclass(tp):
        return {"RegionSpec": "region", "ProcessorSpec": "processor", "Grid": "grid",
                "RelativeRegion": "{from, offset, size}", "FieldSpec": "field", "ScreenSpec": "screen",
                }.get(tp.__name__, tp.__name__)
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


def table(cls: type, skip: tuple[str, ...] = ()) -> str:
    hints = typing.get_type_hints(cls)
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        if not f.init or f.name in skip:
            continue
        key = yaml_key(f)
        typ = type_text(hints[f.name], f.metadata.get("lo"), f.metadata.get("hi"))
        help_ = (f.metadata.get("help") or "").replace("|", "\\|")
        rows.append(f"| `{key}` | {typ} | {default_text(f)} | {help_} |")
    return "\n".join(rows)


def doc_of(cls: type) -> str:
    return " ".join((cls.__doc__ or "").split()).replace("``", "`")


def generate() -> str:
    out: list[str] = []
    add = out.append
    add("### Top level\n")
    add(table(GameSpec))
    add("\n### Regions (`regions: {name: ...}`)\n")
    add(doc_of(RegionSpec) + "\n")
    add(table(RegionSpec))
    add("\n`grid:` " + doc_of(Grid) + "\n")
    add(table(Grid))
    add("\n### Processors (`processors: {name: ...}`)\n")
    add(doc_of(ProcessorSpec) + "\n")
    add(table(ProcessorSpec))
    add("\nA field (`fields: {name: ...}`) is one step plus optional smoothing:\n")
    add("| key | type | default | meaning |\n|---|---|---|---|\n"
        "| *step type* | mapping | **required** | exactly one of " + ", ".join(f"`{k}`" for k in STEP_TYPES) + " |\n"
        "| `stable_for` | integer 1–1000 | `1` | report a value once N reads in a row agree; hold it until another value does |\n"
        "| `vote` | integer 1–1000 | `1` | the most common non-null value of the last N reads (ties: the most recent) |\n"
        "| `within` | duration | 3 × `every`, at least `1s` | `stable_for`/`vote`: reads farther apart in media time are not smoothed together; such a read stands alone |\n"
        "| `monotonic` | `up` \\| `down` | – | reject a read that goes the wrong way from the last accepted value (a countdown timer), unless two reads in a row agree on it (a reset) |\n"
        "| `when` | expression | – | read this field only when true, else `null` with the reason; the processor's own name means its fields read so far this frame |")
    add("\nA screen (`screens: {name: ...}`): " + doc_of(ScreenSpec) + "\n")
    add(table(ScreenSpec))
    add("\n### Steps\n")
    add("Every step type takes these keys:\n")
    add(table(Step))
    add("\n`region: {from, offset, size}`: " + doc_of(RelativeRegion) + "\n")
    add(table(RelativeRegion))
    common = {f.name for f in dataclasses.fields(Step)}
    for kind, cls in STEP_TYPES.items():
        add(f"\n#### `{kind}`: {cls.summary}\n")
        add(doc_of(cls) + "\n")
        add(table(cls, skip=tuple(common)))
    add("\n### Prep ops (`prep: [...]`)\n")
    add("Plain ops are written as a list item (`grey`); ops with an argument as a one-key mapping "
        "(`{scale: 2}`).\n")
    rows = ["| op | argument | what it does |", "|---|---|---|"]
    for name, (_, help_) in SIMPLE_OPS.items():
        rows.append(f"| `{name}` | – | {help_} |")
    for name, help_ in ARG_OPS.items():
        rows.append(f"| `{name}` | yes | {help_.replace('|', chr(92) + '|')} |")
    add("\n".join(rows))
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
