"""Every way a request can be wrong gets a JSON error that says what to do (issue 7)."""
from __future__ import annotations

import io
import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.plugin import protocol
from engine.plugin.reload import GameHolder, GameSource
from engine.runtime.results import FrameOutput
from engine.plugin.app import PluginApp, ServerOptions
from engine.plugin.waitress_server import create_server
from helpers import get, make_image, multipart, post_body, post_frame, run_otrig, start_server

IMAGE = make_image(2)
GOOD_FRAME = b'{"frame_no": 1}'


def _assert_error(r, status: int, code: str, *words: str) -> dict:
    assert r.status == status, (r.status, r.body)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    err = r.error
    assert err["code"] == code, err
    for w in words:
        assert w in err["message"], (w, err["message"])
    return err


# ------------------------------------------------------------------ bad bodies

@pytest.mark.parametrize("size", [0, 100, protocol.IMAGE_BYTES - 1, protocol.IMAGE_BYTES + 3,
                                  1280 * 720 * 3])
def test_image_of_wrong_size(echo_server, size):
    ct, body = multipart([("image", b"\x07" * size), ("frame", GOOD_FRAME)])
    err = _assert_error(post_body(echo_server.url, body, content_type=ct), 400, "bad_image_size",
                        f"{size} bytes", str(protocol.IMAGE_BYTES), "1920x1080")
    assert err["received_bytes"] == size and err["expected_bytes"] == protocol.IMAGE_BYTES


def test_missing_image_part(echo_server):
    ct, body = multipart([("frame", GOOD_FRAME)])
    _assert_error(post_body(echo_server.url, body, content_type=ct), 400, "missing_part", "'image'")


def test_missing_frame_part(echo_server):
    ct, body = multipart([("image", IMAGE.tobytes())])
    _assert_error(post_body(echo_server.url, body, content_type=ct), 400, "missing_part", "'frame'",
                  "JSON object")


def test_missing_both_parts(echo_server):
    ct, body = multipart([("other", b"x")])
    err = _assert_error(post_body(echo_server.url, body, content_type=ct), 400, "missing_part",
                        "'image'", "'frame'")
    assert err["parts"] == ["other"]


@pytest.mark.parametrize("text", [b"{not json", b"", b'{"a": 1,}', b"\xff\xfe"])
def test_frame_not_json(echo_server, text):
    _assert_error(post_frame(echo_server.url, IMAGE, text), 400, "bad_frame_json", "'frame'")


@pytest.mark.parametrize("text", [b"[1, 2]", b"42", b'"a string"', b"null"])
def test_frame_not_an_object(echo_server, text):
    _assert_error(post_frame(echo_server.url, IMAGE, text), 400, "frame_not_object", "JSON object")


def test_huge_integer_is_a_400_not_a_500(echo_server):
    # valid JSON; Python refuses to turn more than 4,300 digits into an int (ValueError)
    text = b'{"frame_no": ' + b"9" * 5000 + b"}"
    _assert_error(post_frame(echo_server.url, IMAGE, text), 400, "bad_frame_json", "'frame'", "digits")


@pytest.mark.parametrize("depth", [protocol.MAX_FRAME_DEPTH + 1, 2000])
def test_deep_nesting_is_a_400_naming_the_limit(echo_server, depth):
    text = b'{"a": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    err = _assert_error(post_frame(echo_server.url, IMAGE, text), 400, "frame_too_deep",
                        str(protocol.MAX_FRAME_DEPTH))
    assert err["max_depth"] == protocol.MAX_FRAME_DEPTH


def test_nesting_at_the_limit_is_answered_byte_for_byte(echo_server):
    inner = b"[" * (protocol.MAX_FRAME_DEPTH - 1) + b"]" * (protocol.MAX_FRAME_DEPTH - 1)
    text = b'{"frame_no": 3, "deep": ' + inner + b"}"
    r = post_frame(echo_server.url, IMAGE, text)
    assert r.status == 200, r.body
    assert json.loads(r.body)["deep"] == json.loads(inner)


