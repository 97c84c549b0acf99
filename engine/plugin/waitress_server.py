"""Serving the plugin app with waitress, receiving frame bodies without copies.

waitress was picked by measurement (bench/ingest_servers.py): its event loop receives the
6 MB bodies in C with large reads and hands the complete body to a worker thread, so a client
trickling its body holds no worker, and one that disconnects mid-upload never reaches the app.

A Content-Length body is received with ``socket.recv_into`` straight into a pooled, reused
``bytearray`` (:class:`BodyBuffers`, :class:`PooledBody`): the kernel's copy out of the socket
is the only copy of the image in the server, and no 6 MB buffer is allocated per frame. This
hooks waitress's channel and parser classes (pinned to waitress 3.x in pyproject.toml); the
tests in tests/test_server.py check that reused buffers never leak one frame into another.
"""
from __future__ import annotations

import io
import re
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any, Callable

from engine.plugin import protocol
from engine.plugin.reload import GameHolder, ReloadWatcher
from engine.plugin.app import (HEALTH_PATH, JSON_TYPE, PluginApp, ServerOptions, check_bind, error_body, log,
                               token_matches, token_message, too_large_message)


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


class BodyBudget:
    """Bytes that request bodies not yet answered may hold, reserved when a body's headers
    arrive (before any byte of it is stored) and given back when its request is done.

    Without it, 90 clients that each announce a 6.2 MB body and trickle it took the server
    from 76 MB to about 1 GB (issue 16): every announced body got its buffer on its first byte."""

    def __init__(self, limit: int):
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def reserve(self, n: int) -> bool:
        with self._lock:
            if self.held + n > self.limit:
                return False
            self.held += n
            return True

    def release(self, n: int) -> None:
        with self._lock:
            self.held -= n


class _Discard:
    """waitress body receiver that counts a refused body's bytes and stores none."""

    error = None

    def __init__(self, length: int):
        self.remain = length
        self.completed = length <= 0

    def received(self, data: bytes) -> int:
        n = min(len(data), self.remain)
        self.remain -= n
        self.completed = self.remain <= 0
        return n

    def __len__(self) -> int:
        return 0

    def getfile(self) -> io.BytesIO:
        return io.BytesIO()

    def getbuf(self) -> "_Discard":
        return self

    def close(self) -> None:
        pass


# Chunk boundaries a chunked body may hold. waitress parses chunks in Python, copying the rest
# of each read per chunk: 1.5 M one-byte chunks held the event loop for 5 s (issue 16). A 6.2 MB
# frame in 1 KB chunks has 6,100. Line ends inside the image's own bytes count too (a dark,
# noisy frame can hold 24,000 "\r\n" pairs), so a body is refused only when its line ends
# come closer than CHUNK_BYTES apart on average: tiny chunks, not pixels.
MAX_CHUNK_LINES = 2 * 8192
CHUNK_BYTES = 64


class _CountedChunks:
    """waitress's chunked-body receiver, refused as soon as the body holds more line ends
    (each chunk has two) than MAX_CHUNK_LINES: counted in C before waitress parses the bytes."""

    _END = b"\r\n0\r\n\r\n"  # the last chunk's end, then the empty last chunk, no trailer

    def __init__(self, inner: Any):
        self.inner = inner
        self.lines = 0
        self.seen = 0
        self.refused: Any = None
        self.ended = False
        self._tail = b""

    def received(self, data: bytes) -> int:
        if self.refused is None:
            self.lines += data.count(b"\r\n")
            self.seen += len(data)
            if self.lines <= MAX_CHUNK_LINES or self.seen >= CHUNK_BYTES * self.lines:
                return int(self.inner.received(data))
            self.refused = _refusal(400, "Bad Request", "too_many_chunks", (
                f"the chunked body is cut into more than {MAX_CHUNK_LINES // 2:,} chunks; send the frame "
                f"with Content-Length, or in chunks of a few KB or more"))
        # Refused: the rest is dropped unparsed, up to the body's end, then answered. Closing
        # at once would reset a client still sending, and a reset loses the answer.
        seen = self._tail + data
        self.ended = self._END in seen
        self._tail = seen[-(len(self._END) - 1):]
        return len(data)

    @property
    def completed(self) -> bool:
        return self.ended or bool(self.inner.completed)

    @property
    def error(self) -> Any:
        return self.refused if self.ended else self.inner.error

    def __len__(self) -> int:
        return len(self.inner)

    def getfile(self) -> Any:
        return self.inner.getfile()

    def getbuf(self) -> Any:
        return self.inner.getbuf()


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

    def __init__(self, length: int, pool: BodyBuffers, budget: BodyBudget | None = None):
        self.length = self.remain = length
        self.pool = pool
        self.budget = budget  # holds ``length`` bytes of it until close()
        self.pos = 0        # bytes received
        self.last_progress = time.monotonic()  # when bytes last arrived (stalled bodies give way)
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

    def received(self, data: bytes | _InPlace) -> int:
        rm = self.remain
        if rm < 1:
            self.completed = True
            return 0
        if isinstance(data, _InPlace):
            n = data.n  # already written by recv_into(free_view())
        else:
            n = min(len(data), rm)
            self._ensure()[self.pos:self.pos + n] = memoryview(data)[:n]
        self.pos += n
        self.remain = rm - n
        self.last_progress = time.monotonic()
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

    def readinto(self, b: bytearray | memoryview) -> int:
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

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    # -- end of request
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.budget is not None:
            self.budget.release(self.length)
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

