"""The OverTrack plugin HTTP app behind `otrig serve`: :class:`PluginApp`, a WSGI app.

It takes the body as one buffer (read once from ``wsgi.input``, or received in place by
:mod:`engine.plugin.waitress_server`, which serves it), parses it with :mod:`engine.plugin.protocol` (the
image is a read-only view, never copied), runs the game, and answers. bottle's form parsing
is never used. Every error is JSON ``{"error": {"code", "message", ...}}``. Frames that fail
go to the fault folder (:mod:`engine.plugin.faults`), which copies what it keeps.
"""
from __future__ import annotations

import hmac
import io
import ipaddress
import json
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import bottle

from engine.plugin import protocol
from engine.plugin.protocol import ProtocolError
from engine.plugin.faults import FaultSaver
from engine.plugin.reload import GameHolder, scrub_paths
from engine.runtime.loop import FrameNotAnswered, FrameRecorder, run_frame

log = logging.getLogger("otrig.server")

TOKEN_HEADER = "X-Otrig-Token"
HEALTH_PATH = "/health"
JSON_TYPE = "application/json"


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 5000
    reload: bool = False
    reload_interval: float = 0.5
    explain: bool = False
    token: str | None = None
    # `--record DIR`: gets every processed frame with the answer sent for it (the CLI makes an
    # engine.debug.recorder.Recorder; the plugin layer only knows runtime's protocol for it)
    recorder: FrameRecorder | None = None
    fault_dir: Path = Path("otrig-faults")
    max_faults: int = 20
    fault_interval: float = 1.0         # min seconds between saves of frames with processor errors
    max_body: int = protocol.DEFAULT_MAX_BODY
    threads: int = 8


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_matches(got: str, token: str) -> bool:
    return hmac.compare_digest(got.encode("utf-8", "replace"), token.encode("utf-8"))


def token_message(got: str) -> str:
    return (f"{'wrong' if got else 'missing'} {TOKEN_HEADER} header; send the token given to "
            f"`otrig serve --token` in the {TOKEN_HEADER} header")


def check_bind(options: ServerOptions) -> str | None:
    """Refuse unsafe binds and unusable tokens. Returns a warning to print, raises ValueError to refuse."""
    if options.token is not None and (not options.token.strip() or options.token != options.token.strip()):
        # HTTP strips a header value's surrounding whitespace: such a token could never match
        raise ValueError(f"--token {options.token!r} cannot be sent in a header: a token must not be blank "
                         f"or start or end with whitespace")
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


# --------------------------------------------------------------------------- the app

@dataclass(kw_only=True)
class ServerStats:
    """The counters /health reports; read and written under ``lock`` (worker threads)."""

    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    started: float = field(default_factory=time.time)
    frames: int = 0
    frames_with_errors: int = 0
    failures: int = 0
    rejected: int = 0


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


