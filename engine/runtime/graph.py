"""The compiled processor graph and its per-frame run.

Per frame: find the stream's state, map the geometry (cached), then for each processor in
dependency order: gate, cadence, run its steps, smooth, and emit. Nothing here reads files
or YAML; everything was prepared by :mod:`engine.runtime.game`.
"""
from __future__ import annotations

import math
import time
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from engine.lang.expr import Expr, ScreenName, wrap
from engine.vision.prep import ColorRanges
from engine.vision.regions import CompiledRegion, Geometry, IntBox, RegionMapper, geometry_for, line_runs
from engine.runtime.explain import explain_frame
from engine.runtime.results import FrameOutput, ProcessorTrace, StepTrace
from engine.runtime.state import StreamState, StreamStates, frame_time, stream_key
from engine.steps.base import CompiledStep, FrameContext, StepResult


@dataclass(frozen=True, kw_only=True)
class CompiledField:
    name: str
    step: CompiledStep[Any]
    stable_for: int = 1
    vote: int = 1
    monotonic: str | None = None
    gate: Expr | None = None
    within: float = 1.0  # seconds of media time between reads that are smoothed together
    agree: tuple[CompiledStep[Any], ...] = ()  # other reads that must give the same value
    emit: bool = True  # false: read (for boxes placed by it, gates), left out of the answer


@dataclass(frozen=True)
class CompiledScreen:
    name: str
    mode: str  # "all" or "any"
    steps: tuple[CompiledStep[Any], ...]


@dataclass(frozen=True)
class CompiledBand:
    ranges: ColorRanges
    min: float
    gap: float              # reference pixels
    height: tuple[float, float]


@dataclass(frozen=True, kw_only=True)
class CompiledRows:
    """Where a processor's rows are on a frame: bands of colour, template matches, or the
    boxes of a region; then the presence tests each row must pass."""

    region: CompiledRegion
    max: int
    present: tuple[CompiledStep[Any], ...]
    band: CompiledBand | None = None
    marker: CompiledStep[Any] | None = None   # a template step with all: true over the region

    def candidates(self, fc: FrameContext) -> tuple[list[IntBox], dict[str, Any]]:
        """Row boxes top to bottom (before the presence tests), and what to trace."""
        boxes = self.region.boxes(fc.geo)
        if self.band is None and self.marker is None:
            return list(boxes), {}
        x, y, w, h = boxes[0]
        if w == 0 or h == 0:
            return [], {"why": "the region lies outside the frame"}
        sy = fc.scale[1]
        if self.band is not None:
            b = self.band
            mask = b.ranges.mask(fc.image[y:y + h, x:x + w])
            fill = np.count_nonzero(mask, axis=1) / w
            runs = line_runs(fill, b.min, int(round(b.gap * sy)), b.height[0] * sy, b.height[1] * sy)
            return [(x, y + y0, w, y1 - y0) for y0, y1 in runs], {}
        assert self.marker is not None
        r = self.marker.run(fc)
        rows: list[IntBox] = []
        for hit in sorted(r.value or [], key=lambda hit: -hit["score"]):
            _, hy, _, hh = hit["box"]
            # two markers on one row (say a friendly and an enemy one) make one row
            if all(min(hy + hh, ry + rh) - max(hy, ry) < min(hh, rh) / 2 for _, ry, _, rh in rows):
                rows.append((x, hy, w, hh))
        rows.sort(key=lambda b: b[1])
        return rows, {"markers": r.value or []}


@dataclass(frozen=True, kw_only=True)
class CompiledProcessor:
    name: str
    fields: tuple[CompiledField, ...] = ()
    screens: tuple[CompiledScreen, ...] = ()
    rows: CompiledRows | None = None
    default: str | None = None
    every: float | None = None
    offset: float = 0.0
    on_skip: str = "omit"
    gate: Expr | None = None
    look_behind: float = 0.0
    confidence: bool = False
    emit: bool = True
    hidden: frozenset[str] = field(init=False)  # its `emit: false` fields, left out of the answer

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", frozenset(f.name for f in self.fields if not f.emit))

    @property
    def is_screen_group(self) -> bool:
        return bool(self.screens)


