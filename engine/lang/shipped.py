"""What the package ships beside its code: the example game files and the report templates.

Both are package data (`games/` and `templates/` are packages in the wheel), found with
:mod:`importlib.resources` so that `otrig demo` and `otrig report` work from an installed
wheel as they do from the checkout.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def games_dir() -> Path:
    """The folder of the shipped game files (apex, valorant, melee, demo, echo)."""
    return Path(str(files("games")))


def templates_dir() -> Path:
    """The folder of the report's HTML template, CSS and JavaScript."""
    return Path(str(files("templates")))


def resolve_game_path(game: str | Path) -> Path:
    """GAME as given on a command line: a path, or a bare name (`apex`), looked up as
    ./games/apex.yaml and then among the shipped games. A name that is neither comes back as a path, so
    that loading it reports the missing file by the name the user typed."""
    p = Path(game)
    if p.is_file() or p.suffix in (".yaml", ".yml") or len(p.parts) > 1:
        return p
    for cand in (Path("games") / f"{game}.yaml", games_dir() / f"{game}.yaml"):
        if cand.exists():
            return cand
    return p
