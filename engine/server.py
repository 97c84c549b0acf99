"""The OverTrack plugin HTTP server behind `otrig serve`.

A Bottle app (`make_app`) served by waitress (`run_server`). waitress was picked by
measurement (bench/ingest_servers.py): its event loop receives the 6 MB bodies in C with
large reads and hands the complete body to a worker thread, so a client trickling its body
holds no worker, and one that disconnects mid-upload never reaches the app. cheroot reads
request bodies through a pure-Python buffered reader and was several times slower.

Ingest (near-zero-copy): under waitress a Content-Length body is received by the event loop
with ``socket.recv_into`` straight into a pooled, reused ``bytearray`` (:class:`BodyBuffers`,
:class:`PooledBody`): the kernel's copy out of the socket is the only copy of the image in the
server, no 6 MB buffer is allocated per frame, and the app parses a read-only memoryview of
that buffer in place (engine.protocol). A buffer goes back to the pool only when nothing views
it any more (a ``bytearray`` refuses to resize while exported: the check is exact); anything
that keeps the image past the request copies it first (FaultSaver, the recorder). Other WSGI
servers, and chunked bodies, take the plain ``wsgi.input.read``. bottle's form parsing is
never used. Every error is JSON ``{"error": {"code", "message", ...}}``.
"""
from __future__ import annotations

import hmac
import io
import ipaddress
import json
import logging
import queue
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import bottle
import numpy as np

from engine import protocol
from engine.protocol import ProtocolError
from engine.reload import GameHolder, ReloadWatcher, scrub_paths

log = logging.getLogger("otrig.server")

TOKEN_HEADER = "X-Otrig-Token"
HEALTH_PATH = "/health"
JSON_TYPE = "application/json"


@dataclass
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 5000
    reload: bool = False
    reload_interval: float = 0.5
    explain: bool = False
    token: str | None = None
    record: Path | None = None          # --record DIR: wired by engine.recorder
    fault_dir: Path = Path("otrig-faults")
    max_faults: int = 20
    fault_interval: float = 1.0         # min seconds between saves of frames with processor errors
    max_body: int = protocol.DEFAULT_MAX_BODY
    threads: int = 8
    # Called as hook(request: FrameRequest, output: FrameOutput, explain: bool) after each
    # processed frame (e.g. the recorder). A hook that raises is logged, never fails the frame.
    frame_hooks: list[Callable[..., Any]] = field(default_factory=list)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(options: ServerOptions) -> str | None:
    """Refuse unsafe binds. Returns a warning to print, raises ValueError to refuse."""
    if is_loopback(options.host):
        return None
    if not options.token:
        raise ValueError(
            f"refusing to listen on {options.host}: anyone who can reach it could post frames. "
            f"Pass --token SECRET (clients send it in the {TOKEN_HEADER} header), "
            f"or keep the default --host 127.0.0.1"
        )
    return (f"listening on {options.host}, reachable from other machines; "
            f"requests need the {TOKEN_HEADER} header")


# --------------------------------------------------------------------------- errors

def error_body(status: int, code: str, message: str, **details: Any) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, **details}},
                      ensure_ascii=False).encode("utf-8")


def error_response(status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
                   **details: Any) -> bottle.HTTPResponse:
    h = {"Content-Type": JSON_TYPE}
    h.update(headers or {})
    return bottle.HTTPResponse(error_body(status, code, message, **details), status=status, headers=h)


def too_large_message(length: int | None, limit: int) -> str:
    got = f"{length:,} bytes" if length is not None else "a body"
    return (f"the request sent {got}, more than the limit of {limit:,} bytes; a frame is a "
            f"{protocol.IMAGE_BYTES:,}-byte image plus a small 'frame' JSON; "
            f"send one frame per request (or raise the limit with --max-body)")


# --------------------------------------------------------------------------- faults

