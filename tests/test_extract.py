"""`otrig extract` as a real process posting over real HTTP to a recording plugin."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from engine.plugin.client import PluginClient, PluginHTTPError, PluginUnreachable
from engine.plugin.protocol import ProtocolError, build_answer, parse_request

sys.path.insert(0, str(Path(__file__).parent))
from test_sources import SMUCKERS, make_video, need_data, read_index  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OTRIG = Path(sys.executable).parent / "otrig"


def otrig(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    cmd = [str(OTRIG)] if OTRIG.exists() else [sys.executable, "-m", "cli.main"]
    return subprocess.run(cmd + list(args), cwd=ROOT, capture_output=True, text=True, timeout=timeout)


class Plugin:
    """A tiny plugin on 127.0.0.1 that records what it receives and misbehaves on demand."""

    def __init__(self, *, fail_on: int | None = None, drop_field: str | None = None,
                 not_json: bool = False, die_after: int | None = None):
        self.received: list[dict] = []   # {"frame", "index", "shape", "length", "connection"}
        self.fail_on, self.drop_field, self.not_json, self.die_after = fail_on, drop_field, not_json, die_after
        plugin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    req = parse_request(body, self.headers.get("Content-Type"))
                except ProtocolError as e:
                    return self.answer(e.status, json.dumps(e.to_json()).encode())
                plugin.received.append({"frame": req.frame, "index": read_index(req.image),
                                        "shape": req.image.shape, "length": len(body),
                                        "port": self.client_address[1]})
                n = len(plugin.received)
                if plugin.fail_on is not None and req.frame["frame_no"] == plugin.fail_on:
                    err = {"error": {"code": "processor_failed", "message": "the killfeed step crashed"}}
                    return self.answer(500, json.dumps(err).encode())
                if plugin.not_json:
                    return self.answer(200, b"<html>hello</html>")
                if plugin.drop_field:
                    frame = dict(req.frame)
                    del frame[plugin.drop_field]
                    return self.answer(200, json.dumps(frame).encode())
                out = build_answer(req.frame_text, req.frame, {"echo": {"n": n}})
                if plugin.die_after is not None and n >= plugin.die_after:
                    self.close_connection = True
                    self.answer(200, out, close=True)
                    threading.Thread(target=plugin.stop, daemon=True).start()
                    return
                self.answer(200, out)

            def answer(self, status: int, body: bytes, close: bool = False):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if close:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def plugin_factory():
    made: list[Plugin] = []

    def make(**kw) -> Plugin:
        p = Plugin(**kw)
        made.append(p)
        return p

    yield make
    for p in made:
        try:
            p.stop()
        except OSError:
            pass


@pytest.fixture(scope="module")
def video_1080(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("x") / "idx1080.mp4")  # 120 frames, 30 fps, 4 s


@pytest.fixture(scope="module")
def video_360(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("y") / "idx360.mp4", size=(640, 360), frames=60)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def assert_clean(r: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in r.stderr, r.stderr


def test_exact_frames_posted(plugin_factory, video_1080, tmp_path):
    plugin = plugin_factory()
    out = tmp_path / "answers.jsonl"
    r = otrig("extract", "-r", "2", "-s", "3", "--jsonl", str(out), str(video_1080), plugin.url)
    assert r.returncode == 0, r.stderr
    assert_clean(r)
    # seek 3 s into a 4 s, 30 fps video at 2 fps: 3.0 and 3.5 s (4.0 s is past the last frame)
    got = plugin.received
    assert [g["frame"]["frame_no"] for g in got] == [90, 105]
    assert [g["frame"]["relative_timestamp"] for g in got] == [3.0, 3.5]
    assert [g["frame"]["relative_timestamp_str"] for g in got] == ["00:00:03.00", "00:00:03.50"]
    assert [g["index"] for g in got] == [90, 105]          # the pixels are that very frame
    assert all(g["shape"] == (1080, 1920, 3) for g in got)
    assert len({g["port"] for g in got}) == 1              # one keep-alive connection
    first = got[0]["frame"]
    assert first["source"] == {"type": "video", "file": str(video_1080), "video_fps": 30.0,
                               "video_frames": 120, "extract_fps": 2.0, "seek": 3.0,
                               "original_shape": [1080, 1920, 3]}
    assert got[1]["frame"]["timestamp"] - first["timestamp"] == pytest.approx(0.5)
    answers = [json.loads(line) for line in out.read_text().splitlines()]
    for g, a in zip(got, answers):
        assert {k: a[k] for k in g["frame"]} == g["frame"]
    assert "posted 2 of 2 frames" in r.stderr and "0 errors" in r.stderr


def test_whole_video_every_frame_checked(plugin_factory, video_1080):
    plugin = plugin_factory()
    r = otrig("extract", "-r", "7", str(video_1080), plugin.url)
    assert r.returncode == 0, r.stderr
    nos = [g["frame"]["frame_no"] for g in plugin.received]
    assert nos == [round(k * 30 / 7) for k in range(len(nos))] and len(nos) == 28
    assert [g["index"] for g in plugin.received] == nos


def test_small_source_arrives_as_1080p(plugin_factory, video_360):
    plugin = plugin_factory()
    r = otrig("extract", str(video_360), plugin.url)  # default 1 fps
    assert r.returncode == 0, r.stderr
    assert [g["frame"]["frame_no"] for g in plugin.received] == [0, 30]
    for g in plugin.received:
        assert g["shape"] == (1080, 1920, 3)
        assert g["frame"]["source"]["original_shape"] == [360, 640, 3]
        assert g["index"] == g["frame"]["frame_no"]


def test_smuckers_half_fps(plugin_factory):
    need_data()
    plugin = plugin_factory()
    r = otrig("extract", "-r", "0.5", str(SMUCKERS), plugin.url)
    assert r.returncode == 0, r.stderr
    frames = [g["frame"] for g in plugin.received]
    assert len(frames) == 15
    assert [f["frame_no"] for f in frames] == list(range(0, 1800, 120))
    assert [f["relative_timestamp"] for f in frames] == [float(t) for t in range(0, 30, 2)]


def test_realtime_paces_by_media_clock(plugin_factory, video_360):
    plugin = plugin_factory()
    t0 = time.monotonic()
    r = otrig("extract", "-r", "2", "-s", "0.5", "--realtime", str(video_360), plugin.url)
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert [g["frame"]["frame_no"] for g in plugin.received] == [15, 30, 45]
    assert elapsed >= 1.0  # 0.5 s -> 1.5 s of media time


def test_server_error_stops_with_frame_number(plugin_factory, video_1080):
    plugin = plugin_factory(fail_on=60)
    r = otrig("extract", "-r", "1", str(video_1080), plugin.url)
    assert r.returncode == 1
    assert_clean(r)
    assert "frame 60" in r.stderr and "HTTP 500" in r.stderr
    assert "processor_failed" in r.stderr and "the killfeed step crashed" in r.stderr
    assert [g["frame"]["frame_no"] for g in plugin.received] == [0, 30, 60]


def test_keep_going_posts_everything_but_fails(plugin_factory, video_1080):
    plugin = plugin_factory(fail_on=30)
    r = otrig("extract", "-r", "1", "--keep-going", str(video_1080), plugin.url)
    assert r.returncode == 1
    assert [g["frame"]["frame_no"] for g in plugin.received] == [0, 30, 60, 90]
    assert "1 error" in r.stderr and "frame 30" in r.stderr


def test_answer_must_keep_frame_fields(plugin_factory, video_360):
    plugin = plugin_factory(drop_field="timestamp_str")
    r = otrig("extract", str(video_360), plugin.url)
    assert r.returncode == 1
    assert "timestamp_str" in r.stderr and "frame 0" in r.stderr
    plugin2 = plugin_factory(not_json=True)
    r = otrig("extract", str(video_360), plugin2.url)
    assert r.returncode == 1 and "not JSON" in r.stderr
    assert_clean(r)


def test_refused_connection(video_360):
    port = free_port()
    t0 = time.monotonic()
    r = otrig("extract", str(video_360), f"http://127.0.0.1:{port}")
    assert r.returncode == 1
    assert_clean(r)
    assert "refused" in r.stderr and "otrig serve" in r.stderr
    assert time.monotonic() - t0 < 10  # no retrying before the first frame got through


def test_server_going_away_mid_run(plugin_factory, video_1080):
    plugin = plugin_factory(die_after=2)
    t0 = time.monotonic()
    r = otrig("extract", "-r", "2", "--retry-for", "1.5", str(video_1080), plugin.url)
    elapsed = time.monotonic() - t0
    assert r.returncode == 1
    assert_clean(r)
    assert "last frame delivered: frame 15" in r.stderr
    assert "retrying" in r.stderr
    assert elapsed < 20


def test_bad_inputs_give_clear_messages(tmp_path, video_360, plugin_factory):
    plugin = plugin_factory()
    text = tmp_path / "readme.txt"
    text.write_text("hello\n")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video_360.read_bytes()[:3000])
    cases = [
        ([str(text), plugin.url], "not a video"),
        ([str(tmp_path / "nope.mp4"), plugin.url], "no such file"),
        ([str(cut), plugin.url], "truncated"),
        (["-s", "10", str(video_360), plugin.url], "past the end"),
        ([str(video_360), "ftp://127.0.0.1/x"], "not an http"),
        ([str(video_360), "localhost:5000"], "not an http"),
    ]
    # one real process, the rest in-process (same code path, a second less each)
    r = otrig("extract", *cases[2][0])
    assert r.returncode == 1 and cases[2][1] in r.stderr and not r.stdout
    assert_clean(r)
    from typer.testing import CliRunner

    from cli.main import app
    runner = CliRunner()
    for args, words in cases:
        res = runner.invoke(app, ["extract", *args])
        assert res.exit_code in (1, 2), (args, res.output)
        assert res.exception is None or isinstance(res.exception, SystemExit), (args, res.exception)
        assert words in res.output, (args, res.output)
        assert "Traceback" not in res.output
    assert plugin.received == []


def test_client_class_directly(plugin_factory):
    plugin = plugin_factory(fail_on=5)
    image = np.zeros((1080, 1920, 3), np.uint8)
    with PluginClient(plugin.url, timeout=5) as c:
        a = c.post(image, {"frame_no": 1, "x": [1, 2]})
        assert a["frame_no"] == 1 and a["x"] == [1, 2] and a["echo"] == {"n": 1}
        with pytest.raises(PluginHTTPError) as e:
            c.post(image, {"frame_no": 5})
        assert (e.value.status, e.value.code) == (500, "processor_failed")
        assert plugin.received[-1]["length"] > 6_220_800
    with pytest.raises(PluginUnreachable, match="refused"):
        PluginClient(f"http://127.0.0.1:{free_port()}", timeout=2).post(image, {"frame_no": 0})
    with pytest.raises(ValueError, match="not an http"):
        PluginClient("file:///etc/passwd")


def test_against_otrig_serve(serve_game, video_360):
    """The real `otrig serve` (echo game, with a token): every field comes back unchanged."""
    srv = serve_game("games/echo.yaml", token="s3cret")
    r = otrig("extract", "-r", "2", "--token", "s3cret", str(video_360), srv.url)
    assert r.returncode == 0, r.stderr + srv.log()
    assert "posted 4 of 4 frames" in r.stderr and "0 errors" in r.stderr
    r = otrig("extract", str(video_360), srv.url)
    assert r.returncode == 1 and "frame 0" in r.stderr and "X-Otrig-Token" in r.stderr
    assert_clean(r)


def test_truncated_video_posts_what_it_has_then_fails(plugin_factory, tmp_path):
    """Decoding runs ahead in a thread: a source error still comes after the frames before it."""
    full = make_video(tmp_path / "fs.mp4", frames=90, size=(320, 180), faststart=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.6)])
    plugin = plugin_factory()
    r = otrig("extract", "-r", "10", str(cut), plugin.url)
    assert r.returncode == 1
    assert_clean(r)
    assert "truncated" in r.stderr or "corrupt" in r.stderr
    nos = [g["frame"]["frame_no"] for g in plugin.received]
    assert nos and nos == [3 * k for k in range(len(nos))]
    assert [g["index"] for g in plugin.received] == nos
    assert f"posted {len(nos)} of 30 frames" in r.stderr
