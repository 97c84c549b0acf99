"""Shared pieces of the bench: result rows, servers in subprocesses, frames, /proc readers.

Every server the bench starts goes through :class:`Server` (a context manager that kills
the process on exit, also registered with ``atexit``) and listens on 127.0.0.1 only.
"""
from __future__ import annotations

import atexit
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
CACHE = Path(os.environ.get("OTRIG_BENCH_CACHE", "/tmp/otrig-bench"))
HOST = "127.0.0.1"
PY = sys.executable

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.plugin import protocol  # noqa: E402

IMAGE_BYTES = protocol.IMAGE_BYTES


# --------------------------------------------------------------------------- results

@dataclass
class Row:
    section: str
    item: str
    value: str                 # absolute figure with unit
    baseline: str = ""         # what the ratio is against (measured in the same run)
    ratio: str = ""
    target: str = ""
    result: str = ""           # PASS / MISS / "" (no target) / n/a
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)   # numbers other sections reuse

    def add(self, *a: Any, **k: Any) -> Row:
        r = Row(*a, **k)
        self.rows.append(r)
        return r

    def na(self, section: str, item: str, why: str) -> Row:
        return self.add(section, item, f"n/a ({why})", result="n/a")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def ratio(a: float, b: float, unit: str = "x") -> str:
    if not b or a != a or b != b:
        return "-"
    return f"{a / b:.2f}{unit}"


def ms(x: float) -> str:
    return f"{x:.2f} ms" if x < 100 else f"{x:.0f} ms"


def fps(x: float) -> str:
    return f"{x:.1f} frames/s"


def mb(kb: float) -> str:
    return f"{kb / 1024:.1f} MB"


def median_ms(fn: Callable[[], Any], n: int, warm: int = 1) -> float:
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts)


# --------------------------------------------------------------------------- frames

def bench_image(seed: int = 1) -> np.ndarray:
    """A 1920x1080 BGR frame of noise (incompressible, like nothing in particular)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (protocol.HEIGHT, protocol.WIDTH, 3), dtype=np.uint8)


def bench_frame(i: int, source: dict[str, Any] | None = None, dt: float = 1 / 30) -> dict[str, Any]:
    rel = i * dt
    return {"timestamp": 1_700_000_000.0 + rel, "timestamp_str": "2023/11/14 22:13:20.00",
            "relative_timestamp_str": f"{rel:.2f}", "relative_timestamp": rel, "frame_no": i,
            "source": source if source is not None else {"type": "bench", "file": "bench", "original_shape": [1080, 1920, 3]}}


# --------------------------------------------------------------------------- processes

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def proc_status_kb(pid: int, key: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def proc_minflt(pid: int) -> int:
    """Minor page faults of a process so far (field 10 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[7])  # minflt is field 10 of stat; after "(comm) " the state is index 0


_LIVE: list["Server"] = []


def _kill_all() -> None:
    for s in list(_LIVE):
        s.stop()


atexit.register(_kill_all)


class ServerUnavailable(Exception):
    pass


class Server:
    """A server subprocess on 127.0.0.1:port; ``with Server(cmd, port) as s: ...`` kills it after."""

    def __init__(self, cmd: Sequence[str], port: int, *, env: dict[str, str] | None = None,
                 start_timeout: float = 60.0, label: str = ""):
        self.cmd, self.port, self.label = list(cmd), port, label or " ".join(cmd[:4])
        self.url = f"http://{HOST}:{port}/"
        self.env = {**os.environ, **(env or {})}
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.log = CACHE / f"server-{port}.log"

    def start(self) -> "Server":
        if self.proc is not None and self.proc.poll() is None:
            return self  # already running
        CACHE.mkdir(parents=True, exist_ok=True)
        logf = open(self.log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(self.cmd, cwd=str(ROOT), env=self.env, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        logf.close()
        _LIVE.append(self)
        end = time.monotonic() + self.start_timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-400:].strip()
                self.stop()
                raise ServerUnavailable(f"{self.label} exited with status {self.proc.returncode}: {tail}")
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ServerUnavailable(f"{self.label} did not listen on {HOST}:{self.port} within {self.start_timeout:g} s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_kb(self) -> int:
        return proc_status_kb(self.pid)

    def stop(self) -> None:
        p = self.proc
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if self in _LIVE:
            _LIVE.remove(self)

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def otrig_serve_cmd(game: str | Path, port: int, *extra: str) -> list[str]:
    """`otrig serve GAME` on 127.0.0.1:port, as a real subprocess (python -m cli.main)."""
    return [PY, "-m", "cli.main", "serve", str(game), "--host", HOST, "--port", str(port),
            "--fault-dir", str(CACHE / "faults"), *extra]


def otrig_server(game: str | Path, *extra: str, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    return Server(otrig_serve_cmd(game, port, *extra), port, env=env, label=f"otrig serve {Path(game).name}")


def run_json(args: Sequence[str], timeout: float, env: dict[str, str] | None = None) -> Any:
    """Run ``python -m bench.<module> ...`` that prints one JSON document last on stdout."""
    p = subprocess.run([PY, *args], cwd=str(ROOT), capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})})
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed ({p.returncode}): {p.stderr.strip()[-600:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def echo_server(rep: "Report") -> tuple[Server, str]:
    """`otrig serve games/echo.yaml`, or while that command is not available, the minimal
    ingest app of bench/ingest_servers.py on cheroot (same engine.plugin.protocol parse), labelled."""
    if not rep.facts.get("otrig_serve_missing"):
        srv = otrig_server(ROOT / "games" / "echo.yaml")
        try:
            return srv.start(), "otrig serve echo.yaml"
        except ServerUnavailable as e:
            rep.facts["otrig_serve_missing"] = str(e)
    port = free_port()
    srv = Server([PY, str(ROOT / "bench" / "ingest_servers.py"), "--serve", "cheroot", "--port", str(port)], port,
                 label="stand-in echo")
    return srv.start(), "STAND-IN echo (bench/ingest_servers.py cheroot; otrig serve unavailable)"


Poster = Callable[[int], None]  # posts frame i, raises on any failure


def drive(make_poster: Callable[[int], Poster], clients: int, seconds: float) -> tuple[float, int]:
    """Frames/s over ``clients`` threads posting for ``seconds``; (rate, errors)."""
    counts, errors = [0] * clients, [0] * clients
    posters = [make_poster(i) for i in range(clients)]
    go = threading.Event()

    def loop(i: int) -> None:
        go.wait()
        end = time.perf_counter() + seconds
        n = 0
        while time.perf_counter() < end:
            try:
                posters[i](n)
            except Exception:  # noqa: BLE001 - counted, reported
                errors[i] += 1
            n += 1
        counts[i] = n

    ts = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for t in ts:
        t.start()
    t0 = time.perf_counter()
    go.set()
    for t in ts:
        t.join()
    return sum(counts) / (time.perf_counter() - t0), sum(errors)
