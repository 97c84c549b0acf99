"""Loading a game file: YAML -> validated model -> compiled graph. The one entry point.

Everything costly happens here once: templates read and masked, Tesseract configured,
expressions checked, the run order fixed. A problem is reported with file, line, column
and key path.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np

from engine.lang.assets import asset_roots
from engine.lang.shipped import resolve_game_path
from engine.lang.errors import GameFileError, Problems
from engine.lang.expr import Expr, ExprError, compared_names, compile_expr
from engine.runtime.graph import CompiledBand, CompiledField, CompiledProcessor, CompiledRows, CompiledScreen, Graph
from engine.runtime.model import GameSpec, ProcessorSpec, RowsSpec, parse_game
from engine.vision.prep import ColorRanges
from engine.vision.regions import Box, CompiledRegion, IntBox, RegionMapper
from engine.runtime.results import FrameOutput
from engine.steps.base import CompileContext, Step
from engine.lang.yamlsrc import KeyPath, Located, load_yaml


@dataclass(frozen=True, kw_only=True)
class ProcessorDescription:
    """One processor as the recorder and the report show it."""

    name: str
    kind: Literal["screens", "fields"]
    items: tuple[str, ...]              # its screens or fields, in file order
    step_regions: dict[str, str]        # step label (as in the traces) -> what it looks at
    every: float | None                 # seconds, None: every frame
    when: str | None                    # the gate expression
    emit: bool


@dataclass(frozen=True, kw_only=True)
class RegionDescription:
    anchor: str
    boxes: tuple[Box, ...]              # in reference pixels


@dataclass(frozen=True, kw_only=True)
class GameDescription:
    """What a compiled game is, for a recording's meta.json: read from the validated spec,
    never from the YAML a second time."""

    game: str
    version: str
    path: str
    description: str
    reference: tuple[int, int]
    viewport: IntBox | None             # the one in force (--viewport overrides the file's)
    processors: tuple[ProcessorDescription, ...]
    regions: dict[str, RegionDescription]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _looks_at(step: Step) -> str:
    """The region a step reads: its name, or where it is placed relative to an earlier field."""
    r = step.region
    if isinstance(r, str):
        return r
    return r.describe()


@dataclass
class CompiledGame:
    name: str
    version: str
    path: Path
    spec: GameSpec
    graph: Graph
    regions: dict[str, CompiledRegion]
    warnings: list[str] = field(default_factory=list)
    watched: list[Path] = field(default_factory=list)  # files whose change means reload

    def process(self, image: np.ndarray, frame: dict[str, Any], *, explain: bool = False,
                keep_images: bool = False) -> FrameOutput:
        """Run every due processor on one 1920x1080 BGR frame (a read-only view is fine)."""
        return self.graph.process(image, frame, explain=explain, keep_images=keep_images)

    def region_boxes(self, region: str, frame: dict[str, Any]) -> list[IntBox]:
        """The region's boxes in frame pixels, after the anchor and viewport mapping."""
        if region not in self.regions:
            raise KeyError(f"no region '{region}' in {self.path.name} (regions: {', '.join(sorted(self.regions))})")
        return self.regions[region].boxes(self.graph.geometry(frame))

    def template_scale(self, frame: dict[str, Any]) -> tuple[float, float]:
        """Frame pixels per reference pixel for this frame: templates are kept in reference
        pixels, so a crop cut from this frame is divided by this."""
        return self.graph.mapper.scale(self.graph.geometry(frame))

    def describe(self) -> GameDescription:
        """Processors (kind, fields or screens, the region each step reads, cadence, gate) and
        regions, in file order; the step labels are those of the step traces."""
        procs = []
        for name, ps in self.spec.processors.items():
            if ps.screens is not None:
                step_regions = {f"{sname}[{i}]": _looks_at(step)
                                for sname, ss in ps.screens.items() for i, step in enumerate(ss.steps)}
                items = tuple(ps.screens)
            else:
                fields = ps.fields or {}
                step_regions = {fname: _looks_at(fs.step) for fname, fs in fields.items()}
                step_regions.update({f"{fname}.agree[{j}]": _looks_at(other) for fname, fs in fields.items()
                                     for j, other in enumerate(fs.agree)})
                if ps.rows is not None:  # per row the labels are row<i>.<field>, row<i>.present[<j>]
                    step_regions = {"rows": ps.rows.region,
                                    **{f"present[{j}]": _looks_at(st) for j, st in enumerate(ps.rows.present)},
                                    **step_regions}
                items = tuple(fields)
            procs.append(ProcessorDescription(
                name=name, kind="screens" if ps.screens is not None else "fields", items=items,
                step_regions=step_regions, every=None if ps.every is None else float(ps.every),
                when=ps.when, emit=ps.emit))
        regions = {name: RegionDescription(anchor=r.anchor, boxes=tuple(r.reference_boxes()))
                   for name, r in self.spec.regions.items()}
        return GameDescription(game=self.name, version=self.version, path=str(self.path),
                               description=self.spec.description, reference=self.spec.reference,
                               viewport=self.graph.viewport, processors=tuple(procs), regions=regions)

    def summary(self) -> str:
        lines = [f"game {self.name} (version {self.version or '-'}): {len(self.regions)} regions, "
                 f"{len(self.graph.processors)} processors"]
        for p in self.graph.processors:
            what = (f"screens {', '.join(s.name for s in p.screens)}" if p.is_screen_group
                    else f"fields {', '.join(f'{f.name}:{f.step.kind}' for f in p.fields)}")
            extras = []
            if p.every is not None:
                extras.append(f"every {p.every:g}s" + (f"+{p.offset:g}s" if p.offset else ""))
            if p.gate is not None:
                extras.append(f"when {p.gate.text}" + (f" (look-behind {p.look_behind:g}s)" if p.look_behind else ""))
            if not p.emit:
                extras.append("not emitted")
            lines.append(f"  {p.name}: {what}" + (f" [{'; '.join(extras)}]" if extras else ""))
        return "\n".join(lines)


