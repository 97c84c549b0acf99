"""`otrig report`: turn a recording (engine.debug.recorder) into one self-contained HTML page.

The page is rendered with Jinja2 from ``templates/report.html.j2``; images are embedded as
base64 data URIs by default so the single file can be moved and opened offline from file://.
Everything visual is drawn as inline SVG by the template, plus a little inline JS for filters.
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from engine.debug.recorder import FRAMES_FILE, META_FILE
from engine.lang.shipped import templates_dir

if TYPE_CHECKING:  # imported when a report is rendered, not when the engine is
    import jinja2

TIMELINE_W = 1000          # SVG user units of the timeline's drawing area
FRAME_W, FRAME_H = 1920, 1080
# Step details shown in their own columns; every other detail is listed as key: value.
_KNOWN_DETAILS = {"text", "raw", "conf", "confidence", "best", "runner_up", "runner_up_score", "second",
                  "second_score", "margin", "region", "attempts", "glyphs", "best_box", "runner_up_box", "top",
                  "line", "first", "retry"}


@dataclass
class Recording:
    dir: Path
    meta: dict[str, Any]
    frames: list[dict[str, Any]]
    bad_lines: int = 0


def load_recording(dir: str | Path) -> Recording:
    d = Path(dir)
    if not (d / FRAMES_FILE).is_file():
        raise FileNotFoundError(f"{d}: not a recording (no {FRAMES_FILE}); record with --record DIR")
    meta: dict[str, Any] = {}
    if (d / META_FILE).is_file():
        try:
            meta = json.loads((d / META_FILE).read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            meta = {}
    frames, bad = [], 0
    with open(d / FRAMES_FILE, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                frames.append(json.loads(line))
            except json.JSONDecodeError:
                bad += 1  # a line cut by a crash: skip it
    frames.sort(key=lambda r: r.get("seq", 0))
    return Recording(d, meta, frames, bad)


# ---- small helpers --------------------------------------------------------------------

def media_time(frame: dict[str, Any] | None, seq: int, t0: float | None) -> float:
    """Seconds into the media: relative_timestamp, else timestamp - first, else frame_no/fps."""
    frame = frame or {}
    rt = frame.get("relative_timestamp")
    if isinstance(rt, (int, float)) and not isinstance(rt, bool):
        return float(rt)
    ts = frame.get("timestamp")
    if isinstance(ts, (int, float)) and not isinstance(ts, bool) and t0 is not None:
        return float(ts) - t0
    fn, src = frame.get("frame_no"), frame.get("source") or {}
    fps = src.get("fps") if isinstance(src, dict) else None
    if isinstance(fn, (int, float)) and isinstance(fps, (int, float)) and fps > 0:
        return float(fn) / float(fps)
    return float(seq)


def media_times(frames: list[dict[str, Any]], t0: float | None) -> list[float]:
    """Media time of each recorded frame on one axis: when the source changes (several images
    or videos in one run) and time would go backwards, the next source is placed after the last."""
    out: list[float] = []
    offset, last_src = 0.0, None
    for i, fr in enumerate(frames):
        frame = fr.get("frame") or {}
        src = json.dumps(frame.get("source"), sort_keys=True) if isinstance(frame, dict) else None
        t = media_time(frame, fr.get("seq", i), t0)
        if out and src != last_src and t + offset <= out[-1]:
            offset = out[-1] + 1.0 - t
        last_src = src
        out.append(t + offset)
    return out


def fmt_time(t: float) -> str:
    t = max(0.0, t)
    h, rem = divmod(t, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h)}:{int(m):02d}:{s:05.2f}" if h else f"{int(m)}:{s:05.2f}"


def percentile(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    k = (len(s) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# Screen colours: distinct from the hit green / miss red / skip grey of the status lanes.
_PALETTE = ["#4e79a7", "#f28e2b", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#86bcb6",
            "#d4a6c8", "#a0cbe8", "#ffbe7d", "#8cd17d"]


def color_for(name: str) -> str:
    """A stable, readable colour for a screen name."""
    return _PALETTE[int(hashlib.md5(name.encode("utf-8")).hexdigest()[:6], 16) % len(_PALETTE)]


def short(v: Any, n: int = 80) -> str:
    if v is None:
        return ""
    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    return s if len(s) <= n else s[: n - 1] + "…"


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _number(v: Any) -> float | None:
    """A finite number from a recording's JSON as a float; None for anything else."""
    return float(v) if _is_num(v) else None


