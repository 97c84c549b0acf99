"""Which way of pulling sampled frames out of a video should `otrig extract` use? Measure it.

Every path delivers the same thing: for each sample k, the BGR image of the video frame
nearest to media time ``seek + k/fps``, at the source size (the resize to 1920x1080 is the
same for all paths and is left out). Frames between samples are never converted to images.

Paths:
  cv2-grab      OpenCV VideoCapture: grab() every frame, retrieve() only the sampled ones
  av-seq        PyAV, decode every frame (threaded), convert only the sampled ones
  av-seek       PyAV, seek to the keyframe before each sample and decode forward to it
  ffmpeg-pipe   an ffmpeg process with a select filter, raw bgr24 on a pipe
  otrig         engine.media.sources.VideoSource: av-seq that seeks only when the next sample is
                further ahead than the longest keyframe interval seen (includes the resize
                to 1920x1080, which the others skip)

    .venv/bin/python bench/decode_paths.py                 # ~1-2 min
    .venv/bin/python bench/decode_paths.py --rates 0.5,2 --paths av-seq,av-seek
    .venv/bin/python bench/decode_paths.py --video some.mkv
    .venv/bin/python bench/decode_paths.py --convert        # per-sample BGR 1920x1080 conversion

--convert times only the step from a decoded frame to the 1920x1080 BGR array that is
posted, on fresh frames (never converted before), methods interleaved in rounds:
  to_ndarray      frame.to_ndarray(format="bgr24") then cv2.resize if not 1080p
                  (PyAV makes a new swscale context, with its thread pool, for every frame)
  shared-sws      one VideoReformatter for the stream, reformat(format="bgr24"), then cv2.resize
  shared-sws-1    the same with threads=1
  sws-resize      one VideoReformatter, reformat(width=1920, height=1080, format="bgr24"):
                  conversion and resize in one swscale pass (other pixels than cv2.resize)
  to_ndarray-wh   frame.to_ndarray(width=1920, height=1080, format="bgr24") (new context each)
  cv2-i420        the I420 planes as one array, cv2.cvtColor(COLOR_YUV2BGR_I420), cv2.resize

By default it measures a generated 1080p30 H.264 clip with a 2 s GOP (20 s, made once in
a temp dir with ffmpeg) and the shared 640x360 60 fps melee clip when it is present.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from av.video.reformatter import Interpolation, VideoReformatter  # noqa: E402

from engine.plugin.protocol import HEIGHT, WIDTH  # noqa: E402
from engine.media.sources import VideoSource, probe_video, sample_indices, to_1080p  # noqa: E402


def targets(path: str, fps: float, seek: float) -> tuple[list[int], Fraction, int, int, int]:
    info = probe_video(path)
    idx = sample_indices(info.fps, info.frames, fps, seek)
    return idx, info.fps, info.frames, info.width, info.height


def path_cv2_grab(path: str, want: list[int], vfps: Fraction, w: int, h: int) -> list[int]:
    cap = cv2.VideoCapture(path)
    got, n, wi = [], 0, 0
    while wi < len(want) and cap.grab():
        if n == want[wi]:
            ok, img = cap.retrieve()
            got.append(n)
            wi += 1
        n += 1
    cap.release()
    return got


def path_av_seq(path: str, want: list[int], vfps: Fraction, w: int, h: int) -> list[int]:
    got = []
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        wi = 0
        for n, fr in enumerate(c.decode(s)):
            if n == want[wi]:
                fr.to_ndarray(format="bgr24")
                got.append(n)
                wi += 1
                if wi == len(want):
                    break
    return got


def path_av_seek(path: str, want: list[int], vfps: Fraction, w: int, h: int) -> list[int]:
    got = []
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        tb = s.time_base
        start = s.start_time or 0
        for n in want:
            target_pts = start + int(round(Fraction(n) / vfps / tb))
            c.seek(target_pts, stream=s, backward=True, any_frame=False)
            for fr in c.decode(s):
                if fr.pts is None or fr.pts >= target_pts - (1 / vfps / tb) / 2:
                    fr.to_ndarray(format="bgr24")
                    got.append(int(round((fr.pts - start) * tb * vfps)))
                    break
    return got


def path_ffmpeg_pipe(path: str, want: list[int], vfps: Fraction, w: int, h: int) -> list[int]:
    # Frame n is sampled when some sample time falls in (n-1/2, n+1/2] frames: compare the
    # count of sample times up to each edge (a list of eq(n,N) terms overflows the parser).
    f_, s_, v_ = float(fps_of[path]), float(seek_of[path]), float(vfps)
    edge = "floor((({n})/{v} - {s})*{f} + 1e-9)"
    expr = (f"gt({edge.format(n='n+0.5', v=v_, s=s_, f=f_)}\\,"
            f"max({edge.format(n='n-0.5', v=v_, s=s_, f=f_)}\\,-1))")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(f"select={expr}")
        script = f.name
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-filter_script:v", script,
           "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1"]
    size = w * h * 3
    got = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, bufsize=0) as p:
        for n in want:
            buf = bytearray(size)
            view = memoryview(buf)
            read = 0
            while read < size:
                k = p.stdout.readinto(view[read:])
                if not k:
                    break
                read += k
            if read < size:
                break
            np.frombuffer(buf, np.uint8).reshape(h, w, 3)
            got.append(n)
        p.stdout.close()
    Path(script).unlink()
    return got


def path_otrig(path: str, want: list[int], vfps: Fraction, w: int, h: int) -> list[int]:
    """engine.media.sources.VideoSource as `otrig extract` uses it (adaptive seek + 1080p resize)."""
    return [f["frame_no"] for _, f in VideoSource(path, fps_of[path], seek_of[path], wall_start=0)]


fps_of: dict[str, float] = {}
seek_of: dict[str, float] = {}

PATHS = {"otrig": path_otrig, "cv2-grab": path_cv2_grab, "av-seq": path_av_seq, "av-seek": path_av_seek,
         "ffmpeg-pipe": path_ffmpeg_pipe}


def make_clip(out: Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=1920x1080:rate=30:duration=20", "-c:v", "libx264",
                    "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p", str(out)], check=True)


def conversions() -> dict:
    shared, shared1, resize = VideoReformatter(), VideoReformatter(), VideoReformatter()

    def interp(fr) -> Interpolation:
        return Interpolation.AREA if fr.width > WIDTH or fr.height > HEIGHT else Interpolation.BILINEAR

    return {
        "to_ndarray": lambda fr: to_1080p(fr.to_ndarray(format="bgr24")),
        "shared-sws": lambda fr: to_1080p(shared.reformat(fr, format="bgr24").to_ndarray()),
        "shared-sws-1": lambda fr: to_1080p(shared1.reformat(fr, format="bgr24", threads=1).to_ndarray()),
        "sws-resize": lambda fr: np.ascontiguousarray(resize.reformat(
            fr, width=WIDTH, height=HEIGHT, format="bgr24", interpolation=interp(fr)).to_ndarray()),
        "to_ndarray-wh": lambda fr: np.ascontiguousarray(fr.to_ndarray(width=WIDTH, height=HEIGHT, format="bgr24")),
        "cv2-i420": lambda fr: to_1080p(cv2.cvtColor(fr.to_ndarray(), cv2.COLOR_YUV2BGR_I420)),
    }


def measure_conversions(videos: list[str], rounds: int, per_round: int = 20) -> None:
    """Milliseconds per sample for each conversion, on fresh frames, interleaved rounds."""
    print(f"{'video':38} " + " ".join(f"{n:>13}" for n in conversions()))
    for v in videos:
        conv = conversions()
        times: dict[str, list[float]] = {n: [] for n in conv}
        with av.open(v) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            frames = c.decode(s)
            for r in range(rounds):
                for name, fn in (list(conv.items())[r % len(conv):] + list(conv.items())[:r % len(conv)]):
                    batch = []
                    for k, fr in enumerate(frames):  # every 3rd frame, like -r 10 of 30 fps
                        if k % 3 == 0:
                            batch.append(fr)
                        if len(batch) == per_round:
                            break
                    if len(batch) < per_round:  # start over at the end of the clip
                        c.seek(0)
                        frames = c.decode(s)
                        continue
                    t0 = time.perf_counter()
                    out = [fn(fr) for fr in batch]
                    times[name].append((time.perf_counter() - t0) / len(batch) * 1000)
                    assert out[0].shape == (HEIGHT, WIDTH, 3) and out[0].flags.c_contiguous
        cells = [f"{sorted(t)[len(t) // 2]:10.2f} ms" if t else "n/a" for t in times.values()]
        print(f"{Path(v).name[:38]:38} " + " ".join(f"{c:>13}" for c in cells), flush=True)
    print("median of rounds, ms per sample (fresh frames each round)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", action="append", help="video(s) to measure (default: generated + melee)")
    ap.add_argument("--rates", default="0.5,1,2,10", help="sampling rates, comma separated")
    ap.add_argument("--paths", default=",".join(PATHS), help="paths to measure")
    ap.add_argument("--seek", type=float, default=0.0)
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs")
    ap.add_argument("--convert", action="store_true", help="time the per-sample conversion to BGR 1920x1080")
    ap.add_argument("--rounds", type=int, default=12, help="--convert: interleaved rounds")
    a = ap.parse_args()
    videos = a.video or []
    if not videos:
        clip = Path(tempfile.gettempdir()) / "otrig-bench-1080p30-gop60.mp4"
        if not clip.exists():
            make_clip(clip)
        videos.append(str(clip))
        melee = ROOT.parent / "shared" / "data" / "melee" / "smuckers.mp4"
        if melee.exists():
            videos.append(str(melee))
    if a.convert:
        measure_conversions(videos, a.rounds)
        return
    rates = [float(r) for r in a.rates.split(",")]
    names = a.paths.split(",")
    print(f"{'video':38} {'rate':>5} {'samples':>7} " + " ".join(f"{n:>12}" for n in names))
    for v in videos:
        for r in rates:
            want, vfps, frames, w, h = targets(v, r, a.seek)
            fps_of[v], seek_of[v] = r, a.seek
            cells = []
            for n in names:
                best = float("inf")
                for _ in range(a.repeat):
                    t0 = time.perf_counter()
                    got = PATHS[n](v, want, vfps, w, h)
                    best = min(best, time.perf_counter() - t0)
                ok = got == want
                cells.append(f"{best:9.2f}s{'' if ok else '!':2}")
            print(f"{Path(v).name[:38]:38} {r:5g} {len(want):7d} " + " ".join(f"{c:>12}" for c in cells),
                  flush=True)
    print("times are wall seconds for the whole clip; '!' marks a path that delivered other frames")


if __name__ == "__main__":
    main()