def load_game(path: str | Path, *, assets: Sequence[str | Path] = (),
              viewport: tuple[int, int, int, int] | None = None, budget_ms: float | None = None) -> CompiledGame:
    """Load, validate and compile a game file. Raises :class:`GameFileError`.

    ``budget_ms`` overrides the file's per-frame time budget (offline checks want none).
    """
    p = resolve_game_path(path)
    src = load_yaml(p, str(path))
    return compile_game(src, p, assets=assets, viewport=viewport, budget_ms=budget_ms)


def compile_game(src: Located, p: Path, *, assets: Sequence[str | Path] = (),
                 viewport: tuple[int, int, int, int] | None = None, budget_ms: float | None = None) -> CompiledGame:
    spec = parse_game(src)
    mapper = RegionMapper(spec.reference)
    regions = {name: CompiledRegion(name, r, mapper) for name, r in spec.regions.items()}
    ctx = CompileContext(src, p.parent, asset_roots(p.parent, spec.assets, list(assets)), regions, mapper, set())
    known = set(spec.processors)
    compiled: dict[str, CompiledProcessor] = {}
    deps: dict[str, set[str]] = {}
    problems = Problems()  # each processor's problems, all in one pass
    for name, ps in spec.processors.items():
        with problems.check():
            compiled[name] = _compile_processor(name, ps, ctx, known)
            gates = [compiled[name].gate] + [f.gate for f in compiled[name].fields]
            deps[name] = set().union(*(g.names for g in gates if g is not None)) - {name}
    problems.raise_any()
    order = _run_order(spec, deps, src)
    warnings = [f"{src.file}:{src.where(('regions', r))[0]}: regions.{r}: region is declared but no step uses it"
                for r in spec.regions if r not in ctx.used_regions]
    warnings += _screen_name_warnings(compiled, src)
    watched = [p] + sorted(set(ctx.loaded_files))
    vp = viewport if viewport is not None else spec.viewport
    graph = Graph([compiled[n] for n in order], mapper, vp, spec.budget_ms if budget_ms is None else budget_ms)
    return CompiledGame(spec.game, str(spec.version), p, spec, graph, regions, warnings, watched)


def _screen_name_warnings(compiled: dict[str, CompiledProcessor], src: Located) -> list[str]:
    """Gates that compare a screen group with a bare processor name: `when: screen == results`
    with `results` both a screen and a processor compares two processors' values, never
    equal, so the gate stays shut (or open) on every frame, silently. The new-user
    exercise of issue 14 lost minutes to exactly this."""
    out = []
    for pname, proc in compiled.items():
        gates: list[tuple[KeyPath, Expr | None]] = [(("processors", pname, "when"), proc.gate)]
        gates += [(("processors", pname, "fields", f.name, "when"), f.gate) for f in proc.fields]
        for path, gate in gates:
            if gate is None:
                continue
            for group, other in compared_names(gate):
                target = compiled.get(group)
                if target is None or not target.is_screen_group or group == other:
                    continue
                screens = {s.name for s in target.screens}
                hint = f"{group}.name == \"{other}\"" if other in screens else f"a quoted name, {group}.name == \"...\""
                where = ".".join(str(k) for k in path)
                out.append(f"{src.file}:{src.where(path)[0]}: {where}: `{gate.text}` compares screen group "
                           f"{group!r} with the value of processor {other!r}, not with a screen's name; "
                           f"to test the screen, write {hint}")
    return out