class FaultSaver:
    """Keeps the newest frames that failed, as ``<stamp>.png`` + ``<stamp>.json``.

    Saving runs on one background thread behind a small queue: a burst of failures never
    slows the answers (extra faults are dropped and counted).
    """

    def __init__(self, folder: Path, keep: int = 20, error_interval: float = 1.0):
        self.folder = Path(folder)
        self.keep = keep
        self.error_interval = error_interval
        self.saved = 0
        self.dropped = 0
        self._last_error_save = 0.0
        self._lock = threading.Lock()
        self._seq = 0
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._thread = threading.Thread(target=self._run, name="otrig-faults", daemon=True)
        self._thread.start()

    def stamp(self) -> str:
        with self._lock:
            self._seq += 1
            seq = self._seq
        t = time.time()
        return time.strftime("%Y%m%d-%H%M%S", time.localtime(t)) + f"-{int(t * 1e6) % 1_000_000:06d}-{seq:04d}"

    def submit(self, image, frame: dict[str, Any], info: dict[str, Any], *, exception: bool) -> str | None:
        """Queue a fault; returns its stamp, or None if skipped (rate limit / queue full)."""
        if self.keep <= 0:
            return None
        if not exception:
            now = time.monotonic()
            with self._lock:
                if now - self._last_error_save < self.error_interval:
                    return None
                self._last_error_save = now
        if self._queue.full():
            self.dropped += 1
            return None
        stamp = self.stamp()
        # The image is a view into the request's body buffer, which is reused for another
        # request once this one is answered: the saver keeps its own copy (faults only).
        image = np.array(image, copy=True)
        try:
            self._queue.put_nowait((stamp, image, frame, info))
        except queue.Full:
            self.dropped += 1
            return None
        return stamp

    def flush(self, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < end:
            time.sleep(0.01)

    def _run(self) -> None:
        while True:
            stamp, image, frame, info = self._queue.get()
            try:
                self._write(stamp, image, frame, info)
            except Exception:  # noqa: BLE001 - a failing disk must not kill the server
                log.exception("could not save fault %s in %s", stamp, self.folder)
            finally:
                self._queue.task_done()

    def _write(self, stamp: str, image, frame: dict[str, Any], info: dict[str, Any]) -> None:
        import cv2

        self.folder.mkdir(parents=True, exist_ok=True)
        png = self.folder / f"{stamp}.png"
        if not cv2.imwrite(str(png), image):
            raise OSError(f"cv2.imwrite failed for {png}")
        doc = {"frame": frame, **info}
        tmp = self.folder / f"{stamp}.json.tmp"
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=repr), encoding="utf-8")
        tmp.replace(self.folder / f"{stamp}.json")
        self.saved += 1
        self._prune()

    def _prune(self) -> None:
        stamps = sorted({p.name.split(".")[0] for p in self.folder.glob("*.json")})
        for old in stamps[:-self.keep] if len(stamps) > self.keep else []:
            for suffix in (".json", ".png"):
                try:
                    (self.folder / f"{old}{suffix}").unlink()
                except FileNotFoundError:
                    pass


# --------------------------------------------------------------------------- the app

class _Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = time.time()
        self.frames = 0
        self.frames_with_errors = 0
        self.failures = 0
        self.rejected = 0


def _query_flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _read_body(environ: dict[str, Any], length: int) -> bytes | memoryview:
    """The whole body: in place from our waitress receiver (no copy), else read in one call;
    a short read means the client went away."""
    inp = environ["wsgi.input"]
    in_place = getattr(inp, "otrig_body", None)
    if in_place is not None:
        view = in_place()
        if len(view) == length:
            return view
        inp = io.BytesIO(bytes(view))  # cannot happen (waitress dispatches complete bodies)
    body = inp.read(length)
    if len(body) < length:
        # Some servers hand out what has arrived so far; keep reading until EOF.
        parts = [body]
        got = len(body)
        while got < length:
            chunk = inp.read(length - got)
            if not chunk:
                raise ProtocolError(
                    400, "body_ended_early",
                    f"the body ended after {got:,} of the {length:,} bytes its Content-Length "
                    f"announced; the client disconnected or sent a wrong Content-Length",
                    {"received_bytes": got, "expected_bytes": length},
                )
            parts.append(chunk)
            got += len(chunk)
        body = b"".join(parts)
    return body