@pytest.fixture(scope="module")
def anchored_server(tmp_path_factory):
    """A game whose box is anchored to a corner: mapped by the frame's original_shape (echo maps none)."""
    d = tmp_path_factory.mktemp("demo")
    game = d / "anchored.yaml"
    game.write_text("game: anchored\nversion: 1\nregions:\n  corner: {box: [1800, 1000, 100, 60], anchor: bottom-right}\n"
                    "processors:\n  corner:\n    fields:\n      lit:\n"
                    "        fraction: {region: corner, space: bgr, ranges: [[[100, 100, 100], [255, 255, 255]]], min: 0.5}\n")
    srv = start_server([str(game), "--fault-dir", str(d / "faults")], d / "serve.log")
    yield srv
    srv.stop()


BAD_SHAPES = ["[0.5, 0.5, 3]", "[1e400, 1920, 3]", "[1080, -1920]", "[0, 1920]", "[1080]",
              '["1080", "1920"]', "[true, 1920]", "[1080, 99999999]", '{"h": 1080}']


@pytest.mark.parametrize("shape", BAD_SHAPES)
def test_bad_original_shape_is_a_400(echo_server, anchored_server, shape):
    frame = b'{"frame_no": 1, "source": {"type": "image", "original_shape": ' + shape.encode() + b"}}"
    for server in (echo_server, anchored_server):
        err = _assert_error(post_frame(server.url, IMAGE, frame), 400, "bad_original_shape",
                            "original_shape", "whole pixels")
        assert err["max_side"] >= 7680
    assert not list((Path(anchored_server.log_path).parent / "faults").glob("*"))  # a client error, not a fault


@pytest.mark.parametrize("shape", ["[1440, 3440, 3]", "[1080.0, 1920.0, 3]", "[270, 480]"])
def test_good_original_shape_is_used(anchored_server, shape):
    frame = b'{"frame_no": 1, "source": {"type": "image", "original_shape": ' + shape.encode() + b"}}"
    r = post_frame(anchored_server.url, IMAGE, frame)
    assert r.status == 200, r.body
    assert json.loads(r.body)["source"]["original_shape"] == json.loads(shape)


def _body(*parts: tuple[bytes, bytes], boundary: bytes = b"xYz") -> tuple[str, bytes]:
    """A multipart body whose part headers are given raw."""
    out = b"".join(b"--" + boundary + b"\r\n" + head + b"\r\n\r\n" + data + b"\r\n" for head, data in parts)
    return "multipart/form-data; boundary=" + boundary.decode(), out + b"--" + boundary + b"--\r\n"


@pytest.mark.parametrize("image_head", [
    b'Content-Disposition: form-data; filename="raw.bin"; name="image"',  # filename= holds name=
    b"content-disposition: form-data; name=image",                        # a token, not quoted
    b'Content-Type: application/octet-stream\r\nContent-Disposition: form-data; name="image"',
])
def test_part_names_are_content_disposition_parameters(echo_server, image_head):
    frame = b'{"frame_no": 9}'
    ct, body = _body((image_head, IMAGE.tobytes()), (b'Content-Disposition: form-data; name="frame"', frame))
    r = post_body(echo_server.url, body, content_type=ct)
    assert r.status == 200, r.body
    assert json.loads(r.body)["frame_no"] == 9


def test_name_outside_content_disposition_names_nothing(echo_server):
    # Content-Type's name= is no part name: the image part is unnamed, so 'image' is missing
    ct, body = _body((b'Content-Type: application/octet-stream; name="image"\r\nContent-Disposition: form-data',
                      IMAGE.tobytes()), (b'Content-Disposition: form-data; name="frame"', b"{}"))
    _assert_error(post_body(echo_server.url, body, content_type=ct), 400, "missing_part", "'image'")


def test_many_tiny_parts_are_refused_early(echo_server):
    parts = [(f'Content-Disposition: form-data; name="p{i}"'.encode(), b"x") for i in range(100_000)]
    ct, body = _body(*parts)
    _assert_error(post_body(echo_server.url, body, content_type=ct), 400, "too_many_parts",
                  str(protocol.MAX_PARTS), "'image' and 'frame'")


