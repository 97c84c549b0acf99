"""`otrig serve`: serve a game file as an OverTrack plugin over HTTP."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer

from engine.lang.shipped import resolve_game_path
from engine.plugin import protocol

def parse_viewport(text: Optional[str]) -> Optional[tuple[int, int, int, int]]:
    if text is None:
        return None
    try:
        x, y, w, h = (int(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise typer.BadParameter(f"expected X,Y,W,H as four integers (e.g. 0,0,1280,720), got {text!r}")
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > protocol.WIDTH or y + h > protocol.HEIGHT:
        raise typer.BadParameter(
            f"{text!r} is not inside the {protocol.WIDTH}x{protocol.HEIGHT} frame (X,Y >= 0, W,H > 0)")
    return (x, y, w, h)


def serve(
    game: Optional[str] = typer.Argument(
        None, metavar="GAME.yaml", show_default=False,
        help="Game file to serve. Omit it, or say 'echo', for the echo game."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on. Anything but loopback needs --token."),
    port: int = typer.Option(5000, help="Port to listen on (0 picks a free one and prints it)."),
    reload: bool = typer.Option(False, "--reload", help="Watch the game's files and recompile on change; "
                                "a broken edit keeps the last good version serving and shows in /health."),
    viewport: Optional[str] = typer.Option(None, metavar="X,Y,W,H",
                                           help="Where the game picture is inside the 1920x1080 frame "
                                                "(overrides the file's viewport)."),
    assets: List[Path] = typer.Option([], "--assets", metavar="DIR",
                                      help="Extra folder for templates and other assets (repeatable)."),
    explain: bool = typer.Option(False, "--explain", help="Add the per-processor trace to every answer "
                                 "(per frame: ?explain=1)."),
    token: Optional[str] = typer.Option(None, envvar="OTRIG_TOKEN", metavar="T",
                                        help="Require header X-Otrig-Token: T on every request "
                                             "(env OTRIG_TOKEN)."),
    record: Optional[Path] = typer.Option(None, metavar="DIR",
                                          help="Record frames and traces to DIR for `otrig report`."),
    crops_every: int = typer.Option(1, "--crops-every", min=1, help="With --record: keep step crops for every k-th frame only."),
    crops_max_frames: int = typer.Option(200, "--crops-max-frames", min=0, help="With --record: keep step crops for at most this many frames."),
    record_budget_mb: float = typer.Option(500.0, "--record-budget-mb", min=1.0, help="With --record: stop writing images (then lines) past this much disk."),
    fault_dir: Path = typer.Option(Path("otrig-faults"), metavar="DIR",
                                   help="Where frames that failed are saved (PNG + JSON) to reproduce "
                                        "with `otrig run`."),
    max_faults: int = typer.Option(20, metavar="N", help="Keep at most N newest saved faults (0: none)."),
    max_body: int = typer.Option(protocol.DEFAULT_MAX_BODY, metavar="BYTES",
                                 help="Refuse request bodies larger than this with 413."),
    threads: int = typer.Option(8, min=1, help="Worker threads running the engine."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every request."),
) -> None:
    """Serve GAME.yaml as an OverTrack plugin: POST frames in, JSON answers out.

    Frames are POSTed to any path (OverTrack posts to the URL you give it, e.g. http://localhost:5000); add ?explain=1 for the per-processor trace. GET /health reports the game, version, frames processed, uptime and the last configuration error. Every error answer is JSON {"error": {"code", "message"}}; frames the engine failed on are saved to --fault-dir.

    Examples:

      otrig serve                                # the echo game: answers unchanged

      otrig serve games/apex.yaml --reload       # recompile on every save

      otrig serve games/apex.yaml --viewport 0,0,1280,720 --assets art

      otrig serve games/apex.yaml --host 0.0.0.0 --token s3cret

      curl http://127.0.0.1:5000/health
    """
    from engine.lang.errors import GameFileError, GameFileErrors
    from engine.plugin.reload import GameHolder, describe_load_error
    from engine.plugin.app import ServerOptions, check_bind
    from engine.plugin.waitress_server import run_server

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not verbose:
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)

    options = ServerOptions(host=host, port=port, reload=reload, explain=explain, token=token,
                            record=record, record_limits={"crops_every": crops_every, "crops_max_frames": crops_max_frames,
                                                          "budget_mb": record_budget_mb},
                            fault_dir=fault_dir, max_faults=max_faults,
                            max_body=max_body, threads=threads)
    try:
        check_bind(options)
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1)

    path = resolve_game_path(game or "echo")
    vp = parse_viewport(viewport)
    try:
        holder = GameHolder.load(path, assets=assets, viewport=vp)
    except GameFileErrors as e:
        typer.echo(f"{path}: {len(e.errors)} problem(s), nothing served:", err=True)
        for err in e.errors:
            typer.echo(f"  {err}", err=True)
        raise typer.Exit(1)
    except GameFileError as e:
        typer.echo(f"{e}", err=True)
        raise typer.Exit(1)
    except FileNotFoundError:
        typer.echo(f"error: game file {path} not found (try games/<name>.yaml, or no argument for echo)",
                   err=True)
        raise typer.Exit(1)
    except Exception as e:  # noqa: BLE001 - e.g. YAML syntax: say it plainly, no traceback
        typer.echo(f"error: cannot load {path}: {describe_load_error(e)}", err=True)
        raise typer.Exit(1)

    def ready(url: str) -> None:
        # one machine-readable line on stdout, for scripts and tests using --port 0
        print(f"otrig serving {url}", flush=True)

    try:
        run_server(holder, options, ready=ready)
    except OSError as e:
        typer.echo(f"error: cannot listen on {host}:{port}: {e.strerror or e}", err=True)
        raise typer.Exit(1)
