"""The progress line of a distributed run, on stderr: frames done of all units, sampled
video seconds per wall second, ETA.

Units report their frame counts as Dask events (from a worker thread of the client) and
on completion (from the driver), so updates are taken under a lock. On a terminal the line
is redrawn in place at most 4 times a second; into a file or pipe a line is written every
10 s, so a log stays readable.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, TextIO


def format_eta(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    def __init__(self, stream: TextIO, *, fps: float, tty: bool, clock: Callable[[], float] = time.monotonic):
        self.stream = stream
        self.fps = fps
        self.tty = tty
        self.clock = clock
        self.start = clock()
        self.total = 0
        self._units: dict[str, int] = {}
        self._lock = threading.Lock()
        self._shown = 0.0
        self._drawn = False
        self._last = ""

    def add_total(self, frames: int) -> None:
        with self._lock:
            self.total += frames

    def unit(self, key: str, frames: int) -> None:
        """A unit's frames so far (a retried unit starts again from 0)."""
        with self._lock:
            self._units[key] = frames
        self.show()

    @property
    def done(self) -> int:
        with self._lock:
            return sum(self._units.values())

    def line(self) -> str:
        done, elapsed = self.done, max(self.clock() - self.start, 1e-9)
        total = max(self.total, done)
        width = 24
        filled = int(width * done / total) if total else 0
        rate = done / elapsed
        eta = format_eta((total - done) / rate) if rate > 0 and total else "-"
        return (f"otrig run: [{'#' * filled}{'.' * (width - filled)}] {done}/{total} frames, "
                f"{done / self.fps / elapsed:.1f} video s/s, ETA {eta}")

    def show(self, force: bool = False) -> None:
        now = self.clock()
        with self._lock:
            if not force and now - self._shown < (0.25 if self.tty else 10.0):
                return
            self._shown = now
        text = self.line()
        with self._lock:
            if text == self._last:  # nothing new (the last unit's line, then close)
                return
            self._last = text
            if self.tty:
                self.stream.write("\r" + text + "\x1b[K")
                self._drawn = True
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        self.show(force=True)
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
