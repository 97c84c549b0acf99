"""Hot reload for `otrig serve --reload`: keep a compiled game, swap it when its files change.

The holder always has a working game. A reload that fails keeps the last good one serving
and records the error (without filesystem paths beyond file names) for /health and the log.
"""
from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from engine.lang.errors import GameFileError, GameFileErrors
from engine.runtime.game import CompiledGame, load_game

log = logging.getLogger("otrig.server")

# A directory prefix of an absolute path (POSIX or Windows): "/home/u/games/" or "C:\x\".
_DIR_PREFIX_RE = re.compile(r"(?:[A-Za-z]:)?[\\/](?:[^\s\"'\\/:<>|]+[\\/])+")


def scrub_paths(text: str) -> str:
    """Drop directory prefixes so messages name files but reveal no folder layout."""
    return _DIR_PREFIX_RE.sub("", text)


def describe_load_error(e: BaseException) -> str:
    """One readable text for any failure to load a game file."""
    if isinstance(e, GameFileErrors):
        text = "\n".join(str(x) for x in e.errors)
    elif isinstance(e, GameFileError):
        text = str(e)
    elif isinstance(e, OSError):
        text = f"cannot read {Path(e.filename).name if e.filename else 'the game file'}: {e.strerror or e}"
    else:
        text = f"{type(e).__name__}: {e}"
    return scrub_paths(text)


@dataclass
class GameSource:
    path: Path
    assets: Sequence[str | Path] = ()
    viewport: tuple[int, int, int, int] | None = None


class GameHolder:
    """The game currently served. Reading ``.game`` is a single attribute load: atomic."""

    def __init__(self, game: CompiledGame, source: GameSource):
        self._game = game
        self.source = source
        self.last_config_error: str | None = None
        self.reloads = 0
        self._reload_lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path, *, assets: Sequence[str | Path] = (),
             viewport: tuple[int, int, int, int] | None = None) -> "GameHolder":
        """Compile the game file; raises what load_game raises (GameFileError(s), OSError...)."""
        source = GameSource(Path(path), tuple(assets), viewport)
        return cls(load_game(source.path, assets=source.assets, viewport=source.viewport), source)

    @property
    def game(self) -> CompiledGame:
        return self._game

    def watched(self) -> list[Path]:
        files = list(getattr(self._game, "watched", None) or [])
        if self.source.path not in files:
            files.append(self.source.path)
        return files

    def reload(self) -> bool:
        """Recompile; on success swap in the new game, on failure keep the old one."""
        with self._reload_lock:
            try:
                game = load_game(self.source.path, assets=self.source.assets, viewport=self.source.viewport)
            except Exception as e:  # noqa: BLE001 - any failure must keep the last good game
                self.last_config_error = describe_load_error(e)
                log.error("reload failed, still serving the last good version of %s:\n%s",
                          self.source.path.name, self.last_config_error)
                return False
            self._game = game
            self.last_config_error = None
            self.reloads += 1
            log.info("reloaded %s (game %s, version %s)", self.source.path.name, game.name, game.version)
            return True


def _snapshot(paths: Sequence[Path]) -> dict[Path, Any]:
    snap: dict[Path, Any] = {}
    for p in paths:
        try:
            st = p.stat()
            snap[p] = (st.st_mtime_ns, st.st_size)
        except OSError:
            snap[p] = None  # missing now; its return is a change too
    return snap


class ReloadWatcher:
    """Polls the mtimes of the game's watched files and reloads the holder on change."""

    def __init__(self, holder: GameHolder, interval: float = 0.5):
        self.holder = holder
        self.interval = interval
        self._stop = threading.Event()
        self._last = _snapshot(holder.watched())
        self._thread = threading.Thread(target=self._run, name="otrig-reload", daemon=True)

    def start(self) -> "ReloadWatcher":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def check(self) -> bool:
        """One poll: reload if anything changed. Returns True if a reload was attempted."""
        snap = _snapshot(self.holder.watched())
        if snap == self._last:
            return False
        self.holder.reload()
        # Remember the state that was compiled (not the state now), so an edit made while
        # compiling is seen on the next poll. The new game may watch more files.
        now = _snapshot([p for p in self.holder.watched() if p not in snap])
        self._last = {**{p: snap[p] for p in self.holder.watched() if p in snap}, **now}
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the watcher must never die
                log.exception("reload watcher error")
