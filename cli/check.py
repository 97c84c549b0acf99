"""`otrig check` and `otrig schema`: validate game files and publish the language's schema."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from engine.lang.errors import GameFileError, GameFileErrors
from engine.runtime.game import load_game
from engine.runtime.model import game_schema


def check(
    games: List[Path] = typer.Argument(..., help="game files to check (or shipped names: apex, valorant, ...)"),
    assets: List[Path] = typer.Option([], "--assets", help="extra asset folder (repeatable); also OTRIG_ASSETS"),
) -> None:
    """Validate game files: print each error as file:line:col: key: message and exit 1, or print a summary of the compiled graph.

    Examples:

      otrig check games/apex.yaml --assets ~/apex-art

      otrig check games/*.yaml
    """
    failed = False
    for game in games:
        try:
            compiled = load_game(game, assets=assets)
        except GameFileErrors as e:
            for err in e.errors:
                typer.echo(str(err), err=True)
            failed = True
            continue
        except GameFileError as e:
            typer.echo(str(e), err=True)
            failed = True
            continue
        typer.echo(compiled.summary())
        for w in compiled.warnings:
            typer.echo(f"warning: {w}", err=True)
    raise typer.Exit(1 if failed else 0)


def schema(
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="write to this file instead of stdout"),
) -> None:
    """Print the JSON Schema of game files, for editors with YAML language support.

    Example (VS Code with the YAML extension): otrig schema -o otrig.schema.json, then add `# yaml-language-server: $schema=otrig.schema.json` at the top of a game file.
    """
    text = json.dumps(game_schema(), indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)
