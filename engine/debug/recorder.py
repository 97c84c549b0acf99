"""`--record DIR`: keep what each processed frame saw and produced, for `otrig report`.

Layout of DIR::

    meta.json                  game name, processors, regions, recorder settings and counters
    frames.jsonl               one line per recorded frame: frame in, answer out, processor
                               and step traces (values, scores, thresholds, reasons, ms)
    img/<seq>_thumb.jpg        downscaled picture of the whole frame
    img/<seq>_<proc>_<step>_crop.png / _prep.png
                               what a step looked at, before and after its `prep`
    img/<seq>_<proc>_<step>_c<i>_crop.png / _prep.png
                               the same per box of a region of several (boxes, grid): the
                               step's record lists them under "cells", each with its box,
                               value, score, confidence, reason and details

A Recorder is what :func:`engine.runtime.loop.run_frame` hands each frame to, with the answer
bytes it built (the recorder never builds an answer of its own), so a recording holds what was
answered. Cost on the caller's thread is kept small: the thumbnail is downscaled and the
(small) crops are copied there, everything else (parsing the answer, encoding, JSON, disk)
happens on one background thread fed through a bounded queue. When the queue is full the
frame is dropped and counted rather than blocking the server; offline runs (``block=True``)
wait for the writer instead. Disk use is bounded by ``budget_mb``: images stop once the image
share of the budget is used, JSON lines stop when the whole budget is used. Crops are kept for at most
``crops_max_frames`` frames and only every ``crops_every``-th frame.

Recording off costs nothing: callers hold ``recorder = None`` and skip the call.
"""
from __future__ import annotations

import json
import math
import os
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.runtime.game import CompiledGame
from engine.runtime.results import FrameOutput, StepTrace
from engine.steps.base import BoxResult

FRAMES_FILE = "frames.jsonl"
META_FILE = "meta.json"
IMG_DIR = "img"

# JSON lines are kept small: long strings and lists are cut, arrays become a shape.
_MAX_STR = 300
_MAX_LIST = 64
_MAX_DEPTH = 6
# Crops larger than this (either side) are downscaled before being kept.
_MAX_CROP_SIDE = 480
# Room kept back from the image share of the budget for the JSON lines and meta.json.
_META_RESERVE = 64 * 1024

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(s: str) -> str:
    """A file-name-safe version of a processor or step name."""
    return _SAFE.sub("-", str(s)).strip("-")[:40] or "x"


def jsonable(v: Any, depth: int = 0) -> Any:
    """A small JSON-safe copy of ``v``: numpy scalars unwrapped, arrays summarised, cut long."""
    if v is None or isinstance(v, (bool, int)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, str):
        return v if len(v) <= _MAX_STR else v[:_MAX_STR] + "…"
    if isinstance(v, np.generic):
        return jsonable(v.item(), depth)
    if isinstance(v, np.ndarray):
        if v.size <= 16 and v.ndim <= 2:
            return jsonable(v.tolist(), depth)
        return f"<array {'x'.join(map(str, v.shape))} {v.dtype}>"
    if isinstance(v, (bytes, bytearray, memoryview)):
        return f"<{len(v)} bytes>"
    if depth >= _MAX_DEPTH:
        return "…"
    if isinstance(v, dict):
        out = {}
        for i, (k, x) in enumerate(v.items()):
            if i >= _MAX_LIST:
                out["…"] = f"{len(v) - _MAX_LIST} more"
                break
            out[str(k)] = jsonable(x, depth + 1)
        return out
    if isinstance(v, (list, tuple, set, frozenset)):
        items = list(v)
        out_l = [jsonable(x, depth + 1) for x in items[:_MAX_LIST]]
        if len(items) > _MAX_LIST:
            out_l.append(f"… {len(items) - _MAX_LIST} more")
        return out_l
    if hasattr(v, "__dict__") and not callable(v):
        return jsonable({k: x for k, x in vars(v).items() if not k.startswith("_")}, depth + 1)
    return jsonable(str(v), depth)


