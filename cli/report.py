"""`otrig report` (HTML debug report of a recording, or of a run it does itself) and
`otrig cut` (cut a template out of a screenshot at a region's box)."""
from __future__ import annotations

import inspect
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import typer

from engine.lang.errors import GameFileError, GameFileErrors, SourceError


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"otrig: {msg}", err=True)
    raise typer.Exit(code)


def parse_viewport(text: str | None) -> tuple[int, int, int, int] | None:
    if not text:
        return None
    try:
        parts = [int(round(float(x))) for x in text.replace(" ", "").split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4 or parts[2] <= 0 or parts[3] <= 0:
        _fail(f"--viewport {text!r}: expected X,Y,W,H with positive W and H, e.g. 0,0,1920,1080")
    return tuple(parts)  # type: ignore[return-value]


def _load(game: str, assets: list[str] | None, viewport: str | None):
    from engine.runtime.game import load_game
    try:
        return load_game(game, assets=assets or (), viewport=parse_viewport(viewport))
    except (GameFileError, GameFileErrors) as e:
        _fail(str(e))
    except FileNotFoundError as e:
        _fail(f"{game}: {e.strerror or e}")


def process_kwargs(game: Any) -> dict[str, Any]:
    """Ask the engine for step traces (crops, scores) if its process() has such a switch."""
    try:
        params = inspect.signature(game.process).parameters
    except (TypeError, ValueError):
        return {}
    for name in ("keep_images", "trace", "record", "debug"):
        if name in params:
            return {name: True}
    return {}


def answer_of(frame: dict[str, Any], output: Any) -> dict[str, Any]:
    """The answer the server would send: the frame with the extracted objects spliced in."""
    from engine.plugin.protocol import build_answer
    text = json.dumps(frame).encode("utf-8")
    return json.loads(build_answer(text, frame, output.answer_objects()))


def record_run(game_path: str, sources: list[str], rec_dir: str | Path, *, fps: float = 1.0,
               assets: list[str] | None = None, viewport: str | None = None, crops_max_frames: int | None = 200,
               crops_every: int = 1, budget_mb: float = 500.0, progress: bool = False) -> dict[str, Any]:
    """Run GAME over SOURCES in-process and record every frame into REC_DIR."""
    from engine.debug.recorder import Recorder
    from engine.media.sources import iter_sources

    game = _load(game_path, assets, viewport)
    kw = process_kwargs(game)
    n, t_proc = 0, 0.0
    # Queue large enough that an offline run never drops: the writer keeps up with decoding.
    rec = Recorder(rec_dir, crops_max_frames=crops_max_frames, crops_every=crops_every, budget_mb=budget_mb,
                   game=game, queue_size=64, meta={"sources": [str(s) for s in sources], "fps": fps})
    try:
        for image, frame in iter_sources(sources, fps):
            t = time.perf_counter()
            out = game.process(image, frame, **kw)
            t_proc += time.perf_counter() - t
            rec.record(image, frame, answer_of(frame, out), out, wait=True)  # offline: never drop
            n += 1
            if progress and n % 50 == 0:
                typer.echo(f"  {n} frames", err=True)
    except SourceError as e:
        rec.close()
        _fail(str(e))
    stats = rec.close()
    return {"frames": n, "process_ms": 1000 * t_proc / max(1, n), "stats": stats}


def report(
    target: str = typer.Argument(..., help="a recording folder (from --record), or a game file to run"),
    sources: Optional[list[str]] = typer.Argument(None, help="with a game file: videos and/or images to run it on"),
    output: Optional[str] = typer.Option(None, "-o", "--output", help="HTML file to write [default: report.html, or DIR/report.html for a recording]"),
    fps: float = typer.Option(1.0, "-r", "--fps", help="frames per second sampled from videos"),
    assets: Optional[list[str]] = typer.Option(None, "--assets", help="extra asset folder (repeatable)"),
    viewport: Optional[str] = typer.Option(None, "--viewport", help="X,Y,W,H of the game picture in the frame"),
    record: Optional[str] = typer.Option(None, "--record", help="keep the recording of a run in this folder"),
    crops_max_frames: int = typer.Option(200, "--crops-max-frames", help="keep step crops for at most N frames (0: none)"),
    crops_every: int = typer.Option(1, "--crops-every", help="keep step crops every k-th frame"),
    budget_mb: float = typer.Option(500.0, "--budget-mb", help="disk budget of the recording"),
    max_frames: int = typer.Option(500, "--max-frames", help="show details of at most N frames"),
    field: Optional[list[str]] = typer.Option(None, "--field", help="numeric field to plot, e.g. weapon.clip (repeatable)"),
    embed: bool = typer.Option(True, "--embed/--no-embed", help="embed images in the HTML (a single movable file)"),
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
            _fail(f"{target} is a recording folder; sources go with a game file (otrig report GAME.yaml SOURCE)")
        rec_dir = t
        out = Path(output) if output else t / "report.html"
    else:
        if not t.exists():
            _fail(f"{target}: no such file or folder")
        if not sources:
            _fail(f"{target}: give videos or images to run it on: otrig report {target} SOURCE [-r FPS]")
        out = Path(output or "report.html")
        if record:
            rec_dir = Path(record)
        elif not embed:
            rec_dir = out.with_name(out.stem + "_files")  # images are linked, so they must stay
        else:
            tmp = tempfile.mkdtemp(prefix="otrig-rec-")
            rec_dir = Path(tmp)
        typer.echo(f"running {target} on {len(sources)} source(s) at {fps:g} fps ...", err=True)
        r = record_run(target, list(sources), rec_dir, fps=fps, assets=assets, viewport=viewport,
                       crops_max_frames=crops_max_frames or 0, crops_every=crops_every, budget_mb=budget_mb,
                       progress=sys.stderr.isatty())
        typer.echo(f"{r['frames']} frames, {r['process_ms']:.1f} ms/frame in the engine", err=True)
    try:
        path = render_report(rec_dir, out, max_frames=max_frames, fields=field or None, embed=embed)
    except FileNotFoundError as e:
        _fail(str(e))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    typer.echo(str(path))


def cut_boxes(image_path: str, game: Any, region: str, viewport_given: bool = False) -> tuple[Any, list[tuple[int, int, int, int]], dict]:
    """The 1920x1080 image and the region's boxes in it (anchor/viewport mapping by the game)."""
    from engine.media.sources import read_image
    image, frame = read_image(image_path)
    if not hasattr(game, "region_boxes"):
        _fail("this engine cannot map regions yet (CompiledGame.region_boxes is missing)")
    try:
        boxes = game.region_boxes(region, frame)
    except KeyError as e:
        _fail(str(e.args[0]) if e.args else f"{getattr(game, 'path', 'game')}: no region named {region!r}")
    except (GameFileError, GameFileErrors, ValueError) as e:
        _fail(str(e))
    return image, [tuple(int(round(v)) for v in b[:4]) for b in boxes], frame


def cut(
    image: str = typer.Argument(..., help="a screenshot (any size; resized to 1920x1080 like a frame)"),
    game: str = typer.Option(..., "--game", "-g", help="the game file whose region to cut"),
    region: str = typer.Option(..., "--region", help="region name in the game file"),
    output: str = typer.Option(..., "-o", "--output", help="PNG to write (file_<i>.png for a region with several boxes)"),
    viewport: Optional[str] = typer.Option(None, "--viewport", help="X,Y,W,H of the game picture in the frame"),
    index: Optional[int] = typer.Option(None, "--index", help="only this box of a multi-box region (0-based)"),
    assets: Optional[list[str]] = typer.Option(None, "--assets", help="extra asset folder (repeatable)"),
) -> None:
    """Cut a template from a screenshot at a region's box, after anchor/viewport mapping.

    \b
      otrig cut shot.png --game games/apex.yaml --region weapon_name -o art/r99.png
    """
    import cv2

    g = _load(game, assets, viewport)
    try:
        img, boxes, frame = cut_boxes(image, g, region)
    except SourceError as e:
        _fail(str(e))
    if not boxes:
        _fail(f"region {region!r} has no box on this frame")
    if index is not None:
        if not 0 <= index < len(boxes):
            _fail(f"--index {index}: region {region!r} has {len(boxes)} boxes (0..{len(boxes) - 1})")
        boxes = [boxes[index]]
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    H, W = img.shape[:2]
    for i, (x, y, w, h) in enumerate(boxes):
        x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
        if x1 <= x0 or y1 <= y0:
            _fail(f"region {region!r} box {i} {x, y, w, h} is outside the 1920x1080 frame")
        path = out if len(boxes) == 1 else out.with_name(f"{out.stem}_{i}{out.suffix or '.png'}")
        crop = img[y0:y1, x0:x1]
        # templates are kept in reference pixels, so they match at any capture size
        sx, sy = g.template_scale(frame)
        if abs(sx - 1) > 0.02 or abs(sy - 1) > 0.02:
            size = (max(1, round(crop.shape[1] / sx)), max(1, round(crop.shape[0] / sy)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if sx > 1 else cv2.INTER_CUBIC)
        if not cv2.imwrite(str(path), crop):
            _fail(f"{path}: could not write (is the suffix an image type?)")
        typer.echo(f"{path}  {x0},{y0},{x1 - x0},{y1 - y0}")