def _data_uri(path: Path) -> str | None:
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    mime = "image/jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "image/png"
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


class _Images:
    def __init__(self, rec_dir: Path, out_dir: Path | None, embed: bool):
        self.rec_dir, self.out_dir, self.embed = rec_dir, out_dir, embed

    def __call__(self, rel: str | None) -> str | None:
        if not rel:
            return None
        p = self.rec_dir / rel
        if self.embed or self.out_dir is None:
            return _data_uri(p)
        if not p.is_file():
            return None
        return Path(os.path.relpath(p, self.out_dir)).as_posix()


# ---- per-frame derived facts ----------------------------------------------------------

def processor_names(rec: Recording) -> list[str]:
    names: list[str] = [p["name"] for p in rec.meta.get("processors", []) if isinstance(p, dict) and "name" in p]
    seen = set(names)
    for fr in rec.frames:
        for p in fr.get("processors", []):
            if p.get("name") not in seen:
                seen.add(p["name"])
                names.append(p["name"])
        for k in (fr.get("objects") or {}):
            if k not in seen:
                seen.add(k)
                names.append(k)
    return names


def screen_processors(rec: Recording) -> list[str]:
    names = [p["name"] for p in rec.meta.get("processors", []) if isinstance(p, dict) and p.get("kind") == "screens"]
    if names:
        return names
    # No game description: an object that is only {"name": ...} (plus age) is a screen group.
    found: list[str] = []
    for fr in rec.frames:
        for k, v in (fr.get("objects") or {}).items():
            if isinstance(v, dict) and "name" in v and set(v) <= {"name", "age"} and k not in found:
                found.append(k)
    return found


def frame_statuses(fr: dict[str, Any], procs: list[str]) -> dict[str, str]:
    """processor -> hit / miss / skip / error / none for one frame."""
    out = {}
    traces = {p.get("name"): p for p in fr.get("processors", [])}
    objects = fr.get("objects") or {}
    errors = fr.get("errors") or {}
    for name in procs:
        t = traces.get(name)
        if t is not None:
            st = t.get("status")
            if st == "skip":
                out[name] = "skip"
            elif st == "error" or name in errors:
                out[name] = "error"
            else:
                out[name] = "hit" if t.get("hit") else "miss"
        elif name in errors:
            out[name] = "error"
        elif name in objects:
            out[name] = "hit"
        else:
            out[name] = "none"
    return out


def _strip_age(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: x for k, x in v.items() if k != "age"}
    return v


def numeric_fields(frames: list[dict[str, Any]]) -> list[str]:
    """`processor.field` paths holding numbers, most frequently present first."""
    count: Counter[str] = Counter()
    values: dict[str, set] = defaultdict(set)
    for fr in frames:
        for proc, obj in (fr.get("objects") or {}).items():
            if isinstance(obj, dict):
                for k, v in obj.items():
                    if k in ("age",):
                        continue
                    if _is_num(v):
                        count[f"{proc}.{k}"] += 1
                        if len(values[f"{proc}.{k}"]) < 3:
                            values[f"{proc}.{k}"].add(v)
            elif _is_num(obj):
                count[proc] += 1
                values[proc].add(obj)
    # Prefer fields that actually vary.
    return sorted(count, key=lambda k: (len(values[k]) < 2, -count[k], k))


def field_value(fr: dict[str, Any], path: str) -> float | None:
    objects = fr.get("objects") or {}
    if "." in path:
        proc, key = path.split(".", 1)
        obj = objects.get(proc)
        v = obj.get(key) if isinstance(obj, dict) else None
    else:
        v = objects.get(path)
    return _number(v)


# ---- aggregation -----------------------------------------------------------------------

def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _by_count(skips: Counter[str]) -> list[tuple[str, int]]:
    return sorted(skips.items(), key=lambda kv: -kv[1])


