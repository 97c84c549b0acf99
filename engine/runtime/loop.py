"""One frame, start to end: process -> build the answer -> record. The only frame loop body.

`otrig serve` (engine.plugin.app), `otrig run`, `otrig report` and `otrig demo --in-process`
all call :func:`run_frame`, so an answer is built one way, once per frame, and a recording
holds exactly the bytes that were answered.

The recorder is anything with the :class:`FrameRecorder` shape (engine.debug.recorder's
``Recorder`` is the one otrig ships): runtime does not import the debug layer.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from engine.runtime.answer import AnswerNotJSON, build_answer
from engine.runtime.results import FrameOutput


class FrameProcessor(Protocol):
    """A compiled game (or a test's stand-in): one frame in, its output out."""

    def process(self, image: np.ndarray, frame: dict[str, Any], *, explain: bool = False,
                keep_images: bool = False) -> FrameOutput: ...


class FrameRecorder(Protocol):
    """Receives every processed frame with the answer built for it (None when the frame had
    no answer: an extracted value was not JSON). Must not block the caller for long."""

    def record(self, image: np.ndarray, frame: dict[str, Any], answer: bytes | None,
               output: FrameOutput) -> bool: ...


@dataclass(frozen=True, kw_only=True)
class FrameAnswer:
    output: FrameOutput   # objects, errors, explain and the step traces
    body: bytes           # the answer, exactly as sent (JSON text, UTF-8)


class FrameNotAnswered(Exception):
    """The engine ran but its objects cannot be written as JSON; ``output`` is what it made."""

    def __init__(self, message: str, output: FrameOutput):
        super().__init__(message)
        self.output = output


def run_frame(game: FrameProcessor, image: np.ndarray, frame: dict[str, Any], *,
              frame_text: bytes | None = None, explain: bool = False,
              recorder: FrameRecorder | None = None) -> FrameAnswer:
    """Process one 1920x1080 BGR frame, build its answer once and hand both to ``recorder``.

    ``frame_text`` is the client's JSON text of ``frame`` (the server keeps it so the answer
    echoes it byte for byte); without it the frame is dumped the way `otrig extract` sends it.
    Whatever ``game.process`` raises propagates; a non-JSON value raises :class:`FrameNotAnswered`
    (after the recorder got the frame's trace, so the report shows what went wrong).
    """
    # step crops are only worth keeping when someone records them
    output = game.process(image, frame, explain=explain, keep_images=recorder is not None)
    text = json.dumps(frame).encode("utf-8") if frame_text is None else frame_text
    try:
        body = build_answer(text, frame, output.answer_objects())
    except AnswerNotJSON as e:
        if recorder is not None:
            recorder.record(image, frame, None, output)
        raise FrameNotAnswered(str(e), output) from None
    if recorder is not None:
        recorder.record(image, frame, body, output)
    return FrameAnswer(output=output, body=body)
