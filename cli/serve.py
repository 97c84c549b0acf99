"""`otrig serve` (placeholder until the server lands)."""
import typer


def serve(game: str = typer.Argument(..., help="game file")) -> None:
    """Serve GAME.yaml as an OverTrack plugin."""
    raise typer.Exit(2)
