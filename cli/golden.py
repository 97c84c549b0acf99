"""`otrig test` (placeholder)."""
import typer


def test(game: str = typer.Argument(...)) -> None:
    """Run a game's golden-frame samples."""
    raise typer.Exit(2)
