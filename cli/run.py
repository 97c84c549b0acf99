"""`otrig run`: run a game file in-process on videos and screenshots, print JSON Lines."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import BinaryIO, List, Optional

import typer

from engine.lang.errors import GameFileError, GameFileErrors, SourceError
from engine.plugin.protocol import build_answer
from engine.media.sources import VideoSource, is_image_path, read_image


def _err(msg: str) -> None:
    typer.echo(f"otrig run: {msg}", err=True)


def parse_viewport(text: Optional[str]) -> Optional[tuple[int, int, int, int]]:
    if text is None:
        return None
    try:
        parts = tuple(int(p) for p in text.replace(" ", "").split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4 or parts[2] <= 0 or parts[3] <= 0 or parts[0] < 0 or parts[1] < 0:
        raise typer.BadParameter(f"expected X,Y,W,H in pixels of the 1920x1080 frame (e.g. 0,0,1440,810), got {text!r}",
                                 param_hint="--viewport")
    return parts  # type: ignore[return-value]


def run(
    game: Path = typer.Argument(..., metavar="GAME.yaml", help="The game file to run."),
    sources: List[str] = typer.Argument(..., metavar="SOURCE...", help="Videos and/or still images (PNG, JPG, ...) of any size."),
    fps: float = typer.Option(1.0, "--fps", "-r", min=0.0, help="Frames per second to sample videos at (can be decimal)."),
    seek: float = typer.Option(0.0, "--seek", "-s", min=0.0, help="Seconds into each video to start at."),
    jsonl: Optional[Path] = typer.Option(None, "--jsonl", metavar="OUT", help="Write the JSON Lines to OUT instead of stdout."),
    viewport: Optional[str] = typer.Option(None, "--viewport", metavar="X,Y,W,H", help="Where the game picture is inside the 1920x1080 frame (overrides the game file)."),
    assets: List[Path] = typer.Option([], "--assets", metavar="DIR", help="Extra folder to look up templates and other assets in (repeatable)."),
    explain: bool = typer.Option(False, "--explain", help="Add an 'explain' object per frame: what each processor and step saw and why."),
    record: Optional[Path] = typer.Option(None, "--record", metavar="DIR", help="Record every frame (values, scores, crops, thumbnails) into DIR for `otrig report DIR`."),
    crops_every: int = typer.Option(1, "--crops-every", min=1, help="With --record: keep step crops for every k-th frame only."),
    crops_max_frames: int = typer.Option(200, "--crops-max-frames", min=0, help="With --record: keep step crops for at most this many frames."),
    record_budget_mb: float = typer.Option(500.0, "--record-budget-mb", min=1.0, help="With --record: stop writing images (then lines) past this much disk."),
) -> None:
    """Run GAME.yaml on frames in-process (no HTTP) and print one JSON object per frame.

    Each line is exactly what `otrig serve` would answer: the frame fields (timestamp, frame_no, source, ...) followed by the extracted objects. Videos are sampled like `otrig extract` does; each still image is one frame with source = {"type": "image", "file", "original_shape"}. Every source is its own stream. Exit status 1 if a source could not be read or the game file has errors.

    Examples:

      otrig run games/apex.yaml screenshot.png

      otrig run games/apex.yaml vod.mp4 -r 2 -s 60 --jsonl out.jsonl

      otrig run games/apex.yaml stream.png --viewport 0,0,1440,810 --explain

      otrig run games/apex.yaml vod.mp4 --record rec/ && otrig report rec/ -o report.html
    """
    vp = parse_viewport(viewport)
    if fps <= 0:
        raise typer.BadParameter("must be greater than 0", param_hint="--fps")
    from engine.runtime.game import load_game  # the engine is heavy; --help stays fast

    try:
        compiled = load_game(game, assets=assets, viewport=vp)
    except GameFileErrors as e:
        for one in e.errors:
            typer.echo(str(one), err=True)
        _err(f"{len(e.errors)} problem{'s' if len(e.errors) != 1 else ''} in {game}")
        raise typer.Exit(1)
    except GameFileError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(1)
    except OSError as e:
        _err(f"error: cannot read {game}: {e.strerror or e}")
        raise typer.Exit(1)

    out: BinaryIO
    if jsonl is None:
        out = sys.stdout.buffer
    else:
        try:
            out = open(jsonl, "wb")  # noqa: SIM115
        except OSError as e:
            _err(f"error: cannot write {jsonl}: {e.strerror}")
            raise typer.Exit(1)

    recorder = None
    if record is not None:
        from engine.debug.recorder import Recorder
        recorder = Recorder(record, game=compiled, crops_every=crops_every, crops_max_frames=crops_max_frames,
                            budget_mb=record_budget_mb)

    frames = failed = 0
    t0 = time.monotonic()
    try:
        for path in sources:
            try:
                items = [read_image(path)] if is_image_path(path) else VideoSource(path, fps, seek)
                for image, frame in items:
                    frame_text = json.dumps(frame).encode("utf-8")
                    output = compiled.process(image, frame, explain=explain, keep_images=recorder is not None)
                    answer = build_answer(frame_text, frame, output.answer_objects())
                    out.write(answer + b"\n")
                    if recorder is not None:
                        recorder.record(image, frame, json.loads(answer), output, wait=True)
                    frames += 1
                out.flush()
            except SourceError as e:
                _err(f"error: {e}")
                failed += 1
    except KeyboardInterrupt:
        _err("interrupted")
        raise typer.Exit(130)
    except BrokenPipeError:  # `otrig run ... | head`
        sys.stderr.close()
        raise typer.Exit(0)
    finally:
        if jsonl is not None:
            out.close()
        if recorder is not None:
            recorder.close()
    elapsed = time.monotonic() - t0
    _err(f"{frames} frame{'s' if frames != 1 else ''} from {len(sources) - failed} of {len(sources)} "
         f"source{'s' if len(sources) != 1 else ''} in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.1f} frames/s)")
    if failed:
        raise typer.Exit(1)
