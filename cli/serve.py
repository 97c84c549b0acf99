"""`otrig serve`: serve a game file as an OverTrack plugin over HTTP."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cli.options import (GAME_FILE_ERROR, GAME_HELP, USAGE_ERROR, Assets, CropsEvery, CropsMaxFrames, Explain,
                         Record, RecordBudgetMb, RecordLimits, ViewportOpt, fail, load_game_reporting,
                         configure_server_logging, make_recorder, viewport_box)
from engine.plugin import protocol

if TYPE_CHECKING:
    from engine.debug.recorder import Recorder


def serve(
    game: Annotated[str, typer.Argument(metavar="GAME", help=GAME_HELP + " Omitted: echo, which answers "
                                        "frames unchanged.")] = "echo",
    host: str = typer.Option("127.0.0.1", help="Address to listen on. Anything but loopback needs --token."),
    port: int = typer.Option(5000, min=0, max=65535, help="Port to listen on (0 picks a free one and prints it)."),
    reload: bool = typer.Option(False, "--reload", help="Watch the game's files and recompile on change; "
                                "a broken edit keeps the last good version serving and shows in /health."),
    viewport: ViewportOpt = None,
    assets: Assets = [],  # noqa: B006 - typer's way to declare a repeatable option; never mutated
    explain: Explain = False,
    token: Optional[str] = typer.Option(None, envvar="OTRIG_TOKEN", metavar="T",
                                        help="Require header X-Otrig-Token: T on every request "
                                             "(env OTRIG_TOKEN)."),
    record: Record = None,
    crops_every: CropsEvery = 1,
    crops_max_frames: CropsMaxFrames = 200,
    record_budget_mb: RecordBudgetMb = 500.0,
    fault_dir: Path = typer.Option(Path("otrig-faults"), metavar="DIR",
                                   help="Where frames that failed are saved (PNG + JSON) to reproduce "
                                        "with `otrig run`."),
    max_faults: int = typer.Option(20, metavar="N", help="Keep at most N newest saved faults (0: none)."),
    max_body: int = typer.Option(protocol.DEFAULT_MAX_BODY, metavar="BYTES",
                                 help="Refuse request bodies larger than this with 413."),
    threads: int = typer.Option(8, min=1, help="Worker threads running the engine."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every request."),
) -> None:
    """Serve GAME as an OverTrack plugin: POST frames in, JSON answers out.

    Frames are POSTed to any path (OverTrack posts to the URL you give it, e.g. http://localhost:5000); add ?explain=1 for what each processor and step saw (docs/games.md, "What each step saw"). GET /health reports the game, version, frames processed, uptime and the last configuration error. Every error answer is JSON {"error": {"code", "message"}}; frames the engine failed on are saved to --fault-dir.

    Examples:

      otrig serve                                # the echo game: answers unchanged

      otrig serve games/apex.yaml --reload       # recompile on every save

      otrig serve valorant --assets art          # a shipped game, by name

      otrig serve games/apex.yaml --viewport 0,0,1280,720 --assets art

      otrig serve games/apex.yaml --host 0.0.0.0 --token s3cret

      curl http://127.0.0.1:5000/health
    """
    from engine.plugin.app import ServerOptions, check_bind
    from engine.plugin.reload import GameHolder, GameSource
    from engine.plugin.waitress_server import run_server

    def options_with(recorder: Optional[Recorder]) -> ServerOptions:
        return ServerOptions(host=host, port=port, reload=reload, explain=explain, token=token, recorder=recorder,
                             fault_dir=fault_dir, max_faults=max_faults, max_body=max_body, threads=threads)

    try:
        check_bind(options_with(None))
    except ValueError as e:  # --host without --token: the command line is wrong
        raise fail("serve", f"error: {e}", USAGE_ERROR) from None

    compiled = load_game_reporting(game, assets=assets, viewport=viewport_box(viewport))
    if compiled is None:
        raise fail("serve", f"nothing served: fix {game} first (otrig check {game})", GAME_FILE_ERROR)
    # --reload recompiles from the resolved file, with the same assets and viewport
    holder = GameHolder(compiled, GameSource(compiled.path, tuple(assets), viewport_box(viewport)))

    recorder = None
    if record is not None:
        limits = RecordLimits(crops_every=crops_every, crops_max_frames=crops_max_frames, budget_mb=record_budget_mb)
        recorder = make_recorder(record, compiled, limits, block=False)  # never hold up an answer

    configure_server_logging(verbose)

    def ready(url: str) -> None:
        # one machine-readable line on stdout, for scripts and tests using --port 0
        print(f"otrig serving {url}", flush=True)

    try:
        run_server(holder, options_with(recorder), ready=ready)
    except OSError as e:
        raise fail("serve", f"error: cannot listen on {host}:{port}: {e.strerror or e}", 1) from None
    finally:
        if recorder is not None:
            recorder.close()  # after run_server let the frames in flight finish
