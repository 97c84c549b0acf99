"""The answer to one frame: the client's frame JSON, byte for byte, with the extracted objects
spliced in before its closing brace.

It lives in runtime (not in the HTTP protocol) because every way of running a game answers
the same way: `otrig serve`, `otrig run`, `otrig report` and `otrig demo` all go through
:func:`engine.runtime.loop.run_frame`, which builds it once per frame.

The client's text is kept rather than re-encoded so that floats, key order, duplicate keys
and unicode escapes come back exactly as sent.
"""
from __future__ import annotations

import json
from typing import Any

# Where extracted objects go when their name is already a key of the client's frame.
CONFLICTS_KEY = "otrig_conflicts"


class AnswerNotJSON(ValueError):
    """An extracted value cannot be written as JSON (NaN, a numpy type, ...): a processor bug
    the game file's author has to hear about, never a silently altered answer."""


def build_answer(frame_text: bytes, frame: dict[str, Any], extracted: dict[str, Any]) -> bytes:
    """``frame_text`` (the JSON text of the object ``frame``) with ``extracted`` spliced in.

    An extracted name that is already a key of the frame never overwrites it: such objects
    go under ``otrig_conflicts`` (itself suffixed with ``_`` until it is free).
    Raises :class:`AnswerNotJSON` when an extracted value has no JSON form.
    """
    if not extracted:
        return frame_text
    own: dict[str, Any] = {}
    conflicts: dict[str, Any] = {}
    for key, value in extracted.items():
        (conflicts if key in frame else own)[key] = value
    if conflicts:
        ck = CONFLICTS_KEY
        while ck in frame or ck in own:
            ck += "_"
        own[ck] = conflicts
    try:
        extra = json.dumps(own, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise AnswerNotJSON(
            f"an extracted value cannot be sent as JSON ({type(e).__name__}: {e}); "
            f"processors must emit JSON values (no NaN, no numpy types)") from None
    # `frame` was parsed from `frame_text` (or dumped to it), so the text is one JSON object:
    # its last non-blank byte is the closing brace.
    body = frame_text.rstrip()[:-1].rstrip()
    sep = b"" if body.endswith(b"{") else b","
    return body + sep + extra[1:]
