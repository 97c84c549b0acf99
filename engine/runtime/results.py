"""What one frame's run produces: the objects for the answer and the trace for debugging."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(kw_only=True)
class StepTrace:
    """One step's run on one frame, for --record and the report."""

    processor: str
    step: str              # field name (or screen candidate name) inside the processor
    kind: str              # step type: ocr, template, fraction, ...
    status: str            # "hit", "miss", "skip" or "error"
    value: Any = None
    score: float | None = None
    threshold: float | None = None
    reason: str | None = None     # why it missed / was skipped / failed
    ms: float = 0.0
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)  # in frame pixels
    details: dict[str, Any] = field(default_factory=dict)   # text, runner-up, margin, ...
    crop: np.ndarray | None = None       # what the step looked at (a view; copy before keeping)
    prepared: np.ndarray | None = None   # after preparation


@dataclass(kw_only=True)
class ProcessorTrace:
    name: str
    status: str            # "ran", "skip" or "error"
    reason: str | None = None
    ms: float = 0.0
    hit: bool = False


@dataclass(kw_only=True)
class FrameOutput:
    objects: dict[str, Any]                       # one top-level object per processor that emitted
    errors: dict[str, Any] = field(default_factory=dict)  # processor -> {"step", "message"}
    explain: dict[str, Any] | None = None
    processors: list[ProcessorTrace] = field(default_factory=list)
    steps: list[StepTrace] = field(default_factory=list)
    stream: str = ""

    def answer_objects(self) -> dict[str, Any]:
        """The objects to splice into the answer: extracted ones, then errors/explain if any."""
        out = dict(self.objects)
        if self.errors:
            out["errors"] = self.errors
        if self.explain is not None:
            out["explain"] = self.explain
        return out
