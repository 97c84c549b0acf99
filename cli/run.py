"""`otrig run` (placeholder)."""
import typer


def run(game: str = typer.Argument(...)) -> None:
    """Run a game file in-process."""
    raise typer.Exit(2)
