"""`otrig demo` (placeholder)."""
import typer


def demo() -> None:
    """Run the built-in demo."""
    raise typer.Exit(2)
