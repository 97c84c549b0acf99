"""`otrig extract` (placeholder)."""
import typer


def extract(source: str = typer.Argument(...), destination: str = typer.Argument(...)) -> None:
    """Post video frames to a plugin."""
    raise typer.Exit(2)