def _same_shape_lists(a: StepResult, b: StepResult) -> bool:
    return (isinstance(a.value, list) and isinstance(b.value, list) and len(a.value) == len(b.value)
            and len(a.cells) == len(a.value))


def _agree_elements(r: StepResult, other: StepResult, j: int) -> StepResult:
    """``r`` with the elements ``other`` reads otherwise made null, each with both reads as its
    reason. On Apex's summary under JPEG 60 the OCR check lost one '0' of three kills, and the
    whole list went null with it; each element kept is still two reads that agree."""
    values, cells = list(r.value), list(r.cells)
    for i, (a, b) in enumerate(zip(r.value, other.value)):
        if a is not None and a != b:
            got = repr(b) if b is not None else "nothing"
            values[i] = None
            cells[i] = replace(cells[i], value=None, hit=False, reason=f"read {a!r}, but agree[{j}] read {got}")
    if all(v is None for v in values):
        # still a list, each element with its own reason: an element an earlier agree read
        # nulled keeps that read's reason (a whole-list reason named the last agree only)
        return replace(r, value=values, cells=cells, hit=False, location=None,
                       reason=f"no element read alike by agree[{j}]")
    return replace(r, value=values, cells=cells)


class ProcessorFailure(Exception):
    def __init__(self, step: str, error: BaseException):
        super().__init__(f"{type(error).__name__}: {error}")
        self.step = step


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    return v


