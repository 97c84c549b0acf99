"""Section 5: extract. Frames/s posting a generated 60 s 1080p30 H.264 clip (testsrc2, 2 s
GOP, cached in /tmp/otrig-bench/) at -r 0.5, 2 and 10, the way `otrig extract` does it
(cli.extract.samples: engine.media.sources.VideoSource decoding ahead in a thread ->
engine.plugin.client.PluginClient -> the echo server), against

* decode only: the same VideoSource samples with no posting (same run);
* the original tool's method: cv2.VideoCapture, ``read()`` one frame then ``grab()`` the
  rest, stepping ``int(video_fps / fps) + 1`` frames, posting each read frame with the same
  client to the same server (so only the decoding differs).

The ratio against the original is on seconds of video covered per wall second (its step
gives other sample counts than the exact sampling: 0.5 -> every 61st frame, 10 -> every
4th). Each method runs in 2 interleaved rounds (best of each is kept), each stopping at a
time budget (4.5 s; --quick one round of 1.5 s) so the section fits in the run: rates are
over the same start of the clip for every method.
"""
from __future__ import annotations

import shutil
import subprocess
import time

from bench.common import CACHE, Report, echo_server, ratio, verdict

RATES = (0.5, 2.0, 10.0)
DURATION = [60.0]  # of the clip in use
FULL = CACHE / "testsrc2-1080p30-60s-gop60.mp4"
QUICK = CACHE / "testsrc2-1080p30-4s-gop60.mp4"


def clip(quick: bool) -> tuple[str, float]:
    """The cached clip (made on first use); (path, seconds it took to make now, 0 if cached)."""
    out = QUICK if quick else FULL
    if out.exists() and out.stat().st_size > 0:
        return str(out), 0.0
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part.mp4")
    t0 = time.perf_counter()
    if quick and FULL.exists():
        cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(FULL), "-t", "4", "-c", "copy", str(tmp)]
    else:
        dur = 4 if quick else 60
        cmd = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i",
               f"testsrc2=size=1920x1080:rate=30:duration={dur}", "-c:v", "libx264", "-preset", "veryfast",
               "-g", "60", "-keyint_min", "60", "-pix_fmt", "yuv420p", str(tmp)]
    subprocess.run(cmd, check=True, timeout=600)
    tmp.rename(out)
    return str(out), time.perf_counter() - t0


class Run:
    """Frames delivered, wall seconds, media seconds covered (frames x sample period)."""

    def __init__(self, budget: float):
        self.budget, self.t0 = budget, time.perf_counter()
        self.frames, self.media, self.bad = 0, 0.0, 0
        self.elapsed = 0.0

    def tick(self, period: float) -> bool:
        """Count one frame; False once the time budget is used up."""
        self.frames += 1
        self.media += period
        self.elapsed = time.perf_counter() - self.t0
        return self.elapsed < self.budget

    @property
    def fps(self) -> float:
        return self.frames / max(self.elapsed, 1e-9)

    @property
    def speed(self) -> float:
        return min(self.media, DURATION[0]) / max(self.elapsed, 1e-9)

    def note(self) -> str:
        return f"{self.frames} frames, {min(self.media, DURATION[0]):.0f} s of video in {self.elapsed:.2f} s"


def decode_only(path: str, rate: float, budget: float) -> Run:
    from engine.media.sources import VideoSource
    run = Run(budget)
    for _ in VideoSource(path, rate, wall_start=0):
        if not run.tick(1 / rate):
            break
    return run


def otrig_way(path: str, rate: float, url: str, budget: float) -> Run:
    from contextlib import closing

    from cli.extract import samples  # what `otrig extract` iterates: decoding runs ahead in a thread
    from engine.plugin.client import PluginClient, changed_fields
    from engine.media.sources import VideoSource
    run = Run(budget)
    with PluginClient(url, timeout=30) as client, closing(samples(VideoSource(path, rate))) as frames:
        for image, frame in frames:
            answer = client.post(image, frame)
            run.bad += bool(changed_fields(frame, answer))
            if not run.tick(1 / rate):
                break
    return run


def original_way(path: str, rate: float, url: str, budget: float) -> Run:
    import cv2
    from engine.plugin.client import PluginClient
    run = Run(budget)
    cap = cv2.VideoCapture(path)
    vfps = cap.get(cv2.CAP_PROP_FPS)
    step = int(vfps / rate) + 1
    n = 0
    source = {"type": "video", "file": path, "bench": "original"}
    with PluginClient(url, timeout=30) as client:
        while True:
            ok, img = cap.read()
            if not ok:
                break
            client.post(img, {"timestamp": n / vfps, "relative_timestamp": n / vfps, "frame_no": n, "source": source})
            more = run.tick(step / vfps)
            for _ in range(step - 1):
                if not cap.grab():
                    break
            n += step
            if not more:
                break
    cap.release()
    return run


def run(rep: Report, quick: bool) -> None:
    sec = "5 extract"
    if shutil.which("ffmpeg") is None:
        rep.na(sec, "extract", "ffmpeg not installed")
        return
    path, made = clip(quick)
    secs = 4 if quick else 60
    DURATION[0] = float(secs)
    rep.add(sec, f"test clip: testsrc2 {secs} s 1920x1080 30 fps H.264, GOP 60", "cached" if not made else f"made in {made:.0f} s",
            note=path)
    budget = 1.5 if quick else 9.0
    srv, label = echo_server(rep)
    with srv:
        otrig_way(path, 1.0, srv.url, 1.0)  # warm the server and the decoder libraries
        rounds = 1 if quick else 2
        for r in RATES:
            # interleaved rounds, best of each: a neighbour's burst on the shared cores should
            # not decide the ratio (the same treatment as the ingest section)
            ds, os_, gs = [], [], []
            for _ in range(rounds):
                ds.append(decode_only(path, r, budget / rounds))
                os_.append(otrig_way(path, r, srv.url, budget / rounds))
                gs.append(original_way(path, r, srv.url, budget / rounds))
            d = max(ds, key=lambda x: x.fps)
            o = max(os_, key=lambda x: x.fps)
            g = max(gs, key=lambda x: x.speed)
            rep.add(sec, f"-r {r:g}: decode only (VideoSource, no posting)", f"{d.fps:.1f} frames/s",
                    note=d.note())
            tgt = ">= 0.85x" if r == 10 else ""
            rep.add(sec, f"-r {r:g}: VideoSource -> PluginClient -> {label}", f"{o.fps:.1f} frames/s", "decode only",
                    ratio(o.fps, d.fps), tgt, verdict(o.fps / d.fps >= 0.85) if tgt else "",
                    note=o.note() + (f"; {o.bad} answers changed fields" if o.bad else ""))
            tgt = ">= 1.5x" if r == 0.5 else ""
            rep.add(sec, f"-r {r:g}: original method (cv2 read + grab, step {int(30 / r) + 1}) -> same server",
                    f"{g.speed:.1f} s of video/s", f"otrig way {o.speed:.1f} s of video/s",
                    f"otrig {o.speed / g.speed:.2f}x faster", tgt,
                    verdict(o.speed / g.speed >= 1.5) if tgt else "", note=g.note())
