"""`otrig check` and `otrig schema` (placeholder)."""
import typer


def check(game: str = typer.Argument(...)) -> None:
    """Validate a game file."""
    raise typer.Exit(2)


def schema() -> None:
    """Print the JSON Schema of game files."""
    raise typer.Exit(2)
