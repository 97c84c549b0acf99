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


class GameFileErrors(GameFileError):
    """Several problems found in one pass, so the user can fix them all at once. It is a
    GameFileError located at the first of them, so ``except GameFileError`` catches it."""

    def __init__(self, errors: list[GameFileError]):
        first = errors[0]
        super().__init__(first.file, first.line, first.col, first.key_path, first.message)
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class Problems:
    """Collects the independent problems of one pass: ``with problems.check(): ...`` records
    what the block raised and goes on; ``raise_any()`` raises them (one alone as itself)."""

    def __init__(self) -> None:
        self.errors: list[GameFileError] = []

    def add(self, e: GameFileError | GameFileErrors) -> None:
        self.errors.extend(e.errors if isinstance(e, GameFileErrors) else [e])

    def check(self) -> _Catch:
        return _Catch(self)

    def raise_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise GameFileErrors(list(self.errors))


class _Catch:
    def __init__(self, problems: Problems) -> None:
        self.problems = problems

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, e: BaseException | None, tb: object) -> bool:
        if isinstance(e, (GameFileError, GameFileErrors)):
            self.problems.add(e)
            return True
        return False


class SourceError(Exception):
    """A video or image that cannot be read; the message says which file and why."""
