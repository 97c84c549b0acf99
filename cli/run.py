"""`otrig run`: run a game file in-process on videos and screenshots, print JSON Lines."""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Annotated, BinaryIO, List, Optional

import typer

from cli.options import (INPUT_ERROR, Assets, CropsEvery, CropsMaxFrames, Explain, Fps, GameArg, Record,
                         RecordBudgetMb, RecordLimits, Seek, ViewportOpt, fail, load_game_or_exit, make_recorder,
                         viewport_box)


# The last second a timestamp_str can name (9999-12-31 23:59:59 UTC).
MAX_EPOCH = 253402300799.0


def run(
    game: GameArg,
    sources: Annotated[List[str], typer.Argument(
        metavar="SOURCE...", help="Videos and/or still images (PNG, JPG, ...) of any size.")],
    fps: Fps = 1.0,
    seek: Seek = 0.0,
    jsonl: Annotated[Optional[Path], typer.Option(
        "--jsonl", metavar="OUT", help="Write the JSON Lines to OUT instead of stdout.")] = None,
    viewport: ViewportOpt = None,
    assets: Assets = [],  # noqa: B006 - typer's way to declare a repeatable option; never mutated
    explain: Explain = False,
    record: Record = None,
    crops_every: CropsEvery = 1,
    crops_max_frames: CropsMaxFrames = 200,
    record_budget_mb: RecordBudgetMb = 500.0,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", min=1, metavar="N", show_default=False, rich_help_panel="Distributed",
        help="Run on a local Dask cluster of N worker processes (default with --out-dir: one per core).")] = None,
    scheduler: Annotated[Optional[str], typer.Option(
        "--scheduler", metavar="tcp://HOST:PORT", show_default=False, rich_help_panel="Distributed",
        help="Run on the Dask cluster of this scheduler (`dask scheduler`, `dask worker`; the workers must see "
             "the game, assets and videos at the same paths).")] = None,
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out-dir", metavar="DIR", show_default=False, rich_help_panel="Distributed",
        help="One JSON Lines file per source, DIR/<name without extension>.jsonl, written as <...>.jsonl.part and "
             "renamed when complete; a rerun skips complete files. Runs distributed (--workers, --scheduler).")] = None,
    segment: Annotated[float, typer.Option(
        "--segment", min=0.0, metavar="SECONDS", rich_help_panel="Distributed",
        help="Distributed: cut videos longer than 1.5x this into segments of about this many seconds, at keyframes "
             "(0: never cut).")] = 300.0,
    start_time: Annotated[Optional[float], typer.Option(
        "--start-time", metavar="EPOCH", show_default=False,
        help="The timestamp of media time 0 for every source, in Unix seconds (default: when the source is read), "
             "for output that is the same from run to run.")] = None,
) -> None:
    """Run GAME on frames in-process (no HTTP) and print one JSON object per frame.

    Each line is exactly what `otrig serve` would answer: the frame fields (timestamp, frame_no, source, ...) followed by the extracted objects. Videos are sampled like `otrig extract` does; each still image is one frame with source = {"type": "image", "file", "original_shape"}. Every source is its own stream. Exit status 1 if a source could not be read or the game file has errors, 2 on a bad command line.

    Examples:

      otrig run games/apex.yaml screenshot.png

      otrig run apex vod.mp4 -r 2 -s 60 --jsonl out.jsonl

      otrig run games/apex.yaml stream.png --viewport 0,0,1440,810 --explain

      otrig run games/apex.yaml vod.mp4 --record rec/ && otrig report rec/ -o report.html

      otrig run apex vods/*.mp4 -r 2 --out-dir out/              (a local Dask cluster, one file per VOD)

      otrig run apex vods/*.mp4 --out-dir out/ --scheduler tcp://10.0.0.5:8786
    """
    if start_time is not None and not (math.isfinite(start_time) and 0 <= start_time < MAX_EPOCH):
        raise typer.BadParameter(f"must be seconds since 1970 (not milliseconds), 0 to {MAX_EPOCH:.0f}; got "
                                 f"{start_time:g}", param_hint="--start-time")
    if workers is not None or scheduler is not None or out_dir is not None:
        from cli.run_dask import run_distributed
        run_distributed(game, sources, fps=fps, seek=seek, jsonl=jsonl, viewport=viewport_box(viewport),
                        assets=assets, explain=explain, record=record, workers=workers, scheduler=scheduler,
                        out_dir=out_dir, segment=segment, start_time=start_time)
        return
    # the engine is heavy to import; --help stays fast
    from engine.lang.errors import SourceError
    from engine.media.sources import VideoSource, is_image_path, read_image
    from engine.runtime.loop import FrameNotAnswered, run_frame

    compiled = load_game_or_exit(game, assets=assets, viewport=viewport_box(viewport))

    out: BinaryIO
    if jsonl is None:
        out = sys.stdout.buffer
    else:
        try:
            out = open(jsonl, "wb")  # noqa: SIM115
        except OSError as e:
            raise fail("run", f"error: cannot write {jsonl}: {e.strerror}", INPUT_ERROR) from None

    recorder = None
    if record is not None:
        limits = RecordLimits(crops_every=crops_every, crops_max_frames=crops_max_frames, budget_mb=record_budget_mb)
        recorder = make_recorder(record, compiled, limits, block=True)

    frames = failed = 0
    t0 = time.monotonic()
    try:
        for path in sources:
            try:
                items = ([read_image(path, wall_start=start_time)] if is_image_path(path)
                         else VideoSource(path, fps, seek, wall_start=start_time))
                for image, frame in items:
                    try:
                        answer = run_frame(compiled, image, frame, explain=explain, recorder=recorder)
                    except FrameNotAnswered as e:
                        raise fail("run", f"error: {path} frame {frame.get('frame_no')}: {e}", INPUT_ERROR) from None
                    out.write(answer.body + b"\n")
                    frames += 1
                out.flush()
            except SourceError as e:
                typer.echo(f"otrig run: error: {e}", err=True)
                failed += 1
    except KeyboardInterrupt:
        raise fail("run", "interrupted", 130) from None
    except BrokenPipeError:  # `otrig run ... | head`
        sys.stderr.close()
        raise typer.Exit(0) from None
    finally:
        if jsonl is not None:
            out.close()
        if recorder is not None:
            recorder.close()
    elapsed = time.monotonic() - t0
    typer.echo(f"otrig run: {frames} frame{'s' if frames != 1 else ''} from {len(sources) - failed} of "
               f"{len(sources)} source{'s' if len(sources) != 1 else ''} in {elapsed:.1f} s "
               f"({frames / max(elapsed, 1e-9):.1f} frames/s)", err=True)
    if failed:
        raise typer.Exit(INPUT_ERROR)
