"""`otrig report`: the HTML debug report of a recording, or of a run it does itself."""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, List, Optional, Sequence

import typer

from cli.options import (INPUT_ERROR, USAGE_ERROR, Assets, CropsEvery, CropsMaxFrames, Fps, Record,
                         RecordBudgetMb, RecordLimits, ViewportOpt, fail, load_game_or_exit,
                         make_recorder, viewport_box)
from engine.lang.errors import SourceError

if TYPE_CHECKING:
    from engine.runtime.game import CompiledGame


def record_run(game: CompiledGame, sources: Sequence[str], rec_dir: Path, *, fps: float, limits: RecordLimits,
               progress: bool = False) -> dict[str, Any]:
    """Run GAME over SOURCES in-process and record every frame into REC_DIR."""
    from engine.media.sources import iter_sources
    from engine.runtime.loop import FrameNotAnswered, run_frame

    n, t_proc = 0, 0.0
    rec = make_recorder(rec_dir, game, limits, block=True,  # offline: never drop a frame
                        meta={"sources": [str(s) for s in sources], "fps": fps})
    try:
        for image, frame in iter_sources(sources, fps):
            t = time.perf_counter()
            try:
                run_frame(game, image, frame, recorder=rec)
            except FrameNotAnswered as e:  # recorded with its trace all the same: the report shows it
                typer.echo(f"otrig report: frame {frame.get('frame_no')} of {frame['source'].get('file')}: {e}",
                           err=True)
            n += 1
            t_proc += time.perf_counter() - t
            if progress and n % 50 == 0:
                typer.echo(f"  {n} frames", err=True)
    except SourceError as e:
        raise fail("report", str(e), INPUT_ERROR) from None
    finally:
        stats = rec.close()
    return {"frames": n, "process_ms": 1000 * t_proc / max(1, n), "stats": stats}


def report(
    target: Annotated[str, typer.Argument(metavar="TARGET", help="A recording folder (from --record), or a game file "
                                          "(or a shipped game's name) to run.")],
    sources: Annotated[Optional[List[str]], typer.Argument(metavar="[SOURCE]...", help="With a game: videos and/or "
                                                           "images to run it on.")] = None,
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="HTML file to write [default: report.html, "
                                                  "or DIR/report.html for a recording]")] = None,
    fps: Fps = 1.0,
    assets: Assets = [],  # noqa: B006 - typer's way to declare a repeatable option; never mutated
    viewport: ViewportOpt = None,
    record: Record = None,
    crops_every: CropsEvery = 1,
    crops_max_frames: CropsMaxFrames = 200,
    record_budget_mb: RecordBudgetMb = 500.0,
    max_frames: Annotated[int, typer.Option("--max-frames", min=1, help="Show details of at most N frames.")] = 500,
    field: Annotated[Optional[List[str]], typer.Option("--field", help="Numeric field to plot, e.g. weapon.clip "
                                                       "(repeatable).")] = None,
    embed: Annotated[bool, typer.Option("--embed/--no-embed", help="Embed images in the HTML (a single movable "
                                        "file).")] = True,
) -> None:
    """Render an HTML debug report: per processor and step hit rates and timings, a timeline,
    and each frame with its regions, crops, OCR text and template scores.

    \b
      otrig report out/rec                          # a recording from --record out/rec
      otrig report games/apex.yaml vod.mkv -r 2 -o report.html
    """
    from engine.debug.report import render_report

    t = Path(target)
    tmp: str | None = None
    if t.is_dir():
        if sources:
            raise fail("report", f"{target} is a recording folder; sources go with a game file "
                                 f"(otrig report GAME SOURCE)", USAGE_ERROR)
        rec_dir = t
        out = Path(output) if output else t / "report.html"
    else:
        if not sources:
            raise fail("report", f"{target}: give videos or images to run it on: otrig report {target} SOURCE [-r FPS]",
                       USAGE_ERROR)
        game = load_game_or_exit(target, assets=assets, viewport=viewport_box(viewport))
        out = Path(output or "report.html")
        if record:
            rec_dir = record
        elif not embed:
            rec_dir = out.with_name(out.stem + "_files")  # images are linked, so they must stay
        else:
            tmp = tempfile.mkdtemp(prefix="otrig-rec-")
            rec_dir = Path(tmp)
        typer.echo(f"running {target} on {len(sources)} source(s) at {fps:g} fps ...", err=True)
        limits = RecordLimits(crops_every=crops_every, crops_max_frames=crops_max_frames, budget_mb=record_budget_mb)
        r = record_run(game, sources, rec_dir, fps=fps, limits=limits, progress=sys.stderr.isatty())
        typer.echo(f"{r['frames']} frames, {r['process_ms']:.1f} ms/frame in the engine", err=True)
    try:
        path = render_report(rec_dir, out, max_frames=max_frames, fields=field or None, embed=embed)
    except FileNotFoundError as e:
        raise fail("report", str(e), USAGE_ERROR) from None
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    typer.echo(str(path))

