"""`otrig serve` over real HTTP: echo fidelity, /health, --reload, concurrency, disconnects."""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.plugin import protocol
from engine.runtime.results import FrameOutput
from helpers import connect, get, indexed_image, make_image, post_frame, read_index

IMAGE = make_image(1)

FRAME = {
    "timestamp": 1556855549.3732016,
    "timestamp_str": "2019/05/03 03:52:29.37",
    "relative_timestamp_str": "00:00:00.00",
    "relative_timestamp": 0.0,
    "frame_no": 51,
    "source": {"name": "vod.mkv", "fps": 59.94, "original_shape": [1080, 1920, 3], "seek": None},
    "nested": {"a": [1, [2, [3, {"b": True, "c": False}]]], "empty": {}, "list": []},
    "unicode": "héllo wörld ✓ 日本語 🎮 \u0000 \"quoted\" \\ back",
    "huge": 2 ** 100,
    "negative_huge": -(10 ** 30),
    "tiny": 5e-324,
    "big_float": 1.7976931348623157e308,
    "errors": {"client": "owned by the client"},
    "screen": "client value",
}


def test_echo_answers_every_field_unmodified(echo_server):
    text = json.dumps(FRAME, ensure_ascii=False).encode("utf-8")
    r = post_frame(echo_server.url, IMAGE, text)
    assert r.status == 200, r.body
    assert r.headers["content-type"] == "application/json"
    answer = json.loads(r.body)
    for k, v in FRAME.items():
        assert answer[k] == v, k
    assert isinstance(answer["huge"], int)
    assert repr(answer["timestamp"]) == "1556855549.3732016"
    # the echo game adds nothing, and the client's text comes back byte for byte
    assert r.body == text


def test_echo_keeps_client_text_exactly(echo_server):
    # escapes, spacing and key order are the client's; nothing is re-encoded
    text = b'{ "frame_no" : 1, "s": "\\u00e9\\ud83c\\udfae", "f": 1.50, "z": 1E2 }'
    r = post_frame(echo_server.url, IMAGE, text)
    assert r.status == 200
    assert r.body == text


def test_any_post_path_is_a_frame(echo_server):
    for path in ("/", "/frame", "/some/deep/path?x=1"):
        r = post_frame(echo_server.url, IMAGE, {"frame_no": 1}, path=path)
        assert r.status == 200, (path, r.body)
        assert json.loads(r.body) == {"frame_no": 1}


def test_keep_alive_connection_serves_many_frames(echo_server):
    from helpers import connect
    c = connect(echo_server.url)
    try:
        for i in range(5):
            r = post_frame(echo_server.url, IMAGE, {"frame_no": i}, conn=c)
            assert r.status == 200 and json.loads(r.body)["frame_no"] == i
    finally:
        c.close()


def test_explain_query_parameter(echo_server):
    r = post_frame(echo_server.url, IMAGE, {"frame_no": 3}, path="/?explain=1")
    assert r.status == 200
    doc = json.loads(r.body)
    assert doc["frame_no"] == 3 and "explain" in doc
    plain = json.loads(post_frame(echo_server.url, IMAGE, {"frame_no": 3}).body)
    assert "explain" not in plain


def test_health_fields(echo_server):
    before = echo_server.health()
    assert post_frame(echo_server.url, IMAGE, {"frame_no": 1}).status == 200
    h = echo_server.health()
    assert h["game"] == "echo"
    assert h["version"] == "1"
    assert h["status"] == "ok"
    assert h["last_config_error"] is None
    assert h["frames_processed"] == before["frames_processed"] + 1
    assert h["uptime_s"] >= before["uptime_s"] > 0
    assert get(echo_server.url).headers["content-type"] == "application/json"
    # no filesystem paths in /health
    assert "/" not in json.dumps({k: v for k, v in h.items() if isinstance(v, str)})


def test_concurrent_clients_each_get_their_own_answer(echo_server):
    results: dict[int, object] = {}

    def worker(i: int) -> None:
        r = post_frame(echo_server.url, IMAGE, {"frame_no": i, "who": f"client-{i}"})
        results[i] = (r.status, json.loads(r.body))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {i: (200, {"frame_no": i, "who": f"client-{i}"}) for i in range(6)}


