"""What a worker runs: plan a source, run one unit (a still, a whole video or a segment).

Both are plain functions of picklable frozen data (engine.batch.plan), so any Dask worker
that sees the same files can run them, and a unit that fails or whose worker dies can run
again anywhere with the same result.
"""
from __future__ import annotations

import copy
import functools
import time
from dataclasses import dataclass
from typing import Any

from engine.lang.errors import SourceError
from engine.media.sources import VideoSource, read_image
from engine.runtime.game import CompiledGame, load_game
from engine.runtime.graph import Graph
from engine.runtime.loop import FrameNotAnswered, run_frame
from engine.runtime.state import StreamStates, stream_key
from engine.batch.memory import Snapshot, game_memory, restore, snapshot
from engine.batch.plan import GameRef, Job, Plan, SourceRef, Unit, plan_source

PROGRESS_EVERY_S = 1.0  # how often a running unit reports its frames (one small event)


@dataclass(frozen=True, kw_only=True)
class UnitResult:
    unit: Unit
    lines: bytes = b""                  # the unit's JSON Lines, in order
    frames: int = 0
    start_state: Snapshot | None = None  # the state carried into its first output frame (segments after the first)
    end_state: Snapshot | None = None    # the state after its last frame (segments before the last)
    carried: bool = False               # started from the previous segment's end state, not a warm-up
    error: str | None = None            # the source cannot be read (or answered) past this point


@functools.lru_cache(maxsize=4)
def compiled_game(ref: GameRef) -> CompiledGame:
    """The game, loaded once per worker process: a load reads templates and sets up OCR
    (measured 0.44 s for Apex, 0.2 s for Melee), as much as a short unit's work. Units
    never share its per-stream state (see :func:`fresh_graph`)."""
    return load_game(ref.path, assets=ref.assets, viewport=ref.viewport)


def fresh_graph(game: CompiledGame) -> Graph:
    """The game's graph with state of its own: two units of one video run in two threads of
    one worker have the same stream key."""
    g = copy.copy(game.graph)
    g.states = StreamStates()
    return g


def plan_task(src: SourceRef, job: Job) -> Plan:
    return plan_source(src, job, game_memory(compiled_game(job.game).graph))


class _Reporter:
    """Sends the unit's frame count to the client as a Dask event, at most once a second."""

    def __init__(self, job: Job, unit: Unit):
        self.topic, self.key = job.topic, unit.key
        self.next = time.monotonic() + PROGRESS_EVERY_S
        try:
            from distributed import get_worker  # noqa: PLC0415
            self.worker: Any = get_worker()
        except (ImportError, ValueError):  # not on a Dask worker (tests, a local call)
            self.worker = None

    def frames(self, n: int) -> None:
        if self.worker is not None and time.monotonic() >= self.next:
            self.next = time.monotonic() + PROGRESS_EVERY_S
            self.worker.log_event(self.topic, {"unit": self.key, "frames": n})


def run_unit(job: Job, unit: Unit, initial: Snapshot | None = None) -> UnitResult:
    """Run one unit. ``initial``: the state to start from instead of a warm-up (a segment
    whose warm-up did not rebuild the state is run again from its predecessor's end)."""
    graph = fresh_graph(compiled_game(job.game))
    src = unit.source
    if unit.image:
        try:
            image, frame = read_image(src.path, wall_start=job.wall_start)
        except SourceError as e:
            return UnitResult(unit=unit, error=str(e).replace(src.path, src.name))
        frame["source"]["file"] = src.name
        try:
            body = run_frame(graph, image, frame, explain=job.explain).body
        except FrameNotAnswered as e:
            return UnitResult(unit=unit, error=f"{src.name} frame 0: {e}")
        return UnitResult(unit=unit, lines=body + b"\n", frames=1)
    return _run_video(job, unit, graph, initial)


def _run_video(job: Job, unit: Unit, graph: Graph, initial: Snapshot | None) -> UnitResult:
    src = unit.source
    lines: list[bytes] = []
    start_state: Snapshot | None = None
    report = _Reporter(job, unit)
    try:
        vs = VideoSource(src.path, job.fps, job.seek, wall_start=job.wall_start, start_sample=unit.first_sample)
        vs.source["file"] = src.name  # the name as given, as a sequential run writes it
        st = graph.states.get(stream_key({"source": vs.source}))
        if initial is not None:
            restore(initial, st, graph)
        for image, frame in vs:
            n = frame["frame_no"]
            if unit.end_frame is not None and n >= unit.end_frame:
                break
            if n < unit.start_frame:
                if initial is None:  # warm-up: state only, no output
                    graph.process(image, frame)
                continue
            if start_state is None and unit.index > 0:
                start_state = snapshot(st, graph)
            try:
                lines.append(run_frame(graph, image, frame, explain=job.explain).body + b"\n")
            except FrameNotAnswered as e:
                return _failed(unit, lines, start_state, f"{src.name} frame {n}: {e}")
            report.frames(len(lines))
    except SourceError as e:  # the lines read before it stand, as a sequential run writes them
        return _failed(unit, lines, start_state, str(e).replace(src.path, src.name))
    end_state = snapshot(st, graph) if unit.index < unit.count - 1 else None
    if start_state is None and unit.index > 0:  # no sample in the segment: the state went through
        start_state = end_state if end_state is not None else snapshot(st, graph)
    return UnitResult(unit=unit, lines=b"".join(lines), frames=len(lines), start_state=start_state,
                      end_state=end_state, carried=initial is not None)


def _failed(unit: Unit, lines: list[bytes], start_state: Snapshot | None, error: str) -> UnitResult:
    """A unit that stopped early: what it answered (a truncated video's first frames), then why."""
    return UnitResult(unit=unit, lines=b"".join(lines), frames=len(lines), start_state=start_state, error=error)