class PluginApp:
    """The plugin as a WSGI app: POST a frame to any path, GET /health; every error is JSON.

    Its routes are its methods, registered on :attr:`routes` (a Bottle app, used for its
    request/response handling only); the instance itself is the WSGI callable. All state is
    in these fields, shared by waitress's worker threads: the holder swaps games atomically,
    the counters are under their lock, the fault saver queues to its own thread.
    """

    holder: GameHolder
    options: ServerOptions
    stats: ServerStats
    faults: FaultSaver
    routes: bottle.Bottle

    def __init__(self, holder: GameHolder, options: ServerOptions) -> None:
        self.holder = holder
        self.options = options
        self.stats = ServerStats()
        self.faults = FaultSaver(options.fault_dir, options.max_faults, options.fault_interval)
        self.routes = bottle.Bottle(catchall=True)
        self.routes.route("/", method="ANY", callback=self.dispatch)
        self.routes.route("/<path:path>", method="ANY", callback=self.dispatch)
        self.routes.default_error_handler = self.json_error  # never bottle's HTML pages

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body: Iterable[bytes] = self.routes(environ, start_response)
        return body

    # -- routes -----------------------------------------------------------------------------
    def dispatch(self, path: str = "") -> Any:
        if not log.isEnabledFor(logging.DEBUG):
            return self.route_request(path)
        t0 = time.perf_counter()
        out = self.route_request(path)
        status = out.status_code if isinstance(out, bottle.HTTPResponse) else bottle.response.status_code
        log.debug("%s /%s -> %s in %.1f ms", bottle.request.method, path, status, (time.perf_counter() - t0) * 1e3)
        return out

    def route_request(self, path: str) -> Any:
        environ = bottle.request.environ
        method = environ.get("REQUEST_METHOD", "GET").upper()
        route = "/" + path
        denied = self.check_token(environ)
        if denied is not None:
            with self.stats.lock:
                self.stats.rejected += 1
            return denied
        if route == HEALTH_PATH:
            if method in ("GET", "HEAD"):
                return self.health()
            return error_response(405, "method_not_allowed",
                                  f"{method} is not allowed on {HEALTH_PATH}; use GET",
                                  headers={"Allow": "GET, HEAD"})
        if method == "POST":
            try:
                return self.ingest(environ)
            except ProtocolError as e:
                with self.stats.lock:
                    self.stats.rejected += 1
                headers = {"Connection": "close"} if e.status == 413 else None
                return error_response(e.status, e.code, e.message, headers=headers, **e.details)
        if route == "/":
            return error_response(405, "method_not_allowed",
                                  f"{method} is not allowed here; POST frames (multipart 'image' + "
                                  f"'frame') to this URL, or GET {HEALTH_PATH}",
                                  headers={"Allow": "POST"})
        return error_response(404, "not_found",
                              f"no such route {route!r}; POST frames to any path, GET {HEALTH_PATH} for status")

    def check_token(self, environ: dict[str, Any]) -> bottle.HTTPResponse | None:
        token = self.options.token
        if not token:
            return None
        got = environ.get("HTTP_X_OTRIG_TOKEN", "")
        if token_matches(got, token):
            return None
        return error_response(401, "unauthorized", token_message(got))

    def health(self) -> bytes:
        game, stats = self.holder.game, self.stats
        with stats.lock:
            doc = {
                "status": "ok" if not self.holder.last_config_error else "config_error",
                "game": game.name,
                "version": game.version,
                "frames_processed": stats.frames,
                "frames_with_errors": stats.frames_with_errors,
                "process_failures": stats.failures,
                "requests_rejected": stats.rejected,
                "uptime_s": round(time.time() - stats.started, 3),
                "reload": self.options.reload,
                "reloads": self.holder.reloads,
                "explain": self.options.explain,
                "last_config_error": self.holder.last_config_error,
            }
        bottle.response.content_type = JSON_TYPE
        return json.dumps(doc, ensure_ascii=False).encode("utf-8")

    def ingest(self, environ: dict[str, Any]) -> bottle.HTTPResponse | bytes:
        options, stats = self.options, self.stats
        content_type = environ.get("CONTENT_TYPE")
        protocol.boundary_of(content_type)  # 415 / 400 before reading anything
        raw_length = environ.get("CONTENT_LENGTH", "")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        body: bytes | memoryview
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
        game = self.holder.game  # one snapshot for this frame, even if a reload swaps it now
        try:
            result = run_frame(game, req.image, req.frame, frame_text=req.frame_text, explain=explain,
                               recorder=options.recorder)
        except FrameNotAnswered as e:
            with stats.lock:  # the engine ran; only its answer could not be written
                stats.frames += 1
                stats.frames_with_errors += bool(e.output.errors)
                stats.failures += 1
            return error_response(500, "answer_not_json", str(e))
        except Exception as e:  # noqa: BLE001 - answer JSON and keep the frame to reproduce it
            with stats.lock:
                stats.failures += 1
            tb = traceback.format_exc()
            log.error("processing frame %s failed:\n%s", req.frame.get("frame_no", "?"), tb)
            stamp, why = self.faults.save(req.image, req.frame, {
                "game": game.name, "version": game.version,
                "exception": f"{type(e).__name__}: {e}", "traceback": scrub_paths(tb),
            })
            saved = (f"the frame was saved as {stamp}.png/.json in the fault folder; reproduce it "
                     f"with `otrig run` on that image" if stamp else f"the frame could not be saved ({why})")
            return error_response(
                500, "process_failed",
                f"the engine raised {type(e).__name__}: {scrub_paths(str(e))}; {saved}",
                exception=type(e).__name__, fault=stamp,
            )
        out = result.output
        with stats.lock:
            stats.frames += 1
            if out.errors:
                stats.frames_with_errors += 1
        if out.errors:
            self.faults.submit(req.image, req.frame, {"game": game.name, "version": game.version,
                                                      "errors": out.errors})
        bottle.response.content_type = JSON_TYPE
        return result.body

    def json_error(self, err: bottle.HTTPError) -> bytes:
        bottle.response.content_type = JSON_TYPE
        if err.status_code >= 500:
            exc = err.exception
            log.error("internal error: %s", err.traceback or err.body)
            return error_body(err.status_code, "internal_error",
                              f"the server failed: {type(exc).__name__ if exc else 'error'}: "
                              f"{scrub_paths(str(exc) if exc else str(err.body))}; see the server log")
        return error_body(err.status_code, "http_error", str(err.body))