def _small_copy(a: np.ndarray | None) -> np.ndarray | None:
    """An owned, uint8, at most _MAX_CROP_SIDE copy of a crop view (taken on the caller's thread)."""
    if a is None or not isinstance(a, np.ndarray) or a.size == 0 or a.ndim not in (2, 3):
        return None
    h, w = a.shape[:2]
    if a.ndim == 3 and a.shape[2] not in (1, 3, 4):
        return None
    u8: np.ndarray = a
    if a.dtype != np.uint8:
        if a.dtype == bool:
            u8 = a.astype(np.uint8) * 255
        else:
            f = a.astype(np.float32)
            lo, hi = float(np.nanmin(f)), float(np.nanmax(f))
            if 0.0 <= lo and hi <= 1.0 and a.dtype.kind == "f":
                lo, hi = 0.0, 1.0
            u8 = np.clip((f - lo) * (255.0 / (hi - lo or 1.0)), 0, 255).astype(np.uint8)
    side = max(h, w)
    if side > _MAX_CROP_SIDE:
        import cv2
        s = _MAX_CROP_SIDE / side
        return cv2.resize(u8, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return np.array(u8, copy=True, order="C")


def _step_record(t: StepTrace) -> dict[str, Any]:
    r = t.result
    d: dict[str, Any] = {"processor": t.processor, "step": t.step, "kind": t.kind, "status": t.status}
    if r.value is not None:
        d["value"] = jsonable(r.value)
    if r.score is not None:
        d["score"] = jsonable(r.score)
    if r.threshold is not None:
        d["threshold"] = jsonable(r.threshold)
    if r.reason:
        d["reason"] = jsonable(r.reason)
    d["ms"] = round(float(t.ms or 0.0), 3)
    if r.boxes:
        d["boxes"] = [[int(x) for x in b[:4]] for b in r.boxes[:_MAX_LIST]]
    if r.details and not r.cells:  # a region of several boxes: each cell has its own
        d["details"] = jsonable(r.details)
    if r.location is not None:
        d["found"] = [int(x) for x in r.location[:4]]
    if r.cells:
        d["cells"] = [_cell_record(c) for c in r.cells[:_MAX_LIST]]
    return d


def _cell_record(c: BoxResult) -> dict[str, Any]:
    """One box of a region of several (boxes, grid): its read, as a step's is recorded."""
    d: dict[str, Any] = {"status": "hit" if c.hit else "miss"}
    if c.box is not None:
        d["box"] = [int(x) for x in c.box[:4]]
    if c.value is not None:
        d["value"] = jsonable(c.value)
    for key in ("score", "confidence"):
        v = getattr(c, key)
        if v is not None:
            d[key] = jsonable(v)
    if c.reason:
        d["reason"] = jsonable(c.reason)
    if c.location is not None:
        d["found"] = [int(x) for x in c.location[:4]]
    if c.details:
        d["details"] = jsonable(c.details)
    return d


@dataclass
class _Item:
    seq: int
    record: dict[str, Any]
    answer: bytes | None = None   # parsed into record["answer"] on the writer thread
    thumb: np.ndarray | None = None
    # (step index, cell index or None for the step's own, file name base, crop, prepared)
    crops: list[tuple[int, int | None, str, np.ndarray | None, np.ndarray | None]] = field(default_factory=list)


@dataclass
class RecorderStats:
    frames: int = 0              # record() calls
    written: int = 0             # JSON lines written
    dropped_queue: int = 0       # frames dropped because the writer was behind
    dropped_budget: int = 0      # JSON lines not written because the budget was used up
    images: int = 0              # image files written
    images_skipped_budget: int = 0
    crop_frames: int = 0         # frames whose crops were kept
    bytes: int = 0               # bytes written to DIR
    errors: int = 0              # write errors (disk full, ...)
    last_error: str | None = None


class RecordingDirError(ValueError):
    """A --record folder that cannot take a recording; the message says why and what to do."""


# What a recording's img/ holds (see the module docstring): the only images a new recording
# of the same folder deletes.
_OWN_IMAGE = re.compile(r"^\d{6}_[A-Za-z0-9_.-]*\.(jpg|png)$")


def is_recording(folder: Path) -> bool:
    """Whether ``folder`` holds an otrig recording (a meta.json written by the recorder)."""
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and isinstance(meta.get("recorder"), dict)


def prepare_recording_dir(folder: Path) -> None:
    """Make ``folder`` ready for a new recording: create it, or replace an earlier recording's
    own files in it. A folder holding anything else is refused: a recording never deletes what
    otrig did not write (issue 16: `--record ~/videos` once emptied the folder's img/)."""
    if folder.exists() and not folder.is_dir():
        raise RecordingDirError(f"--record {folder}: that is a file; give a folder (new or empty)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        entries = sorted(p.name for p in folder.iterdir())
    except OSError as e:
        raise RecordingDirError(f"--record {folder}: cannot create or read the folder ({e.strerror or e})") from None
    if entries and not is_recording(folder):
        shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
        raise RecordingDirError(f"--record {folder}: the folder holds files that are not an otrig recording "
                                f"({shown}); give a new or empty folder")
    img = folder / IMG_DIR
    try:
        for name in (FRAMES_FILE, META_FILE, META_FILE + ".tmp"):
            (folder / name).unlink(missing_ok=True)
        if img.is_dir():
            for p in img.iterdir():
                if _OWN_IMAGE.match(p.name) and p.is_file():
                    p.unlink()
        img.mkdir(exist_ok=True)
        probe = folder / ".otrig-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise RecordingDirError(f"--record {folder}: cannot write there ({e.strerror or e})") from None


class Recorder:
    """Record processed frames into ``dir`` for ``otrig report``.

    ``record(image, frame, answer, output)`` is safe to call from the request thread: it never
    blocks on disk, and drops the frame when the writer is behind, unless ``block`` (offline
    runs, where every frame must be kept). ``close()`` (or leaving a ``with`` block) flushes
    and writes meta.json.
    """

    def __init__(self, dir: str | Path, *, crops_max_frames: int | None = 200, crops_every: int = 1,
                 budget_mb: float = 500.0, queue_size: int = 32, thumb_width: int = 480,
                 thumb_quality: int = 70, game: CompiledGame | None = None, meta: dict[str, Any] | None = None,
                 block: bool = False):
        self.dir = Path(dir)
        self.block = block
        self.img_dir = self.dir / IMG_DIR
        self.crops_max_frames = crops_max_frames
        self.crops_every = max(1, int(crops_every or 1))
        self.budget = int(budget_mb * 1024 * 1024)
        # Images may use the budget minus a share kept for JSON lines (small, but 2 hours of
        # them add up): a quarter of the budget, at most 32 MB.
        self.image_budget = max(0, self.budget - min(self.budget // 4, 32 * 1024 * 1024) - _META_RESERVE)
        self.thumb_width = int(thumb_width)
        self.thumb_quality = int(thumb_quality)
        self.stats = RecorderStats()
        self._meta: dict[str, Any] = dict(meta or {})
        self._game = game
        self._seq = 0
        self._images_on = self.thumb_width > 0 and self.image_budget > 0
        self._lines_on = True
        self._crop_frames_taken = 0
        self._closed = False
        self._lock = threading.Lock()

        prepare_recording_dir(self.dir)
        self._fh = open(self.dir / FRAMES_FILE, "a", encoding="utf-8")
        self._q: queue.Queue[_Item | None] = queue.Queue(maxsize=max(1, queue_size))
        self._started = time.time()
        if game is not None:
            self._meta = {**game.describe().to_json(), **self._meta}
        self._write_meta()
        self._thread = threading.Thread(target=self._run, name="otrig-recorder", daemon=True)
        self._thread.start()

    # ---- caller side -------------------------------------------------------------------

    def record(self, image: np.ndarray | None, frame: dict[str, Any], answer: bytes | None,
               output: FrameOutput | None) -> bool:
        """Queue one processed frame with its answer as sent (None: it had none). Returns False
        when it was dropped (writer behind or closed, or past the budget)."""
        if self._closed:
            return False
        steps = list(output.steps) if output is not None else []
        with self._lock:
            seq = self._seq
            self._seq += 1
            self.stats.frames += 1
            want_crops = (self._images_on and self._crops_due(seq)
                          and any(t.result.crop is not None or t.result.prepared is not None
                                  or any(c.crop is not None for c in t.result.cells) for t in steps))
            if want_crops:
                self._crop_frames_taken += 1
        if not self._lines_on:
            self.stats.dropped_budget += 1
            return False
        if not self.block and self._q.full():  # cheap early-out before any copying
            self.stats.dropped_queue += 1
            return False

        rec: dict[str, Any] = {"seq": seq, "wall": round(time.time(), 3), "frame": jsonable(frame),
                               "answer": None}
        if output is not None:
            rec["objects"] = jsonable(output.objects)
            if output.errors:
                rec["errors"] = jsonable(output.errors)
            if output.stream:
                rec["stream"] = output.stream
            rec["processors"] = [
                {"name": p.name, "status": p.status, "hit": bool(p.hit), "ms": round(float(p.ms or 0.0), 3),
                 **({"reason": jsonable(p.reason)} if p.reason else {})}
                for p in output.processors]
            rec["steps"] = [_step_record(t) for t in steps]
        if image is not None:
            rec["shape"] = list(image.shape)
        item = _Item(seq, rec, answer)

        if not self._images_on and self.thumb_width > 0:
            self.stats.images_skipped_budget += 1  # over the image budget: no thumbnail, no crops
        if self._images_on:
            if image is not None and image.ndim in (2, 3) and image.size:
                item.thumb = self._thumbnail(image)
            if want_crops:
                for i, t in enumerate(steps):
                    base = f"{safe_name(t.processor)}_{safe_name(t.step)}"
                    if t.result.cells:  # one crop per cell; the step's own is its last cell's
                        for j, cell in enumerate(t.result.cells[:_MAX_LIST]):
                            c, p = _small_copy(cell.crop), _small_copy(cell.prepared)
                            if c is not None or p is not None:
                                item.crops.append((i, j, f"{base}_c{j}", c, p))
                        continue
                    c, p = _small_copy(t.result.crop), _small_copy(t.result.prepared)
                    if c is not None or p is not None:
                        item.crops.append((i, None, base, c, p))
        try:
            self._q.put(item, block=self.block)
        except queue.Full:
            self.stats.dropped_queue += 1
            return False
        return True

    def _crops_due(self, seq: int) -> bool:
        if seq % self.crops_every:
            return False
        return self.crops_max_frames is None or self._crop_frames_taken < self.crops_max_frames

    def _thumbnail(self, image: np.ndarray) -> np.ndarray:
        import cv2
        h, w = image.shape[:2]
        tw = min(self.thumb_width, w)
        th = max(1, round(h * tw / w))
        # INTER_LINEAR straight from the frame: ~1 ms for 1920x1080 -> 480x270 (INTER_AREA is
        # ~15 ms, and any strided view makes OpenCV copy the frame first).
        return cv2.resize(image, (tw, th), interpolation=cv2.INTER_LINEAR)

    def close(self, timeout: float | None = 60.0) -> RecorderStats:
        """Flush the queue, stop the writer and write meta.json. Safe to call twice."""
        if self._closed:
            return self.stats
        self._closed = True
        self._q.put(None)
        self._thread.join(timeout)
        try:
            self._fh.close()
        finally:
            self._write_meta()
        return self.stats

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            try:
                self._write(item)
            except Exception as e:  # a full disk must not kill the server
                self.stats.errors += 1
                self.stats.last_error = f"{type(e).__name__}: {e}"

    def _write_image(self, name: str, img: np.ndarray, ext: str) -> str | None:
        import cv2
        if not self._images_on:
            self.stats.images_skipped_budget += 1
            return None
        params = [cv2.IMWRITE_JPEG_QUALITY, self.thumb_quality] if ext == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
        ok, buf = cv2.imencode(ext, img, params)
        if not ok:
            return None
        if self.stats.bytes + len(buf) > self.image_budget:
            self._images_on = False  # stop images for good: the caller stops copying too
            self.stats.images_skipped_budget += 1
            return None
        rel = f"{IMG_DIR}/{name}{ext}"
        with open(self.dir / rel, "wb") as f:
            f.write(buf.tobytes())
        self.stats.bytes += len(buf)
        self.stats.images += 1
        return rel

    def _write(self, item: _Item) -> None:
        rec = item.record
        if item.answer is not None:
            rec["answer"] = jsonable(json.loads(item.answer))
        stem = f"{item.seq:06d}"
        if item.thumb is not None:
            rel = self._write_image(f"{stem}_thumb", item.thumb, ".jpg")
            if rel:
                rec["thumb"] = rel
        if item.crops:
            used: set[str] = set()
            wrote = False
            for i, j, base, crop, prep in item.crops:
                name = f"{stem}_{base}"
                n = 2
                while name in used:
                    name, n = f"{stem}_{base}_{n}", n + 1
                used.add(name)
                step = rec["steps"][i] if j is None else rec["steps"][i]["cells"][j]
                if crop is not None and (rel := self._write_image(f"{name}_crop", crop, ".png")):
                    step["crop"] = rel
                    wrote = True
                if prep is not None and (rel := self._write_image(f"{name}_prep", prep, ".png")):
                    step["prep"] = rel
                    wrote = True
            if wrote:
                self.stats.crop_frames += 1
        line = json.dumps(rec, separators=(",", ":"), ensure_ascii=False) + "\n"
        try:
            data = line.encode("utf-8")
        except UnicodeEncodeError:
            # a lone surrogate from the client's frame (valid JSON, not UTF-8): kept as its
            # \\udxxx escape, so the frame is recorded as sent instead of dropped
            line = json.dumps(rec, separators=(",", ":"), ensure_ascii=True) + "\n"
            data = line.encode("ascii")
        if self.stats.bytes + len(data) > self.budget - _META_RESERVE:
            self._lines_on = False
            self.stats.dropped_budget += 1
            return
        self._fh.write(line)
        self._fh.flush()
        self.stats.bytes += len(data)
        self.stats.written += 1

    def _write_meta(self) -> None:
        meta = dict(self._meta)
        meta.setdefault("game", None)
        meta["recorder"] = {
            "crops_max_frames": self.crops_max_frames, "crops_every": self.crops_every,
            "budget_mb": round(self.budget / 1024 / 1024, 3), "thumb_width": self.thumb_width,
            "started": round(self._started, 3), "closed": self._closed,
            "stats": {k: v for k, v in vars(self.stats).items()},
        }
        tmp = self.dir / (META_FILE + ".tmp")
        tmp.write_text(json.dumps(jsonable(meta), indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.dir / META_FILE)
