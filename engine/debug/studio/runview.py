"""One run of the game on one frame, as the studio page shows it (JSON).

Built from what `CompiledGame.process(..., explain=True, keep_images=True)` returns, so it
is the data of `--explain` and the recorder: per processor its status, skip reason and ms;
per step (each `agree` read and each row's step is its own step) the crop and the prepared
image (PNG data URIs), value, score and threshold, confidence, null reason, boxes and
details. The regions are drawn from the compiled game, mapped for this frame.
"""
from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import cv2
import numpy as np

from engine.debug.recorder import jsonable
from engine.runtime.explain import explain_step
from engine.runtime.game import CompiledGame
from engine.runtime.results import FrameOutput, StepTrace

# Crops are shown at most this many pixels on a side (the report's crops are 160; an author
# wants to see single glyph pixels, and no HUD crop of the shipped games is wider than 800).
MAX_SIDE = 800


def fresh_stream(frame: dict[str, Any]) -> dict[str, Any]:
    """The frame with a source of its own, so that the run starts from empty per-stream state
    (no smoothing, cadence or gate memory from an earlier run of the same picture)."""
    source = dict(frame.get("source") or {})
    source["studio_run"] = uuid.uuid4().hex
    return {**frame, "source": source}


def png_uri(img: np.ndarray | None) -> str | None:
    """A crop or prepared image as a PNG data URI: booleans as black/white, other types
    stretched to 0-255, shrunk to MAX_SIDE. None when there is nothing to show."""
    if img is None or not isinstance(img, np.ndarray) or img.size == 0 or img.ndim not in (2, 3):
        return None
    if img.ndim == 3 and img.shape[2] not in (1, 3, 4):
        return None
    u8 = img
    if img.dtype == bool:
        u8 = img.astype(np.uint8) * 255
    elif img.dtype != np.uint8:
        f = img.astype(np.float32)
        lo, hi = float(np.nanmin(f)), float(np.nanmax(f))
        u8 = np.clip((f - lo) * (255.0 / ((hi - lo) or 1.0)), 0, 255).astype(np.uint8)
    side = max(u8.shape[:2])
    if side > MAX_SIDE:
        s = MAX_SIDE / side
        u8 = cv2.resize(u8, (max(1, round(u8.shape[1] * s)), max(1, round(u8.shape[0] * s))),
                        interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".png", u8)
    return "data:image/png;base64," + base64.b64encode(data.tobytes()).decode("ascii") if ok else None


def step_view(t: StepTrace, image: np.ndarray) -> dict[str, Any]:
    """One step's attempt: everything its trace holds, images as data URIs, and its
    ``--explain`` entry (engine.runtime.explain), so the page shows what --explain prints. A
    step over several boxes shows each box's own crop and prepared image (its cells)."""
    r = t.result
    per_box: list[str | None] = []
    per_box_prepared: list[str | None] = []
    if len(r.cells) > 1:  # the run keeps images: each cell holds its crops (none off the frame)
        per_box = [png_uri(c.crop) for c in r.cells]
        per_box_prepared = [png_uri(c.prepared) for c in r.cells]
    elif len(r.boxes) > 1:
        per_box = [png_uri(image[y:y + h, x:x + w]) for x, y, w, h in (b[:4] for b in r.boxes)]
    return {
        "step": t.step, "kind": t.kind, "status": t.status, "ms": round(float(t.ms or 0.0), 3),
        "value": jsonable(r.value), "score": jsonable(r.score), "threshold": jsonable(r.threshold),
        "confidence": jsonable(r.confidence), "reason": r.reason,
        "boxes": [[int(v) for v in b[:4]] for b in r.boxes],
        "location": None if r.location is None else [int(v) for v in r.location[:4]],
        "explain": explain_step(t),
        "crop": png_uri(r.crop), "prepared": png_uri(r.prepared),
        "box_crops": per_box, "box_prepared": per_box_prepared,
    }


def region_views(game: CompiledGame, frame: dict[str, Any]) -> list[dict[str, Any]]:
    """Every region's boxes on this frame (anchor and viewport applied), in file order."""
    out = []
    for name, region in game.regions.items():
        out.append({"name": name, "anchor": region.spec.anchor,
                    "reference": [[round(float(v), 2) for v in b] for b in region.reference],
                    "boxes": [list(b) for b in game.region_boxes(name, frame)]})
    return out


def processor_views(output: FrameOutput, image: np.ndarray) -> list[dict[str, Any]]:
    """Processors in run order, each with its steps' attempts."""
    steps: dict[str, list[dict[str, Any]]] = {}
    for t in output.steps:
        steps.setdefault(t.processor, []).append(step_view(t, image))
    procs = []
    for p in output.processors:
        procs.append({"name": p.name, "status": p.status, "reason": p.reason, "ms": round(p.ms, 3), "hit": p.hit,
                      "error": jsonable(output.errors.get(p.name)), "steps": steps.pop(p.name, [])})
    for name, rest in steps.items():  # steps of a processor with no trace of its own (none today)
        procs.append({"name": name, "status": "ran", "reason": None, "ms": 0.0, "hit": False, "error": None,
                      "steps": rest})
    return procs


def run_view(game: CompiledGame, image: np.ndarray, frame: dict[str, Any]) -> dict[str, Any]:
    """Run ``game`` on the frame from fresh state and describe everything it did."""
    frame = fresh_stream(frame)
    t0 = time.perf_counter()
    output = game.process(image, frame, explain=True, keep_images=True)
    ms = (time.perf_counter() - t0) * 1e3
    explain = output.explain or {}
    return {
        "game": game.name, "version": jsonable(game.version), "ms": round(ms, 2),
        "objects": jsonable({k: v for k, v in output.objects.items()}),
        "answer_errors": jsonable(output.errors), "skipped": jsonable(explain.get("skipped", {})),
        "regions": region_views(game, frame), "processors": processor_views(output, image),
    }
