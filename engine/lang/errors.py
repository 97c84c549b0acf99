"""Errors a user can act on: each names where the problem is and what was expected."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GameFileError(Exception):
    """A problem in a game file, located as ``file:line:col: key.path: message``."""

    file: str
    line: int | None
    col: int | None
    key_path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return f"{where}: {self.key_path}: {self.message}" if self.key_path else f"{where}: {self.message}"


class GameFileErrors(Exception):
    """Several problems found in one pass, so the user can fix them all at once."""

    def __init__(self, errors: list[GameFileError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class SourceError(Exception):
    """A video or image that cannot be read; the message says which file and why."""
