"""`otrig test`: run a game's golden-frame samples and print a pass/fail table per field."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from engine.debug.perturb import VARIANTS

from cli.options import (INPUT_ERROR, USAGE_ERROR, Assets, GameArg, ViewportOpt, fail, load_game_or_exit,
                         viewport_box)

if TYPE_CHECKING:
    from engine.runtime.game import CompiledGame
    from engine.vision.regions import IntBox


def test(
    game: GameArg,
    assets: Assets = [],  # noqa: B006 - typer's way to declare a repeatable option; never mutated
    samples: Annotated[Optional[Path], typer.Option(
        "--samples", metavar="FILE", show_default=False,
        help="Samples file (default: <game>.samples.yaml beside the game file).")] = None,
    viewport: ViewportOpt = None,
    only: Annotated[Optional[str], typer.Option("--only", help="Run only samples whose name contains this.")] = None,
    show: Annotated[bool, typer.Option("--show", help="Also print every object read, per sample.")] = False,
    stress: Annotated[Optional[str], typer.Option(
        "--stress", metavar="VARIANTS",
        help="Also re-read the samples as other captures would give them: 'all' or some of "
             f"{','.join(VARIANTS)}; prints right/null/wrong per variant (list elements one by one), "
             "which values were wrong, and which each variant turned null (report only).")] = None,
    save_variants: Annotated[Optional[Path], typer.Option(
        "--save-variants", metavar="DIR", show_default=False,
        help="With --stress: write each sample's frame as each variant gave it, DIR/<variant>/<n>_<sample>.png, "
             "to run or cut from.")] = None,
) -> None:
    """Run a game's golden-frame samples; exit 1 if any expected field is read wrong.

    Samples live beside the game in <game>.samples.yaml: an image, or a video and a frame_no, an optional viewport, and the expected fields as processor.field: value. Sample paths are relative to the --assets folders (default: the samples file's folder). Images are read as `otrig run` reads them, video frames as `otrig extract` posts them. The table shows per field the expected value, the value read, its confidence and pass/fail.

    Examples:

      otrig test apex --assets ~/apex-screens

      otrig test games/melee.yaml --assets ../shared/data --only smuckers --show

      otrig test games/valorant.yaml --assets ../shared/data --stress all
    """
    import json

    from engine.debug.golden import SamplesError, format_stress, format_table, load_samples, run_samples, samples_path_for
    from engine.debug.perturb import parse_variants
    from engine.lang.shipped import resolve_game_path

    try:
        variants = parse_variants(stress) if stress else []
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--stress") from None
    if save_variants is not None and not variants:
        raise typer.BadParameter("writes the frames of --stress variants: give --stress too",
                                 param_hint="--save-variants")

    # Sample paths are relative to the asset folders (default: the samples file's folder),
    # where the game's art is looked up too.
    spath = samples if samples is not None else samples_path_for(resolve_game_path(game))
    roots = list(assets) or [spath.parent]
    overridden = viewport_box(viewport)
    # One compiled game per viewport, reused by every run (runs never share a stream); the
    # first load, before the samples, reports a broken game file as every command does.
    games: dict[IntBox | None, CompiledGame] = {}

    def game_for(vp: IntBox | None) -> CompiledGame:
        if vp not in games:
            games[vp] = load_game_or_exit(game, assets=roots, viewport=vp, budget_ms=float("inf"))
        return games[vp]

    game_for(overridden)
    try:
        items = load_samples(spath)
    except SamplesError as e:
        raise fail("test", str(e), INPUT_ERROR) from None
    if only:
        items = [s for s in items if only in s.label]
        if not items:
            raise fail("test", f"--only {only!r}: no sample name contains it", USAGE_ERROR)
    results = run_samples(game_for, items, roots=roots, viewport=overridden)
    if show:
        for r in results:
            typer.echo(f"== {r.sample.label}")
            typer.echo(json.dumps(r.objects, default=str, indent=1))
    typer.echo(format_table(results))
    if variants:
        runs = [("as-is", results)]  # one token: the table is read by column
        for v in variants:
            folder = None if save_variants is None else save_variants / v.name
            try:
                runs.append((v.name, run_samples(game_for, items, roots=roots, viewport=overridden,
                                                 transform=v.apply, save_to=folder)))
            except OSError as e:
                raise fail("test", f"--save-variants: {e}", INPUT_ERROR) from None
        typer.echo("")
        typer.echo(format_stress(runs))
    if not all(r.ok for r in results):
        raise typer.Exit(1)
