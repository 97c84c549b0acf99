"""Section 3: processing cost of the shipped games on their real frames.

In process: a child process pinned to one CPU (``os.sched_setaffinity``, OMP_THREAD_LIMIT=1)
loads the game and processes the frame repeatedly with ``relative_timestamp`` spaced past
every cadence (so every processor whose gate is open runs on every frame); it reports the
median ms of each processor (``FrameOutput.processors[].ms``) and of the whole
``CompiledGame.process`` call. Over HTTP: `otrig serve GAME` posted the same frame, same
spacing, by PluginClient; frames/s against the in-process rate.

    .venv/bin/python -m bench.processing --inproc apex --frames 20     # prints JSON
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

from bench.common import DATA, ROOT, Report, ServerUnavailable, fps, ms, otrig_server, ratio, run_json, verdict

APEX_TARGET_MS = 25.0


def game_cases() -> list[dict[str, Any]]:
    """(label, game, picture) cases; melee takes its frame and viewport from melee.samples.yaml."""
    cases = [
        {"label": "apex", "game": "apex", "image": "apex/t8cp8hhm.jpg", "target": APEX_TARGET_MS},
        {"label": "apex (squad summary frame)", "game": "apex", "image": "apex/squad_summary_duos.png", "extra": True},
        {"label": "valorant", "game": "valorant", "image": "valorant/mid_round.png"},
        {"label": "melee", "game": "melee", "video": "melee/smuckers.mp4", "frame_no": 600},
    ]
    return cases


def _load_case(case: dict[str, Any]):
    """(game, image, source) for a case, loaded in this process."""
    from engine.runtime.game import load_game
    from engine.debug.golden import load_samples, read_sample, resolve

    game_path = ROOT / "games" / f"{case['game']}.yaml"
    viewport = None
    if "video" in case:
        samples = [s for s in load_samples(ROOT / "games" / f"{case['game']}.samples.yaml")
                   if s.kind == "video" and s.frame_no == case["frame_no"]]
        s = samples[0]
        viewport = s.viewport
        image, read = read_sample(resolve(s.path, [DATA]), "video", s.frame_no)
        file = s.path
    else:
        image, read = read_sample(DATA / case["image"], "image", None)
        file = case["image"]
    source = {"type": "video" if "video" in case else "image", "file": file,
              "original_shape": read["source"]["original_shape"], "bench": "processing"}
    game = load_game(game_path, assets=[DATA], viewport=viewport)
    return game, image, source, viewport


def spacing(game) -> float:
    """Seconds between frames so that every cadence (every + offset) is due on each frame."""
    longest = 0.0
    for p in game.graph.processors:
        if p.every is not None:
            longest = max(longest, p.every + p.offset)
    return longest + 1.0


def _wrap_steps(game) -> dict[str, float]:
    """Accumulate each processor's steps' thread CPU time (wall ms is what the engine reports;
    on a shared machine CPU time is the figure that does not depend on the neighbours)."""
    acc: dict[str, float] = {}
    for p in game.graph.processors:
        acc[p.name] = 0.0
        steps = [f.step for f in p.fields] + [st for sc in p.screens for st in sc.steps]
        for step in steps:
            def wrapped(fc, _run=step.run, _name=p.name):
                c = time.thread_time()
                try:
                    return _run(fc)
                finally:
                    acc[_name] += time.thread_time() - c
            try:
                object.__setattr__(step, "run", wrapped)
            except (AttributeError, TypeError):
                pass
    return acc


def inproc(label: str, frames: int) -> dict[str, Any]:
    case = next(c for c in game_cases() if c["label"] == label)
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    except (AttributeError, OSError):
        pass
    t0 = time.perf_counter()
    game, image, source, viewport = _load_case(case)
    load_ms = (time.perf_counter() - t0) * 1000
    dt = spacing(game)
    per: dict[str, list[float]] = {p.name: [] for p in game.graph.processors}
    cpu_acc = _wrap_steps(game)
    per_cpu: dict[str, list[float]] = {p.name: [] for p in game.graph.processors}
    status: dict[str, str] = {}
    totals, cpus = [], []
    errors: dict[str, Any] = {}
    warm = 2
    for k in range(frames + warm):
        frame = {"timestamp": 1_700_000_000.0 + k * dt, "relative_timestamp": k * dt, "frame_no": k,
                 "source": source}
        for key in cpu_acc:
            cpu_acc[key] = 0.0
        c1, t1 = time.thread_time(), time.perf_counter()
        out = game.process(image, frame)
        wall, cpu = (time.perf_counter() - t1) * 1000, (time.thread_time() - c1) * 1000
        if k < warm:
            continue
        totals.append(wall)
        cpus.append(cpu)
        errors.update(out.errors)
        for p in out.processors:
            if p.status != "skip":
                per[p.name].append(p.ms)
                per_cpu[p.name].append(cpu_acc[p.name] * 1000)
            status[p.name] = p.status if p.status != "skip" else f"skip: {p.reason}"
    return {
        "label": label, "load_ms": load_ms, "dt": dt, "frames": frames, "viewport": viewport,
        "total_ms": statistics.median(totals), "total_min_ms": min(totals),
        "cpu_ms": statistics.median(cpus), "cpu_min_ms": min(cpus),
        "processors": {n: (statistics.median(v) if v else None) for n, v in per.items()},
        "processors_cpu": {n: (statistics.median(v) if v else None) for n, v in per_cpu.items()},
        "status": status, "errors": {k: str(v)[:120] for k, v in errors.items()},
        "objects": json.loads(json.dumps(out.objects, default=str)),
    }


def http_rate(case: dict[str, Any], res: dict[str, Any], seconds: float, serve_args: tuple[str, ...] = ()) -> float:
    """Frames/s of `otrig serve GAME` posted the case's frame with the same spacing."""
    from engine.plugin.client import PluginClient
    game, image, source, viewport = _load_case(case)  # only for the image and source
    extra = ["--assets", str(DATA), *serve_args]
    if viewport:
        extra += ["--viewport", ",".join(str(v) for v in viewport)]
    dt = res["dt"]
    source = {**source, "bench": f"http-{time.time()}"}
    with otrig_server(ROOT / "games" / f"{case['game']}.yaml", *extra) as srv:
        client = PluginClient(srv.url, timeout=60)
        try:
            def post(k: int) -> None:
                client.post(image, {"timestamp": 1_700_000_000.0 + k * dt, "relative_timestamp": k * dt,
                                    "frame_no": k, "source": source})
            post(0)
            post(1)
            n, t0 = 2, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                post(n)
                n += 1
            return (n - 2) / (time.perf_counter() - t0)
        finally:
            client.close()


