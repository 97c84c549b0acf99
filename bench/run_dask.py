#!/usr/bin/env python3
"""`otrig run` on Dask against the sequential `otrig run`, ratios measured in one run.

    .venv/bin/python bench/run_dask.py            # ~5 min on 2 shared cores
    .venv/bin/python bench/run_dask.py --quick    # one repeat, one VOD

1. Throughput: the melee game at -r 10 over VODs (symlinks to the shared Melee clip, 30 s
   of 640x360 60 fps each; never copied), sequential vs --workers 1 and 2 (a local
   cluster; whole VODs, and cut into 10 s segments, each with its 2.2 s warm-up): sampled
   video seconds per wall second, the median of the repeats, each run checked byte for
   byte against the sequential output. The runs are interleaved so the other jobs on the
   machine load them alike.
2. The cluster's overhead on one short VOD (5 s of it): wall seconds of --workers 1 minus
   the sequential run's (cluster start, planning, a task round trip, shutdown).
3. PyAV's ``skip_frame`` for sparse sampling: decode time of the whole clip with the
   decoder skipping nothing, non-reference frames, or all but keyframes, and how many
   of the samples at -r 0.5 each mode could give exactly (a skipped frame cannot be a sample).
4. The per-core rate on 1080p60 H.264 (a generated demo match, cached in /tmp/otrig-bench),
   sequential and --workers 2, for the README's estimate of 1,000 hours of VODs.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLIP = ROOT.parent / "shared" / "data" / "melee" / "smuckers.mp4"
CACHE = Path("/tmp/otrig-bench/dask")
OTRIG = str(Path(sys.executable).parent / "otrig")
RATE = "10"
START = "1700000000"


def links(target: Path, stem: str, n: int) -> list[str]:
    """``n`` differently named links to one video (each its own source and output file)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        link = CACHE / f"{stem}{i + 1}.mp4"
        if not link.exists():
            link.symlink_to(target)
        out.append(str(link))
    return out


def vods(n: int) -> list[str]:
    return links(CLIP, "vod", n)


