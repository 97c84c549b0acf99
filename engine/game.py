"""Loading a game file into a compiled game: the one entry point the server and CLI use.

(Interim: accepts only files without processors; the full compiler replaces this.)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from engine.results import FrameOutput


@dataclass
class CompiledGame:
    name: str
    version: str
    path: Path
    watched: list[Path] = field(default_factory=list)  # files whose change means reload

    def process(self, image: np.ndarray, frame: dict[str, Any], *, explain: bool = False) -> FrameOutput:
        """Run every due processor on one 1920x1080 BGR frame (read-only view is fine)."""
        return FrameOutput(objects={}, explain={"processors": {}} if explain else None)


def load_game(path: str | Path, *, assets: Sequence[str | Path] = (),
              viewport: tuple[int, int, int, int] | None = None) -> CompiledGame:
    p = Path(path)
    data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    return CompiledGame(name=str(data.get("game", p.stem)), version=str(data.get("version", "")),
                        path=p, watched=[p])