def test_not_multipart(echo_server):
    _assert_error(post_body(echo_server.url, b'{"frame_no": 1}', content_type="application/json"),
                  415, "unsupported_media_type", "multipart/form-data", "application/json")


def test_no_content_type(echo_server):
    _assert_error(post_body(echo_server.url, b"abc", content_type=None), 415, "unsupported_media_type",
                  "multipart/form-data")


def test_multipart_without_boundary(echo_server):
    _assert_error(post_body(echo_server.url, b"abc", content_type="multipart/form-data"), 400,
                  "bad_multipart", "boundary")


def test_body_without_the_boundary(echo_server):
    _assert_error(post_body(echo_server.url, b"x" * 100, content_type="multipart/form-data; boundary=zz"),
                  400, "bad_multipart", "boundary")


def test_no_content_length(echo_server):
    _assert_error(post_body(echo_server.url, b"", content_type="multipart/form-data; boundary=zz",
                            content_length=None), 411, "length_required", "Content-Length")


def test_invalid_content_length(echo_server):
    r = post_body(echo_server.url, b"", content_type="multipart/form-data; boundary=zz", content_length="abc")
    _assert_error(r, 400, "bad_request", "Content-Length")


def _raw(url: str, head: bytes, body: bytes = b"") -> tuple[int, dict]:
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head + body)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    head_part, _, rest = data.partition(b"\r\n\r\n")
    return int(head_part.split(b" ")[1]), json.loads(rest)


def test_too_large_refused_before_reading_it(echo_server):
    """Content-Length over the limit: 413 after only the headers and a little of the body."""
    huge = 200 * 1024 * 1024
    head = (f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
            f"Content-Length: {huge}\r\n\r\n").encode()
    t0 = time.monotonic()
    status, doc = _raw(echo_server.url, head, b"z" * 4096)  # never sends the other 200 MB
    assert time.monotonic() - t0 < 5
    assert status == 413
    assert doc["error"]["code"] == "body_too_large"
    assert f"{huge:,}" in doc["error"]["message"] and "limit" in doc["error"]["message"]
    assert echo_server.health()["status"] == "ok"


