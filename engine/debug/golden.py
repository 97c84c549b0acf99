"""Golden-frame tests: run a game file on declared sample frames and compare fields.

Samples live beside the game, in ``games/<name>.samples.yaml``::

    samples:
      - image: apex/t8cp8hhm.jpg          # relative to the asset roots (or absolute)
        expect:
          screen.name: in_game
          ammo.clip: 12
      - video: melee/smuckers.mp4
        frame_no: 600
        viewport: [0, 0, 480, 360]        # in 1920x1080 frame pixels; optional
        expect:
          timer.time: "07:51.53"
          damage.p1: 18

``expect`` maps ``processor.field`` (deeper: ``processor.a.b`` or ``processor.list.0``) to the
value that must be read; ``null`` means the field must be null or absent. Numbers compare by
value (12 == 12.0), strings exactly, lists element by element.

Each sample is an independent stream (its own ``source``), so no state leaks between samples
(nor between two runs of the same samples on one compiled game, e.g. under ``--stress``).

Pictures are read by the readers the other commands use (engine.media.sources): a still
image as `otrig run` reads it, a video frame as `otrig extract` posts it (PyAV), so the
frame a sample names is the frame the plugin would have been sent.
"""
from __future__ import annotations

import math
import re
import time
import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import yaml

from engine.lang.errors import SourceError
from engine.media.sources import Frame, VideoSource, probe_video, read_image
from engine.runtime.game import CompiledGame, load_game
from engine.vision.regions import IntBox

_MISSING = object()

# The game compiled for a viewport (None: the file's own). Callers cache: compiling apex
# takes about a second, and one compiled game serves every sample run (runs never share a
# stream, see run_samples).
GameFor = Callable[[IntBox | None], CompiledGame]


@dataclass
class Sample:
    index: int
    label: str
    path: str                      # as written in the samples file
    kind: str                      # "image" or "video"
    frame_no: int | None
    viewport: tuple[int, int, int, int] | None
    expect: dict[str, Any]
    repeat: int = 1
    known_misses: tuple[str, ...] = ()   # fields expected to fail today: reported, not fatal


@dataclass
class FieldResult:
    sample: str
    key: str
    expected: Any
    got: Any
    confidence: float | None
    ok: bool
    note: str = ""
    known_miss: bool = False
    reason: Any = None  # the answer's null reason for the field as given: a string, or a list's per element


@dataclass
class SampleResult:
    sample: Sample
    fields: list[FieldResult] = field(default_factory=list)
    error: str | None = None
    ms: float = 0.0
    objects: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and all(f.ok or f.known_miss for f in self.fields)


class SamplesError(Exception):
    """The samples file is missing or malformed; the message says where."""


def samples_path_for(game_path: str | Path) -> Path:
    """``games/apex.yaml`` -> ``games/apex.samples.yaml``."""
    p = Path(game_path)
    name = p.name
    for suffix in (".yaml", ".yml"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.with_name(name + ".samples.yaml")


def _viewport(value: Any, where: str) -> tuple[int, int, int, int] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split()]
    try:
        vp = tuple(int(round(float(v))) for v in value)
    except (TypeError, ValueError):
        raise SamplesError(f"{where}: viewport must be [x, y, w, h], got {value!r}") from None
    if len(vp) != 4 or vp[2] <= 0 or vp[3] <= 0:
        raise SamplesError(f"{where}: viewport must be [x, y, w, h] with w, h > 0, got {value!r}")
    return vp  # type: ignore[return-value]


def load_samples(path: str | Path) -> list[Sample]:
    p = Path(path)
    if not p.exists():
        raise SamplesError(f"{p}: no samples file (expected beside the game file)")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise SamplesError(f"{p}: not valid YAML: {e}") from None
    items = data.get("samples") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise SamplesError(f"{p}: expected a non-empty list under `samples:`")
    out: list[Sample] = []
    for i, item in enumerate(items):
        where = f"{p}: samples[{i}]"
        if not isinstance(item, dict):
            raise SamplesError(f"{where}: expected a mapping with `image:` or `video:`")
        if "image" in item:
            kind, src = "image", item["image"]
        elif "video" in item:
            kind, src = "video", item["video"]
        else:
            raise SamplesError(f"{where}: needs `image:` or `video:`")
        frame_no = item.get("frame_no", item.get("frame"))
        if kind == "video":
            if frame_no is None:
                raise SamplesError(f"{where}: a video sample needs `frame_no:`")
            frame_no = int(frame_no)
        expect = item.get("expect") or {}
        if not isinstance(expect, dict) or not expect:
            raise SamplesError(f"{where}: `expect:` must map processor.field to a value")
        label = str(item.get("name") or (f"{src}#{frame_no}" if kind == "video" else src))
        out.append(Sample(index=i, label=label, path=str(src), kind=kind, frame_no=frame_no,
                          viewport=_viewport(item.get("viewport"), where),
                          expect={str(k): v for k, v in expect.items()},
                          repeat=max(1, int(item.get("repeat", 1))),
                          known_misses=tuple(str(k) for k in (item.get("known_misses") or ()))))
        unknown = [k for k in out[-1].known_misses if k not in out[-1].expect]
        if unknown:
            raise SamplesError(f"{where}: known_misses names fields not in expect: {', '.join(unknown)}")
    return out


