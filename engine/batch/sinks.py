"""Where a distributed run's JSON Lines go, in order.

* :class:`DirSink`: one file per source, ``DIR/<stem>.jsonl``, written through
  ``<stem>.jsonl.part`` and renamed when the source is complete, so a file without ``.part``
  is always whole and a rerun skips it; a source that failed part way keeps what it gave
  in its ``.part``.
* :class:`StreamSink`: every source into one stream (stdout or ``--jsonl OUT``) in the
  order given, as a sequential run writes them; a source that finishes early waits in memory.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Protocol, Sequence


class Sink(Protocol):
    def write(self, source: int, data: bytes) -> None: ...
    def done(self, source: int) -> None: ...
    def failed(self, source: int) -> None: ...


class OutputNameClash(ValueError):
    """Two sources would write the same output file."""


def output_names(names: Sequence[str]) -> list[str]:
    """``<stem>.jsonl`` per source; two sources with one stem are refused (a silent
    overwrite would lose a VOD's output)."""
    seen: dict[str, str] = {}
    out = []
    for name in names:
        file = Path(name).stem + ".jsonl"
        if file in seen:
            raise OutputNameClash(f"{seen[file]} and {name} would both write {file}; "
                                  f"rename one, or run them into different --out-dir folders")
        seen[file] = name
        out.append(file)
    return out


class DirSink:
    def __init__(self, folder: Path, names: Sequence[str]):
        self.folder = folder
        self.files = output_names(names)
        self._open: dict[int, BinaryIO] = {}

    def final(self, source: int) -> Path:
        return self.folder / self.files[source]

    def complete(self, source: int) -> bool:
        return self.final(source).is_file()

    def _part(self, source: int) -> Path:
        return self.folder / (self.files[source] + ".part")

    def _file(self, source: int) -> BinaryIO:
        f = self._open.get(source)
        if f is None:
            f = self._open[source] = open(self._part(source), "wb")  # noqa: SIM115 - closed in done/failed
        return f

    def write(self, source: int, data: bytes) -> None:
        f = self._file(source)
        f.write(data)
        f.flush()

    def done(self, source: int) -> None:
        self._file(source).close()  # a source with no frame still gets its (empty) file
        del self._open[source]
        os.replace(self._part(source), self.final(source))

    def failed(self, source: int) -> None:
        """What the source gave before it failed (a truncated video's first frames) stays in
        ``.part``: not complete, so a rerun does it again."""
        f = self._open.pop(source, None)
        if f is not None:
            f.close()

    def close(self) -> None:
        """Interrupted: what was written stays as .part (overwritten by the next run)."""
        for f in self._open.values():
            f.close()
        self._open.clear()


class StreamSink:
    def __init__(self, out: BinaryIO, count: int):
        self.out = out
        self.count = count
        self.current = 0
        self._waiting: dict[int, list[bytes]] = {}
        self._finished: set[int] = set()

    def write(self, source: int, data: bytes) -> None:
        if source == self.current:
            self.out.write(data)
            self.out.flush()
        else:
            self._waiting.setdefault(source, []).append(data)

    def done(self, source: int) -> None:
        self._finished.add(source)
        while self.current in self._finished:
            self.current += 1
            if self.current < self.count:
                self.out.write(b"".join(self._waiting.pop(self.current, [])))
                self.out.flush()

    def failed(self, source: int) -> None:
        self.done(source)
