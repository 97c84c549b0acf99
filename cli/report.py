"""`otrig report` and `otrig cut` (placeholder)."""
import typer


def report(target: str = typer.Argument(...)) -> None:
    """Render an HTML debug report."""
    raise typer.Exit(2)


def cut(image: str = typer.Argument(...)) -> None:
    """Cut a template from a screenshot."""
    raise typer.Exit(2)