def resolve(path: str, roots: Sequence[Path]) -> Path:
    p = Path(path)
    if p.is_absolute():
        if p.exists():
            return p
        raise SourceError(f"{p}: file not found")
    for r in roots:
        q = Path(r) / p
        if q.exists():
            return q
    tried = ", ".join(str(r) for r in roots) or "(no asset roots: pass --assets DIR)"
    raise SourceError(f"{path}: not found under {tried}")


def read_sample(path: Path, kind: str, frame_no: int | None) -> tuple[np.ndarray, Frame]:
    """The 1920x1080 frame of a sample and its frame JSON: an image as `otrig run` reads it, a
    video's ``frame_no`` as `otrig extract` posts the frame of that number."""
    if kind == "image":
        return read_image(path)
    n = int(frame_no or 0)
    info = probe_video(path)
    if n >= info.frames:
        raise SourceError(f"{path}: frame {n} is past the end ({info.frames} frames)")
    if info.cfr:
        # The first sample taken at frame n's media time is frame n (sources.VideoSource: the
        # nearest frame): a seek to the keyframe before it, then decoding up to it.
        video = VideoSource(path, fps=float(info.fps), seek=float(Fraction(n) / info.fps))
    else:
        # Variable frame rate: frame numbers count decoded frames from the start; sampling far
        # above the frame rate gives every one of them.
        video = VideoSource(path, fps=1000.0)
    for image, frame in video:
        if frame["frame_no"] == n:
            return image, frame
        if frame["frame_no"] > n:
            break
    raise SourceError(f"{path}: no frame {n} could be decoded")


def lookup(objects: dict[str, Any], key: str) -> Any:
    cur: Any = objects
    for part in key.split("."):
        if isinstance(cur, dict):
            if part not in cur:
                return _MISSING
            cur = cur[part]
        elif isinstance(cur, (list, tuple)):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError):
                return _MISSING
        else:
            return _MISSING
    return cur


def value_at(objects: dict[str, Any], key: str) -> Any:
    """``lookup``, with an absent value as None (a null, for showing and judging)."""
    v = lookup(objects, key)
    return None if v is _MISSING else v


def confidence_of(objects: dict[str, Any], key: str) -> float | None:
    parts = key.split(".")
    if len(parts) < 2:
        return None
    obj = objects.get(parts[0])
    if not isinstance(obj, dict):
        return None
    conf = obj.get("confidence")
    if not isinstance(conf, dict):
        return None
    c = conf.get(".".join(parts[1:]), conf.get(parts[1]))
    return float(c) if isinstance(c, (int, float)) and not isinstance(c, bool) else None


def same(expected: Any, got: Any) -> bool:
    if expected is None:
        return got is None or got is _MISSING
    if got is _MISSING or got is None:
        return False
    if isinstance(expected, bool) or isinstance(got, bool):
        return expected is got or (isinstance(expected, bool) and isinstance(got, bool) and expected == got)
    if isinstance(expected, (int, float)) and isinstance(got, (int, float)):
        return math.isclose(float(expected), float(got), rel_tol=1e-6, abs_tol=1e-6)
    if isinstance(expected, (int, float)) and isinstance(got, str):
        try:
            return math.isclose(float(expected), float(got.strip()), rel_tol=1e-6, abs_tol=1e-6)
        except ValueError:
            return False
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(expected) == len(got) and all(same(e, g) for e, g in zip(expected, got))
    if isinstance(expected, dict) and isinstance(got, dict):
        return all(same(v, got.get(k, _MISSING)) for k, v in expected.items())
    if isinstance(expected, str) and isinstance(got, str):
        return expected.strip() == got.strip()
    return expected == got


def game_loader(game: str | Path, *, assets: Sequence[str | Path] = ()) -> GameFor:
    """``load_game`` once per viewport, without a time budget: golden tests judge what is
    read, not speed, so a loaded machine must not make the budget skip processors."""
    games: dict[IntBox | None, CompiledGame] = {}

    def game_for(viewport: IntBox | None) -> CompiledGame:
        if viewport not in games:
            games[viewport] = load_game(game, assets=assets, viewport=viewport, budget_ms=float("inf"))
        return games[viewport]

    return game_for