def _start_upload(url: str, enc: protocol.EncodedRequest, first_bytes: int) -> socket.socket:
    host, port = url.split("//")[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=30)
    head = (f"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: {enc.content_type}\r\n"
            f"Content-Length: {enc.length}\r\n\r\n").encode()
    s.sendall(head)
    body = b"".join(bytes(c) for c in enc.chunks)
    s.sendall(body[:first_bytes])
    return s


def _read_response(s: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, rest


def test_slow_trickling_clients_do_not_block_a_fast_one(echo_server):
    """More trickling uploads than worker threads; a fast client still gets through at once."""
    enc = protocol.encode_request(IMAGE, {"frame_no": 7, "slow": True})
    body = b"".join(bytes(c) for c in enc.chunks)
    slow = [_start_upload(echo_server.url, enc, 1000) for _ in range(10)]
    try:
        stop = threading.Event()

        def trickle() -> None:
            sent = 1000
            while not stop.is_set() and sent < 1000 + 50 * 400:
                for s in slow:
                    s.sendall(body[sent:sent + 50])
                sent += 50
                time.sleep(0.01)
            for s in slow:  # then finish them
                s.sendall(body[sent:])

        t = threading.Thread(target=trickle)
        t.start()
        time.sleep(0.2)
        t0 = time.monotonic()
        r = post_frame(echo_server.url, IMAGE, {"frame_no": 8, "fast": True})
        fast_s = time.monotonic() - t0
        assert r.status == 200 and json.loads(r.body)["fast"] is True
        assert t.is_alive(), "the slow uploads finished before the fast one: the test proves nothing"
        assert fast_s < 3.0, f"fast client took {fast_s:.2f}s behind slow uploads"
        stop.set()
        t.join(30)
        for s in slow:
            status, answer = _read_response(s)
            assert status == 200 and json.loads(answer) == {"frame_no": 7, "slow": True}
    finally:
        for s in slow:
            s.close()


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_clients_disconnecting_mid_upload_leave_server_healthy(echo_server):
    enc = protocol.encode_request(IMAGE, {"frame_no": 9})
    assert post_frame(echo_server.url, IMAGE, {"frame_no": 0}).status == 200
    before = _open_fds(echo_server.proc.pid)
    frames_before = echo_server.health()["frames_processed"]
    for n in (10, 3000, protocol.IMAGE_BYTES // 2, enc.length - 5):
        for _ in range(3):
            s = _start_upload(echo_server.url, enc, n)
            s.close()
    # the server notices the closed sockets and drops their buffers
    deadline = time.monotonic() + 10
    while _open_fds(echo_server.proc.pid) > before + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _open_fds(echo_server.proc.pid) <= before + 1
    r = post_frame(echo_server.url, IMAGE, {"frame_no": 10})
    assert r.status == 200 and json.loads(r.body) == {"frame_no": 10}
    h = echo_server.health()
    assert h["frames_processed"] == frames_before + 1  # the aborted uploads were never processed


def _wait_health(srv, pred, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        h = srv.health()
        if pred(h) or time.monotonic() > deadline:
            return h
        time.sleep(0.1)


def test_reload_swaps_game_and_keeps_last_good_on_broken_edit(serve_game, tmp_path):
    game = tmp_path / "t.yaml"
    game.write_text("game: t\nversion: 1\n")
    srv = serve_game(game, "--reload")
    assert srv.health()["version"] == "1"

    game.write_text("game: t\nversion: 22\n")
    h = _wait_health(srv, lambda h: h["version"] == "22")
    assert h["version"] == "22" and h["last_config_error"] is None

    game.write_text("game: [\n")
    h = _wait_health(srv, lambda h: h["last_config_error"])
    assert h["last_config_error"], h
    assert h["status"] == "config_error"
    assert h["game"] == "t" and h["version"] == "22"  # still the last good graph
    assert str(tmp_path) not in h["last_config_error"]
    assert "t.yaml" in h["last_config_error"]
    r = post_frame(srv.url, IMAGE, {"frame_no": 1})
    assert r.status == 200 and json.loads(r.body) == {"frame_no": 1}
    assert "reload failed" in srv.log()

    game.write_text("game: t\nversion: 333\n")
    h = _wait_health(srv, lambda h: h["version"] == "333")
    assert h["version"] == "333" and h["last_config_error"] is None and h["status"] == "ok"


def test_reload_reports_a_corrupt_template(serve_game, tmp_path):
    """A template PNG broken on disk is a config error in /health, never a silent ok."""
    import cv2

    (tmp_path / "tpl").mkdir()
    png = tmp_path / "tpl" / "a.png"
    cv2.imwrite(str(png), np.full((20, 20, 3), 200, np.uint8))
    game = tmp_path / "t.yaml"
    game.write_text("game: t\nversion: 1\nregions:\n  r: {box: [0, 0, 100, 100]}\nprocessors:\n  p:\n"
                    "    fields:\n      t: {template: {region: r, templates: tpl/*.png, threshold: 0.5}}\n")
    srv = serve_game(game, "--reload")
    assert srv.health()["status"] == "ok"
    png.write_bytes(b"not a png")
    h = _wait_health(srv, lambda h: h["last_config_error"])
    assert h["status"] == "config_error" and "cannot read template image a.png" in h["last_config_error"]
    assert post_frame(srv.url, IMAGE, {"frame_no": 1}).status == 200  # still the last good game


# ------------------------------------------------------------------ property: echo fidelity

json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2 ** 128), max_value=2 ** 128)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
frame_keys = st.sampled_from(["errors", "screen", "explain", "otrig_conflicts", "timestamp", "frame_no",
                              "source", "é", "🎮", ""]) | st.text(max_size=10)
frames = st.dictionaries(frame_keys, json_values, max_size=8)


def _body(enc: protocol.EncodedRequest) -> bytes:
    return b"".join(bytes(c) for c in enc.chunks)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames, extracted=st.dictionaries(frame_keys, json_values, max_size=3))
