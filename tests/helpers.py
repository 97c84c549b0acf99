"""Shared helpers for tests that talk to a real `otrig serve` over real HTTP."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from engine.plugin import protocol

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"  # real game material; read-only, never copied


def need_shared_data() -> Path:
    """../shared/data, or skip the test where it is absent; on CI (CI set) its absence fails."""
    import pytest

    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED_DATA} is missing (CI is set: the shared data must be present)")
        pytest.skip(f"{SHARED_DATA} is not here")
    return SHARED_DATA


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        doc = self.json()
        assert set(doc) == {"error"}, doc
        return doc["error"]


def _hostport(url: str) -> tuple[str, int]:
    u = urlsplit(url)
    return u.hostname or "127.0.0.1", u.port or 80


def connect(url: str, timeout: float = 30) -> http.client.HTTPConnection:
    host, port = _hostport(url)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def make_image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (protocol.HEIGHT, protocol.WIDTH, 3), dtype=np.uint8)


def post_frame(url: str, image: np.ndarray, frame: dict[str, Any] | bytes, *, path: str | None = None,
               headers: dict[str, str] | None = None, conn: http.client.HTTPConnection | None = None) -> Reply:
    """POST one frame the way OverTrack does: multipart image + frame, explicit Content-Length.

    The body goes out as engine.plugin.protocol.encode_request chunks (the image from its own memory).
    """
    enc = protocol.encode_request(image, frame)
    target = path if path is not None else (urlsplit(url).path or "/")
    if urlsplit(url).query and path is None:
        target += "?" + urlsplit(url).query
    own = conn is None
    c = conn or connect(url)
    try:
        c.putrequest("POST", target)
        c.putheader("Content-Type", enc.content_type)
        c.putheader("Content-Length", str(enc.length))
        for k, v in (headers or {}).items():
            c.putheader(k, v)
        c.endheaders()
        for chunk in enc.chunks:
            c.send(chunk)
        r = c.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        if own:
            c.close()


def post_body(url: str, body: bytes, *, content_type: str | None, method: str = "POST", path: str = "/",
              headers: dict[str, str] | None = None, content_length: int | None | bool = True) -> Reply:
    """Send an arbitrary body. ``content_length``: True = len(body), an int = that value, None = omit."""
    c = connect(url)
    try:
        c.putrequest(method, path, skip_accept_encoding=True)
        if content_type is not None:
            c.putheader("Content-Type", content_type)
        if content_length is True:
            c.putheader("Content-Length", str(len(body)))
        elif content_length is not None and content_length is not False:
            c.putheader("Content-Length", str(content_length))
        for k, v in (headers or {}).items():
            c.putheader(k, v)
        c.endheaders()
        if body:
            c.send(body)
        r = c.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        c.close()


def get(url: str, path: str = "/health", headers: dict[str, str] | None = None, method: str = "GET") -> Reply:
    c = connect(url, timeout=10)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        c.close()


def multipart(parts: list[tuple[str, bytes]], boundary: str = "b0undary") -> tuple[str, bytes]:
    """A hand-built multipart body, for malformed-request tests."""
    out = b""
    for name, data in parts:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM, 10 s to exit, then SIGKILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class ServerProcess:
    """A real `otrig serve` subprocess."""

    proc: subprocess.Popen
    url: str
    log_path: Path
    token: str | None = None
    args: list[str] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"X-Otrig-Token": self.token} if self.token else {}

    def health(self) -> dict[str, Any]:
        r = get(self.url, headers=self.auth)
        assert r.status == 200, (r.status, r.body)
        return r.json()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc)


def run_otrig(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=cwd or ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})


def start_server(args: list[str], log_path: Path, *, token: str | None = None, cwd: Path | None = None,
                 timeout: float = 60) -> ServerProcess:
    """Start `otrig serve ARGS --port P` and wait until GET /health answers."""
    port = free_port()
    full = ["serve", *args, "--port", str(port)]
    if token:
        full += ["--token", token]
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", *full], cwd=cwd or ROOT, stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    log.close()
    srv = ServerProcess(proc, f"http://127.0.0.1:{port}", log_path, token, full)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"otrig serve exited with {proc.returncode}:\n{srv.log()}")
        try:
            if get(srv.url, headers=srv.auth).status == 200:
                return srv
        except OSError:
            pass
        time.sleep(0.05)
    srv.stop()
    raise RuntimeError(f"otrig serve did not answer /health within {timeout}s:\n{srv.log()}")


def indexed_image(i: int) -> np.ndarray:
    """A frame that says which one it is: every pixel ``i % 251``, except pixel (0, 0) whose
    blue/green bytes hold ``i`` itself. See :func:`read_index`."""
    img = np.full((protocol.HEIGHT, protocol.WIDTH, 3), i % 251, dtype=np.uint8)
    img[0, 0, 0], img[0, 0, 1] = i & 255, (i >> 8) & 255
    return img


def read_index(image: np.ndarray) -> dict[str, Any]:
    """What :func:`indexed_image` wrote, checked over the whole frame: ``uniform`` is False if
    any pixel outside (0, 0) differs from the fill (e.g. another frame written over it)."""
    idx = int(image[0, 0, 0]) | (int(image[0, 0, 1]) << 8)
    fill = int(image[0, 1, 0])
    rest = image.reshape(-1)[3:]
    uniform = bool(rest.min() == fill == rest.max()) and fill == idx % 251
    return {"index": idx, "fill": fill, "uniform": uniform}
