"""A plugin client: POST frames to an OverTrack plugin the way OverTrack does.

One keep-alive ``http.client`` connection; each request is the multipart body from
``engine.plugin.protocol.encode_request`` sent chunk by chunk with an explicit Content-Length, the
image straight from its own memory (a memoryview, never copied into one big body).

    client = PluginClient("http://127.0.0.1:5000", timeout=30)
    answer = client.post(image, frame)      # the answer as a dict

Errors are exceptions a caller can report as they are:

- ``PluginHTTPError``: the plugin answered with a non-200 status (``status``, ``code``,
  ``message`` from its ``{"error": {"code", "message"}}`` body, or the start of the body);
- ``PluginUnreachable``: no connection (refused, unknown host, reset, closed mid-answer);
- ``PluginTimeout`` (a ``PluginUnreachable``): no answer within ``timeout`` seconds;
- ``PluginBadAnswer``: a 200 answer that is not a JSON object.
"""
from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import numpy as np

from engine.plugin.protocol import encode_request


class PluginError(Exception):
    """Anything that went wrong posting one frame."""


class PluginHTTPError(PluginError):
    def __init__(self, status: int, code: str, message: str, body: bytes = b""):
        self.status, self.code, self.message, self.body = status, code, message, body
        super().__init__(f"HTTP {status} {code}: {message}" if code else f"HTTP {status}: {message}")


class PluginUnreachable(PluginError):
    """The plugin could not be reached, or the connection broke before a full answer."""


class PluginTimeout(PluginUnreachable):
    """The plugin took longer than the timeout to answer."""


class PluginBadAnswer(PluginError):
    """A 200 answer that is not a JSON object."""


# Failures of a *reused* keep-alive connection that mean "the server closed it while idle":
# resending once on a fresh connection is safe, the plugin never saw the request.
TOKEN_HEADER = "X-Otrig-Token"  # what `otrig serve --token` checks

_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def check_url(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path)`` of an http(s) URL, or ``ValueError`` saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url!r} is not an http:// or https:// URL (example: http://localhost:5000)")
    if not parts.hostname:
        raise ValueError(f"{url!r} has no host (example: http://localhost:5000)")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port, path


class PluginClient:
    """Posts frames to one plugin URL over a single keep-alive connection."""

    def __init__(self, url: str, timeout: float = 30.0, token: str | None = None):
        self.url = url
        self.scheme, self.host, self.port, self.path = check_url(url)
        self.timeout = timeout
        self.token = token
        self._conn: http.client.HTTPConnection | None = None
        self._used = False  # the current connection has carried a request already

    # -- connection
    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.scheme == "https":
                self._conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                                         context=ssl.create_default_context())
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._used = False
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> PluginClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    # -- requests
    def post(self, image: np.ndarray, frame: dict[str, Any] | bytes) -> dict[str, Any]:
        """POST one frame; the 200 answer as a dict. Raises a ``PluginError`` otherwise."""
        body = self.post_raw(image, frame)
        try:
            answer = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise PluginBadAnswer(f"the 200 answer is not JSON ({e}): {_snippet(body)}") from None
        if not isinstance(answer, dict):
            raise PluginBadAnswer(f"the 200 answer is a JSON {type(answer).__name__}, expected an object")
        return answer

    def post_raw(self, image: np.ndarray, frame: dict[str, Any] | bytes) -> bytes:
        """POST one frame; the 200 answer's bytes. Raises a ``PluginError`` otherwise."""
        req = encode_request(image, frame)
        headers = {"Content-Type": req.content_type, "Content-Length": str(req.length),
                   "Accept": "application/json"}
        if self.token:
            headers[TOKEN_HEADER] = self.token
        for attempt in (0, 1):
            reused = self._used
            try:
                status, body = self._exchange(req.chunks, headers)
                break
            except _STALE as e:
                self.close()
                if reused and attempt == 0:
                    continue  # the server dropped an idle keep-alive connection: resend once
                raise PluginUnreachable(f"the connection to {self.where} broke ({_name(e)})") from None
            except (TimeoutError, socket.timeout):
                self.close()
                raise PluginTimeout(f"{self.where} did not answer within {self.timeout:g} s") from None
            except ConnectionRefusedError:
                self.close()
                raise PluginUnreachable(f"connection refused by {self.where}: is the plugin server running?") from None
            except socket.gaierror as e:
                self.close()
                raise PluginUnreachable(f"cannot resolve host {self.host!r} ({e.strerror})") from None
            except ssl.SSLError as e:
                self.close()
                raise PluginUnreachable(f"TLS error talking to {self.where}: {e.reason or e}") from None
            except (OSError, http.client.HTTPException) as e:
                self.close()
                raise PluginUnreachable(f"cannot talk to {self.where}: {_name(e)}") from None
        if status != 200:
            code, message = _error_of(body)
            raise PluginHTTPError(status, code, message, body)
        return body

    def _exchange(self, chunks: list, headers: dict[str, str]) -> tuple[int, bytes]:
        conn = self._connection()
        conn.putrequest("POST", self.path, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        self._used = True
        send_error: OSError | None = None
        try:
            for c in chunks:
                conn.send(c)
        except (BrokenPipeError, ConnectionResetError) as e:
            # The server may have answered early (e.g. 413) and closed: read that answer.
            send_error = e
        try:
            resp = conn.getresponse()
            body = resp.read()
        except (http.client.HTTPException, OSError):
            if send_error is not None:
                raise send_error from None
            raise
        if resp.will_close:
            self.close()
        return resp.status, body

    def post_with_retry(self, image: np.ndarray, frame: dict[str, Any] | bytes, *, retry_for: float = 10.0,
                        on_retry: Callable[[PluginUnreachable, float], None] | None = None) -> dict[str, Any]:
        """``post``, retrying a lost connection with backoff (0.1 s doubling to 2 s) for at most
        ``retry_for`` seconds; then the last ``PluginUnreachable`` is raised. Timeouts and
        HTTP errors are not retried (the plugin did receive the frame)."""
        deadline = time.monotonic() + retry_for
        delay = 0.1
        while True:
            try:
                return self.post(image, frame)
            except PluginTimeout:
                raise
            except PluginUnreachable as e:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                wait = min(delay, left)
                if on_retry:
                    on_retry(e, wait)
                time.sleep(wait)
                delay = min(delay * 2, 2.0)


def changed_fields(frame: dict[str, Any], answer: dict[str, Any]) -> list[str]:
    """The frame's fields that the answer lacks or changed (the protocol says: none)."""
    return [k for k, v in frame.items() if k not in answer or answer[k] != v]


def _error_of(body: bytes) -> tuple[str, str]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "", _snippet(body) or "(empty body)"
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict):
            return str(err.get("code", "")), str(err.get("message", _snippet(body)))
        if isinstance(err, str):
            return "", err
    return "", _snippet(body)


def _snippet(body: bytes, n: int = 300) -> str:
    text = body[:n].decode("utf-8", "replace").strip()
    return text + ("..." if len(body) > n else "")


def _name(e: BaseException) -> str:
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
