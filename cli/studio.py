"""`otrig studio`: author a game file live in the browser, on screenshots or a video."""
from __future__ import annotations

from typing import Annotated, List

import typer

from cli.options import (GAME_FILE_ERROR, INPUT_ERROR, USAGE_ERROR, Assets, GameArg, ViewportOpt, fail,
                         configure_server_logging, load_game_reporting, viewport_box)


def studio(
    game: GameArg,
    sources: Annotated[List[str], typer.Argument(
        metavar="SHOT...", help="Screenshots (PNG, JPG, ... of any size) and/or videos to show the game on.")],
    host: str = typer.Option("127.0.0.1", help="Loopback address to listen on (127.0.0.1, ::1 or localhost; "
                                               "nothing else is accepted)."),
    port: int = typer.Option(5050, min=0, max=65535, help="Port to listen on (0 picks a free one and prints it); not 5000, so that "
                                           "`otrig serve` can run beside it."),
    viewport: ViewportOpt = None,
    assets: Assets = [],  # noqa: B006 - typer's way to declare a repeatable option; never mutated
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every request."),
) -> None:
    """Show GAME working on screenshots or a video, live, in a local web page (prints its URL).

    The page draws every region and box on the frame, and re-runs the game file each time it is saved: per processor and step the crop, the prepared image, the value, score, confidence and null reason. A file with errors shows them as file:line:col beside the last good run. Drag a box on the frame to get it as a `box:` line in the game's reference pixels, ready to paste (with the probe statistics of `otrig probe`), click a pixel for its BGR and HSV, and see the frame re-read as other captures would give it (`otrig test --stress`), wrong reads marked. Switch between the shots, or seek in a video. Nothing is opened or fetched from the network.

    Examples:

      otrig studio games/apex.yaml shot1.png shot2.png --assets ~/apex-art

      otrig studio games/melee.yaml clip.mp4 --port 0
    """
    from engine.debug.studio.app import Studio
    from engine.debug.studio.frames import Shots
    from engine.debug.studio.live import LiveGame
    from engine.debug.studio.server import check_host, run_studio
    from engine.lang.errors import SourceError
    from engine.plugin.reload import GameSource

    try:
        check_host(host)
    except ValueError as e:
        raise fail("studio", f"error: {e}", USAGE_ERROR) from None
    try:
        shots = Shots(sources)
    except SourceError as e:
        raise fail("studio", str(e), INPUT_ERROR) from None
    compiled = load_game_reporting(game, assets=assets, viewport=viewport_box(viewport))
    if compiled is None:
        raise fail("studio", f"nothing to show: fix {game} first (otrig check {game})", GAME_FILE_ERROR)
    live = LiveGame(compiled, GameSource(compiled.path, tuple(assets), viewport_box(viewport)))

    configure_server_logging(verbose)

    def ready(url: str) -> None:
        # one machine-readable line on stdout, for scripts and tests using --port 0
        print(f"otrig studio {url}", flush=True)

    try:
        run_studio(Studio(live=live, shots=shots, roots=tuple(assets)), host, port, ready=ready)
    except OSError as e:
        raise fail("studio", f"error: cannot listen on {host}:{port}: {e.strerror or e}", INPUT_ERROR) from None