def make_app(game_holder: GameHolder, options: ServerOptions) -> bottle.Bottle:
    """The WSGI app: POST a frame to any path, GET /health. All errors are JSON."""
    app = bottle.Bottle(catchall=True)
    stats = _Stats()
    faults = FaultSaver(options.fault_dir, options.max_faults, options.fault_interval)
    app.config["otrig.options"] = options
    app.config["otrig.record"] = options.record
    app.config["otrig.holder"] = game_holder
    app.config["otrig.faults"] = faults
    app.config["otrig.stats"] = stats

    def check_token(environ: dict[str, Any]) -> bottle.HTTPResponse | None:
        if not options.token:
            return None
        got = environ.get("HTTP_X_OTRIG_TOKEN", "")
        if hmac.compare_digest(got.encode("utf-8", "replace"), options.token.encode("utf-8")):
            return None
        return error_response(
            401, "unauthorized",
            f"{'wrong' if got else 'missing'} {TOKEN_HEADER} header; send the token given to "
            f"`otrig serve --token` in the {TOKEN_HEADER} header",
        )

    def health() -> bytes:
        game = game_holder.game
        with stats.lock:
            doc = {
                "status": "ok" if not game_holder.last_config_error else "config_error",
                "game": game.name,
                "version": game.version,
                "frames_processed": stats.frames,
                "frames_with_errors": stats.frames_with_errors,
                "process_failures": stats.failures,
                "requests_rejected": stats.rejected,
                "uptime_s": round(time.time() - stats.started, 3),
                "reload": options.reload,
                "reloads": game_holder.reloads,
                "explain": options.explain,
                "last_config_error": game_holder.last_config_error,
            }
        bottle.response.content_type = JSON_TYPE
        return json.dumps(doc, ensure_ascii=False).encode("utf-8")

    def ingest(environ: dict[str, Any]) -> bottle.HTTPResponse | bytes:
        content_type = environ.get("CONTENT_TYPE")
        protocol.boundary_of(content_type)  # 415 / 400 before reading anything
        raw_length = environ.get("CONTENT_LENGTH", "")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if raw_length in ("", None):
            if not chunked:
                return error_response(
                    411, "length_required",
                    "the request has no Content-Length header; send the multipart body with an "
                    "explicit Content-Length (or Transfer-Encoding: chunked)",
                )
            # A server that passes chunked bodies through: read at most the limit + 1.
            body = environ["wsgi.input"].read(options.max_body + 1)
            if len(body) > options.max_body:
                return error_response(413, "body_too_large", too_large_message(None, options.max_body),
                                      headers={"Connection": "close"}, limit_bytes=options.max_body)
        else:
            try:
                length = int(raw_length)
                if length < 0:
                    raise ValueError
            except ValueError:
                return error_response(400, "bad_content_length",
                                      f"Content-Length {raw_length!r} is not a byte count")
            if length > options.max_body:
                # refused before reading: the client may stop sending
                return error_response(413, "body_too_large", too_large_message(length, options.max_body),
                                      headers={"Connection": "close"},
                                      received_content_length=length, limit_bytes=options.max_body)
            if length == 0:
                return error_response(
                    400, "empty_body",
                    "the request body is empty; send multipart parts 'image' (raw BGR 1920x1080) "
                    "and 'frame' (JSON object)",
                )
            body = _read_body(environ, length)
        req = protocol.parse_request(body, content_type)
        explain = options.explain or _query_flag(bottle.request.query.get("explain"))
        process_kw = {"keep_images": True} if options.record is not None else {}
        game = game_holder.game  # one snapshot for this frame, even if a reload swaps it now
        try:
            # crops are kept only when recording (--record); plain games need not take the flag
            out = game.process(req.image, req.frame, explain=explain, **process_kw)
        except Exception as e:  # noqa: BLE001 - answer JSON and keep the frame to reproduce it
            with stats.lock:
                stats.failures += 1
            tb = traceback.format_exc()
            log.error("processing frame %s failed:\n%s", req.frame.get("frame_no", "?"), tb)
            stamp = faults.submit(req.image, req.frame, {
                "game": game.name, "version": game.version,
                "exception": f"{type(e).__name__}: {e}", "traceback": scrub_paths(tb),
            }, exception=True)
            saved = (f"the frame was saved as {stamp}.png/.json in the fault folder; reproduce it "
                     f"with `otrig run` on that image" if stamp else "the frame could not be saved")
            return error_response(
                500, "process_failed",
                f"the engine raised {type(e).__name__}: {scrub_paths(str(e))}; {saved}",
                exception=type(e).__name__, fault=stamp,
            )
        with stats.lock:
            stats.frames += 1
            if out.errors:
                stats.frames_with_errors += 1
        if out.errors:
            faults.submit(req.image, req.frame, {"game": game.name, "version": game.version,
                                                 "errors": out.errors}, exception=False)
        for hook in options.frame_hooks:
            try:
                hook(req, out, explain)
            except Exception:  # noqa: BLE001
                log.exception("frame hook %r failed", hook)
        try:
            answer = protocol.build_answer(req.frame_text, req.frame, out.answer_objects())
        except (TypeError, ValueError) as e:
            with stats.lock:
                stats.failures += 1
            return error_response(
                500, "answer_not_json",
                f"an extracted value cannot be sent as JSON ({type(e).__name__}: {e}); "
                f"processors must emit JSON values (no NaN, no numpy types)",
            )
        bottle.response.content_type = JSON_TYPE
        return answer

    def dispatch(path: str = "") -> Any:
        if not log.isEnabledFor(logging.DEBUG):
            return route_request(path)
        t0 = time.perf_counter()
        out = route_request(path)
        status = out.status_code if isinstance(out, bottle.HTTPResponse) else bottle.response.status_code
        log.debug("%s /%s -> %s in %.1f ms", bottle.request.method, path, status, (time.perf_counter() - t0) * 1e3)
        return out

    def route_request(path: str) -> Any:
        environ = bottle.request.environ
        method = environ.get("REQUEST_METHOD", "GET").upper()
        route = "/" + path
        denied = check_token(environ)
        if denied is not None:
            with stats.lock:
                stats.rejected += 1
            return denied
        if route == HEALTH_PATH:
            if method in ("GET", "HEAD"):
                return health()
            return error_response(405, "method_not_allowed",
                                  f"{method} is not allowed on {HEALTH_PATH}; use GET",
                                  headers={"Allow": "GET, HEAD"})
        if method == "POST":
            try:
                return ingest(environ)
            except ProtocolError as e:
                with stats.lock:
                    stats.rejected += 1
                headers = {"Connection": "close"} if e.status == 413 else None
                return error_response(e.status, e.code, e.message, headers=headers, **e.details)
        if route == "/":
            return error_response(405, "method_not_allowed",
                                  f"{method} is not allowed here; POST frames (multipart 'image' + "
                                  f"'frame') to this URL, or GET {HEALTH_PATH}",
                                  headers={"Allow": "POST"})
        return error_response(404, "not_found",
                              f"no such route {route!r}; POST frames to any path, GET {HEALTH_PATH} for status")

    app.route("/", method="ANY", callback=dispatch)
    app.route("/<path:path>", method="ANY", callback=dispatch)

    def json_error(err: bottle.HTTPError) -> bytes:
        bottle.response.content_type = JSON_TYPE
        if err.status_code >= 500:
            exc = err.exception
            log.error("internal error: %s", err.traceback or err.body)
            return error_body(err.status_code, "internal_error",
                              f"the server failed: {type(exc).__name__ if exc else 'error'}: "
                              f"{scrub_paths(str(exc) if exc else str(err.body))}; see the server log")
        return error_body(err.status_code, "http_error", str(err.body))

    app.default_error_handler = json_error  # never bottle's HTML pages
    return app


