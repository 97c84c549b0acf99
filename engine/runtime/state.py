"""State kept across frames, per stream.

A stream is identified by the frame's ``source`` object: two clients posting frames from
different sources (different files, captures or extract runs) never share cadence, gates,
smoothing or last values. The key is a hash of ``source`` as canonical JSON (sorted keys);
frames without ``source`` share one default stream. Media time going backwards by more
than a second (the same video posted again) starts the stream afresh.
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

MAX_STREAMS = 64


def stream_key(frame: dict[str, Any]) -> str:
    src = frame.get("source")
    if src is None:
        return "default"
    try:
        text = json.dumps(src, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        text = repr(src)
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:12]


def frame_time(frame: dict[str, Any], fallback: float) -> float:
    """Media time for cadence: relative_timestamp, else timestamp, else the server clock."""
    for key in ("relative_timestamp", "timestamp"):
        v = frame.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) < 1e15:
            return float(v)
    return fallback


@dataclass
class StreamState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_t: float | None = None
    last: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)   # processor -> (object, t)
    slots: dict[str, int] = field(default_factory=dict)                           # cadence slot last run
    gate_true_t: dict[str, float] = field(default_factory=dict)
    screen_last: dict[str, str] = field(default_factory=dict)
    history: dict[tuple[str, str], deque] = field(default_factory=dict)
    stable: dict[tuple[str, ...], Any] = field(default_factory=dict)  # (processor, field[, "monotonic"])
    read_t: dict[tuple[str, str], float] = field(default_factory=dict)  # media time of a field's last read
    frames: int = 0

    def reset(self) -> None:
        for d in (self.last, self.slots, self.gate_true_t, self.screen_last, self.history, self.stable,
                  self.read_t):
            d.clear()


class StreamStates:
    """A bounded map of stream key -> state (least recently used streams are dropped)."""

    def __init__(self, limit: int = MAX_STREAMS):
        self._limit = limit
        self._lock = threading.Lock()
        self._states: OrderedDict[str, StreamState] = OrderedDict()

    def get(self, key: str) -> StreamState:
        with self._lock:
            st = self._states.get(key)
            if st is None:
                st = self._states[key] = StreamState()
                while len(self._states) > self._limit:
                    self._states.popitem(last=False)
            else:
                self._states.move_to_end(key)
            return st

    def __len__(self) -> int:
        return len(self._states)
