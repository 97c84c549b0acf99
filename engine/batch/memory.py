"""How far back a game's per-stream state reaches, and that state as a comparable value.

A segment of a video can be run on its own only if the state the engine carries into its
first frame (cadence slots, gate times, smoothing histories, last values: see
engine.runtime.state) can be rebuilt from the frames just before it. This module answers
two questions:

* :func:`game_memory`: from the compiled graph alone, how many seconds of media time
  (the *warm-up window*) rebuild that state, or why no window can.
* :func:`snapshot` / :func:`restore`: the state as a plain value, with every entry that can
  no longer change any output dropped, so that "the warm-up rebuilt the state" is checked
  by ``==`` at every segment boundary (engine.batch.driver) instead of assumed.

What each piece of state needs (graph.py is the reference):

* cadence ``every``: the slot a processor last ran in. A slot older than the one of the last
  frame is the same as none (the next frame runs it either way), so ``every`` seconds.
* ``look_behind``: the last time the gate held, ``look_behind`` seconds.
* smoothing (``vote``/``stable_for`` n): up to n reads, each at most ``within`` after the one
  before, or the history starts afresh: n x ``within`` seconds. ``stable_for`` also holds the
  last value read n times in a row, and ``monotonic`` the last accepted value, until a read
  replaces them; a screen group tries its last winner first. These renew themselves with
  the reads; under reads that never agree they could be any age, which is what the check
  at each boundary is for.
* a gate that reads another processor sees its value of this frame, or its last value.
  A processor without a gate runs at least every ``every`` seconds, so its last value is that
  fresh and its own memory adds up. A processor *with* a gate may not have run for hours
  (Apex's ``summary_layout`` outside the summary screen), and a gate reading its own
  processor's last value is a latch: such state is unbounded, and such a game's videos are
  run whole, never cut (:attr:`Memory.bounded`).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from engine.runtime.graph import CompiledField, CompiledProcessor, Graph
from engine.runtime.state import StreamState

Snapshot = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Memory:
    window: float                 # seconds of media time that rebuild the state, if bounded
    unbounded: tuple[str, ...]    # why the state can depend on any earlier frame

    @property
    def bounded(self) -> bool:
        return not self.unbounded


def _smoothing_n(f: CompiledField) -> int:
    return max(f.stable_for, f.vote)


def _gate_reads(p: CompiledProcessor) -> tuple[set[str], bool]:
    """Processors whose values p's gates read (other than p), and whether p's own gate reads
    p's last value (a field gate reading p sees this frame's fields, which is no state)."""
    own = p.gate is not None and p.name in p.gate.names
    names: set[str] = set() if p.gate is None else set(p.gate.names)
    for f in p.fields:
        if f.gate is not None:
            names |= f.gate.names
    return names - {p.name}, own


def _local(p: CompiledProcessor) -> float:
    w = max(p.every or 0.0, p.look_behind)
    for f in p.fields:
        if _smoothing_n(f) > 1:
            w = max(w, _smoothing_n(f) * f.within)
        if f.monotonic is not None:
            w = max(w, 2 * f.within)  # the held value and one pending wrong-way read
    return w


def game_memory(graph: Graph) -> Memory:
    """The warm-up window of a compiled game, or why its state is unbounded."""
    procs = {p.name: p for p in graph.processors}
    reasons: list[str] = []
    reads: dict[str, set[str]] = {}
    for p in graph.processors:
        names, own = _gate_reads(p)
        reads[p.name] = names
        if own:
            reasons.append(f"{p.name}'s gate reads its own last value, which can be any age")
        for q in sorted(names):
            if q in procs and procs[q].gate is not None:
                reasons.append(f"{p.name} reads {q} in a gate, and {q} has a gate of its own: "
                               f"its last value can be any age")
    mem: dict[str, float] = {}

    def memory(name: str) -> float:  # the graph's gates are acyclic (checked at load time)
        if name not in mem:
            p = procs[name]
            mem[name] = _local(p) + max((memory(q) + (procs[q].every or 0.0) for q in reads[name] if q in procs),
                                        default=0.0)
        return mem[name]

    window = max((memory(p.name) for p in graph.processors), default=0.0)
    return Memory(window=window, unbounded=tuple(reasons))


# ----------------------------------------------------------------------------- snapshots

def _fields(graph: Graph) -> dict[tuple[str, str], CompiledField]:
    return {(p.name, f.name): f for p in graph.processors for f in p.fields}


def _read_by_gates(graph: Graph) -> set[str]:
    names: set[str] = set()
    for p in graph.processors:
        if p.gate is not None:
            names |= p.gate.names
        for f in p.fields:
            if f.gate is not None:
                names |= f.gate.names
    return names


def snapshot(st: StreamState, graph: Graph) -> Snapshot:
    """The stream's state as a plain (picklable, ``==``-comparable) value, without the entries
    that can change no later output: a cadence slot older than the last frame's, a gate
    time beyond ``look_behind``, a smoothing history whose next read starts afresh, a last
    value no gate reads (and no ``on_skip: repeat`` repeats)."""
    last_t = st.last_t
    procs = {p.name: p for p in graph.processors}
    fields = _fields(graph)
    read = _read_by_gates(graph)
    slots: dict[str, int] = {}
    for name, slot in st.slots.items():
        p = procs.get(name)
        if p is not None and p.every and last_t is not None and \
                slot == math.floor((last_t - p.offset) / p.every + 1e-9):
            slots[name] = slot
    last = {name: v for name, v in st.last.items()
            if name in read or (name in procs and procs[name].on_skip == "repeat")}
    gate_true_t = {name: t for name, t in st.gate_true_t.items()
                   if name in procs and procs[name].look_behind > 0 and last_t is not None
                   and last_t - t <= procs[name].look_behind}
    history: dict[tuple[str, str], list[Any]] = {}
    read_t: dict[tuple[str, str], float] = {}
    stable: dict[tuple[str, ...], Any] = {}
    for key, t in st.read_t.items():
        f = fields.get(key)  # type: ignore[arg-type]
        if f is None or last_t is None or last_t - t > f.within:
            continue  # the next read is more than `within` later: it starts afresh
        read_t[key] = t
        if key in st.history:
            history[key] = list(st.history[key])
        if f.vote <= 1 and key in st.stable:  # a vote never reads its held value
            stable[key] = st.stable[key]
    for skey, v in st.stable.items():
        if len(skey) == 3:  # (processor, field, "monotonic"): held until a read replaces it
            stable[skey] = v
    return {"last_t": last_t, "slots": slots, "last": last, "gate_true_t": gate_true_t,
            "screen_last": dict(st.screen_last), "history": history, "read_t": read_t, "stable": stable}


def restore(snap: Snapshot, st: StreamState, graph: Graph) -> None:
    """Put a :func:`snapshot` back into a (fresh) stream state."""
    fields = _fields(graph)
    st.reset()
    st.last_t = snap["last_t"]
    st.slots.update(snap["slots"])
    st.last.update(snap["last"])
    st.gate_true_t.update(snap["gate_true_t"])
    st.screen_last.update(snap["screen_last"])
    st.read_t.update(snap["read_t"])
    st.stable.update(snap["stable"])
    for key, values in snap["history"].items():
        st.history[key] = deque(values, maxlen=_smoothing_n(fields[key]))
