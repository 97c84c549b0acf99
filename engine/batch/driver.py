"""The client side of a distributed run: submit, check each segment boundary, write in order.

Every source is planned on a worker (probe, keyframes: engine.batch.plan), then its units
are submitted at once. Results arrive in any order; each source's are written in order.
Before a segment's lines are written, the state its warm-up built is compared with the
state the previous segment ended with (engine.batch.memory snapshots): equal, the
segment's output is the whole run's; different (state the warm-up window could not
rebuild), the segment is run again from the previous segment's end state. The merged
output is therefore identical to a sequential run whatever the game, and the count of
segments run again says how well the warm-up window worked.

A unit that raises (or whose worker dies) is retried by Dask, ``RETRIES`` times; a source
that cannot be read fails alone, named, and the others go on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from engine.batch.memory import Snapshot
from engine.batch.plan import Job, Plan, SourceRef
from engine.batch.progress import Progress
from engine.batch.sinks import Sink
from engine.batch.unit import UnitResult, plan_task, run_unit

RETRIES = 2


@dataclass(frozen=True, kw_only=True)
class SourceOutcome:
    name: str
    frames: int = 0
    units: int = 0
    redone: int = 0            # segments run again from the previous one's end state
    skipped: bool = False      # its output was already complete
    error: str | None = None
    whole: str | None = None   # why a long video was run in one piece


@dataclass
class _Track:
    """The driver's working record of one source (lives for one run_batch call)."""

    ref: SourceRef
    plan: Plan | None = None
    results: dict[int, UnitResult] = field(default_factory=dict)
    next: int = 0
    carried: Snapshot | None = None
    frames: int = 0
    redone: int = 0
    error: str | None = None
    finished: bool = False

    def outcome(self) -> SourceOutcome:
        return SourceOutcome(name=self.ref.name, frames=self.frames, units=len(self.plan.units) if self.plan else 0,
                             redone=self.redone, error=self.error, whole=self.plan.whole if self.plan else None)


def run_batch(client: Any, job: Job, sources: Sequence[SourceRef], sink: Sink, progress: Progress,
              skip: frozenset[int] = frozenset()) -> list[SourceOutcome]:
    """Run every source not in ``skip`` on ``client``'s cluster; return one outcome per source."""
    from distributed import as_completed  # noqa: PLC0415

    tracks = [_Track(ref=s) for s in sources]
    pending: dict[Any, tuple[str, _Track]] = {}
    ac = as_completed(loop=client.loop)

    def submit(what: str, track: _Track, fn: Any, *args: Any) -> None:
        fut = client.submit(fn, *args, pure=False, retries=RETRIES)
        pending[fut] = (what, track)
        ac.add(fut)

    def fail(track: _Track, message: str) -> None:
        track.error, track.finished = message, True
        sink.failed(track.ref.index)
        client.cancel([f for f, (_, t) in pending.items() if t is track])

    def advance(track: _Track) -> None:
        assert track.plan is not None
        while track.next in track.results:
            r = track.results.pop(track.next)
            if r.unit.index > 0 and not r.carried and r.start_state != track.carried:
                track.redone += 1
                submit("unit", track, run_unit, job, r.unit, track.carried)
                return
            sink.write(track.ref.index, r.lines)
            track.frames += r.frames
            if r.error is not None:  # what it read stands (as a sequential run's); the rest is not read
                fail(track, r.error)
                return
            track.carried = r.end_state
            track.next += 1
        if track.next == len(track.plan.units):
            track.finished = True
            sink.done(track.ref.index)

    client.subscribe_topic(job.topic, lambda event: progress.unit(event[1]["unit"], event[1]["frames"]))
    for t in tracks:
        if t.ref.index not in skip:
            submit("plan", t, plan_task, t.ref, job)
    for fut in ac:
        what, track = pending.pop(fut)
        if track.finished:
            continue
        if fut.status != "finished":
            exc = fut.exception() if fut.status == "error" else "cancelled"
            fail(track, f"{track.ref.name}: the {what} task failed {RETRIES + 1} times on the cluster: "
                        f"{type(exc).__name__}: {exc}")
            continue
        result = fut.result()
        del fut  # its data can leave the worker
        if what == "plan":
            track.plan = result
            if result.error is not None:
                fail(track, result.error)
                continue
            progress.add_total(sum(u.expected for u in result.units))
            for unit in result.units:
                submit("unit", track, run_unit, job, unit)
        else:
            progress.unit(result.unit.key, result.frames)
            track.results[result.unit.index] = result
            advance(track)
    client.unsubscribe_topic(job.topic)
    progress.close()
    return [SourceOutcome(name=t.ref.name, skipped=True) if t.ref.index in skip else t.outcome() for t in tracks]