@dataclass(frozen=True, kw_only=True)
class StepSummary:
    """One step's row in the report's summary table."""

    step: str
    kind: str | None
    regions: list[str]
    runs: int
    hits: int
    misses: int
    errors: int
    rate: float | None
    mean_ms: float | None
    p95_ms: float | None
    mean_score: float | None
    threshold: float | None
    skips: list[tuple[str, int]]  # (reason, frames), most frequent first
    cells: bool = False           # runs, hits and misses count the boxes of a region of several


@dataclass(frozen=True, kw_only=True)
class ProcessorSummary:
    """One processor's row, with its steps' rows under it."""

    name: str
    frames: int
    runs: int
    hits: int
    errors: int
    rate: float | None
    mean_ms: float | None
    p95_ms: float | None
    skips: list[tuple[str, int]]
    steps: list[StepSummary]


@dataclass(kw_only=True)
class _StepTally:
    step: str
    kind: str | None
    regions: set[str] = field(default_factory=set)
    runs: int = 0
    hits: int = 0
    misses: int = 0
    errors: int = 0
    ms: list[float] = field(default_factory=list)
    skips: Counter[str] = field(default_factory=Counter)
    scores: list[float] = field(default_factory=list)
    threshold: float | None = None
    cells: bool = False

    def summary(self) -> StepSummary:
        return StepSummary(step=self.step, kind=self.kind, regions=sorted(self.regions), runs=self.runs,
                           hits=self.hits, misses=self.misses, errors=self.errors, cells=self.cells,
                           rate=self.hits / self.runs if self.runs else None, mean_ms=_mean(self.ms),
                           p95_ms=percentile(self.ms, 95), mean_score=_mean(self.scores), threshold=self.threshold,
                           skips=_by_count(self.skips))


@dataclass(kw_only=True)
class _ProcessorTally:
    name: str
    frames: int = 0
    runs: int = 0
    hits: int = 0
    errors: int = 0
    ms: list[float] = field(default_factory=list)
    skips: Counter[str] = field(default_factory=Counter)
    steps: dict[str, _StepTally] = field(default_factory=dict)

    def summary(self) -> ProcessorSummary:
        return ProcessorSummary(name=self.name, frames=self.frames, runs=self.runs, hits=self.hits,
                                errors=self.errors, rate=self.hits / self.runs if self.runs else None,
                                mean_ms=_mean(self.ms), p95_ms=percentile(self.ms, 95), skips=_by_count(self.skips),
                                steps=[s.summary() for s in self.steps.values()])


def summarize(rec: Recording, procs: list[str]) -> list[ProcessorSummary]:
    """Per processor and per step: runs, hits, hit rate, mean and p95 ms, skips by reason."""
    step_regions = {(p["name"], k): v for p in rec.meta.get("processors", []) if isinstance(p, dict)
                    for k, v in (p.get("step_regions") or {}).items()}
    tallies = {n: _ProcessorTally(name=n) for n in procs}
    for fr in rec.frames:
        objects = fr.get("objects") or {}
        traced = set()
        for p in fr.get("processors", []):
            s = tallies.setdefault(p["name"], _ProcessorTally(name=p["name"]))
            traced.add(p["name"])
            s.frames += 1
            st = p.get("status")
            if st == "skip":
                s.skips[p.get("reason") or "skipped"] += 1
            else:
                s.runs += 1
                s.ms.append(float(p.get("ms") or 0.0))
                if st == "error":
                    s.errors += 1
                elif p.get("hit"):
                    s.hits += 1
        if not traced:  # no traces (an engine without them): count emitted objects
            for name in procs:
                s = tallies[name]
                s.frames += 1
                s.runs += 1
                s.hits += int(name in objects)
        for t in fr.get("steps", []):
            s = tallies.setdefault(t["processor"], _ProcessorTally(name=t["processor"]))
            region = (t.get("details") or {}).get("region") or step_regions.get((t["processor"], t["step"]))
            ss = s.steps.setdefault(t["step"], _StepTally(step=t["step"], kind=t.get("kind")))
            if region is not None:
                ss.regions.add(region if isinstance(region, str) else short(region, 40))
            st = t.get("status")
            if st == "skip":
                ss.skips[t.get("reason") or "skipped"] += 1
                continue
            ss.ms.append(float(t.get("ms") or 0.0))
            cells = t.get("cells") if st != "error" else None
            if isinstance(cells, list) and cells:
                # a region of several boxes: each box is a read of its own, so a list of 12
                # with 7 nulls is 5 hits of 12, not one hit
                ss.cells = True
                hit = sum(1 for c in cells if isinstance(c, dict) and c.get("status") == "hit")
                ss.runs += len(cells)
                ss.hits += hit
                ss.misses += len(cells) - hit
            else:
                ss.runs += 1
                if st == "hit":
                    ss.hits += 1
                elif st == "error":
                    ss.errors += 1
                else:
                    ss.misses += 1
            score = _number(t.get("score"))
            if score is not None:
                ss.scores.append(score)
            if _is_num(t.get("threshold")):
                ss.threshold = t["threshold"]  # as recorded: an int threshold is shown as one
    return [s.summary() for s in tallies.values()]


