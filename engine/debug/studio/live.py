"""The game file the studio shows, recompiled each time it (or a file it loads) is saved.

The holder and the mtime watcher are `otrig serve --reload`'s (engine.plugin.reload): a
broken save keeps the last good game and its located errors. Here every attempt, good or
broken, also counts a new *generation* that the page waits for (a long poll), so a save
shows up without a reload button.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from engine.plugin.reload import GameHolder, GameSource, ReloadWatcher
from engine.runtime.game import CompiledGame, load_game
from engine.vision.regions import IntBox

# How often the game's files are checked for a change. A poll is one stat() per watched file
# (apex.yaml watches 2-3 paths: ~10 us); 0.1 s keeps the wait a small part of save-to-result
# (compiling apex.yaml takes ~0.4 s).
POLL_SECONDS = 0.1

# Lines of the game file shown before and after a located error.
CONTEXT_LINES = 2

_LOCATED = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+)(?::(?P<col>\d+))?: (?P<message>.*)$")


@dataclass(frozen=True)
class LocatedError:
    """One problem of the game file as `otrig check` prints it: file:line:col: key: message."""

    text: str
    file: str | None = None
    line: int | None = None
    col: int | None = None

    def to_json(self, source: list[str] | None = None) -> dict[str, Any]:
        """With ``source`` (the lines of the file it names): the lines around it, to show."""
        doc: dict[str, Any] = {"text": self.text, "file": self.file, "line": self.line, "col": self.col}
        if source is not None and self.line is not None and 1 <= self.line <= len(source) + 1:
            first = max(1, self.line - CONTEXT_LINES)
            doc["context"] = [{"line": n, "text": source[n - 1]}
                              for n in range(first, min(len(source), self.line + CONTEXT_LINES) + 1)]
        return doc


def located_errors(text: str | None) -> list[LocatedError]:
    out = []
    for line in (text or "").splitlines():
        m = _LOCATED.match(line)
        if m is None:
            out.append(LocatedError(line))
        else:
            col = m.group("col")
            out.append(LocatedError(line, m.group("file"), int(m.group("line")), int(col) if col else None))
    return out


class LiveGame(GameHolder):
    """A :class:`GameHolder` whose every reload, failed or not, is a new generation."""

    def __init__(self, game: CompiledGame, source: GameSource):
        super().__init__(game, source)
        self.generation = 1
        self.good_generation = 1      # the generation of the game in force
        self.closed = False           # the studio is stopping: waits end at once
        self._changed = threading.Condition()

    @classmethod
    def open(cls, path: str | Path, *, assets: Sequence[str | Path] = (),
             viewport: IntBox | None = None) -> LiveGame:
        """Compile the game file; raises GameFileError(s) or OSError as load_game does."""
        source = GameSource(Path(path), tuple(assets), viewport)
        return cls(load_game(source.path, assets=source.assets, viewport=source.viewport), source)

    def reload(self) -> bool:
        ok = super().reload()
        with self._changed:
            self.generation += 1
            if ok:
                self.good_generation = self.generation
            self._changed.notify_all()
        return ok

    def errors(self) -> list[LocatedError]:
        return located_errors(self.last_config_error)

    def errors_json(self) -> list[dict[str, Any]]:
        """The errors, each in the game file with the lines around it (errors in other files
        it loads are shown as text only: the studio reads no file it was not given)."""
        errors = self.errors()
        path = self.source.path
        source = None
        if any(e.file == path.name for e in errors):
            try:
                source = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                source = None
        return [e.to_json(source if e.file == path.name else None) for e in errors]

    def wait(self, since: int, timeout: float) -> int:
        """The generation, once it is past ``since`` or ``timeout`` seconds have passed."""
        with self._changed:
            self._changed.wait_for(lambda: self.generation != since or self.closed, timeout=timeout)
            return self.generation

    def close(self) -> None:
        """End every wait now (the server is stopping and its threads must finish)."""
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def watch(self, interval: float = POLL_SECONDS) -> ReloadWatcher:
        """A started watcher reloading this game on change; stop() it when done."""
        return ReloadWatcher(self, interval).start()