# --------------------------------------------------------------------------- body buffers

class BodyBuffers:
    """A pool of reusable receive buffers for request bodies of up to ``size`` bytes.

    Each buffer is a ``bytearray`` one byte longer than ``size``: that spare byte is the
    probe of :meth:`give`, which pops and re-appends it. ``bytearray`` refuses to resize while
    anything (a memoryview, an ndarray made from one, a slice of that...) still exports its
    memory, so a buffer still viewed by anyone is never reused: it is dropped and freed by
    Python when its last viewer goes. Bodies larger than ``size`` get a one-off buffer.
    """

    def __init__(self, size: int = protocol.IMAGE_BYTES + 64 * 1024, keep: int = 4):
        self.size = size
        self.keep = keep
        self._free: list[bytearray] = []
        self._lock = threading.Lock()
        self.allocated = 0   # new buffers made
        self.reused = 0      # buffers handed out again
        self.abandoned = 0   # buffers still viewed at release: never reused

    def take(self, length: int) -> bytearray:
        if length <= self.size:
            with self._lock:
                if self._free:
                    self.reused += 1
                    return self._free.pop()
                self.allocated += 1
            return bytearray(self.size + 1)
        return bytearray(length + 1)

    def give(self, buf: bytearray) -> bool:
        """Return a buffer whose owner has released its own views; False if still viewed."""
        try:
            buf.pop()  # BufferError while any view of it is alive
        except BufferError:
            with self._lock:
                self.abandoned += 1
            log.debug("a request body buffer is still referenced after its request; not reused")
            return False
        buf.append(0)
        if len(buf) != self.size + 1:
            return False  # a one-off buffer for an oversized body: let it go
        with self._lock:
            if len(self._free) < self.keep:
                self._free.append(buf)
        return True


