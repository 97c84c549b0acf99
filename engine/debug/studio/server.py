"""Serving the studio: waitress, as `otrig serve` (engine.plugin.waitress_server), bound to
loopback only, with the game file watched while it runs."""
from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any, Callable

from engine.debug.studio.app import Studio, StudioApp
from engine.plugin.app import is_loopback

log = logging.getLogger("otrig.studio")

# Worker threads: the page holds one in its long poll (/api/wait) and asks for a run, the
# stress reads and the frame at once. A poll whose page was reloaded holds its thread until
# it times out (WAIT_SECONDS, 5 s): with 6 threads, six reloads froze the studio for 18 s;
# 10 leave four for the page after as many.
THREADS = 10


def check_host(host: str) -> None:
    """ValueError unless ``host`` is a loopback address: the studio shows local files and
    has no token."""
    if not is_loopback(host):
        raise ValueError(f"refusing to listen on {host}: the studio serves your game files and frames to anyone "
                         f"who can reach it and has no token; use 127.0.0.1, ::1 or localhost")


def create_studio_server(studio: Studio, host: str = "127.0.0.1", port: int = 0) -> Any:
    """A bound waitress server for the studio (``.effective_port``: the real port). Typed
    ``Any``: waitress ships no type information."""
    import waitress.server

    check_host(host)
    return waitress.server.create_server(
        StudioApp(studio), host=host, port=port, threads=THREADS, ident="otrig-studio",
        # the page only sends GETs: a body is never needed
        max_request_body_size=64 * 1024, clear_untrusted_proxy_headers=True, asyncore_use_poll=True)


def run_studio(studio: Studio, host: str, port: int, ready: Callable[[str], None] | None = None) -> None:
    """Serve until SIGTERM or Ctrl-C, reloading the game when its files change."""
    server = create_studio_server(studio, host, port)
    watcher = studio.live.watch()
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.effective_port}/"
    if ready is not None:
        ready(url)

    def stop(signum: int, frame: FrameType | None) -> None:
        # long polls answer now: waitress's run() waits for its threads when interrupted,
        # and one holding a 20 s poll kept the studio from exiting for 5 s
        studio.live.close()
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, stop)
    try:
        server.run()  # returns after a KeyboardInterrupt, its worker threads finished
    except KeyboardInterrupt:
        pass
    finally:
        studio.live.close()
        watcher.stop()
        server.close()
