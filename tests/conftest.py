"""Fixtures for the server tests: a real `otrig serve` subprocess on a free 127.0.0.1 port."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import ServerProcess, need_shared_data, start_server  # noqa: E402


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real game material in ../shared/data. Skips when it is absent, unless CI is set
    (CI has it: a missing folder there is a failure, not a skip)."""
    return need_shared_data()


@pytest.fixture
def game_file(tmp_path):
    """Factory: ``game_file(yaml_text, name="g.yaml") -> Path``, the text dedented into tmp_path."""
    def write(text: str, name: str = "g.yaml") -> Path:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return p
    return write


@pytest.fixture
def serve_game(tmp_path):
    """Factory: ``serve_game("echo", "--reload", token=None) -> ServerProcess`` (stopped at teardown).

    The server is a real subprocess; the fixture returns once GET /health answers 200.
    """
    started: list[ServerProcess] = []

    def start(game: str | Path = "echo", *args: str, token: str | None = None) -> ServerProcess:
        n = len(started)
        srv = start_server([str(game), "--fault-dir", str(tmp_path / f"faults{n}"), *args],
                           tmp_path / f"serve{n}.log", token=token)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def echo_server(tmp_path_factory):
    """One echo server shared by the tests that only post frames to it."""
    d = tmp_path_factory.mktemp("echo")
    srv = start_server(["echo", "--fault-dir", str(d / "faults")], d / "serve.log")
    yield srv
    srv.stop()


@pytest.fixture
def inproc_game(tmp_path):
    """Factory: ``inproc_game(game, **ServerOptions) -> (url, server)``: the server `otrig serve`
    ships (engine.plugin.waitress_server.create_server, waitress) in this process, serving any game object
    with ``name``, ``version`` and ``process(image, frame, *, explain, ...)``."""
    import threading

    from engine.plugin.reload import GameHolder, GameSource
    from engine.plugin.app import ServerOptions
    from engine.plugin.waitress_server import create_server

    started = []

    def start(game, **opts):
        opts.setdefault("fault_dir", tmp_path / "faults")
        server = create_server(GameHolder(game, GameSource(Path("inproc.yaml"))), ServerOptions(port=0, **opts))
        threading.Thread(target=server.run, daemon=True).start()
        started.append(server)
        return f"http://127.0.0.1:{server.effective_port}", server

    yield start
    for s in started:
        s.close()
        s.task_dispatcher.shutdown(timeout=2)