class _InPlace:
    """Stands for ``n`` body bytes already received straight into the body buffer."""

    __slots__ = ("n",)

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n


class PooledBody:
    """waitress body receiver (in place of FixedStreamReceiver + OverflowableBuffer) for a
    Content-Length body, kept in a pooled buffer; also the request's ``wsgi.input``.

    The channel's event loop ``recv_into``s :meth:`free_view` and reports the count with an
    :class:`_InPlace`; bytes that arrive with the headers are copied in by :meth:`received`.
    ``otrig_body()`` is the whole body as a read-only memoryview (no copy); ``read`` /
    ``readinto`` / ``readline`` make it an ordinary WSGI input too. waitress calls
    ``getbuf().close()`` once the request is answered: the buffer then goes back to the pool.
    """

    completed = False
    error = None

    def __init__(self, length: int, pool: BodyBuffers):
        self.length = self.remain = length
        self.pool = pool
        self.pos = 0        # bytes received
        self.read_pos = 0   # for read()/readinto()
        self._buf: bytearray | None = None
        self._view: memoryview | None = None
        self._ro: memoryview | None = None
        self._closed = False

    # -- receiving (waitress event loop thread)
    def _ensure(self) -> memoryview:
        if self._view is None:
            if self._closed:
                raise ValueError("request body already closed")
            self._buf = self.pool.take(self.length)
            self._view = memoryview(self._buf)
        return self._view

    def free_view(self) -> memoryview:
        """Where the next received bytes go (at most the rest of the body)."""
        return self._ensure()[self.pos:self.length]

    def __len__(self) -> int:
        return self.pos

    def received(self, data) -> int:
        rm = self.remain
        if rm < 1:
            self.completed = True
            return 0
        if type(data) is _InPlace:
            n = data.n  # already written by recv_into(free_view())
        else:
            n = min(len(data), rm)
            self._ensure()[self.pos:self.pos + n] = memoryview(data)[:n]
        self.pos += n
        self.remain = rm - n
        if self.remain <= 0:
            self.completed = True
        return n

    def getfile(self) -> "PooledBody":
        return self

    def getbuf(self) -> "PooledBody":
        return self

    # -- wsgi.input (worker thread)
    def otrig_body(self) -> memoryview:
        if self._ro is None:
            self._ro = self._ensure()[:self.pos].toreadonly()
        return self._ro

    def readinto(self, b) -> int:
        n = min(len(b), self.pos - self.read_pos)
        if n > 0:
            memoryview(b).cast("B")[:n] = self._ensure()[self.read_pos:self.read_pos + n]
            self.read_pos += n
        return max(n, 0)

    def read(self, size: int = -1) -> bytes:
        end = self.pos if size is None or size < 0 else min(self.pos, self.read_pos + size)
        if end <= self.read_pos:
            return b""
        out = bytes(self._ensure()[self.read_pos:end])
        self.read_pos = end
        return out

    def readline(self, size: int = -1) -> bytes:
        view = self._ensure()
        end = self.pos if size is None or size < 0 else min(self.pos, self.read_pos + size)
        i = self.read_pos
        while i < end and view[i] != 10:
            i += 1
        return self.read(min(i + 1, end) - self.read_pos)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self):
        return iter(self.readline, b"")

    # -- end of request
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        buf, views = self._buf, (self._ro, self._view)
        self._buf = self._view = self._ro = None
        if buf is None:
            return
        for v in views:
            if v is not None:
                try:
                    v.release()
                except BufferError:  # something holds a buffer of this very view: keep out
                    self.pool.abandoned += 1
                    return
        self.pool.give(buf)


# --------------------------------------------------------------------------- waitress

def _waitress_error_task():
    from waitress.task import ErrorTask

    class JSONErrorTask(ErrorTask):
        """waitress's own refusals (too large, bad framing) as the same JSON errors."""

        def execute(self) -> None:
            e = self.request.error
            code = {413: "body_too_large", 431: "headers_too_large", 501: "not_implemented"}.get(e.code, "bad_request")
            if e.code == 413:
                limit = self.channel.server.adj.max_request_body_size
                length = self.request.headers.get("CONTENT_LENGTH") if self.request.headers else None
                message = too_large_message(int(length) if length and length.isdigit() else None, limit)
            else:
                message = f"{e.reason}: {e.body}; send one multipart POST with parts 'image' and 'frame'"
            body = error_body(e.code, code, message)
            self.status = f"{e.code} {e.reason}"
            self.response_headers.append(("Content-Type", JSON_TYPE))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    return JSONErrorTask