def _waitress_error_task() -> type:
    from waitress.task import ErrorTask

    class JSONErrorTask(ErrorTask):
        """waitress's own refusals (too large, bad framing) as the same JSON errors."""

        def execute(self) -> None:
            e = self.request.error
            code = {413: "body_too_large", 431: "headers_too_large", 501: "not_implemented"}.get(e.code, "bad_request")
            if isinstance(getattr(e, "otrig_code", None), str):  # one of ours (_refusal)
                code, message = e.otrig_code, e.body
            elif e.code == 413:
                limit = self.channel.server.adj.max_request_body_size - 1  # see waitress_settings
                length = self.request.headers.get("CONTENT_LENGTH") if self.request.headers else None
                sent = int(length) if length is not None and re.fullmatch(r"[0-9]{1,15}", length) else None
                message = too_large_message(sent, limit)
            else:
                message = f"{e.reason}: {e.body}; send one multipart POST with parts 'image' and 'frame'"
            body = error_body(e.code, code, message)
            stats = self.channel.server.otrig_app.stats  # a refusal before the app is still one
            with stats.lock:
                stats.rejected += 1
            self.status = f"{e.code} {e.reason}"
            self.response_headers.append(("Content-Type", JSON_TYPE))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    return JSONErrorTask


def _refusal(status: int, reason: str, code: str, message: str) -> Any:
    """A waitress request error that JSONErrorTask answers with otrig's code and message."""
    from waitress.utilities import Error

    e = Error(message)
    e.code, e.reason = status, reason
    e.otrig_code = code
    return e


def waitress_settings(options: ServerOptions) -> dict[str, Any]:
    return dict(
        # "localhost" resolves to 127.0.0.1 and ::1 on Debian, and waitress then makes a
        # multi-socket server that takes none of the channel hooks below: one address
        host="127.0.0.1" if options.host.lower() == "localhost" else options.host,
        port=options.port, threads=options.threads,
        # Keep whole frames in memory: the default (512 KiB) spools each 6 MB body to a temp file.
        # (Content-Length bodies bypass waitress's buffers: PooledBody; this is for chunked ones.)
        inbuf_overflow=options.max_body + 1024 * 1024,
        # Reads of headers (and of chunked bodies); Content-Length bodies are received with
        # recv_into straight into their buffer. Below glibc's mmap threshold: no fresh pages.
        recv_bytes=64 * 1024,
        # waitress refuses larger bodies (Content-Length or chunked) before reading them. It
        # refuses a body *of* its limit too (>=), so the limit it gets is one byte more: a body
        # of exactly --max-body bytes is taken.
        max_request_body_size=options.max_body + 1,
        ident="otrig", asyncore_use_poll=True, clear_untrusted_proxy_headers=True,
    )


