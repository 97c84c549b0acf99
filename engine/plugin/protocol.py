"""The OverTrack plugin wire protocol: one multipart POST in, one JSON object out.

Request: ``multipart/form-data`` with two parts, ``image`` (raw BGR 1920x1080, exactly
6,220,800 bytes) and ``frame`` (a JSON object). Answer: the ``frame`` object with every
field unmodified, plus one top-level object per extracted thing.

The body is read once and the image is viewed in place (``np.frombuffer`` with an offset):
a generic form parser copies a 6 MB part several times and spools it to disk.

The answer keeps the client's JSON *text* and splices the extracted objects in before its
closing brace, so nothing the client sent is re-encoded: floats, key order, duplicate keys
and unicode escapes come back byte for byte. It is built by
:func:`engine.runtime.answer.build_answer` (re-exported here), the same for every command.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.runtime.answer import CONFLICTS_KEY, build_answer  # noqa: F401 - the answer half of the protocol
from engine.vision.frame import HEIGHT, IMAGE_BYTES, MAX_SOURCE_SIDE, WIDTH, source_size

# The image plus a generous allowance for the frame JSON and the multipart framing.
DEFAULT_MAX_BODY = IMAGE_BYTES + 4 * 1024 * 1024

_BOUNDARY_RE = re.compile(r'boundary=(?:"([^"]+)"|([^;,\s]+))', re.IGNORECASE)
# One parameter of a Content-Disposition header: `; key=token` or `; key="quoted \\" text"`.
_PARAM_RE = re.compile(rb';\s*([!#-\'*+.0-9A-Z^-z|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))', re.IGNORECASE)
# Parts a body may hold: OverTrack sends 2. Each part costs a header scan; 115,000 tiny parts
# took 0.7 s of parser CPU per request before this bound.
MAX_PARTS = 16


@dataclass
class ProtocolError(Exception):
    """A request the plugin cannot take. Rendered as ``{"error": {"code", "message", ...}}``."""

    status: int
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


@dataclass
class FrameRequest:
    """A parsed request: a read-only view of the image inside the body, and the frame."""

    image: np.ndarray
    frame: dict[str, Any]
    frame_text: bytes  # the client's JSON exactly as sent, used to build the answer


def boundary_of(content_type: str | None) -> bytes:
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        raise ProtocolError(
            415, "unsupported_media_type",
            f"expected Content-Type multipart/form-data with parts 'image' and 'frame', "
            f"got {content_type or 'no Content-Type'!r}",
        )
    m = _BOUNDARY_RE.search(content_type)
    if not m:
        raise ProtocolError(400, "bad_multipart", "the multipart Content-Type has no boundary parameter")
    return (m.group(1) or m.group(2)).encode("latin-1")


def _find(buf: bytes | bytearray | memoryview, sub: bytes, start: int = 0, end: int | None = None) -> int:
    """``buf.find(sub, start, end)`` for a memoryview too, without copying it (``re`` searches
    any buffer in place; ``bytes(view)`` would copy a 6 MB body)."""
    if end is None:
        end = len(buf)
    if not isinstance(buf, memoryview):
        return buf.find(sub, start, end)
    m = re.compile(re.escape(sub)).search(buf, start, end)
    return m.start() if m else -1


def part_name(headers: bytes) -> str:
    """The ``name`` parameter of a part's Content-Disposition header ('' when it has none).

    Parameters are parsed, not searched for: ``filename="raw.bin"; name="image"`` is the part
    'image', and a ``name=`` inside another header (Content-Type) names nothing."""
    for line in headers.split(b"\r\n"):
        key, sep, value = line.partition(b":")
        if not sep or key.strip().lower() != b"content-disposition":
            continue
        for m in _PARAM_RE.finditer(value):
            if m.group(1).lower() == b"name":
                raw = m.group(2) if m.group(2) is not None else m.group(3)
                if m.group(2) is not None:
                    raw = re.sub(rb"\\(.)", rb"\1", raw)
                return raw.decode("utf-8", "replace")
        return ""
    return ""


def _split_parts(body: bytes | bytearray | memoryview, boundary: bytes) -> dict[str, tuple[int, int]]:
    """Return ``{name: (start, end)}`` offsets of each part's data inside ``body``.

    ``body`` may be a memoryview (the server's pooled receive buffer): it is searched in
    place, never converted to bytes.
    """
    dash = b"--" + boundary
    delim = b"\r\n" + dash
    buf = body
    if isinstance(buf, memoryview) and (buf.ndim != 1 or buf.itemsize != 1):
        buf = buf.cast("B")
    first = _find(buf, dash, 0, min(len(buf), 64 * 1024))  # OverTrack starts with the boundary
    if first < 0:
        first = _find(buf, dash)
    if first < 0:
        raise ProtocolError(400, "bad_multipart", "the body does not contain the multipart boundary")
    pos = first + len(dash)
    parts: dict[str, tuple[int, int]] = {}
    while True:
        if buf[pos:pos + 2] == b"--":
            break  # closing delimiter
        if buf[pos:pos + 2] != b"\r\n":
            raise ProtocolError(400, "bad_multipart", f"malformed multipart delimiter at byte {pos}")
        head_end = _find(buf, b"\r\n\r\n", pos + 2, min(len(buf), pos + 2 + 16384))
        if head_end < 0:
            raise ProtocolError(400, "bad_multipart", f"a multipart part has no header end (at byte {pos})")
        if len(parts) >= MAX_PARTS:
            raise ProtocolError(400, "too_many_parts", f"the body holds more than {MAX_PARTS} parts; "
                                                       f"send the two parts 'image' and 'frame'")
        headers = bytes(buf[pos + 2:head_end])
        start = head_end + 4
        name = part_name(headers)
        # Fast path: the image part has a known size, so check the delimiter right where it
        # must be instead of scanning 6 MB of pixels for it.
        guess = start + IMAGE_BYTES
        if name == "image" and buf[guess:guess + len(delim)] == delim:
            end = guess
        else:
            # a small part (the frame JSON) ends soon: look near first, then everywhere
            end = _find(buf, delim, start, min(len(buf), start + 256 * 1024))
            if end < 0:
                end = _find(buf, delim, start)
            if end < 0:
                raise ProtocolError(400, "bad_multipart", f"part {name!r} is not terminated by the boundary")
        if name in parts:
            raise ProtocolError(400, "duplicate_part", f"the part {name!r} was sent twice")
        parts[name] = (start, end)
        pos = end + len(delim)
    return parts


def parse_request(body: bytes | bytearray | memoryview, content_type: str | None) -> FrameRequest:
    """Parse a plugin POST. Raises :class:`ProtocolError` with an actionable message."""
    parts = _split_parts(body, boundary_of(content_type))
    missing = [p for p in ("image", "frame") if p not in parts]
    if missing:
        raise ProtocolError(
            400, "missing_part",
            f"the request has no {' and no '.join(repr(p) for p in missing)} part; "
            f"send multipart parts 'image' (raw BGR 1920x1080) and 'frame' (JSON object)",
            {"parts": sorted(parts)},
        )
    start, end = parts["image"]
    if end - start != IMAGE_BYTES:
        raise ProtocolError(
            400, "bad_image_size",
            f"'image' has {end - start} bytes, expected {IMAGE_BYTES} "
            f"(raw BGR {WIDTH}x{HEIGHT}x3, uint8); resize the capture to {WIDTH}x{HEIGHT} before sending",
            {"received_bytes": end - start, "expected_bytes": IMAGE_BYTES},
        )
    image = np.frombuffer(body, dtype=np.uint8, count=IMAGE_BYTES, offset=start).reshape((HEIGHT, WIDTH, 3))
    fs, fe = parts["frame"]
    frame_text = bytes(body[fs:fe])
    return FrameRequest(image=image, frame=parse_frame_json(frame_text), frame_text=frame_text)


def parse_frame_json(text: bytes) -> dict[str, Any]:
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(400, "bad_frame_json", f"'frame' is not UTF-8 text: {e}") from None
    try:
        frame = json.loads(decoded)
    except json.JSONDecodeError as e:
        raise ProtocolError(
            400, "bad_frame_json",
            f"'frame' is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}",
        ) from None
    except ValueError as e:  # valid JSON that Python refuses: an integer of more than 4,300 digits
        raise ProtocolError(400, "bad_frame_json", f"'frame' holds a value this server cannot read: {e}") from None
    except RecursionError:  # Python's parser gives up near 1,000 levels, before MAX_FRAME_DEPTH is checked
        raise ProtocolError(400, "frame_too_deep",
                            f"'frame' is nested too deeply: at most {MAX_FRAME_DEPTH} levels of objects and arrays",
                            {"max_depth": MAX_FRAME_DEPTH}) from None
    if not isinstance(frame, dict):
        raise ProtocolError(
            400, "frame_not_object",
            f"'frame' must be a JSON object with timestamp, frame_no, ...; got a JSON {type(frame).__name__}",
        )
    if _depth(frame) > MAX_FRAME_DEPTH:
        raise ProtocolError(400, "frame_too_deep",
                            f"'frame' is nested too deeply: at most {MAX_FRAME_DEPTH} levels of objects and arrays",
                            {"max_depth": MAX_FRAME_DEPTH})
    source = frame.get("source")
    if isinstance(source, dict) and "original_shape" in source and source_size(source["original_shape"]) is None:
        raise ProtocolError(
            400, "bad_original_shape",
            f"'frame.source.original_shape' must be [height, width, ...] in whole pixels from 1 to "
            f"{MAX_SOURCE_SIDE}, got {json.dumps(source['original_shape'])[:80]}; leave it out for a "
            f"{WIDTH}x{HEIGHT} capture",
            {"max_side": MAX_SOURCE_SIDE})
    return frame


# Levels of objects and arrays a frame may nest. OverTrack's frames nest 3 (source.original_shape);
# a limit far below Python's recursion limit keeps every later walk over the frame (the
# recorder's, the report's) safe, and is the same on every build.
MAX_FRAME_DEPTH = 64


def _depth(value: Any) -> int:
    """How many levels of objects and arrays ``value`` nests (without recursion)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        v, d = todo.pop()
        if isinstance(v, dict):
            v = list(v.values())
        elif not isinstance(v, list):
            continue
        deepest = max(deepest, d)
        if d <= MAX_FRAME_DEPTH:
            todo.extend((item, d + 1) for item in v)
    return deepest


@dataclass
class EncodedRequest:
    """A multipart body as a list of buffers, so the image is sent from its own memory."""

    content_type: str
    chunks: list[bytes | memoryview]

    @property
    def length(self) -> int:
        return sum(len(c) if isinstance(c, bytes) else c.nbytes for c in self.chunks)


def encode_request(image: np.ndarray, frame: dict[str, Any] | bytes) -> EncodedRequest:
    """Build the multipart body OverTrack sends, without copying the image."""
    if image.shape != (HEIGHT, WIDTH, 3) or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 {HEIGHT}x{WIDTH}x3 BGR, got {image.dtype} {image.shape}")
    if not image.flags.c_contiguous:
        image = np.ascontiguousarray(image)
    boundary = uuid.uuid4().hex
    frame_bytes = frame if isinstance(frame, bytes) else json.dumps(frame).encode("utf-8")
    head_image = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"image\"\r\n"
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    head_frame = (
        f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"frame\"; filename=\"frame\"\r\n"
        f"Content-Type: application/json\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    view = image.data.cast("B")  # the array's own memory, C-contiguous above
    return EncodedRequest(
        content_type=f"multipart/form-data; boundary={boundary}",
        chunks=[head_image, view, head_frame, frame_bytes, tail],
    )