def waitress_settings(options: ServerOptions) -> dict[str, Any]:
    return dict(
        host=options.host, port=options.port, threads=options.threads,
        # Keep whole frames in memory: the default (512 KiB) spools each 6 MB body to a temp file.
        # (Content-Length bodies bypass waitress's buffers: PooledBody; this is for chunked ones.)
        inbuf_overflow=options.max_body + 1024 * 1024,
        # Reads of headers (and of chunked bodies); Content-Length bodies are received with
        # recv_into straight into their buffer. Below glibc's mmap threshold: no fresh pages.
        recv_bytes=64 * 1024,
        # waitress refuses larger bodies (Content-Length or chunked) before reading them.
        max_request_body_size=options.max_body,
        ident="otrig", asyncore_use_poll=True, clear_untrusted_proxy_headers=True,
    )


def create_server(game_holder: GameHolder, options: ServerOptions):
    """A ready-to-run waitress server (socket bound). ``.effective_port`` is the real port."""
    import waitress.server
    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser
    from waitress.receiver import FixedStreamReceiver
    from waitress.wasyncore import _DISCONNECTED

    pool = BodyBuffers(keep=max(2, min(options.threads, 4)))

    class Parser(HTTPRequestParser):
        def parse_header(self, header_plus):
            super().parse_header(header_plus)
            if type(self.body_rcv) is FixedStreamReceiver \
                    and 0 < self.content_length < self.adj.max_request_body_size:
                self.body_rcv = PooledBody(self.content_length, pool)  # allocated on first byte

    class Channel(HTTPChannel):
        error_task_class = _waitress_error_task()
        parser_class = Parser

        def handle_read(self):
            req = self.request
            rcv = req.body_rcv if req is not None else None
            if type(rcv) is not PooledBody or rcv.completed:
                return super().handle_read()
            try:
                # the kernel copies straight into the body buffer; the GIL is released meanwhile
                n = self.socket.recv_into(rcv.free_view())
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno not in _DISCONNECTED and self.adj.log_socket_errors:
                    self.logger.exception("Socket error")
                self.handle_close()
                return
            if not n:  # the client went away mid-upload
                self.handle_close()
                self.connected = False
                return
            self.last_activity = time.time()
            self.received(_InPlace(n))

    app = make_app(game_holder, options)
    server = waitress.server.create_server(app, **waitress_settings(options))
    server.channel_class = Channel
    server.otrig_app = app
    server.otrig_buffers = pool
    return server


def _stop_on_sigterm() -> None:
    """SIGTERM stops like Ctrl-C, so the shutdown path (recorder flush, watcher) runs."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run_server(game_holder: GameHolder, options: ServerOptions,
               ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted. ``ready(url)`` is called once the socket listens."""
    warning = check_bind(options)  # raises ValueError to refuse
    if warning:
        log.warning(warning)
    recorder = None
    if options.record is not None:  # --record DIR: see engine/recorder.py
        from engine.recorder import Recorder, server_hook
        recorder = Recorder(options.record, game=game_holder.game)
        options.frame_hooks.append(server_hook(recorder))
    server = create_server(game_holder, options)
    watcher = ReloadWatcher(game_holder, options.reload_interval).start() if options.reload else None
    host = options.host if ":" not in options.host else f"[{options.host}]"
    url = f"http://{host}:{server.effective_port}"
    game = game_holder.game
    log.info("serving game %s (version %s) at %s: POST frames to any path, GET %s for status%s",
             game.name, game.version or "-", url, HEALTH_PATH, "; reloading on change" if watcher else "")
    if ready:
        ready(url)
    _stop_on_sigterm()
    try:
        server.run()  # returns on SIGINT/SIGTERM (waitress catches the KeyboardInterrupt)
    except KeyboardInterrupt:
        pass
    finally:
        log.info("stopping")
        if watcher:
            watcher.stop()
        server.close()
        # let frames already being processed finish (and their hooks run) before closing up
        server.task_dispatcher.shutdown(cancel_pending=False, timeout=5)
        if recorder is not None:
            recorder.close()