def test_refusals_before_the_app_are_counted(serve_game):
    srv = serve_game("echo")
    before = srv.health()["requests_rejected"]
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
            b"Content-Length: 999999999999\r\n\r\n")
    assert _raw(srv.url, head)[0] == 413
    assert _raw(srv.url, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nTransfer-Encoding: gzip\r\n\r\n")[0] in (400, 501)
    assert srv.health()["requests_rejected"] == before + 2


def test_body_of_exactly_max_body_is_taken(serve_game):
    enc = protocol.encode_request(IMAGE, {"frame_no": 11})
    body = b"".join(bytes(c) for c in enc.chunks)
    srv = serve_game("echo", "--max-body", str(len(body)))
    r = post_body(srv.url, body, content_type=enc.content_type)
    assert r.status == 200, r.body
    assert json.loads(r.body)["frame_no"] == 11
    small = serve_game("echo", "--max-body", str(len(body) - 1))
    head = (f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {enc.content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    status, doc = _raw(small.url, head, body[:4096])  # refused on its headers
    assert status == 413 and doc["error"]["code"] == "body_too_large"
    assert f"{len(body):,} bytes, more than the limit of {len(body) - 1:,} bytes" in doc["error"]["message"]


def test_expect_continue_over_the_limit_is_refused_at_once(echo_server):
    huge = 200 * 1024 * 1024
    host, port = echo_server.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall((f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
                   f"Content-Length: {huge}\r\nExpect: 100-continue\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:  # no body byte is ever sent: the answer must come anyway
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
    assert data.startswith(b"HTTP/1.1 413"), data[:80]


@pytest.mark.parametrize("size", [1 << 20, 1024])  # a 6.2 MB frame in 6 or in 6,100 chunks
def test_chunked_body_is_accepted(echo_server, size):
    enc = protocol.encode_request(IMAGE, {"frame_no": 5, "chunked": True})
    body = b"".join(bytes(c) for c in enc.chunks)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
                      for i in range(0, len(body), size)) + b"0\r\n\r\n"
    head = (f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {enc.content_type}\r\n"
            f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    status, doc = _raw(echo_server.url, head, chunks)
    assert status == 200 and doc == {"frame_no": 5, "chunked": True}


def test_a_dark_frame_full_of_line_ends_is_taken_chunked(echo_server):
    # a dark, noisy frame holds a "\r\n" pair every ~256 bytes: pixels, not chunks
    dark = np.random.default_rng(5).integers(5, 21, IMAGE.shape, dtype=np.uint8)
    enc = protocol.encode_request(dark, {"frame_no": 6})
    body = b"".join(bytes(c) for c in enc.chunks)
    assert body.count(b"\r\n") > 16_384
    size = 64 * 1024
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
                      for i in range(0, len(body), size)) + b"0\r\n\r\n"
    head = (f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {enc.content_type}\r\n"
            f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    status, doc = _raw(echo_server.url, head, chunks)
    assert status == 200 and doc == {"frame_no": 6}


def test_a_body_of_tiny_chunks_is_refused_without_parsing_it(echo_server):
    from engine.plugin.waitress_server import MAX_CHUNK_LINES

    head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    host, port = echo_server.url.split("//")[1].split(":")
    t0 = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        def send() -> None:  # the answer comes while this is still sending: read it meanwhile
            try:
                s.sendall(head + b"1\r\nx\r\n" * 1_500_000 + b"0\r\n\r\n")
            except OSError:
                pass
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head_part, _, rest = data.partition(b"\r\n\r\n")
    status, doc = int(head_part.split(b" ")[1]), json.loads(rest)
    assert status == 400 and doc["error"]["code"] == "too_many_chunks"
    assert f"{MAX_CHUNK_LINES // 2:,} chunks" in doc["error"]["message"]
    assert time.monotonic() - t0 < 5  # sending 9 MB; parsing them took 5 s of the event loop


def test_chunked_body_over_the_limit_is_refused(echo_server):
    block = b"x" * (1 << 20)
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    status, doc = _raw(echo_server.url, head, (b"100000\r\n" + block + b"\r\n") * 12)
    assert status == 413 and doc["error"]["code"] == "body_too_large"


# ------------------------------------------------------------------ routes and methods

def test_unknown_route_is_json_404(echo_server):
    r = get(echo_server.url, "/nope")
    _assert_error(r, 404, "not_found", "/nope", "/health")


@pytest.mark.parametrize("method,path,allow", [("PUT", "/", "POST"), ("GET", "/", "POST"),
                                               ("DELETE", "/", "POST"), ("POST", "/health", "GET"),
                                               ("PUT", "/health", "GET")])
def test_wrong_method_is_json_405(echo_server, method, path, allow):
    r = post_body(echo_server.url, b"", content_type=None, method=method, path=path)
    _assert_error(r, 405, "method_not_allowed", method)
    assert allow in r.headers["allow"]


# ------------------------------------------------------------------ security

def test_token_required(serve_game):
    srv = serve_game("echo", token="s3cret")
    _assert_error(get(srv.url), 401, "unauthorized", "missing", "X-Otrig-Token")
    _assert_error(get(srv.url, headers={"X-Otrig-Token": "nope"}), 401, "unauthorized", "wrong")
    _assert_error(post_frame(srv.url, IMAGE, {"frame_no": 1}), 401, "unauthorized")
    _assert_error(post_frame(srv.url, IMAGE, {"frame_no": 1}, headers={"X-Otrig-Token": "s3cret!"}),
                  401, "unauthorized")
    r = post_frame(srv.url, IMAGE, {"frame_no": 1}, headers={"X-Otrig-Token": "s3cret"})
    assert r.status == 200 and json.loads(r.body) == {"frame_no": 1}
    assert srv.health()["game"] == "echo"


def test_localhost_serves(serve_game):
    srv = serve_game("echo", "--host", "localhost")
    assert srv.health()["status"] == "ok"
    assert post_frame(srv.url, IMAGE, {"frame_no": 1}).status == 200


def test_non_loopback_host_requires_token():
    p = run_otrig("serve", "--host", "0.0.0.0", "--port", "0")
    assert p.returncode == 2  # a command-line problem, like any bad option
    assert "--token" in p.stderr and "0.0.0.0" in p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("token", [" ", "", " s3cret", "s3cret\t"])
def test_a_token_no_header_can_carry_is_refused(token):
    p = run_otrig("serve", "--port", "0", "--token", token)
    assert p.returncode == 2, p.stderr
    assert "--token" in p.stderr and "whitespace" in p.stderr
    assert "Traceback" not in p.stderr


def test_expect_continue_without_the_token_is_refused_at_once(serve_game):
    srv = serve_game("echo", token="s3cret")
    host, port = srv.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
                  b"Content-Length: 6300000\r\nExpect: 100-continue\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:  # the body is never sent: the 401 must come anyway
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
    assert data.startswith(b"HTTP/1.1 401"), data[:80]


def test_non_loopback_host_with_token_warns(serve_game):
    srv = serve_game("echo", "--host", "0.0.0.0", token="t0k")
    assert srv.health()["game"] == "echo"
    assert "reachable from other machines" in srv.log()


# ------------------------------------------------------------------ startup errors

def test_broken_game_file_exits_cleanly(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("game: [\n")
    p = run_otrig("serve", str(bad), "--port", "0")
    assert p.returncode == 1
    assert "bad.yaml" in p.stderr and "Traceback" not in p.stderr


def test_missing_game_file_exits_cleanly(tmp_path):
    p = run_otrig("serve", str(tmp_path / "nope.yaml"), "--port", "0")
    assert p.returncode == 1
    assert "nope.yaml" in p.stderr and "not found" in p.stderr and "Traceback" not in p.stderr


def test_bad_viewport_option():
    p = run_otrig("serve", "--viewport", "1,2,3", "--port", "0")
    assert p.returncode == 2 and "X,Y,W,H" in p.stderr


# ------------------------------------------------------------------ engine failures (in-process app)

class FakeGame:
    name = "fake"
    version = "9"
    watched: list = []

    def __init__(self, behaviour):
        self.behaviour = behaviour

    def process(self, image, frame, *, explain=False, keep_images=False):
        return self.behaviour(image, frame)


def _holder(behaviour) -> GameHolder:
    return GameHolder(FakeGame(behaviour), GameSource(Path("fake.yaml")))


@pytest.fixture
def inproc_server(tmp_path):
    """A real waitress server in this process, serving a fake game."""
    started = []

    def start(behaviour, **opts):
        options = ServerOptions(port=0, fault_dir=tmp_path / "faults", **opts)
        server = create_server(_holder(behaviour), options)
        t = threading.Thread(target=server.run, daemon=True)
        t.start()
        started.append(server)
        return f"http://127.0.0.1:{server.effective_port}", server.otrig_app

    yield start
    for s in started:
        s.close()
        s.task_dispatcher.shutdown(timeout=2)


def test_process_raising_answers_500_and_saves_the_frame(inproc_server, tmp_path):
    def boom(image, frame):
        raise ZeroDivisionError("division by zero in step hp")

    url, app = inproc_server(boom)
    r = post_frame(url, IMAGE, {"frame_no": 77, "ü": "x"})
    err = _assert_error(r, 500, "process_failed", "ZeroDivisionError", "division by zero", "otrig run")
    assert err["exception"] == "ZeroDivisionError"
    app.faults.flush()
    stamp = err["fault"]
    png, doc = tmp_path / "faults" / f"{stamp}.png", tmp_path / "faults" / f"{stamp}.json"
    import cv2
    assert (cv2.imread(str(png)) == IMAGE).all()
    saved = json.loads(doc.read_text(encoding="utf-8"))
    assert saved["frame"] == {"frame_no": 77, "ü": "x"}
    assert "ZeroDivisionError" in saved["exception"]
    h = json.loads(get(url).body)
    assert h["process_failures"] == 1 and h["frames_processed"] == 0


def test_processor_errors_are_answered_and_saved_bounded(inproc_server, tmp_path):
    def partial(image, frame):
        return FrameOutput(objects={"hud": {"hp": 100}},
                           errors={"ammo": {"step": "clip", "message": "StepError: region empty"}})

    url, app = inproc_server(partial, max_faults=3, fault_interval=0.0)
    for i in range(6):
        r = post_frame(url, IMAGE, {"frame_no": i})
        assert r.status == 200
        doc = json.loads(r.body)
        assert doc["frame_no"] == i and doc["hud"] == {"hp": 100}
        assert doc["errors"]["ammo"]["message"] == "StepError: region empty"
        app.faults.flush()
    folder = tmp_path / "faults"
    jsons = sorted(folder.glob("*.json"))
    assert len(jsons) == 3 and len(list(folder.glob("*.png"))) == 3
    kept = [json.loads(p.read_text())["frame"]["frame_no"] for p in jsons]
    assert kept == [3, 4, 5]  # the newest
    assert json.loads(jsons[0].read_text())["errors"]["ammo"]["step"] == "clip"
    assert json.loads(get(url).body)["frames_with_errors"] == 6


def test_a_frame_with_a_lone_surrogate_is_saved_whole(inproc_server, tmp_path):
    # "\ud800" is valid JSON but no UTF-8 text can hold it: the fault keeps it as an escape
    url, app = inproc_server(lambda image, frame: 1 / 0)
    r = post_frame(url, IMAGE, b'{"frame_no": 5, "name": "a\\ud800b"}')
    err = _assert_error(r, 500, "process_failed", "was saved as")
    folder = tmp_path / "faults"
    doc = json.loads((folder / f"{err['fault']}.json").read_text(encoding="ascii"))
    assert doc["frame"] == {"frame_no": 5, "name": "a\ud800b"}
    assert sorted(p.suffix for p in folder.iterdir()) == [".json", ".png"]


def test_fault_folder_is_pruned_by_pairs_and_bytes_and_spares_other_files(inproc_server, tmp_path):
    folder = tmp_path / "faults"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / "20200101-000000-000000-0001.png").write_bytes(b"x" * 10)  # a half pair left by an old crash
    url, app = inproc_server(lambda image, frame: 1 / 0, max_faults=3, fault_interval=0.0)
    app.faults.max_bytes = 14 * 1024 * 1024  # two PNGs of noise (6.2 MB each, incompressible) fit, not three
    stamps = []
    for i in range(5):
        noisy = np.random.default_rng(i).integers(0, 256, IMAGE.shape, dtype=np.uint8)
        r = post_frame(url, noisy, {"frame_no": i})
        stamps.append(_assert_error(r, 500, "process_failed", "was saved as")["fault"])
    names = sorted(p.name for p in folder.iterdir())
    pairs = sorted({n.split(".")[0] for n in names if n != "notes.txt"})
    assert "notes.txt" in names                               # never otrig's to delete
    assert pairs == stamps[-2:]                               # the newest, as many as the bytes allow
    assert all(f"{s}.png" in names and f"{s}.json" in names for s in pairs)


def test_faults_of_a_repeated_failing_frame_are_rate_limited(inproc_server, tmp_path):
    url, app = inproc_server(lambda image, frame: 1 / 0, fault_interval=60.0)
    first = _assert_error(post_frame(url, IMAGE, {"frame_no": 1}), 500, "process_failed", "was saved as")
    second = _assert_error(post_frame(url, IMAGE, {"frame_no": 2}), 500, "process_failed", "could not be saved",
                           "one fault per 60 s")
    assert first["fault"] and second["fault"] is None
    assert len(list((tmp_path / "faults").glob("*.png"))) == 1


def test_a_save_that_failed_is_not_claimed(inproc_server, tmp_path):
    url, app = inproc_server(lambda image, frame: 1 / 0)
    (tmp_path / "faults").write_text("a file where the folder should be")
    err = _assert_error(post_frame(url, IMAGE, {"frame_no": 1}), 500, "process_failed", "could not be saved")
    assert err["fault"] is None and "was saved" not in err["message"]


def test_answer_that_is_not_json_is_a_500(inproc_server):
    url, _ = inproc_server(lambda image, frame: FrameOutput(objects={"x": {"v": float("nan")}}))
    _assert_error(post_frame(url, IMAGE, {"frame_no": 1}), 500, "answer_not_json", "NaN")


def test_extracted_object_never_overwrites_a_client_field(inproc_server):
    url, _ = inproc_server(lambda image, frame: FrameOutput(objects={"screen": {"name": "in_game"},
                                                                     "hud": {"hp": 1}}))
    doc = json.loads(post_frame(url, IMAGE, {"frame_no": 1, "screen": "client"}).body)
    assert doc["screen"] == "client" and doc["hud"] == {"hp": 1}
    assert doc[protocol.CONFLICTS_KEY] == {"screen": {"name": "in_game"}}


class SpyRecorder:
    """A recorder as run_frame sees one (engine.runtime.loop.FrameRecorder)."""

    def __init__(self):
        self.seen = []

    def record(self, image, frame, answer, output):
        self.seen.append((frame, answer))
        return True


def test_recorder_sees_each_frame_with_the_answer_sent(inproc_server):
    spy = SpyRecorder()
    url, app = inproc_server(lambda image, frame: FrameOutput(objects={"hud": {"hp": 3}}), recorder=spy)
    r = post_frame(url, IMAGE, {"frame_no": 4})
    assert r.status == 200
    assert spy.seen == [({"frame_no": 4}, r.body)]


def test_recorder_keeps_the_trace_of_a_frame_that_could_not_be_answered(inproc_server):
    spy = SpyRecorder()
    url, _ = inproc_server(lambda image, frame: FrameOutput(objects={"x": {"v": float("nan")}}), recorder=spy)
    _assert_error(post_frame(url, IMAGE, {"frame_no": 5}), 500, "answer_not_json", "NaN")
    assert spy.seen == [({"frame_no": 5}, None)]


def _wsgi_call(app, environ: dict) -> tuple[str, dict, bytes]:
    got = {}

    def start_response(status, headers, exc_info=None):
        got["status"], got["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return got["status"], got["headers"], body


def test_body_ending_early_is_a_400():
    """A server that passes a short body through (client gone mid-upload) gets a clear 400."""
    app = PluginApp(_holder(lambda i, f: FrameOutput(objects={})), ServerOptions())
    enc = protocol.encode_request(IMAGE, {"frame_no": 1})
    body = b"".join(bytes(c) for c in enc.chunks)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "QUERY_STRING": "", "SERVER_NAME": "x",
               "SERVER_PORT": "1", "wsgi.url_scheme": "http", "CONTENT_TYPE": enc.content_type,
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body[:1000]),
               "wsgi.errors": io.StringIO()}
    status, headers, out = _wsgi_call(app, environ)
    assert status.startswith("400")
    err = json.loads(out)["error"]
    assert err["code"] == "body_ended_early" and "1,000" in err["message"]


def test_unexpected_server_bug_is_json_500(inproc_server):
    url, app = inproc_server(lambda image, frame: FrameOutput(objects={}))

    class Broken:
        """An output the answer can be built from, that the server's own bookkeeping trips on."""

        def answer_objects(self):
            return {}

        @property
        def errors(self):
            raise RuntimeError("boom")

    app.holder._game = FakeGame(lambda i, f: Broken())
    r = post_frame(url, IMAGE, {"frame_no": 1})
    _assert_error(r, 500, "internal_error", "RuntimeError")
