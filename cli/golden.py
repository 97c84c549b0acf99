"""`otrig test`: run a game's golden-frame samples and print a pass/fail table per field."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def _parse_viewport(text: str | None) -> tuple[int, int, int, int] | None:
    if not text:
        return None
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if len(parts) != 4:
        raise typer.BadParameter("expected X,Y,W,H", param_hint="--viewport")
    try:
        vp = tuple(int(p) for p in parts)
    except ValueError:
        raise typer.BadParameter("expected four integers X,Y,W,H", param_hint="--viewport") from None
    if vp[2] <= 0 or vp[3] <= 0:
        raise typer.BadParameter("W and H must be > 0", param_hint="--viewport")
    return vp  # type: ignore[return-value]


def test(
    game: str = typer.Argument(..., help="Game file, e.g. games/apex.yaml"),
    assets: List[str] = typer.Option([], "--assets", "-a",
                                     help="Folder sample paths (and game art) are relative to; repeatable"),
    samples: Optional[str] = typer.Option(None, "--samples", "-s",
                                          help="Samples file (default: <game>.samples.yaml beside the game)"),
    viewport: Optional[str] = typer.Option(None, "--viewport",
                                           help="X,Y,W,H: override every sample's viewport"),
    only: Optional[str] = typer.Option(None, "--only", help="Run only samples whose name contains this"),
    show: bool = typer.Option(False, "--show", help="Also print every object read, per sample"),
    stress: Optional[str] = typer.Option(
        None, "--stress", metavar="VARIANTS",
        help="Also re-read the samples as other captures would give them: 'all' or some of "
             "jpeg60,720p,shift+2,shift-2,noise4,dim85; prints right/null/wrong per variant (report only)"),
) -> None:
    """Run a game's golden-frame samples; exit 1 if any expected field is read wrong.

    Samples live beside the game in <game>.samples.yaml: an image, or a video and a frame_no, an optional viewport, and the expected fields as processor.field: value. The table shows per field the expected value, the value read, its confidence and pass/fail.

    Examples:

      otrig test games/apex.yaml --assets ~/apex-screens

      otrig test games/melee.yaml --assets ../shared/data --only smuckers --show

      otrig test games/valorant.yaml --assets ../shared/data --stress all
    """
    import json

    from engine.lang.errors import GameFileError, GameFileErrors
    from engine.debug.golden import SamplesError, format_stress, format_table, load_samples, run_samples, samples_path_for
    from engine.debug.perturb import parse_variants

    try:
        variants = parse_variants(stress) if stress else []
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--stress") from None

    game_path = Path(game)
    if not game_path.exists():
        typer.echo(f"{game}: game file not found", err=True)
        raise typer.Exit(2)
    spath = Path(samples) if samples else samples_path_for(game_path)
    try:
        items = load_samples(spath)
    except SamplesError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2)
    if only:
        items = [s for s in items if only in s.label]
        if not items:
            typer.echo(f"no sample name contains {only!r}", err=True)
            raise typer.Exit(2)
    roots = list(assets) or [str(spath.parent)]
    vp = _parse_viewport(viewport)
    try:
        results = run_samples(game_path, items, assets=roots, viewport=vp)
    except (GameFileError, GameFileErrors) as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2)
    if show:
        for r in results:
            typer.echo(f"== {r.sample.label}")
            typer.echo(json.dumps(r.objects, default=str, indent=1))
    typer.echo(format_table(results))
    if variants:
        runs = [("as is", results)]
        for v in variants:
            runs.append((v.name, run_samples(game_path, items, assets=roots, viewport=vp, transform=v.apply)))
        typer.echo("")
        typer.echo(format_stress(runs))
    if not all(r.ok for r in results):
        raise typer.Exit(1)