def children_cpu() -> float:
    """CPU seconds of the finished child processes and theirs (a local cluster's workers
    are waited for by their nannies, the nannies by `otrig run`)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(cmd: list[str], out: Path) -> tuple[float, float, bytes]:
    """(wall s, CPU s, output) of one `otrig run`: CPU seconds are what the run cost whatever
    else loads the machine (the load average was 3-7 on 2 cores while these were measured)."""
    out.unlink(missing_ok=True)
    c0, t0 = children_cpu(), time.monotonic()
    r = subprocess.run(cmd + ["--jsonl", str(out)], cwd=ROOT, capture_output=True, text=True)
    wall, cpu = time.monotonic() - t0, children_cpu() - c0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return wall, cpu, out.read_bytes()


def timed_run(args: list[str], out: Path) -> tuple[float, float, bytes]:
    return timed([OTRIG, "run", "melee", *args, "-r", RATE, "--start-time", START], out)


def table(walls: dict[str, list[float]], cpus: dict[str, list[float]], video_s: float) -> None:
    base = statistics.median(walls["sequential"])
    print("| run | wall s | video s / wall s | vs sequential | CPU s | video s / CPU s |")
    print("|---|---|---|---|---|---|")
    for mode, ws in walls.items():
        m, c = statistics.median(ws), statistics.median(cpus[mode])
        print(f"| {mode} | {m:.1f} | {video_s / m:.2f} | {base / m:.2f}x | {c:.1f} | {video_s / c:.2f} |")


def throughput(sources: list[str], repeats: int, video_s: float) -> None:
    modes = {"sequential": [], "--workers 1": ["--workers", "1", "--segment", "0"],
             "--workers 2": ["--workers", "2", "--segment", "0"],
             "--workers 2 --segment 10": ["--workers", "2", "--segment", "10"]}
    walls: dict[str, list[float]] = {m: [] for m in modes}
    cpus: dict[str, list[float]] = {m: [] for m in modes}
    reference: bytes | None = None
    for _ in range(repeats):
        for mode, extra in modes.items():
            wall, cpu, data = timed_run(sources + extra, CACHE / "out.jsonl")
            if reference is None:
                reference = data
            elif data != reference:
                raise SystemExit(f"{mode}: output differs from the sequential run")
            walls[mode].append(wall)
            cpus[mode].append(cpu)
    print(f"\n1. throughput: melee -r {RATE}, {len(sources)} VODs, {video_s:.0f} s of video, median of {repeats}")
    table(walls, cpus, video_s)


def overhead(repeats: int) -> None:
    (clip,) = vods(1)
    seq, one = [], []
    for _ in range(repeats):
        seq.append(timed_run([clip, "-s", "25"], CACHE / "short.jsonl")[0])
        one.append(timed_run([clip, "-s", "25", "--workers", "1"], CACHE / "short.jsonl")[0])
    s, o = statistics.median(seq), statistics.median(one)
    print(f"\n2. one short VOD (5 s at -r {RATE}), median of {repeats}: sequential {s:.2f} s, --workers 1 {o:.2f} s: "
          f"the cluster adds {o - s:.2f} s ({o / s:.2f}x)")


def skip_frame(repeats: int) -> None:
    import av

    from engine.media.sources import sample_indices

    with av.open(str(CLIP)) as c:
        s = c.streams.video[0]
        vfps, frames = Fraction(s.average_rate), s.frames
    samples = set(sample_indices(vfps, frames, 0.5))
    print(f"\n3. skip_frame: decoding all of {CLIP.name} ({frames} frames), median of {repeats}; "
          f"{len(samples)} samples at -r 0.5")
    print("| skip_frame | frames out | ms | vs DEFAULT | samples it can give exactly |")
    print("|---|---|---|---|---|")
    base = None
    for mode in ("DEFAULT", "NONREF", "NONKEY"):
        times, got = [], set()
        for _ in range(repeats):
            t0 = time.perf_counter()
            with av.open(str(CLIP)) as c:
                st = c.streams.video[0]
                st.thread_type = "AUTO"
                st.codec_context.skip_frame = mode
                tb, start = st.time_base, st.start_time or 0
                got = {round((f.pts - start) * tb * vfps) for f in c.decode(st)}
            times.append((time.perf_counter() - t0) * 1000)
        ms = statistics.median(times)
        base = base or ms
        print(f"| {mode} | {len(got)} | {ms:.0f} | {base / ms:.2f}x | {len(samples & got)} of {len(samples)} |")


def hd_rate(repeats: int, n: int) -> None:
    """The per-core rate on what a season of VODs looks like: 1080p60 H.264, sampled at 2/s
    (n VODs: symlinks to one generated 20 s match)."""
    from engine.debug.demo_video import write_templates, write_video

    video, assets = CACHE / "demo1080p60.mp4", CACHE / "assets"
    if not video.exists():
        write_templates(assets / "demo_icons")
        write_video(video, CACHE / "demo1080p60.json", seconds=20, fps=60, size=(1920, 1080))
    sources = links(video, "match", n)
    modes = ("sequential", "--workers 1", "--workers 2")
    walls: dict[str, list[float]] = {m: [] for m in modes}
    cpus: dict[str, list[float]] = {m: [] for m in modes}
    ref = None
    for _ in range(repeats):
        for mode in modes:
            extra = [] if mode == "sequential" else mode.split()
            wall, cpu, data = timed([OTRIG, "run", "demo", *sources, "-r", "2", "--assets", str(assets),
                                     "--start-time", START, *extra], CACHE / "hd.jsonl")
            walls[mode].append(wall)
            cpus[mode].append(cpu)
            if ref is None:
                ref = data
            elif data != ref:
                raise SystemExit(f"{mode}: output differs from the sequential run")
    print(f"\n4. 1080p60 H.264, demo game at -r 2: {n} VODs of 20 s (2 s GOP), median of {repeats}")
    table(walls, cpus, 20.0 * n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one repeat, one VOD")
    a = ap.parse_args()
    if not CLIP.exists():
        raise SystemExit(f"{CLIP} is missing (the shared data)")
    n, repeats = (1, 1) if a.quick else (2, 3)
    throughput(vods(n), repeats, 30.0 * n)
    overhead(1 if a.quick else 5)
    skip_frame(1 if a.quick else 5)
    hd_rate(1 if a.quick else 3, 2 if a.quick else 8)


if __name__ == "__main__":
    main()