def run_samples(game_for: GameFor, samples: Sequence[Sample], *, roots: Sequence[str | Path],
                viewport: IntBox | None = None,
                transform: Callable[[np.ndarray], np.ndarray] | None = None,
                save_to: Path | None = None) -> list[SampleResult]:
    """Run every sample as its own stream, on the game compiled for its viewport (``viewport``
    overrides every sample's). Sample paths are looked up under ``roots``.

    ``transform``, if given, changes each 1920x1080 frame before it is read (a capture
    variant of :mod:`engine.debug.perturb`); ``save_to``, if given, is a folder that gets each
    frame as read, as ``<index>_<sample>.png`` (`otrig run` and `otrig cut` take it).
    """
    run = uuid.uuid4().hex[:8]  # this run's streams: a game reused from an earlier run starts afresh
    dirs = [Path(r) for r in roots]
    results: list[SampleResult] = []
    for s in samples:
        res = SampleResult(sample=s)
        results.append(res)
        vp = viewport if viewport is not None else s.viewport
        try:
            src = resolve(s.path, dirs)
            frame_img, read = read_sample(src, s.kind, s.frame_no)
        except SourceError as e:
            res.error = str(e)
            continue
        game = game_for(vp)
        if transform is not None:
            frame_img = transform(frame_img)
        if save_to is not None:
            _save_frame(save_to, s, frame_img)
        shape = read["source"]["original_shape"]
        stream = f"golden:{run}:{s.index}:{s.label}"
        # Warm-up on a throwaway stream (Tesseract handles are created on first use), so the
        # ms reported below is the steady-state cost of one frame.
        game.process(frame_img, {"source": {"golden_warmup": stream}, "timestamp": 0.0, "frame_no": 0})
        out = None
        t0 = time.perf_counter()
        for r in range(s.repeat):
            frame = {
                "source": {"type": s.kind, "file": str(src), "original_shape": shape, "golden": stream},
                "timestamp": float(r) * 10.0,
                "frame_no": (s.frame_no or 0) + r,
            }
            out = game.process(frame_img, frame)
        res.ms = (time.perf_counter() - t0) * 1000.0 / s.repeat
        objects = dict(out.objects) if out is not None else {}
        res.objects = objects
        errors = dict(out.errors) if out is not None and out.errors else {}
        for key, expected in s.expect.items():
            got = lookup(objects, key)
            ok = same(expected, got)
            note = ""
            why: Any = None
            proc = key.split(".")[0]
            if not ok:
                if proc in errors:
                    note = f"processor error: {errors[proc]}"
                elif proc not in objects:
                    note = "processor did not emit"
                else:
                    obj = objects.get(proc)
                    reasons = obj.get("null_reasons") if isinstance(obj, dict) else None
                    field_name = key.split(".", 1)[1] if "." in key else key
                    if isinstance(reasons, dict) and field_name in reasons:
                        why = reasons[field_name]
                        note = str(why)
            results[-1].fields.append(FieldResult(
                sample=s.label, key=key, expected=expected,
                got=None if got is _MISSING else got,
                confidence=confidence_of(objects, key), ok=ok, note=note,
                known_miss=(not ok) and key in s.known_misses, reason=why if why is not None else (note or None)))
    return results


def _save_frame(folder: Path, s: Sample, image: np.ndarray) -> None:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", s.label.split("/")[-1]).strip("_") or "sample"
    path = folder / f"{s.index:02d}_{stem}.png"
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, str):
        return repr(v) if (v != v.strip() or v == "") else v
    return str(v) if v is not None else "null"


def judge(expected: Any, got: Any) -> str:
    """right, null (nothing, or part of a list, was read; what was read is right) or wrong."""
    if same(expected, got):
        return "right"
    return "wrong" if _wrong(expected, got) else "null"


def _wrong(expected: Any, got: Any) -> bool:
    if got is None or got is _MISSING:
        return False  # nothing read: a miss, not a wrong value
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)) and len(expected) == len(got):
        return any(_wrong(e, g) for e, g in zip(expected, got))
    return not same(expected, got)


def _outcome(f: FieldResult) -> str:
    return "right" if f.ok else ("wrong" if _wrong(f.expected, f.got) else "null")


@dataclass(frozen=True)
class Outcome:
    """One value's result: a field, or one element of a list field (``key[i]``)."""

    sample: str
    key: str
    kind: str  # "right", "null" or "wrong"
    got: Any
    why: str | None = None  # a null's reason, as the answer gave it

    @property
    def name(self) -> str:
        return f"{self.sample.split('/')[-1]} {self.key}"


