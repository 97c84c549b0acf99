"""`otrig check` and `otrig schema`: validate game files and publish the language's schema."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from cli.options import GAME_FILE_ERROR, GAME_HELP, Assets, load_game_reporting
from engine.runtime.model import game_schema


def check(
    games: Annotated[List[str], typer.Argument(metavar="GAME...", help=GAME_HELP, show_default=False)],
    assets: Assets = [],  # noqa: B006 - typer's way to declare a repeatable option; never mutated
) -> None:
    """Validate game files: print each error as file:line:col: key: message and exit 1, or print a summary of the compiled graph.

    Examples:

      otrig check games/apex.yaml --assets ~/apex-art

      otrig check games/*.yaml

      otrig check valorant
    """
    failed = False
    for game in games:
        compiled = load_game_reporting(game, assets=assets)
        if compiled is None:
            failed = True
            continue
        typer.echo(compiled.summary())
        for w in compiled.warnings:
            typer.echo(f"warning: {w}", err=True)
    raise typer.Exit(GAME_FILE_ERROR if failed else 0)


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
