"""The fault folder: the newest frames that failed, kept so `otrig run` can reproduce them.

The seed asks a plugin to "request that the current image be uploaded to allow reproduction";
a local plugin can simply keep it.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("otrig.server")


class FaultSaver:
    """Keeps the newest frames that failed, as ``<stamp>.png`` + ``<stamp>.json``.

    Saving runs on one background thread behind a small queue: a burst of failures never
    slows the answers (extra faults are dropped and counted).
    """

    def __init__(self, folder: Path, keep: int = 20, error_interval: float = 1.0):
        self.folder = Path(folder)
        self.keep = keep
        self.error_interval = error_interval
        self.saved = 0
        self.dropped = 0
        self._last_error_save = 0.0
        self._lock = threading.Lock()
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

    def submit(self, image, frame: dict[str, Any], info: dict[str, Any], *, exception: bool) -> str | None:
        """Queue a fault; returns its stamp, or None if skipped (rate limit / queue full)."""
        if self.keep <= 0:
            return None
        if not exception:
            now = time.monotonic()
            with self._lock:
                if now - self._last_error_save < self.error_interval:
                    return None
                self._last_error_save = now
        if self._queue.full():
            self.dropped += 1
            return None
        stamp = self.stamp()
        # The image is a view into the request's body buffer, which is reused for another
        # request once this one is answered: the saver keeps its own copy (faults only).
        image = np.array(image, copy=True)
        try:
            self._queue.put_nowait((stamp, image, frame, info))
        except queue.Full:
            self.dropped += 1
            return None
        return stamp

    def flush(self, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < end:
            time.sleep(0.01)

    def _run(self) -> None:
        while True:
            stamp, image, frame, info = self._queue.get()
            try:
                self._write(stamp, image, frame, info)
            except Exception:  # noqa: BLE001 - a failing disk must not kill the server
                log.exception("could not save fault %s in %s", stamp, self.folder)
            finally:
                self._queue.task_done()

    def _write(self, stamp: str, image, frame: dict[str, Any], info: dict[str, Any]) -> None:
        import cv2

        self.folder.mkdir(parents=True, exist_ok=True)
        png = self.folder / f"{stamp}.png"
        if not cv2.imwrite(str(png), image):
            raise OSError(f"cv2.imwrite failed for {png}")
        doc = {"frame": frame, **info}
        tmp = self.folder / f"{stamp}.json.tmp"
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=repr), encoding="utf-8")
        tmp.replace(self.folder / f"{stamp}.json")
        self.saved += 1
        self._prune()

    def _prune(self) -> None:
        stamps = sorted({p.name.split(".")[0] for p in self.folder.glob("*.json")})
        for old in stamps[:-self.keep] if len(stamps) > self.keep else []:
            for suffix in (".json", ".png"):
                try:
                    (self.folder / f"{old}{suffix}").unlink()
                except FileNotFoundError:
                    pass