def create_server(game_holder: GameHolder, options: ServerOptions) -> Any:
    """A ready-to-run waitress server (socket bound). ``.effective_port`` is the real port,
    ``.otrig_app`` the :class:`PluginApp`, ``.otrig_buffers`` the body pool. (Typed ``Any``:
    waitress ships no type information.)"""
    import waitress.server
    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser
    from waitress.receiver import FixedStreamReceiver
    from waitress.wasyncore import _DISCONNECTED

    pool = BodyBuffers(keep=max(2, min(options.threads, 4)))
    # Bodies in flight at once: one per worker thread plus a queue as deep again, at least 8.
    budget = BodyBudget(max(max(8, 2 * options.threads) * (protocol.IMAGE_BYTES + 64 * 1024), options.max_body))

    class Parser(HTTPRequestParser):
        # set by waitress's parse_header (a waitress receiver, untyped: no stubs), then maybe ours
        body_rcv: Any
        error: Any

        def parse_header(self, header_plus: bytes) -> None:
            super().parse_header(header_plus)
            if self.error is not None or not (self.content_length > 0 or self.chunked):
                return
            # A body is announced: refuse it on its headers when it could not be taken anyway,
            # before a byte of it is stored (the app checks the token again, for every request).
            refusal = None
            got = self.headers.get("X_OTRIG_TOKEN", "")
            if options.token and not token_matches(got, options.token):
                refusal = _refusal(401, "Unauthorized", "unauthorized", token_message(got))
            elif type(self.body_rcv) is FixedStreamReceiver \
                    and 0 < self.content_length < self.adj.max_request_body_size:
                if budget.reserve(self.content_length) or (
                        _drop_stalled_body(server._map, server.otrig_app) and budget.reserve(self.content_length)):
                    self.body_rcv = PooledBody(self.content_length, pool, budget)  # allocated on first byte
                    return
                refusal = _refusal(503, "Service Unavailable", "server_busy", (
                    f"the server already holds {budget.held:,} bytes of frames being received or waiting, "
                    f"its limit; send again after a moment"))
            if refusal is None:
                if self.chunked:
                    self.body_rcv = _CountedChunks(self.body_rcv)
                return
            self.error = refusal
            if type(self.body_rcv) is FixedStreamReceiver and not self.expect_continue:
                # read the announced body and keep none of it, then answer: a client that sends
                # its whole request before reading (most do) gets the JSON error, not a reset
                self.body_rcv = _Discard(self.content_length)
            else:
                self.completed = True  # chunked, or a client waiting for "100 Continue": answer now

        def received(self, data: bytes) -> int:
            consumed: int = super().received(data)
            if self.error is not None:
                # Refused on its headers (413 and the like): answer now. Left set, waitress would
                # send "100 Continue", mark the request incomplete and hold the 413 back until
                # body bytes arrived.
                self.expect_continue = False
            return consumed

    class Channel(HTTPChannel):
        error_task_class = _waitress_error_task()
        parser_class = Parser

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.otrig_started = time.monotonic()  # when the request being received began
            _make_room(self, self._map, self.adj.connection_limit)

        def received(self, data: Any) -> bool:  # bytes, or _InPlace from handle_read
            if self.request is None:
                self.otrig_started = time.monotonic()
            return bool(super().received(data))

        def handle_close(self) -> None:
            # a body cut off mid-upload gives back its buffer and its share of the budget
            # (waitress closes the bodies of complete requests only)
            req = self.request
            if req is not None and type(req.body_rcv) is PooledBody:
                req.body_rcv.close()
            super().handle_close()

        def readable(self) -> bool:
            # asked by the event loop on every turn (at least once a second): the place to
            # close a connection that is past its deadline
            if _overdue(self, time.monotonic(), options):
                _drop(self, self.server.otrig_app, "the request did not arrive in time")
                return False
            return bool(super().readable())

        def handle_read(self) -> None:
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

    app = PluginApp(game_holder, options)
    server = waitress.server.create_server(app, **waitress_settings(options))
    server.channel_class = Channel
    server.otrig_app = app
    server.otrig_buffers = pool
    return server


# A request's headers must arrive within this many seconds of its first byte: a client that
# trickles header bytes (each one resets waitress's inactivity timer) held a connection
# forever, and about 99 of them locked every new client out (issue 16).
HEADER_SECONDS = 10.0
# Then its body, at no less than this rate: a 6.2 MB frame gets 10 + 24 s (a LAN sends it in
# under a second).
BODY_MIN_RATE = 256 * 1024
# Connections kept free for new clients: at the limit, the one longest in receiving its
# headers (or else the longest idle) is closed for the newcomer.
ROOM = 10


def _overdue(channel: Any, now: float, options: ServerOptions) -> bool:
    req = channel.request
    if req is None or req.completed or req.empty:
        return False
    allowed = HEADER_SECONDS
    if req.headers_finished:
        allowed += max(req.content_length, 0) / BODY_MIN_RATE
    return now - channel.otrig_started > allowed


