"""The options every `otrig` command shares, declared once, and the one way to load GAME.

A command that takes a game file, an asset folder, a viewport or a recording says so with
these ``Annotated`` types, so each spelling means one thing everywhere (``-s`` is always
``--seek``, ``-r`` always ``--fps``), a viewport is accepted or refused by one rule, and a
recording is bounded by the same three options.

Exit status, for every command:

* 0: done (and, for `check` and `test`, nothing wrong found).
* 1: the *input* is wrong or the run failed: a game file with errors or not found
  (:data:`GAME_FILE_ERROR`), a samples file, video or image that cannot be read, fields read
  wrong by `otrig test`, a plugin error in `otrig extract`. A game file is the user's input,
  like a source file to a compiler: the command line was right, so this is not 2.
* 2: the *command line* is wrong (typer/click usage errors: an unknown option, a bad value
  such as ``--viewport 1,2,3``, a missing argument).
"""
from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, List, Optional, Sequence

import typer

from engine.vision.frame import HEIGHT, WIDTH

if TYPE_CHECKING:  # the engine is heavy to import; `otrig --help` must stay fast
    from engine.debug.recorder import Recorder
    from engine.lang.errors import GameFileError, GameFileErrors
    from engine.runtime.game import CompiledGame

IntBox = tuple[int, int, int, int]  # engine.vision.regions.IntBox, without importing the engine

GAME_FILE_ERROR = 1   # see the module docstring: the game file is input, not usage
INPUT_ERROR = 1       # a source, samples file or output that cannot be read or written
USAGE_ERROR = 2       # what typer itself exits with for a bad command line


# ----------------------------------------------------------------------------- viewport

@dataclass(frozen=True, kw_only=True)
class PixelBox:
    """X,Y,W,H in whole pixels, as --viewport and `cut --box` take them."""

    x: int
    y: int
    w: int
    h: int

    @property
    def box(self) -> IntBox:
        return (self.x, self.y, self.w, self.h)


def parse_viewport(text: str) -> PixelBox:
    """``X,Y,W,H``: four whole numbers of pixels (spaces allowed), a box of positive size
    inside the 1920x1080 frame. The one rule for every command's ``--viewport``."""
    example = f"e.g. 0,0,1440,810; expected X,Y,W,H in pixels of the {WIDTH}x{HEIGHT} frame"
    parts = text.replace(" ", "").split(",")
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not four whole numbers ({example})") from None
    if w <= 0 or h <= 0:
        raise typer.BadParameter(f"{text!r} has no area: W and H must be above 0 ({example})")
    if x < 0 or y < 0 or x + w > WIDTH or y + h > HEIGHT:
        raise typer.BadParameter(f"{text!r} reaches outside the frame: X,Y >= 0, X+W <= {WIDTH}, "
                                 f"Y+H <= {HEIGHT} ({example})")
    return PixelBox(x=x, y=y, w=w, h=h)


def viewport_box(viewport: PixelBox | None) -> IntBox | None:
    return None if viewport is None else viewport.box


def _positive_fps(value: float) -> float:
    if not (value > 0 and math.isfinite(value)):
        raise typer.BadParameter(f"must be a number of frames per second above 0 (0.5: one every 2 s), got {value:g}")
    return value


# ----------------------------------------------------------------------------- the options

GAME_HELP = ("Game file (games/<name>.yaml), or the name of a shipped game: apex, valorant, melee, "
             "demo, echo.")

GameArg = Annotated[str, typer.Argument(metavar="GAME", help=GAME_HELP, show_default=False)]
Assets = Annotated[List[Path], typer.Option(
    "--assets", metavar="DIR", show_default=False,
    help="Extra folder to look up templates and other assets in (repeatable; also OTRIG_ASSETS).")]
ViewportOpt = Annotated[Optional[PixelBox], typer.Option(
    "--viewport", parser=parse_viewport, metavar="X,Y,W,H", show_default=False,
    help=f"Where the game picture is inside the {WIDTH}x{HEIGHT} frame, in pixels (overrides the "
         f"game file's viewport), e.g. 0,0,1440,810.")]
Explain = Annotated[bool, typer.Option(
    "--explain", help="Add an 'explain' object to every answer: what each processor and step saw and why. Per "
                      "step (and per box of a region of several): value, score, box in frame pixels, the OCR or "
                      "glyph text with its confidence (each glyph's score and runner-up), a template's best and "
                      "runner-up with where they matched, the fraction or colour measured, and the null reason of "
                      "every attempt, retries included; ms per processor and why each skipped one was skipped "
                      "(docs/games.md, 'What each step saw').")]