class Graph:
    """Processors in run order, with per-stream state."""

    def __init__(self, processors: list[CompiledProcessor], mapper: RegionMapper,
                 viewport: IntBox | None, budget_ms: float):
        self.processors = processors
        self.mapper = mapper
        self.viewport = viewport
        self.budget_ms = budget_ms
        self.states = StreamStates()
        self._screen_groups = {p.name for p in processors if p.is_screen_group}

    def geometry(self, frame: dict[str, Any]) -> Geometry:
        return geometry_for(frame, self.viewport)

    def process(self, image: np.ndarray, frame: dict[str, Any], *, explain: bool = False,
                keep_images: bool = False) -> FrameOutput:
        start = time.perf_counter()
        key = stream_key(frame)
        st = self.states.get(key)
        with st.lock:  # frames of one stream are processed in order, other streams in parallel
            t = frame_time(frame, time.time())
            if st.last_t is not None and t < st.last_t - 1.0:
                st.reset()  # the same source started again
            st.last_t = t
            st.frames += 1
            geo = self.geometry(frame)
            out = FrameOutput(objects={}, stream=key)
            fc = FrameContext(image, geo, self.mapper.scale(geo), keep_images=keep_images,
                              deadline=start + self.budget_ms / 1000)
            current: dict[str, Any] = {}
            for proc in self.processors:
                self._run_processor(proc, st, t, fc, current, out, start)
            if explain:
                out.explain = {
                    "stream": key,
                    "media_time": t,
                    "total_ms": round((time.perf_counter() - start) * 1000, 3),
                    **explain_frame(out.processors, out.steps),
                }
            return out

    # -- one processor ----------------------------------------------------------------------
    def _namespace(self, gate: Expr, st: StreamState, current: dict[str, Any]) -> dict[str, Any]:
        ns: dict[str, Any] = {}
        for name in gate.names:
            if name in current:
                ns[name] = current[name]
            elif name in st.last:
                ns[name] = self._gate_value(name, st.last[name][0])
            else:
                ns[name] = None
        return ns

    def _gate_value(self, name: str, obj: dict[str, Any]) -> Any:
        if name in self._screen_groups:
            return ScreenName(obj["name"]) if obj.get("name") is not None else None
        return wrap(obj)

    def _run_processor(self, proc: CompiledProcessor, st: StreamState, t: float, fc: FrameContext,
                       current: dict[str, Any], out: FrameOutput, start: float) -> None:
        trace = ProcessorTrace(name=proc.name, status="skip")
        out.processors.append(trace)
        if (time.perf_counter() - start) * 1000 > self.budget_ms:
            trace.reason = f"time budget: the frame's {self.budget_ms:g} ms were used up"
            return
        if proc.gate is not None:
            if proc.gate.evaluate(self._namespace(proc.gate, st, current)):
                st.gate_true_t[proc.name] = t
            else:
                last_true = st.gate_true_t.get(proc.name)
                if not (proc.look_behind > 0 and last_true is not None and t - last_true <= proc.look_behind):
                    trace.reason = f"gate: {proc.gate.text}"
                    return
        if proc.every is not None:
            if t < proc.offset:
                trace.reason = f"cadence: not before offset {proc.offset:g}s"
                self._repeat(proc, st, t, out)
                return
            slot = math.floor((t - proc.offset) / proc.every + 1e-9)
            if st.slots.get(proc.name) == slot:
                trace.reason = f"cadence: every {proc.every:g}s"
                self._repeat(proc, st, t, out)
                return
            st.slots[proc.name] = slot
        t0 = time.perf_counter()
        trace.status = "ran"
        fc.found = {}
        try:
            if proc.is_screen_group:
                obj, hit = self._run_screens(proc, st, fc, out)
            elif proc.rows is not None:
                obj, hit = self._run_rows(proc, proc.rows, st, t, fc, out, current)
            else:
                obj, hit = self._run_fields(proc, st, t, fc, out, current)
        except ProcessorFailure as e:
            trace.status = "error"
            trace.reason = f"{e.step}: {e}"
            out.errors[proc.name] = {"step": e.step, "message": str(e)}
            trace.ms = (time.perf_counter() - t0) * 1000
            return
        trace.ms = (time.perf_counter() - t0) * 1000
        trace.hit = hit
        st.last[proc.name] = (obj, t)
        current[proc.name] = self._gate_value(proc.name, obj)
        if proc.emit:
            out.objects[proc.name] = _answered(proc, obj)

    def _repeat(self, proc: CompiledProcessor, st: StreamState, t: float, out: FrameOutput) -> None:
        if proc.on_skip == "repeat" and proc.emit and proc.name in st.last:
            obj, when = st.last[proc.name]
            out.objects[proc.name] = {**_answered(proc, obj), "age": round(t - when, 3)}

    def _step(self, proc: CompiledProcessor, label: str, step: CompiledStep[Any], fc: FrameContext,
              out: FrameOutput) -> StepResult:
        t0 = time.perf_counter()
        if t0 > fc.deadline:
            # a slow step cannot be interrupted, but no further step starts after the budget
            r = StepResult(value=None, hit=False, reason=f"time budget: the frame's {self.budget_ms:g} ms were used up")
            out.steps.append(StepTrace(processor=proc.name, step=label, kind=step.kind, status="skip", result=r))
            return r
        try:
            r = step.run(fc)
        except Exception as e:  # one step's failure fails only its processor
            failed = StepResult(value=None, hit=False, reason=f"{type(e).__name__}: {e}")
            out.steps.append(StepTrace(processor=proc.name, step=label, kind=step.kind, status="error", result=failed,
                                       ms=(time.perf_counter() - t0) * 1000))
            raise ProcessorFailure(label, e) from e
        out.steps.append(StepTrace(processor=proc.name, step=label, kind=step.kind, status="hit" if r.hit else "miss",
                                   result=r, ms=(time.perf_counter() - t0) * 1000))
        return r

    def _run_rows(self, proc: CompiledProcessor, rows: CompiledRows, st: StreamState, t: float, fc: FrameContext,
                  out: FrameOutput, current: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Find the rows, keep those whose presence tests hit, read the fields on each."""
        t0 = time.perf_counter()
        boxes, details = rows.candidates(fc)
        found = StepResult(value=len(boxes), hit=bool(boxes), reason=None if boxes else details.pop("why", "no row found"),
                           boxes=list(boxes), details=details)
        out.steps.append(StepTrace(processor=proc.name, step="rows", kind="rows", status="hit" if boxes else "miss",
                                   result=found, ms=(time.perf_counter() - t0) * 1000))
        objs: list[dict[str, Any]] = []
        for i, box in enumerate(boxes):
            if len(objs) == rows.max:
                break
            fc.found = {"row": box}
            label = f"row{i}"
            if not all(self._step(proc, f"{label}.present[{j}]", step, fc, out).hit
                       for j, step in enumerate(rows.present)):
                continue  # not a row: nothing of it is read
            obj, _ = self._run_fields(proc, st, t, fc, out, current, label=f"{label}.", smooth=False)
            objs.append(obj)
        fc.found = {}
        return {"rows": objs}, bool(objs)

    def _run_fields(self, proc: CompiledProcessor, st: StreamState, t: float, fc: FrameContext,
                    out: FrameOutput, current: dict[str, Any], *, label: str = "",
                    smooth: bool = True) -> tuple[dict[str, Any], bool]:
        obj: dict[str, Any] = {}
        confidence: dict[str, float | None] = {}
        reasons: dict[str, str | list[str | None]] = {}
        any_hit = False
        for f in proc.fields:
            if f.gate is not None:
                ns = self._namespace(f.gate, st, current)
                ns[proc.name] = wrap(obj)  # its own fields read so far this frame
                if not f.gate.evaluate(ns):
                    why = f"when: {f.gate.text}"
                    out.steps.append(StepTrace(processor=proc.name, step=label + f.name, kind=f.step.kind,
                                               status="skip", result=StepResult(value=None, hit=False, reason=why)))
                    obj[f.name] = None
                    reasons[f.name] = why
                    if proc.confidence:
                        confidence[f.name] = None
                    continue
            r = self._step(proc, label + f.name, f.step, fc, out)
            if r.hit and f.agree:
                r = self._agree(proc, label + f.name, f, r, fc, out)
            if r.location is not None:
                fc.found[f.name] = r.location
            any_hit = any_hit or r.hit
            value, reason = r.value if r.hit or r.value is not None else None, r.reason
            if smooth:
                if f.monotonic is not None and value is not None:
                    value, reason = self._monotonic(proc.name, f, st, value, reason)
                value, reason = self._smooth(proc.name, f, st, t, value, reason)
            obj[f.name] = value
            if value is None and reason:
                reasons[f.name] = reason
            elif isinstance(value, list) and None in value and value == r.value and len(r.cells) == len(value):
                # a list read this frame with null elements: each null one's reason, in place
                reasons[f.name] = [None if v is not None else c.reason or "nothing read"
                                   for v, c in zip(value, r.cells)]
            if proc.confidence:
                confidence[f.name] = None if r.confidence is None else round(float(r.confidence), 3)
        if proc.confidence:
            obj["confidence"] = confidence
        if reasons:
            obj["null_reasons"] = reasons
        return obj, any_hit

    def _agree(self, proc: CompiledProcessor, label: str, f: CompiledField, r: StepResult, fc: FrameContext,
               out: FrameOutput) -> StepResult:
        """The field's read, if every other read in ``agree`` gives the same value; else a miss
        naming both reads (and nothing found, so no box is placed by a doubtful read). A list
        (several boxes) agrees element by element: an element the other read gives otherwise
        (or not at all) is null with both reads as its reason, the rest stand."""
        for j, step in enumerate(f.agree):
            other = self._step(proc, f"{label}.agree[{j}]", step, fc, out)
            if other.hit and _same_shape_lists(r, other) and other.value != r.value:
                r = _agree_elements(r, other, j)
                if not r.hit:
                    return r
            elif not other.hit or other.value != r.value:
                got = repr(other.value) if other.hit else f"nothing ({other.reason})"
                return StepResult(value=None, hit=False, score=r.score, threshold=r.threshold,
                                  confidence=r.confidence, boxes=r.boxes, details=r.details,
                                  reason=f"read {r.value!r}, but agree[{j}] read {got}")
            if other.confidence is not None and r.confidence is not None:
                r = replace(r, confidence=min(r.confidence, other.confidence))  # the trace keeps the field's own
        return r

    def _monotonic(self, pname: str, f: CompiledField, st: StreamState, value: Any,
                   reason: str | None) -> tuple[Any, str | None]:
        """Keep a value that only goes one way; a wrong-way read twice in a row is a reset."""
        key = (pname, f.name, "monotonic")
        held, pending = st.stable.get(key, (None, None))
        try:
            wrong_way = held is not None and (value > held if f.monotonic == "down" else value < held)
        except TypeError:
            wrong_way = False
        if wrong_way and value != pending:
            st.stable[key] = (held, value)
            return None, f"{value!r} goes {'up' if f.monotonic == 'down' else 'down'} from {held!r} (monotonic: {f.monotonic})"
        st.stable[key] = (value, None)
        return value, reason

    def _smooth(self, pname: str, f: CompiledField, st: StreamState, t: float, value: Any,
                reason: str | None) -> tuple[Any, str | None]:
        n = max(f.stable_for, f.vote)
        if n <= 1:
            return value, reason
        key = (pname, f.name)
        hist = st.history.get(key)
        last_t = st.read_t.get(key)
        st.read_t[key] = t
        if hist is None or last_t is None or t - last_t > f.within:
            # The first read, or one long after the last: there is nothing recent to agree
            # with. Holding an older value would answer a sparse stream (-r 0.5) with what the
            # screen showed seconds ago, so the read stands alone and starts the history.
            hist = st.history[key] = deque([_hashable(value)], maxlen=n)
            st.stable[key] = value
            return value, reason
        hist.append(_hashable(value))
        if f.vote > 1:
            counts = Counter(v for v in hist if v is not None)
            if not counts:
                return None, reason
            top = max(counts.values())
            for v in reversed(hist):  # ties go to the most recent read
                if v is not None and counts[v] == top:
                    return _unhash(v, value), None
        if len(hist) == n and all(v == hist[0] for v in hist):
            st.stable[key] = value
        if key in st.stable:
            held = st.stable[key]
            return held, (reason or f"{n} reads in a row found nothing") if held is None else None
        return None, f"waiting for {n} equal reads in a row ({len(hist)} so far)"

    def _run_screens(self, proc: CompiledProcessor, st: StreamState, fc: FrameContext,
                     out: FrameOutput) -> tuple[dict[str, Any], bool]:
        last = st.screen_last.get(proc.name)
        order = sorted(proc.screens, key=lambda s: s.name != last)  # stable: last winner first
        winner: CompiledScreen | None = None
        score: float | None = None
        for screen in order:
            hits = []
            confs: list[float] = []
            for i, step in enumerate(screen.steps):
                r = self._step(proc, f"{screen.name}[{i}]", step, fc, out)
                hits.append(r.hit)
                confs.append(1.0 if r.confidence is None else float(r.confidence))
                if r.location is not None:
                    fc.found[f"{screen.name}[{i}]"] = r.location
                if screen.mode == "all" and not r.hit:
                    break
                if screen.mode == "any" and r.hit:
                    score = r.confidence
                    break
            matched = all(hits) and len(hits) == len(screen.steps) if screen.mode == "all" else any(hits)
            if matched:
                winner = screen
                if screen.mode == "all":
                    score = min(confs)
                break
        if winner is None and time.perf_counter() > fc.deadline:
            # the budget ran out before every screen was tried: which one is up is unknown,
            # and the default would be a guess that gates everything else off (issue 16)
            obj: dict[str, Any] = {"name": None,
                                   "null_reasons": {"name": f"time budget: the frame's {self.budget_ms:g} ms were "
                                                            f"used up before every screen was tried"}}
            if proc.confidence:
                obj["confidence"] = None
            return obj, False
        name = winner.name if winner else proc.default
        if winner:
            st.screen_last[proc.name] = winner.name
        obj = {"name": name}
        if proc.confidence:
            obj["confidence"] = None if score is None else round(float(score), 3)
        return obj, winner is not None


def _answered(proc: CompiledProcessor, obj: dict[str, Any]) -> dict[str, Any]:
    """The processor's object as answered: without its `emit: false` fields (gates see them)."""
    hidden = proc.hidden
    if not hidden:
        return obj

    def strip(o: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in o.items() if k not in hidden}
        for key in ("confidence", "null_reasons"):
            if isinstance(kept.get(key), dict):
                inner = {k: v for k, v in kept[key].items() if k not in hidden}
                if inner or key == "confidence":
                    kept[key] = inner
                else:
                    del kept[key]
        return kept

    if proc.rows is not None and isinstance(obj.get("rows"), list):
        return {**obj, "rows": [strip(r) for r in obj["rows"]]}
    return strip(obj)


def _unhash(v: Any, original: Any) -> Any:
    if isinstance(v, tuple) and not isinstance(original, tuple):
        return original if _hashable(original) == v else list(v)
    return v
