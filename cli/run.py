"""`otrig run`: run a game file in-process on videos and screenshots, print JSON Lines."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, BinaryIO, List, Optional

import typer

from cli.options import (INPUT_ERROR, Assets, CropsEvery, CropsMaxFrames, Explain, Fps, GameArg, Record,
                         RecordBudgetMb, RecordLimits, Seek, ViewportOpt, fail, load_game_or_exit, make_recorder,
                         viewport_box)


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
) -> None:
    """Run GAME on frames in-process (no HTTP) and print one JSON object per frame.

    Each line is exactly what `otrig serve` would answer: the frame fields (timestamp, frame_no, source, ...) followed by the extracted objects. Videos are sampled like `otrig extract` does; each still image is one frame with source = {"type": "image", "file", "original_shape"}. Every source is its own stream. Exit status 1 if a source could not be read or the game file has errors, 2 on a bad command line.

    Examples:

      otrig run games/apex.yaml screenshot.png

      otrig run apex vod.mp4 -r 2 -s 60 --jsonl out.jsonl

      otrig run games/apex.yaml stream.png --viewport 0,0,1440,810 --explain

      otrig run games/apex.yaml vod.mp4 --record rec/ && otrig report rec/ -o report.html
    """
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
                items = [read_image(path)] if is_image_path(path) else VideoSource(path, fps, seek)
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