def _drop(channel: Any, app: PluginApp, why: str) -> None:
    """Close a connection the server will not wait for, with a 408 if the socket takes it."""
    body = error_body(408, "request_timeout", f"{why}: headers must arrive within {HEADER_SECONDS:g} s "
                                               f"and a body at {BODY_MIN_RATE // 1024} KB/s or faster")
    head = (f"HTTP/1.1 408 Request Timeout\r\nContent-Type: {JSON_TYPE}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode()
    try:
        channel.socket.send(head + body)
    except OSError:
        pass
    with app.stats.lock:
        app.stats.rejected += 1
    channel.handle_close()


# A body that has received nothing for this long gives its buffer up to a new frame when the
# budget is full: 50 stalled uploads otherwise turned every normal client away for 34 s.
STALL_SECONDS = 2.0


def _drop_stalled_body(channels: dict[int, Any], app: PluginApp) -> bool:
    """Close the connection whose body has stalled longest (past STALL_SECONDS); True if one was."""
    now, victim, worst = time.monotonic(), None, STALL_SECONDS
    for ch in list(channels.values()):
        req = getattr(ch, "request", None)
        body = getattr(req, "body_rcv", None)
        if type(body) is PooledBody and not body.completed and now - body.last_progress > worst:
            victim, worst = ch, now - body.last_progress
    if victim is None:
        return False
    _drop(victim, app, "the server needed the memory of a stalled upload for a new frame")
    return True


def _make_room(newcomer: Any, channels: dict[int, Any], limit: int) -> None:
    """Near the connection limit, close the connection least likely to be a working client."""
    from waitress.channel import HTTPChannel

    others = [ch for ch in list(channels.values()) if isinstance(ch, HTTPChannel) and ch is not newcomer]
    if len(others) + 1 < limit - ROOM:
        return
    slow = [ch for ch in others if ch.request is not None and not ch.request.headers_finished
            and not ch.requests and not ch.total_outbufs_len]
    idle = [ch for ch in others if ch.request is None and not ch.requests and not ch.total_outbufs_len]
    if slow:
        victim = min(slow, key=lambda ch: ch.otrig_started)
        _drop(victim, newcomer.server.otrig_app, "the server needed the connection for a new client")
    elif idle:
        min(idle, key=lambda ch: ch.last_activity).handle_close()


# Seconds a stopping server keeps answering the frames it has already received (queued,
# being processed, or arriving on an open upload). An Apex frame costs ~20 ms, so 8 threads
# clear a full queue in well under a second; the bound is for a client stalled mid-upload.
DRAIN_SECONDS = 10.0


def _busy(channels: dict[int, Any]) -> int:
    """Connections the server still owes something: a request received or being received,
    or an answer not yet sent."""
    from waitress.channel import HTTPChannel

    return sum(1 for ch in list(channels.values()) if isinstance(ch, HTTPChannel)
               and (ch.requests or ch.total_outbufs_len or (ch.request is not None and not ch.request.empty)))


def _serve_until_stopped(server: Any, drain_seconds: float) -> None:
    """waitress's event loop, stopped gracefully by SIGTERM or Ctrl-C.

    ``server.run()`` is not used: on a stop it cancels the queued requests and closes every
    connection, so frames already received got no answer (issue 16). Here a stop closes the
    listening socket, keeps the loop running until every received frame is answered and sent
    (or ``drain_seconds`` pass), then closes. A second signal stops at once."""
    from waitress import wasyncore

    stop = threading.Event()
    channels = server._map
    timeout = server.adj.asyncore_loop_timeout

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # a second signal: no more waiting
        stop.set()
        server.pull_trigger()  # wake the loop from its poll

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, handler)
    while not stop.is_set() and channels:
        wasyncore.loop(timeout=timeout, map=channels, use_poll=True, count=1)
    log.info("stopping: answering the %d connection(s) with frames received", _busy(channels))
    server.accepting = False
    server.del_channel()   # stop listening: new clients are refused by the kernel
    server.socket.close()
    end = time.monotonic() + drain_seconds
    try:
        while _busy(channels) and time.monotonic() < end:
            wasyncore.loop(timeout=0.05, map=channels, use_poll=True, count=1)
    except KeyboardInterrupt:
        pass
    left = _busy(channels)
    if left:
        log.warning("stopped with %d connection(s) unanswered after %.0f s", left, drain_seconds)


def run_server(game_holder: GameHolder, options: ServerOptions,
               ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted. ``ready(url)`` is called once the socket listens."""
    warning = check_bind(options)  # raises ValueError to refuse
    if warning:
        log.warning(warning)
    server = create_server(game_holder, options)
    watcher = ReloadWatcher(game_holder, options.reload_interval).start() if options.reload else None
    host = options.host if ":" not in options.host else f"[{options.host}]"
    url = f"http://{host}:{server.effective_port}"
    game = game_holder.game
    log.info("serving game %s (version %s) at %s: POST frames to any path, GET %s for status%s",
             game.name, game.version or "-", url, HEALTH_PATH, "; reloading on change" if watcher else "")
    if ready:
        ready(url)
    try:
        _serve_until_stopped(server, DRAIN_SECONDS)
    finally:
        if watcher:
            watcher.stop()
        # frames still being processed finish (and are recorded) before the caller closes the
        # recorder (options.recorder: it is the caller's, made and closed by `otrig serve`)
        server.task_dispatcher.shutdown(cancel_pending=False, timeout=5)
        from waitress import wasyncore
        wasyncore.close_all(server._map)
        # faults queued by those frames are written before exit (the saver's thread is a daemon)
        if not server.otrig_app.faults.flush(timeout=5):
            log.warning("stopping with faults still unwritten in %s", options.fault_dir)