def test_property_in_process_answer_keeps_every_frame_field(frame, extracted):
    enc = protocol.encode_request(IMAGE, frame)
    req = protocol.parse_request(_body(enc), enc.content_type)
    assert req.frame == frame
    answer = json.loads(protocol.build_answer(req.frame_text, req.frame, extracted))
    for k in frame:
        assert answer[k] == frame[k]
    for k, v in extracted.items():  # extracted objects never overwrite the client's fields
        if k not in frame:
            assert answer[k] == v


@pytest.fixture(scope="module")
def echo_conn(echo_server):
    from helpers import connect
    c = connect(echo_server.url)
    yield c
    c.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(frame=frames)
def test_property_http_echo_keeps_every_frame_field(echo_server, echo_conn, frame):
    r = post_frame(echo_server.url, IMAGE, frame, conn=echo_conn)
    assert r.status == 200, r.body
    answer = json.loads(r.body)
    for k in frame:
        assert answer[k] == frame[k]


def test_sigterm_stops_cleanly_and_verbose_logs_requests(serve_game):
    srv = serve_game("echo", "--verbose")
    assert post_frame(srv.url, IMAGE, {"frame_no": 1}).status == 200
    srv.stop()
    assert srv.proc.returncode == 0
    log = srv.log()
    assert "POST / -> 200" in log
    assert "stopping" in log and "Traceback" not in log


SLOW_GAME = """\
game: slow
version: 1
regions:
  everything: {box: [0, 0, 640, 320]}  # ~0.5 s of Tesseract on noise
processors:
  text:
    fields:
      words:
        ocr: {region: everything, psm: 6}
"""


