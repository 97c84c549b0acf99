"""What one frame's run produces: the objects for the answer and the trace for debugging."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.steps.base import StepResult


@dataclass(kw_only=True)
class StepTrace:
    """One step's run on one frame, for --record and the report: the step's result, with the
    step it came from. A step skipped or failed has a result without a value, whose reason
    says why."""

    processor: str
    step: str              # field name (or screen candidate name) inside the processor
    kind: str              # step type: ocr, template, fraction, ... (rows: the row finder)
    status: str            # "hit", "miss", "skip" or "error"
    result: StepResult     # value, score, threshold, reason, boxes (frame pixels), details, crops
    ms: float = 0.0


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