_SKIP = object()


def _runs(values: list[Any]) -> list[tuple[int, int, Any]]:
    """Run-length encode: (start index, end index exclusive, value)."""
    out: list[tuple[int, int, Any]] = []
    for i, v in enumerate(values):
        if out and out[-1][2] == v:
            out[-1] = (out[-1][0], i + 1, v)
        else:
            out.append((i, i + 1, v))
    return out


def timeline(rec: Recording, times: list[float], procs: list[str], screens: list[str],
             statuses: list[dict[str, str]], fields: list[str]) -> dict[str, Any]:
    n = len(times)
    if not n:
        return {"lanes": [], "plots": [], "ticks": [], "width": TIMELINE_W}
    t0, t1 = times[0], times[-1]
    span = (t1 - t0) or 1.0
    xs = [(t - t0) / span * TIMELINE_W for t in times]
    # Each frame owns the span up to the next one (the last one a median step's worth).
    gaps = [xs[i + 1] - xs[i] for i in range(n - 1)]
    step = sorted(gaps)[len(gaps) // 2] if gaps else TIMELINE_W
    edges = xs + [min(TIMELINE_W + step, xs[-1] + (step or 1.0))]
    scale = TIMELINE_W / edges[-1] if edges[-1] > 0 else 1.0
    edges = [e * scale for e in edges]

    def segs(values: list[Any]) -> list[dict[str, Any]]:
        return [{"x": round(edges[a], 2), "w": round(max(edges[b] - edges[a], 0.5), 2), "v": v,
                 "seq": rec.frames[a].get("seq", a), "n": b - a, "t": fmt_time(times[a])}
                for a, b, v in _runs(values)]

    lanes = []
    for sp in screens:
        vals = []
        for fr in rec.frames:
            obj = (fr.get("objects") or {}).get(sp)
            vals.append(obj.get("name") if isinstance(obj, dict) else None)
        lanes.append({"label": f"{sp} state", "kind": "screen",
                      "segs": [dict(s, color=color_for(str(s["v"])) if s["v"] is not None else "#e5e5e5")
                               for s in segs(vals)]})
    for p in procs:
        lanes.append({"label": p, "kind": "status", "segs": segs([st.get(p, "none") for st in statuses])})

    plots = []
    for path in fields:
        proc = path.split(".", 1)[0]
        # A frame where the processor was skipped (cadence, gate) neither adds a point nor
        # breaks the line; a null read where it ran does break it.
        vals = [_SKIP if st.get(proc) == "skip" and field_value(fr, path) is None else field_value(fr, path)
                for fr, st in zip(rec.frames, statuses)]
        nums = [v for v in vals if v is not None and v is not _SKIP]
        if not nums:
            continue
        lo, hi = min(nums), max(nums)
        rng = (hi - lo) or 1.0
        lines: list[list[str]] = []
        cur: list[str] = []
        for i, v in enumerate(vals):
            if v is _SKIP:
                continue
            if v is None:
                if cur:
                    lines.append(cur)
                cur = []
                continue
            x = (edges[i] + edges[i + 1]) / 2
            y = 36 - (v - lo) / rng * 32 if hi > lo else 20
            cur.append(f"{x:.1f},{y:.1f}")
        if cur:
            lines.append(cur)
        plots.append({"label": path, "lo": lo, "hi": hi, "count": len(nums),
                      "lines": [" ".join(l) for l in lines if len(l) > 1],
                      "dots": [l[0] for l in lines if len(l) == 1]})
    # About eight time ticks.
    ticks = []
    if t1 > t0:
        raw = span / 8
        mag = 10 ** math.floor(math.log10(raw))
        unit = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
        k = math.ceil(t0 / unit) * unit
        while k <= t1 + 1e-9:
            label = fmt_time(k)
            ticks.append({"x": round((k - t0) / span * TIMELINE_W * scale, 1),
                          "label": label[:-3] if unit >= 1 and label.endswith(".00") else label})
            k += unit
    return {"lanes": lanes, "plots": plots, "ticks": ticks, "width": TIMELINE_W,
            "t0": fmt_time(t0), "t1": fmt_time(t1)}


def _frame_card(fr: dict[str, Any], i: int, t: float, procs: list[str], screens: list[str],
                status: dict[str, str], changed: list[str], img: _Images,
                step_regions: dict[tuple[str, str], Any] | None = None) -> dict[str, Any]:
    steps = []
    boxes = []
    matches: list[dict[str, Any]] = []
    for t_ in fr.get("steps", []):
        det = dict(t_.get("details") or {})
        st = t_.get("status", "miss")
        label = f"{t_['processor']}.{t_['step']}"
        cells = [c for c in t_.get("cells") or [] if isinstance(c, dict)]
        for j, b in enumerate(t_.get("boxes", []) or []):
            if len(b) >= 4:
                cell = cells[j] if j < len(cells) else None
                bst = cell.get("status", st) if cell is not None else st
                value = cell.get("value") if cell is not None else t_.get("value")
                boxes.append({"x": b[0], "y": b[1], "w": b[2], "h": b[3], "status": bst,
                              "label": label if cell is None else f"{label}[{j}]",
                              "tip": f"{label}{'' if cell is None else f'[{j}]'} {bst} {short(value, 40)}"})
        matches.extend(_matches(label, t_, det, cells))
        conf = det.get("conf", det.get("confidence"))
        ru = det.get("runner_up", det.get("second"))
        best = det.get("best")
        ru_score = det.get("runner_up_score", det.get("second_score"))
        if isinstance(ru, dict):
            ru_score = ru.get("score", ru_score)
            ru = ru.get("label", ru.get("name", ru))
        score, thr = t_.get("score"), t_.get("threshold")
        steps.append({
            "processor": t_["processor"], "step": t_["step"], "kind": t_.get("kind", ""), "status": st,
            "value": short(t_.get("value")), "reason": t_.get("reason"), "ms": t_.get("ms"),
            "score": score, "threshold": thr,
            "passes": (score >= thr) if _is_num(score) and _is_num(thr) else None,
            "text": short(det.get("text", det.get("raw")), 120) if ("text" in det or "raw" in det) else None,
            "conf": conf, "runner_up": short(ru, 40) if ru is not None else None,
            "best": short(best, 40) if best is not None else None, "runner_up_score": ru_score,
            "margin": det.get("margin"),
            "region": det.get("region") or (step_regions or {}).get((t_["processor"], t_["step"])),
            "other": [(k, short(v, 60)) for k, v in det.items() if k not in _KNOWN_DETAILS],
            "crop": img(t_.get("crop")), "prep": img(t_.get("prep")),
            **_reads(det),
            "cells": [_cell_row(j, c, img) for j, c in enumerate(cells)],
            "cells_hit": sum(1 for c in cells if c.get("status") == "hit"),
        })
    frame = fr.get("frame") or {}
    screen = None
    for sp in screens:
        obj = (fr.get("objects") or {}).get(sp)
        if isinstance(obj, dict) and obj.get("name") is not None:
            screen = str(obj["name"])
            break
    answer_json = json.dumps(fr.get("answer") if fr.get("answer") is not None else fr.get("objects"),
                             indent=1, ensure_ascii=False)
    return {
        "seq": fr.get("seq", i), "t": t, "time": fmt_time(t), "frame_no": frame.get("frame_no"),
        "source": (frame.get("source") or {}).get("name") if isinstance(frame.get("source"), dict) else None,
        "screen": screen, "status": status, "changed": changed,
        "hit": [p for p in procs if status.get(p) == "hit"],
        "miss": [p for p in procs if status.get(p) == "miss"],
        "skip": [p for p in procs if status.get(p) == "skip"],
        "error": [p for p in procs if status.get(p) == "error"],
        "objects": fr.get("objects") or {}, "errors": fr.get("errors") or {},
        "processors": fr.get("processors", []),
        "thumb": img(fr.get("thumb")), "boxes": boxes, "matches": matches, "steps": steps,
        "frame_json": json.dumps(frame, indent=1, ensure_ascii=False),
        "answer_json": answer_json,
        "json_b64": base64.b64encode(json.dumps({"frame": frame, "answer": fr.get("answer"),
                                                 "processors": fr.get("processors"),
                                                 "steps": fr.get("steps")}, indent=1,
                                                ensure_ascii=False).encode("utf-8", "backslashreplace")).decode("ascii"),
    }


def _reads(det: dict[str, Any]) -> dict[str, Any]:
    """What a text step read, in full: each attempt (retries) and each glyph."""
    attempts = []
    for k, a in enumerate(det.get("attempts") or []):
        if isinstance(a, dict):
            conf = a.get("conf", a.get("confidence"))
            attempts.append(f"{'read' if k == 0 else f'retry {k}'}: {json.dumps(a.get('text'), ensure_ascii=False)}"
                            + (f" conf {_fmt(conf)}" if conf is not None else "")
                            + (f": {a['reason']}" if a.get("reason") else ""))
    glyphs = []
    for g in det.get("glyphs") or []:
        if isinstance(g, dict) and g.get("char") is not None and not g.get("dropped"):
            ru = f" ({g['runner_up']} +{_fmt(g.get('margin'), 3)})" if g.get("runner_up") is not None else ""
            glyphs.append(f"{g['char']} {_fmt(g.get('score'), 3)}{ru}")
    return {"attempts": attempts, "glyphs": glyphs}


def _cell_row(j: int, c: dict[str, Any], img: _Images) -> dict[str, Any]:
    """One box of a region of several, as a row under its step's."""
    det = c.get("details") or {}
    text = det.get("text", det.get("raw"))
    return {"index": j, "box": c.get("box"), "status": c.get("status", "miss"), "value": short(c.get("value"), 200),
            "reason": c.get("reason"), "score": c.get("score"),
            "conf": det.get("conf", c.get("confidence")), "text": None if text is None else str(text),
            "best": det.get("best"), "runner_up": det.get("runner_up"), "runner_up_score": det.get("runner_up_score"),
            "crop": img(c.get("crop")), "prep": img(c.get("prep")), **_reads(det)}


def _matches(label: str, t_: dict[str, Any], det: dict[str, Any], cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Where a template step's matches were, in frame pixels, to draw on the frame: the best
    candidate of each box (hit or not), or every hit of an `all: true` step."""
    if t_.get("kind") != "template":
        return []
    out: list[dict[str, Any]] = []
    for d, name, ok in ([(c.get("details") or {}, f"{label}[{j}]", c.get("status") == "hit") for j, c in enumerate(cells)]
                        or [(det, label, t_.get("status") == "hit")]):
        b = d.get("best_box")
        if isinstance(b, list) and len(b) == 4 and all(_is_num(v) for v in b):
            out.append({"x": b[0], "y": b[1], "w": b[2], "h": b[3], "hit": ok,
                        "tip": f"{name}: best {d.get('best')} {_fmt(_number((dict(d.get('top') or [])).get(d.get('best'))), 3)}"})
    if not out and isinstance(t_.get("value"), list):  # all: true
        for h in t_["value"]:
            b = h.get("box") if isinstance(h, dict) else None
            if isinstance(b, list) and len(b) == 4 and all(_is_num(v) for v in b):
                out.append({"x": b[0], "y": b[1], "w": b[2], "h": b[3], "hit": True,
                            "tip": f"{label}: {h.get('label')} {_fmt(_number(h.get('score')), 3)}"})
    return out


def _pick(n: int, k: int, prefer: Iterable[int] = ()) -> list[int]:
    """At most k of range(n): the preferred ones first (frames with crops), the rest evenly spread."""
    if n <= k:
        return list(range(n))
    chosen = set(list(prefer)[: k // 2])
    pool = [i for i in range(n) if i not in chosen]
    rest = k - len(chosen)
    if rest == 1:
        chosen.add(pool[0])
    elif rest > 1:
        chosen.update(pool[round(j * (len(pool) - 1) / (rest - 1))] for j in range(rest))
    return sorted(chosen)


def build_context(rec: Recording, *, out_dir: Path | None = None, embed: bool = True,
                  max_frames: int = 1000, fields: list[str] | None = None, max_plots: int = 6,
                  title: str | None = None) -> dict[str, Any]:
    procs = processor_names(rec)
    screens = screen_processors(rec)
    ts = [fr.get("frame", {}).get("timestamp") for fr in rec.frames]
    t0 = next((float(x) for x in ts if _is_num(x)), None)
    times = media_times(rec.frames, t0)
    statuses = [frame_statuses(fr, procs) for fr in rec.frames]

    changed: list[list[str]] = []
    last: dict[str, Any] = {}
    for fr, st in zip(rec.frames, statuses):
        objects = fr.get("objects") or {}
        ch = []
        for p in procs:
            if st.get(p) == "skip" and p not in objects:
                continue  # skipped (cadence, gate) and not repeated: the value is not known to change
            cur = _strip_age(objects.get(p))
            if cur != last.get(p):
                ch.append(p)
            last[p] = cur
        changed.append(ch)

    all_fields = numeric_fields(rec.frames)
    plot_fields = [f for f in fields if f] if fields else all_fields[:max_plots]

    img = _Images(rec.dir, out_dir, embed)
    with_crops = [i for i, fr in enumerate(rec.frames)
                  if any(s.get("crop") or s.get("prep") or any(isinstance(c, dict) and (c.get("crop") or c.get("prep"))
                                                               for c in s.get("cells") or [])
                         for s in fr.get("steps", []))]
    idx = _pick(len(rec.frames), max_frames, with_crops)
    step_regions = {(p["name"], k): v for p in rec.meta.get("processors", []) if isinstance(p, dict)
                    for k, v in (p.get("step_regions") or {}).items()}
    cards = [_frame_card(rec.frames[i], i, times[i], procs, screens, statuses[i], changed[i], img, step_regions)
             for i in idx]

    meta = rec.meta
    rstats = (meta.get("recorder") or {}).get("stats") or {}
    game = meta.get("game") or "recording"
    return {
        "title": title or f"otrig report: {game}",
        "game": game, "version": meta.get("version"), "game_path": meta.get("path"),
        "description": meta.get("description"),
        "rec_dir": str(rec.dir), "meta": meta, "recorder": meta.get("recorder") or {}, "rstats": rstats,
        "n_frames": len(rec.frames), "n_cards": len(cards), "bad_lines": rec.bad_lines,
        "span": fmt_time(times[-1] - times[0]) if times else "0:00.00",
        "processors": procs, "screens": screens,
        "screen_names": sorted({c["screen"] for c in cards if c["screen"]}),
        "summary": summarize(rec, procs),
        "timeline": timeline(rec, times, procs, screens, statuses, plot_fields),
        "fields": all_fields, "plot_fields": plot_fields,
        "regions": meta.get("regions") or {},
        "cards": cards, "frame_w": FRAME_W, "frame_h": FRAME_H,
    }


def _fmt(v: Any, nd: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _pct(v: Any) -> str:
    return "–" if v is None else f"{100 * v:.0f}%"


def environment() -> jinja2.Environment:
    import jinja2
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                             autoescape=jinja2.select_autoescape(["html", "j2", "svg"]),
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["fmt"] = _fmt
    env.filters["pct"] = _pct
    env.filters["screen_color"] = lambda v: color_for(str(v))
    env.filters["tojson_compact"] = lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    return env


def render_report(rec_dir: str | Path, out: str | Path, **kw: Any) -> Path:
    """Render the recording in ``rec_dir`` to the HTML file ``out``; returns its path."""
    out = Path(out)
    rec = load_recording(rec_dir)
    ctx = build_context(rec, out_dir=out.resolve().parent, **kw)
    html = environment().get_template("report.html.j2").render(**ctx)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    # a lone surrogate in a client's frame (valid JSON, not UTF-8) is shown as its \\udxxx escape
    tmp.write_text(html, encoding="utf-8", errors="backslashreplace")
    os.replace(tmp, out)
    return out
