"""`otrig test` reads a sample's `frame_no` as the very picture `otrig extract` posts with that
frame_no: one video reader (PyAV, engine.media.sources) for both.

The video here is an MKV with five frames dropped (as OBS writes when the encoder falls
behind): its timestamps jump from frame 19 to 25. `otrig extract` numbers frames by their
time, so frame_no 30 is the picture drawn as 30; the old golden reader (OpenCV, counting
decoded frames) returned the picture drawn as 35 for it.
"""
from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from engine.debug.golden import game_loader, load_samples, run_samples
from engine.plugin.protocol import build_answer, parse_request

sys.path.insert(0, str(Path(__file__).parent))
from test_sources import make_video, read_index  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class Capture:
    """A plugin on 127.0.0.1 that keeps a copy of every image posted to it, by frame_no."""

    def __init__(self) -> None:
        self.images: dict[int, np.ndarray] = {}
        cap = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                req = parse_request(body, self.headers.get("Content-Type"))
                cap.images[req.frame["frame_no"]] = req.image.copy()
                out = build_answer(req.frame_text, req.frame, {})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def dropped_frames_mkv(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("gap")
    src = make_video(d / "src.mp4", frames=90, size=(1280, 720), gop=30)
    out = d / "gap.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-vf", r"select='not(between(n\,20\,24))'",
                    "-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "30",
                    str(out)], check=True)
    return out


def test_otrig_test_reads_the_frame_extract_posts(dropped_frames_mkv, tmp_path):
    cap = Capture()
    try:
        r = subprocess.run([sys.executable, "-m", "cli.main", "extract", "-r", "10", str(dropped_frames_mkv), cap.url,
                            "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        cap.stop()
    assert r.returncode == 0, r.stderr
    posted = cap.images
    wanted = [0, 19, 25, 30, 60, 87]  # either side of the gap, and the last frame
    assert set(wanted) <= set(posted) and not {20, 21, 22, 23, 24} & set(posted)
    assert read_index(posted[30]) == 30  # extract numbers frames by their time

    samples = tmp_path / "gap.samples.yaml"
    samples.write_text("samples:\n" + "".join(
        f"  - video: {dropped_frames_mkv.name}\n    frame_no: {n}\n    expect: {{nothing.here: null}}\n"
        for n in wanted))
    seen: list[np.ndarray] = []

    def keep(image: np.ndarray) -> np.ndarray:  # the 1920x1080 frame `otrig test` runs the game on
        seen.append(image.copy())
        return image

    results = run_samples(game_loader("echo"), load_samples(samples), roots=[dropped_frames_mkv.parent], transform=keep)
    assert [res.error for res in results] == [None] * len(wanted)
    assert len(seen) == len(wanted)
    for n, image in zip(wanted, seen):
        assert image.shape == posted[n].shape == (1080, 1920, 3)
        assert np.array_equal(image, posted[n]), f"frame_no {n}: otrig test read another picture than extract posted"


def test_a_frame_past_the_end_is_a_clear_sample_error(dropped_frames_mkv, tmp_path):
    samples = tmp_path / "s.samples.yaml"
    samples.write_text(f"samples:\n  - video: {dropped_frames_mkv.name}\n    frame_no: 500\n"
                       f"    expect: {{nothing.here: null}}\n")
    (res,) = run_samples(game_loader("echo"), load_samples(samples), roots=[dropped_frames_mkv.parent])
    assert res.error is not None and "frame 500" in res.error and "past the end" in res.error
