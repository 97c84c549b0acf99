"""`--explain` / `?explain=1`: what each processor and step saw on one frame, and why.

Built from a frame's traces (:class:`~engine.runtime.results.FrameOutput`'s ``processors``
and ``steps``) only when asked, so the answer without explain costs nothing more. The result
is plain JSON (no images): per processor its status and time, per step its value, score,
box in frame pixels and null reason, and what its type measured (the OCR or glyph text with
each glyph's score, a template's best and runner-up with where they matched, a fraction or
colour), with one entry per box for a region of several boxes. docs/games.md documents the
shape; `otrig studio` shows the same object per step.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Sequence

from engine.runtime.results import ProcessorTrace, StepTrace
from engine.steps.base import BoxResult, StepResult

# What each step type measured, taken from its result's details (the rest of the details are
# the report's: line positions, glyph boxes in prepared pixels, top-5 lists).
_Kind = Callable[[Any, dict[str, Any]], dict[str, Any]]


def explain_frame(processors: Sequence[ProcessorTrace], steps: Sequence[StepTrace]) -> dict[str, Any]:
    """The explain object of one frame from its traces: ``ms`` (per processor that ran),
    ``skipped`` (processor: reason) and ``processors`` (every processor in run order, with its
    ``steps`` by label: a field's name, ``row<i>.<field>``, ``<screen>[<i>]``, ...)."""
    by_proc: dict[str, dict[str, Any]] = {}
    for p in processors:
        entry: dict[str, Any] = {"status": p.status}
        if p.status != "skip":
            entry["ms"] = round(p.ms, 3)
            entry["hit"] = p.hit
        if p.reason:
            entry["reason"] = p.reason
        entry["steps"] = {}
        by_proc[p.name] = entry
    for t in steps:
        entry = by_proc.setdefault(t.processor, {"status": "ran", "steps": {}})
        label, n = t.step, 2
        while label in entry["steps"]:  # labels are unique per processor; never drop a trace
            label, n = f"{t.step}#{n}", n + 1
        entry["steps"][label] = explain_step(t)
    return {
        "ms": {p.name: round(p.ms, 3) for p in processors if p.status != "skip"},
        "skipped": {p.name: p.reason for p in processors if p.status == "skip"},
        "processors": by_proc,
    }


def explain_step(t: StepTrace) -> dict[str, Any]:
    """One step's view: kind, status, ms, value, score / threshold / confidence, the box (or
    boxes) in frame pixels, the null reason, what the type measured; ``cells`` per box of a
    region with several."""
    r: StepResult = t.result
    d: dict[str, Any] = {"kind": t.kind, "status": t.status, "ms": round(t.ms, 3)}
    if r.threshold is not None:
        d["threshold"] = _plain(r.threshold)
    if len(r.boxes) == 1:
        d["box"] = [int(v) for v in r.boxes[0]]
    elif r.boxes:
        d["boxes"] = [[int(v) for v in b] for b in r.boxes]
    if r.cells:
        d.update(_common(r.value, r.score, r.confidence, r.reason, r.location))
        d["cells"] = [_cell(t.kind, c) for c in r.cells]
        d["cells_hit"] = sum(1 for c in r.cells if c.hit)
    else:
        d.update(_common(r.value, r.score, r.confidence, r.reason, r.location))
        d.update(_measured(t.kind, r.value, r.details))
    return d


def _cell(kind: str, c: BoxResult) -> dict[str, Any]:
    d: dict[str, Any] = {"status": "hit" if c.hit else "miss"}
    if c.box is not None:
        d["box"] = [int(v) for v in c.box]
    d.update(_common(c.value, c.score, c.confidence, c.reason, c.location))
    d.update(_measured(kind, c.value, c.details))
    return d


def _common(value: Any, score: float | None, confidence: float | None, reason: str | None,
            location: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"value": _plain(value)}
    if score is not None:
        d["score"] = _round(score)
    if confidence is not None:
        d["confidence"] = _round(confidence)
    if reason:
        d["reason"] = reason
    if location is not None:
        d["found"] = [int(v) for v in location]
    return d


def _measured(kind: str, value: Any, details: dict[str, Any]) -> dict[str, Any]:
    view = _KINDS.get(kind)
    if view is None:
        return {"details": _plain(details)} if details else {}
    return {k: v for k, v in view(value, details).items() if v is not None}


def _text(value: Any, det: dict[str, Any]) -> dict[str, Any]:
    """ocr: the text read and Tesseract's confidence (0-100), each attempt with a retry."""
    return {"text": det.get("text"), "conf": _plain(det.get("conf")),
            "glyph_count": _plain(det.get("glyphs")), "attempts": _plain(det.get("attempts"))}


def _glyphs(value: Any, det: dict[str, Any]) -> dict[str, Any]:
    """glyphs: the text, and per blob its character, score and margin over the runner-up."""
    glyphs = []
    for g in det.get("glyphs") or []:
        if not isinstance(g, dict):
            continue
        if g.get("dropped"):
            glyphs.append({"dropped": g["dropped"]})
            continue
        glyphs.append({k: _plain(g.get(k)) for k in ("char", "score", "runner_up", "margin") if g.get(k) is not None})
    return {"text": det.get("text"), "glyphs": glyphs or None, "attempts": _plain(det.get("attempts"))}


def _template(value: Any, det: dict[str, Any]) -> dict[str, Any]:
    """template: the best and runner-up candidates, their scores and where they matched."""
    if "best" not in det:  # all: true, the value lists every hit with its box
        return {"hits": _plain(det.get("hits"))}
    top = {lbl: s for lbl, s in det.get("top") or []}
    best = {"label": det["best"], "score": _plain(top.get(det["best"])), "box": _plain(det.get("best_box"))}
    runner = None
    if det.get("runner_up") is not None:
        runner = {"label": det["runner_up"], "score": _plain(det.get("runner_up_score")),
                  "box": _plain(det.get("runner_up_box"))}
    return {"best": best, "runner_up": runner, "margin": _plain(det.get("margin"))}


def _fraction(value: Any, det: dict[str, Any]) -> dict[str, Any]:
    return {"fraction": _plain(value)}


def _color(value: Any, det: dict[str, Any]) -> dict[str, Any]:
    return {"colour": _plain(value)}


def _palette(value: Any, det: dict[str, Any]) -> dict[str, Any]:
    return {"colour": _plain(det.get("color")), "distance": _plain(det.get("distance")),
            "runner_up": det.get("runner_up")}


def _bar(value: Any, det: dict[str, Any]) -> dict[str, Any]:
    return {"fill": _plain(value)}


def _rows(value: Any, det: dict[str, Any]) -> dict[str, Any]:
    return {"markers": _plain(det.get("markers"))}


_KINDS: dict[str, _Kind] = {"ocr": _text, "glyphs": _glyphs, "template": _template, "fraction": _fraction,
                            "color": _color, "palette": _palette, "bar": _bar, "rows": _rows}


def _round(v: float) -> float | None:
    f = float(v)
    return round(f, 4) if math.isfinite(f) else None


def _plain(v: Any) -> Any:
    """``v`` as JSON types: numpy scalars unwrapped, tuples as lists, non-finite floats as None."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if hasattr(v, "item") and callable(v.item) and getattr(v, "ndim", 1) == 0:  # a numpy scalar
        return _plain(v.item())
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)) or _iterable_array(v):
        return [_plain(x) for x in v]
    return str(v)


def _iterable_array(v: Any) -> bool:
    return hasattr(v, "tolist") and isinstance(v, Iterable)
