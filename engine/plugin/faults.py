"""The fault folder: the newest frames that failed, kept so `otrig run` can reproduce them.

The seed asks a plugin to "request that the current image be uploaded to allow reproduction";
a local plugin can simply keep it.
"""
from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("otrig.server")


# Bytes the fault folder may hold (PNG + JSON pairs): a 1080p frame is 2-5 MB as PNG, so the
# default 20 faults fit with room to spare, while a burst of noisy frames cannot fill a disk.
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
# What this saver writes, and the only files it ever deletes.
_STAMP = re.compile(r"^(\d{8}-\d{6}-\d{6}-\d{4,})\.(png|json)(\.tmp)?$")


class FaultSaver:
    """Keeps the newest frames that failed, as ``<stamp>.png`` + ``<stamp>.json`` pairs.

    A frame whose processing raised is saved at once, in the request's thread (rare, and its
    500 answer says whether the save happened). Frames with processor errors are saved on one
    background thread behind a small queue: a burst of them never slows the answers (extra
    ones are dropped and counted). The folder keeps at most ``keep`` pairs and ``max_bytes``;
    pruning removes whole pairs, oldest first, and only files named as this saver names them.
    """

    def __init__(self, folder: Path, keep: int = 20, error_interval: float = 1.0,
                 max_bytes: int = DEFAULT_MAX_BYTES):
        self.folder = Path(folder)
        self.keep = keep
        self.max_bytes = max_bytes
        self.error_interval = error_interval
        self.saved = 0
        self.dropped = 0
        self.failed = 0
        self._last_error_save = 0.0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one writer+pruner at a time (request threads and the queue's)
        self._seq = 0
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._thread = threading.Thread(target=self._run, name="otrig-faults", daemon=True)
        self._thread.start()

    def stamp(self) -> str:
        with self._lock:
            self._seq += 1
            seq = self._seq
        t = time.time()
        return time.strftime("%Y%m%d-%H%M%S", time.localtime(t)) + f"-{int(t * 1e6) % 1_000_000:06d}-{seq:04d}"

    def save(self, image: np.ndarray, frame: dict[str, Any], info: dict[str, Any]) -> tuple[str | None, str | None]:
        """Write a fault now: ``(stamp, None)`` once both files are on disk, ``(None, why)`` if not."""
        if self.keep <= 0:
            return None, "the fault folder is off (--max-faults 0)"
        if not self._due():
            return None, f"one fault per {self.error_interval:g} s is kept, and one was just saved"
        stamp = self.stamp()
        try:
            self._write(stamp, image, frame, info)
        except Exception as e:  # noqa: BLE001 - a failing disk must not turn into another error
            log.exception("could not save fault %s in %s", stamp, self.folder)
            return None, f"{type(e).__name__}: {e}"
        return stamp, None

    def submit(self, image: np.ndarray, frame: dict[str, Any], info: dict[str, Any]) -> bool:
        """Queue a fault to be written in the background; False if skipped (rate limit, queue full)."""
        if self.keep <= 0 or not self._due():
            return False
        if self._queue.full():
            self.dropped += 1
            return False
        # The image is a view into the request's body buffer, which is reused for another
        # request once this one is answered: the saver keeps its own copy (faults only).
        try:
            self._queue.put_nowait((np.array(image, copy=True), frame, info))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def _due(self) -> bool:
        """Whether a fault may be saved now (at most one per error_interval: a client repeating
        a frame that fails must not make every worker encode and write PNGs)."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_error_save < self.error_interval:
                return False
            self._last_error_save = now
            return True

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued fault is written (or ``timeout`` passes); True if all were."""
        end = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < end:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def _run(self) -> None:
        while True:
            image, frame, info = self._queue.get()
            try:
                self.save(image, frame, info)
            finally:
                self._queue.task_done()

    def _write(self, stamp: str, image: np.ndarray, frame: dict[str, Any], info: dict[str, Any]) -> None:
        import cv2

        # ASCII JSON: a lone surrogate in the client's frame (valid JSON, not encodable as
        # UTF-8) is kept as its \\udxxx escape instead of failing the write.
        text = json.dumps({"frame": frame, **info}, ensure_ascii=True, indent=1, default=repr)
        ok, png = cv2.imencode(".png", image)
        if not ok:
            raise OSError("the frame could not be encoded as PNG")
        with self._write_lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            written: list[Path] = []
            try:
                for suffix, data in ((".png", png.tobytes()), (".json", text.encode("ascii"))):
                    final = self.folder / f"{stamp}{suffix}"
                    tmp = self.folder / f"{stamp}{suffix}.tmp"
                    written.append(tmp)
                    tmp.write_bytes(data)
                    tmp.replace(final)
                    written[-1] = final
            except BaseException:
                self.failed += 1
                for p in written:  # no half pair is left behind
                    p.unlink(missing_ok=True)
                raise
            self.saved += 1
            self._prune()

    def _prune(self) -> None:
        """Drop the oldest pairs beyond ``keep`` pairs or ``max_bytes`` (leftover halves too)."""
        sizes: dict[str, int] = {}
        for p in self.folder.iterdir():
            m = _STAMP.match(p.name)
            if m and p.is_file():
                sizes[m.group(1)] = sizes.get(m.group(1), 0) + p.stat().st_size
        stamps = sorted(sizes)
        total = sum(sizes.values())
        # the newest pair stays even when it alone is over max_bytes: its save was just reported
        while len(stamps) > 1 and (len(stamps) > self.keep or total > self.max_bytes):
            old = stamps.pop(0)
            total -= sizes[old]
            for p in self.folder.glob(f"{old}.*"):
                if _STAMP.match(p.name):
                    p.unlink(missing_ok=True)