def outcomes(results: Sequence[SampleResult]) -> list[Outcome]:
    """Every value of every sample, lists element by element: a killfeed of six rows with one
    row wrong is one wrong value and five right ones, not one wrong field."""
    out: list[Outcome] = []
    for r in results:
        for f in r.fields:
            exp, got = f.expected, f.got
            if isinstance(exp, (list, tuple)) and exp and (
                    got is None or (isinstance(got, (list, tuple)) and len(got) == len(exp))):
                for i, e in enumerate(exp):
                    g = None if got is None else got[i]
                    kind = "right" if same(e, g) else "null" if g is None else "wrong"
                    why = f.reason[i] if isinstance(f.reason, list) and i < len(f.reason) else f.reason
                    out.append(Outcome(f.sample, f"{f.key}[{i}]", kind, g, _why(why) if kind == "null" else None))
            else:
                kind = _outcome(f)
                out.append(Outcome(f.sample, f.key, kind, f.got, _why(f.reason) if kind == "null" else None))
    return out


def format_stress(runs: Sequence[tuple[str, Sequence[SampleResult]]]) -> str:
    """One line per capture variant: values right / null / wrong (list elements counted one by
    one), and which were wrong; then, per variant, which values it lost or gained against the
    first run (the capture as it is)."""
    lines = [f"{'capture':10s} {'right':>5s} {'null':>5s} {'wrong':>5s}  wrong values (sample field: read)"]
    per_run = [(name, outcomes(results), sum(1 for r in results if r.error)) for name, results in runs]
    for name, values, errors in per_run:
        counts = {"right": 0, "null": 0, "wrong": 0}
        for o in values:
            counts[o.kind] += 1
        wrong = [f"{o.name}: {_fmt(o.got)}" for o in values if o.kind == "wrong"]
        lines.append(f"{name:10s} {counts['right']:5d} {counts['null']:5d} {counts['wrong']:5d}  "
                     + "; ".join(wrong) + (f" ({errors} sample(s) could not run)" if errors else ""))
    if not per_run:
        return "\n".join(lines)
    base_name, base, _ = per_run[0]
    was_null = {o.name for o in base if o.kind == "null"}
    # One null per line with its reason, so the variant that broke a read says why without
    # re-running it. The reason comes after " -- ", so the line's fourth word is never a count.
    lines += ["", f"null values (sample field -- why), {base_name} and what each capture changes:",
              f"  {base_name}:" + ("" if was_null else " none")]
    lines += [f"    - {o.name} -- {o.why or 'nothing read'}" for o in sorted(base, key=lambda o: o.name)
              if o.kind == "null"]
    for name, values, _ in per_run[1:]:
        lost = sorted((o for o in values if o.kind == "null" and o.name not in was_null), key=lambda o: o.name)
        gained = sorted(was_null & {o.name for o in values if o.kind == "right"})
        if lost:
            lines.append(f"  {name}: newly null:")
            lines += [f"    - {o.name} -- {o.why or 'nothing read'}" for o in lost]
        if gained:
            lines.append(f"  {name}: read again: " + ", ".join(gained))
    return "\n".join(lines)


def _why(reason: Any, limit: int = 160) -> str | None:
    """A null reason on one line of the stress listing."""
    if reason is None:
        return None
    text = " ".join(str(reason).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def format_table(results: Sequence[SampleResult]) -> str:
    rows = [("sample", "field", "expected", "read", "conf", "")]
    for r in results:
        if r.error:
            rows.append((r.sample.label, "-", "-", "-", "-", f"ERROR {r.error}"))
            continue
        for f in r.fields:
            conf = "" if f.confidence is None else f"{f.confidence:.2f}"
            status = "pass" if f.ok else (("known miss" if f.known_miss else "FAIL") + (f" ({f.note})" if f.note else ""))
            rows.append((f.sample, f.key, _fmt(f.expected), _fmt(f.got), conf, status))
    widths = [min(40, max(len(str(row[i])) for row in rows)) for i in range(5)]
    lines = []
    for row in rows:
        cells = [str(c)[: widths[i]].ljust(widths[i]) for i, c in enumerate(row[:5])]
        lines.append("  ".join(cells) + "  " + row[5])
    n_fields = sum(len(r.fields) for r in results)
    n_ok = sum(f.ok for r in results for f in r.fields)
    n_err = sum(1 for r in results if r.error)
    ms = [r.ms for r in results if not r.error]
    n_known = sum(f.known_miss for r in results for f in r.fields)
    summary = f"{n_ok}/{n_fields} fields pass"
    if n_known:
        summary += f" ({n_known} known miss{'es' if n_known > 1 else ''}, not fatal)"
    if n_err:
        summary += f", {n_err} sample(s) could not run"
    if ms:
        summary += f"; {sum(ms) / len(ms):.1f} ms/frame mean, {max(ms):.1f} max"
    lines.append(summary)
    return "\n".join(lines)