def test_sigterm_answers_every_frame_already_received(serve_game, tmp_path):
    """Frames queued behind a slow one when SIGTERM comes are all answered before exit."""
    game = tmp_path / "slow.yaml"
    game.write_text(SLOW_GAME)
    srv = serve_game(game, "--threads", "1")
    noise = np.random.default_rng(3).integers(0, 256, IMAGE.shape, dtype=np.uint8)  # slow to OCR
    host, port = srv.url.split("//")[1].split(":")
    answers: dict[int, bytes] = {}

    def send(i: int) -> None:
        enc = protocol.encode_request(noise, {"frame_no": i})
        head = (f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {enc.content_type}\r\n"
                f"Content-Length: {enc.length}\r\n\r\n").encode()
        with socket.create_connection((host, int(port)), timeout=60) as c:
            c.sendall(head + b"".join(bytes(x) for x in enc.chunks))
            data = b""
            while chunk := c.recv(65536):
                data += chunk
                if b"\r\n\r\n" in data:
                    head_part, _, body = data.partition(b"\r\n\r\n")
                    length = int([h for h in head_part.split(b"\r\n") if h.lower().startswith(b"content-length")][0]
                                 .split(b":")[1])
                    if len(body) >= length:
                        break
            answers[i] = data

    threads = [threading.Thread(target=send, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    time.sleep(1.0)  # every body is in; the one thread is on the first frame, 4 wait
    t0 = time.monotonic()
    srv.proc.terminate()
    for t in threads:
        t.join(60)
    assert srv.proc.wait(30) == 0
    assert sorted(answers) == list(range(5)), srv.log()
    for i, data in answers.items():
        assert data.startswith(b"HTTP/1.1 200"), (i, data[:200])
        assert json.loads(data.partition(b"\r\n\r\n")[2])["frame_no"] == i
    assert time.monotonic() - t0 < 30
    assert "Traceback" not in srv.log()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _open(url: str, data: bytes) -> socket.socket:
    host, port = url.split("//")[1].split(":")
    c = socket.create_connection((host, int(port)), timeout=10)
    c.sendall(data)
    return c


def test_header_tricklers_do_not_lock_clients_out(serve_game):
    from engine.plugin.waitress_server import HEADER_SECONDS

    srv = serve_game("echo")
    socks = [_open(srv.url, b"POST / HTTP/1.1\r\nHost: x\r\n") for _ in range(110)]
    stop = threading.Event()

    def trickle() -> None:  # a header byte now and then keeps waitress's inactivity timer fresh
        while not stop.wait(0.5):
            for c in socks:
                try:
                    c.send(b"X")
                except OSError:
                    pass

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        for _ in range(3):
            t0 = time.monotonic()
            r = post_frame(srv.url, IMAGE, {"frame_no": 1})
            assert r.status == 200 and time.monotonic() - t0 < 5
            time.sleep(0.5)
        time.sleep(HEADER_SECONDS + 2)
        closed = 0
        for c in socks:
            c.settimeout(0.5)
            try:
                data = c.recv(4096)
            except (TimeoutError, OSError):
                continue
            closed += data == b"" or data.startswith(b"HTTP/1.1 408")
        assert closed == len(socks)  # every trickler was dropped, by its deadline or for a newcomer
        assert srv.health()["requests_rejected"] >= len(socks)
    finally:
        stop.set()
        for c in socks:
            c.close()


def test_slow_bodies_hold_bounded_memory(serve_game):
    from engine.plugin.waitress_server import STALL_SECONDS

    srv = serve_game("echo", token="s3cret")
    enc = protocol.encode_request(IMAGE, {"frame_no": 1})
    head = (f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {enc.content_type}\r\n"
            f"Content-Length: {enc.length}\r\n").encode()
    first = bytes(enc.chunks[0]) + bytes(enc.chunks[1])[:4096]
    base = _rss_mb(srv.proc.pid)
    # no token: refused on the headers, nothing stored for the body
    wrong = [_open(srv.url, head + b"X-Otrig-Token: nope\r\n\r\n" + first) for _ in range(90)]
    time.sleep(1.0)
    assert _rss_mb(srv.proc.pid) - base < 40
    # with the token: at most the budget of bodies is taken; past it, 503s and no buffers
    right = [_open(srv.url, head + b"X-Otrig-Token: s3cret\r\n\r\n" + first) for _ in range(90)]
    time.sleep(1.0)
    grown = _rss_mb(srv.proc.pid) - base
    assert grown < 200, grown  # 16 bodies of 6.3 MB are 100 MB; 90 of them were 560 MB
    # a real client still gets in: a body stalled past STALL_SECONDS gives its place up
    time.sleep(STALL_SECONDS + 0.5)
    r = post_frame(srv.url, IMAGE, {"frame_no": 3}, headers={"X-Otrig-Token": "s3cret"})
    assert r.status == 200, r.body
    for c in wrong + right:
        c.close()
    # the memory budget is given back when those uploads are cut off
    time.sleep(1.0)
    r = post_frame(srv.url, IMAGE, {"frame_no": 2}, headers={"X-Otrig-Token": "s3cret"})
    assert r.status == 200, r.body


# ------------------------------------------------------------------ reused body buffers
# The server receives each body into a pooled buffer that the next request reuses. Every
# frame below carries a different picture that says which frame it is; the game reads it at
# the start and the end of process(), so a buffer handed to another request too early shows.

class IndexGame:
    name = "index"
    version = "1"
    watched: list = []

    def __init__(self, delay: float = 0.0, fail_on: tuple[int, ...] = ()):
        self.delay, self.fail_on = delay, fail_on

    def process(self, image, frame, *, explain=False, keep_images=False):
        before = read_index(image)
        if before["index"] in self.fail_on:
            raise RuntimeError(f"failing on purpose on frame {before['index']}")
        if self.delay:
            time.sleep(self.delay)
        after = read_index(image)
        return FrameOutput(objects={"seen": {**after, "stable": before == after}})


def _seen(r) -> dict:
    assert r.status == 200, (r.status, r.body)
    return json.loads(r.body)["seen"]


def _expect(i: int) -> dict:
    return {"index": i, "fill": i % 251, "uniform": True, "stable": True}


def test_sequential_frames_with_different_images_reuse_one_buffer(inproc_game):
    url, server = inproc_game(IndexGame())
    conn = connect(url)
    try:
        for i in range(40):
            assert _seen(post_frame(url, indexed_image(i), {"frame_no": i}, conn=conn)) == _expect(i), i
    finally:
        conn.close()
    pool = server.otrig_buffers
    assert pool.allocated <= 2 and pool.reused >= 38 and pool.abandoned == 0, vars(pool)


def test_concurrent_frames_with_different_images_each_get_their_own(inproc_game):
    url, server = inproc_game(IndexGame(delay=0.005), threads=4)
    results: dict[int, object] = {}

    def client(t: int) -> None:
        conn = connect(url)
        try:
            for k in range(12):
                i = t * 100 + k
                results[i] = _seen(post_frame(url, indexed_image(i), {"frame_no": i}, conn=conn))
        except Exception as e:  # noqa: BLE001 - reported by the assert below
            results[-1 - t] = repr(e)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(t,)) for t in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == {t * 100 + k: _expect(t * 100 + k) for t in range(5) for k in range(12)}
    assert server.otrig_buffers.abandoned == 0


def test_images_kept_past_their_request_are_never_overwritten(inproc_game, tmp_path):
    """A recorder that keeps the image (it should copy it) and a saved fault: their buffers are
    not reused while they hold them, so later frames never write over what they kept."""
    kept = []

    class KeepingRecorder:
        def record(self, image, frame, answer, output):
            if len(kept) < 2:
                kept.append(image)
            return True

    url, server = inproc_game(IndexGame(fail_on=(3,)), fault_dir=tmp_path / "faults", recorder=KeepingRecorder())
    app = server.otrig_app
    conn = connect(url)
    try:
        for i in range(12):
            r = post_frame(url, indexed_image(i), {"frame_no": i}, conn=conn)
            if i == 3:
                assert r.status == 500 and json.loads(r.body)["error"]["fault"]
            else:
                assert _seen(r) == _expect(i), i
    finally:
        conn.close()
    assert [read_index(k)["index"] for k in kept] == [0, 1]
    assert all(read_index(k)["uniform"] for k in kept)
    assert server.otrig_buffers.abandoned >= 2  # the recorder's two frames: their buffers left alone
    app.faults.flush()
    import cv2
    (png,) = (tmp_path / "faults").glob("*.png")
    assert (cv2.imread(str(png)) == indexed_image(3)).all()