Fps = Annotated[float, typer.Option(
    "--fps", "-r", metavar="FPS", callback=_positive_fps,
    help="Frames per second of video to take (can be decimal: 0.5 = one frame every 2 s).")]
Seek = Annotated[float, typer.Option("--seek", "-s", min=0.0, metavar="SECONDS",
                                     help="Seconds into each video to start at.")]
Record = Annotated[Optional[Path], typer.Option(
    "--record", metavar="DIR", show_default=False,
    help="Record every frame (answer, step traces, crops, thumbnails) into DIR for `otrig report DIR`.")]
CropsEvery = Annotated[int, typer.Option(
    "--crops-every", min=1, metavar="K", help="With --record: keep step crops for every K-th frame only.")]
CropsMaxFrames = Annotated[int, typer.Option(
    "--crops-max-frames", min=0, metavar="N", help="With --record: keep step crops for at most N frames (0: none).")]
RecordBudgetMb = Annotated[float, typer.Option(
    "--record-budget-mb", min=1.0, metavar="MB",
    help="With --record: stop writing images (then lines) past this much disk.")]


@dataclass(frozen=True, kw_only=True)
class RecordLimits:
    crops_every: int = 1
    crops_max_frames: int = 200
    budget_mb: float = 500.0


def make_recorder(record: Path, game: CompiledGame, limits: RecordLimits, *, block: bool,
                  meta: dict[str, object] | None = None) -> Recorder:
    """The recorder behind every `--record DIR`. ``block``: offline runs wait for the writer
    (every frame kept); the server drops frames when the writer is behind."""
    from engine.debug.recorder import Recorder, RecordingDirError
    try:
        return Recorder(record, game=game, crops_every=limits.crops_every, crops_max_frames=limits.crops_max_frames,
                        budget_mb=limits.budget_mb, block=block, meta=meta)
    except RecordingDirError as e:  # the folder given on the command line cannot be used
        raise typer.BadParameter(str(e), param_hint="--record") from None


# ----------------------------------------------------------------------------- GAME

def load_game_reporting(game: str | Path, *, assets: Sequence[str | Path] = (),
                        viewport: IntBox | None = None, budget_ms: float | None = None) -> CompiledGame | None:
    """Load GAME (a path, or a shipped game's name: engine.lang.shipped.resolve_game_path);
    on a game-file error print every problem as file:line:col: key: message and return None."""
    from engine.lang.errors import GameFileError, GameFileErrors
    from engine.runtime.game import load_game

    try:
        return load_game(game, assets=assets, viewport=viewport, budget_ms=budget_ms)
    except (GameFileErrors, GameFileError) as e:
        print_game_file_error(game, e)
    return None


def print_game_file_error(game: str | Path, error: GameFileError | GameFileErrors) -> None:
    """Every problem of a game file as file:line:col: key: message, on stderr."""
    from engine.lang.errors import GameFileErrors

    if isinstance(error, GameFileErrors):
        for one in error.errors:
            typer.echo(str(one), err=True)
        typer.echo(f"otrig: {len(error.errors)} problems in {game}", err=True)
    else:
        typer.echo(str(error), err=True)


def load_game_or_exit(game: str | Path, *, assets: Sequence[str | Path] = (),
                      viewport: IntBox | None = None, budget_ms: float | None = None) -> CompiledGame:
    """:func:`load_game_reporting`, exiting with :data:`GAME_FILE_ERROR` on an error."""
    compiled = load_game_reporting(game, assets=assets, viewport=viewport, budget_ms=budget_ms)
    if compiled is None:
        raise typer.Exit(GAME_FILE_ERROR)
    return compiled


def fail(command: str, message: str, code: int) -> typer.Exit:
    """Print ``otrig COMMAND: MESSAGE`` on stderr; ``raise fail(...)`` exits with ``code``."""
    typer.echo(f"otrig {command}: {message}", err=True)
    return typer.Exit(code)


def configure_server_logging(verbose: bool) -> None:
    """Logging for the commands that run a server (serve, studio): INFO on stderr, DEBUG with
    --verbose; waitress's queue warnings only with --verbose (they fire on every burst)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not verbose:
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