def _compile_processor(name: str, ps: ProcessorSpec, ctx: CompileContext, known: set[str]) -> CompiledProcessor:
    path = ("processors", name)
    problems = Problems()  # the gate's and each field's, in one pass
    gate = None
    with problems.check():
        gate = None if ps.when is None else _compile_gate(ps.when, known, ctx, path + ("when",))
    every = None if ps.every is None else float(ps.every)
    fields: list[CompiledField] = []
    screens: list[CompiledScreen] = []
    rows = None
    if ps.fields is not None:
        earlier: list[str] = []
        if ps.rows is not None:
            with problems.check():
                rows = _compile_rows(ps.rows, ctx, path + ("rows",))
            earlier.append("row")
        for fname, fs in ps.fields.items():
            fpath = path + ("fields", fname)
            with problems.check():
                step = fs.step.compile(ctx, fpath + (fs.step.kind,), earlier)
                field_gate = None if fs.when is None else _compile_gate(fs.when, known, ctx, fpath + ("when",))
                agree = tuple(other.compile(ctx, fpath + ("agree", j, other.kind), earlier)
                              for j, other in enumerate(fs.agree))
                fields.append(CompiledField(name=fname, step=step, stable_for=fs.stable_for, vote=fs.vote,
                                            monotonic=fs.monotonic, gate=field_gate, agree=agree, emit=fs.emit,
                                            within=fs.within if fs.within is not None else max(1.0, 3 * (every or 0.0))))
            earlier.append(fname)  # declared, even if broken: later fields may be placed by it
    else:
        for sname, ss in (ps.screens or {}).items():
            earlier = []
            steps = []
            for i, spec in enumerate(ss.steps):
                with problems.check():
                    steps.append(spec.compile(ctx, path + ("screens", sname, ss.mode, i, spec.kind), earlier))
                earlier.append(f"{sname}[{i}]")
            screens.append(CompiledScreen(sname, ss.mode, tuple(steps)))
    problems.raise_any()
    return CompiledProcessor(name=name, fields=tuple(fields), screens=tuple(screens), rows=rows, default=ps.default,
                             every=every, offset=float(ps.offset), on_skip=ps.on_skip, gate=gate,
                             look_behind=float(ps.look_behind), confidence=ps.confidence, emit=ps.emit)


def _compile_gate(text: str, known: set[str], ctx: CompileContext, path: KeyPath) -> Expr:
    try:
        return compile_expr(text, known)
    except ExprError as e:
        line, col = ctx.src.where(path)
        raise GameFileError(ctx.src.file, line, col, ".".join(map(str, path)), str(e)) from None


def _compile_rows(rs: RowsSpec, ctx: CompileContext, rpath: KeyPath) -> CompiledRows:
    """The row finder and presence tests of a processor with ``rows``, checked where a
    declaration cannot check: the region exists and, for bands or markers, is one box to
    search. (What the fields of a processor with rows may not be is a rule of ProcessorSpec.)"""
    region = ctx.region(rs.region, rpath + ("region",))
    if (rs.band is not None or rs.template is not None) and region.multi:
        raise ctx.src.error(rpath + ("region",), f"rows are looked for in one box; region '{rs.region}' has several "
                                                 f"(without band or template, its boxes are the rows)")
    band = None
    if rs.band is not None:
        b = rs.band
        band = CompiledBand(ColorRanges.of(b.space, b.ranges), b.min, b.gap, b.height)
    marker = None
    if rs.template is not None:
        marker = rs.template.marker(rs.region, max_hits=4 * rs.max).compile(ctx, rpath + ("template",), [])
    present = tuple(step.compile(ctx, rpath + ("present", i, step.kind), ["row"]) for i, step in enumerate(rs.present))
    return CompiledRows(region=region, max=rs.max, present=present, band=band, marker=marker)


def _run_order(spec: GameSpec, deps: dict[str, set[str]], src: Located) -> list[str]:
    """Declared order, moved only as far as needed for gates to see this frame's values."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(n: str, chain: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cycle = chain[chain.index(n):] + [n]
            raise src.error(("processors", cycle[0], "when"),
                            f"gate cycle: {' -> '.join(cycle)}; a gate may use its own last value, "
                            f"but processors cannot wait for each other")
        state[n] = 1
        for d in sorted(deps[n], key=list(spec.processors).index):
            visit(d, chain + [n])
        state[n] = 2
        order.append(n)

    for n in spec.processors:
        visit(n, [])
    return order