def run(rep: Report, quick: bool) -> None:
    sec = "3 processing"
    copy_ms = rep.facts.get("copy_ms")
    frames = 4 if quick else 25
    seconds = 1.0 if quick else 3.0
    for case in game_cases():
        label = case["label"]
        if quick and label != "apex":
            rep.add(sec, f"{label}: ms/frame", "skipped in --quick (apex only)")
            continue
        gpath = ROOT / "games" / f"{case['game']}.yaml"
        if not gpath.exists():
            rep.na(sec, f"{label}: ms/frame", f"games/{case['game']}.yaml not present")
            continue
        pic = DATA / (case.get("image") or case.get("video"))
        if not pic.exists():
            rep.na(sec, f"{label}: ms/frame", f"{pic} not present")
            continue
        try:
            res = run_json(["-m", "bench.processing", "--inproc", label, "--frames", str(frames)], timeout=240,
                           env={"OMP_THREAD_LIMIT": "1"})
        except Exception as e:  # noqa: BLE001
            rep.na(sec, f"{label}: ms/frame", f"{type(e).__name__}: {str(e)[-160:]}")
            continue
        total, cpu = res["total_ms"], res["cpu_ms"]
        ran = [n for n, v in res["processors"].items() if v is not None]
        target = case.get("target")
        rep.add(sec, f"{label}: CPU ms/frame in process, 1 core ({len(ran)}/{len(res['processors'])} processors ran)",
                ms(cpu), "numpy frame copy", ratio(cpu, copy_ms) if copy_ms else "-",
                f"<= {target:g} ms" if target else "", verdict(cpu <= target) if target else "",
                note=f"median thread CPU time of CompiledGame.process; min {res['cpu_min_ms']:.1f} ms")
        rep.add(sec, f"{label}: wall ms/frame in process, 1 core", ms(total), "CPU ms/frame", ratio(total, cpu),
                note=(f"min {res['total_min_ms']:.1f} ms; load {res['load_ms']:.0f} ms; frames {res['dt']:g} s apart"
                      + (f"; viewport {res['viewport']}" if res.get("viewport") else "")
                      + (f"; ERRORS {res['errors']}" if res["errors"] else "")))
        for name, v in res["processors"].items():
            c = res.get("processors_cpu", {}).get(name)
            if v is None:
                rep.add(sec, f"  {label} / {name}", "not run", note=res["status"].get(name, "")[:90])
            elif c:
                rep.add(sec, f"  {label} / {name} (CPU)", ms(c), f"{label} CPU total", f"{100 * c / cpu:.0f}%",
                        note=f"wall {v:.1f} ms")
            else:
                rep.add(sec, f"  {label} / {name} (wall)", ms(v), f"{label} wall total", f"{100 * v / total:.0f}%")
        if quick:
            rep.add(sec, f"{label}: frames/s over HTTP (otrig serve)", "skipped in --quick")
            continue
        try:
            r = http_rate(case, res, seconds)
        except ServerUnavailable as e:
            rep.na(sec, f"{label}: frames/s over HTTP (otrig serve)", str(e)[:100])
            continue
        except Exception as e:  # noqa: BLE001
            rep.na(sec, f"{label}: frames/s over HTTP (otrig serve)", f"{type(e).__name__}: {str(e)[:100]}")
            continue
        inproc_rate = 1000.0 / total
        rep.add(sec, f"{label}: frames/s over HTTP (otrig serve, 1 client)", fps(r),
                f"in-process rate {inproc_rate:.1f}/s", ratio(r, inproc_rate))
        if label == "apex":
            # issue 4: recording writes in the background and must not slow the server noticeably
            import tempfile
            with tempfile.TemporaryDirectory(prefix="otrig-bench-rec-") as rec:
                try:
                    rr = http_rate(case, res, seconds, ("--record", rec))
                except Exception as e:  # noqa: BLE001
                    rep.na(sec, f"{label}: frames/s over HTTP with --record", f"{type(e).__name__}: {str(e)[:100]}")
                else:
                    rep.add(sec, f"{label}: frames/s over HTTP with --record DIR", fps(rr),
                            f"without recording {r:.1f}/s", ratio(rr, r),
                            note="thumbnails + crops for the first 200 frames, written by a background thread")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inproc", required=True)
    ap.add_argument("--frames", type=int, default=20)
    a = ap.parse_args()
    print(json.dumps(inproc(a.inproc, a.frames)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
