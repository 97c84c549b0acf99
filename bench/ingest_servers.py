"""Which WSGI server should `otrig serve` use? Measure it.

Posts real OverTrack-shaped frames (6,220,800-byte image + frame JSON, multipart) to each
candidate server running the same minimal ingest app (read ``wsgi.input`` once, parse in
place with engine.plugin.protocol, answer the echo), with 1 and 2 concurrent clients, and compares
frames/s against a raw socket loopback baseline that moves the same bytes with no HTTP.

Every server and every client runs in its own process, so the GIL of one side never
slows the other.

    .venv/bin/python bench/ingest_servers.py            # ~40 s
    .venv/bin/python bench/ingest_servers.py --seconds 2 --servers cheroot,waitress-tuned
    .venv/bin/python bench/ingest_servers.py --app otrig   # the real engine.plugin.app app (echo game)
    .venv/bin/python bench/ingest_servers.py --servers otrig --seconds 2   # the shipped server only

"otrig" is the server `otrig serve` ships (engine.plugin.waitress_server.create_server: waitress whose event
loop recv_into()s each Content-Length body straight into a pooled buffer); the waitress-* rows
are stock waitress running the same app, for comparison.

Measured 2026-11-25 on the shared 2-CPU dev VM (other engineers' jobs running, load average
3.5-8, so absolute numbers are noisy; medians of interleaved rounds, frames/s, 1 / 2 clients):

    --app otrig, load ~3.5   raw-socket 348 / 392   cheroot 42 / 42   waitress 23 / 33   waitress-tuned 117 / 70
    --app otrig, load ~7     raw-socket 254 / 277   cheroot 19 / 21                      waitress-tuned 87 / 48
    minimal app, load ~7     raw-socket 115 / 231   cheroot 25 / 15   waitress  8 / 14   waitress-tuned 124 / 26

After `otrig serve` moved to recv_into pooled buffers (2026-11-25, load 6.5-7.5, medians of 3
rounds of 1.5 s, --app otrig --servers waitress-tuned,otrig):

    raw-socket 258 / 286   waitress-tuned (stock waitress, same app) 118 / 48   otrig 205 / 138

cheroot reads bodies through a pure-Python io.BufferedReader (_pyio): 8-11 ms just for the
wsgi.input.read() of one frame, timed inside the app. Default waitress spools every body over
512 KiB to a temp file. waitress with inbuf_overflow above the body limit and 1 MiB reads won
every round, at 1 and 2 clients, and its event loop keeps trickling uploads off the worker
threads. Its 2-client figure is lower than its 1-client one: one event-loop thread receives
every socket and shares the GIL with the workers, on 2 CPUs that the 2 client processes
also need.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.plugin import protocol  # noqa: E402

FRAME = {"timestamp": 1556855549.3732016, "timestamp_str": "2019/05/03 03:52:29.37",
         "relative_timestamp_str": "00:00:00.00", "relative_timestamp": 0.0, "frame_no": 51,
         "source": {"name": "bench.mkv", "fps": 60}}
SERVERS = ("cheroot", "waitress-default", "waitress-tuned", "otrig")


# --------------------------------------------------------------------------- servers

def ingest_app(environ, start_response):
    """The minimal ingest: one read of the known-length body, parse in place, echo."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        req = protocol.parse_request(body, environ.get("CONTENT_TYPE"))
        out = protocol.build_answer(req.frame_text, req.frame, {"bench": {"mean": int(req.image[540, 960, 0])}})
        status = "200 OK"
    except protocol.ProtocolError as e:
        out, status = json.dumps(e.to_json()).encode(), f"{e.status} Error"
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]


def serve(kind: str, port: int, app_kind: str) -> None:
    app = ingest_app
    if app_kind == "otrig":
        from engine.plugin.app import PluginApp, ServerOptions
        from engine.plugin.reload import GameHolder
        app = PluginApp(GameHolder.load(str(ROOT / "games" / "echo.yaml")), ServerOptions())
    if kind == "cheroot":
        from cheroot import wsgi
        srv = wsgi.Server(("127.0.0.1", port), app, numthreads=8)
        srv.start()
    elif kind.startswith("waitress"):
        import waitress
        kw = {}
        if kind == "waitress-tuned":
            # exactly what `otrig serve` uses: whole bodies kept in memory instead of spooling
            # each 6 MB frame to a temp file (inbuf_overflow), 1 MiB socket reads
            from engine.plugin.app import ServerOptions
            from engine.plugin.waitress_server import waitress_settings
            kw = waitress_settings(ServerOptions())
            for k in ("host", "port", "threads"):
                kw.pop(k)
            kw.update(json.loads(os.environ.get("BENCH_WAITRESS", "{}")))  # for experiments
        waitress.serve(app, host="127.0.0.1", port=port, threads=8, _quiet=True, **kw)
    elif kind == "otrig":
        # exactly what `otrig serve` runs: engine.plugin.waitress_server.create_server (waitress with the body
        # received by recv_into into pooled buffers); always the real app on the echo game
        from engine.plugin.app import GameHolder, ServerOptions
        from engine.plugin.waitress_server import create_server
        srv = create_server(GameHolder.load(str(ROOT / "games" / "echo.yaml")),
                            ServerOptions(port=port, threads=8))
        for k, v in json.loads(os.environ.get("BENCH_WAITRESS", "{}")).items():  # experiments
            setattr(srv.adj, k, v)
        srv.run()
    elif kind == "raw":
        raw_server(port)
    else:
        raise SystemExit(f"unknown server {kind}")


def raw_server(port: int) -> None:
    """Baseline: the same raw socket server as bench/loopback.py (8-byte length, body, b"k")."""
    from bench.loopback import serve
    serve(port)


# --------------------------------------------------------------------------- clients

def client(kind: str, port: int, seconds: float, q) -> None:
    rng = np.random.default_rng(os.getpid())
    image = rng.integers(0, 256, (protocol.HEIGHT, protocol.WIDTH, 3), dtype=np.uint8)
    enc = protocol.encode_request(image, FRAME)
    n = 0
    deadline = time.perf_counter() + seconds
    if kind == "raw":
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while time.perf_counter() < deadline:
            s.sendall(enc.length.to_bytes(8, "big"))
            for c in enc.chunks:
                s.sendall(c)
            assert s.recv(1, socket.MSG_WAITALL) == b"k"
            n += 1
        s.close()
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < deadline:
            conn.putrequest("POST", "/")
            conn.putheader("Content-Type", enc.content_type)
            conn.putheader("Content-Length", str(enc.length))
            conn.endheaders()
            for c in enc.chunks:
                conn.send(c)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise SystemExit(f"{kind}: {resp.status} {body[:200]!r}")
            n += 1
        conn.close()
    q.put(n)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not start")


def measure(kind: str, clients: int, seconds: float, app_kind: str) -> float:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port), "--app", app_kind])
    try:
        wait_port(port)
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        ps = [ctx.Process(target=client, args=(kind, port, seconds, q)) for _ in range(clients)]
        for p in ps:
            p.start()
        total = sum(q.get(timeout=seconds + 60) for _ in ps)
        for p in ps:
            p.join()
        # each client counts frames over its own `seconds` window
        return total / seconds
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--app", choices=["minimal", "otrig"], default="minimal",
                    help="minimal ingest app (default) or the real engine.plugin.app app on the echo game")
    ap.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--servers", default=",".join(SERVERS))
    a = ap.parse_args()
    if a.serve:
        serve(a.serve, a.port, a.app)
        return
    print(f"{os.cpu_count()} CPUs, {a.seconds:g} s per cell, median of {a.rounds} interleaved rounds, "
          f"body {protocol.IMAGE_BYTES:,} B image + JSON, app={a.app}")
    rows = [("raw-socket", "raw")] + [(s, s) for s in a.servers.split(",") if s]
    results: dict[tuple[str, int], list[float]] = {}
    # interleave rounds so a burst of load on a shared machine hits every server alike
    for _ in range(a.rounds):
        for label, kind in rows:
            for n in (1, 2):
                results.setdefault((label, n), []).append(measure(kind, n, a.seconds, a.app))
    print(f"{'server':<18}{'1 client':>12}{'2 clients':>12}   frames/s (all rounds)")
    for label, _ in rows:
        r1, r2 = results[(label, 1)], results[(label, 2)]
        print(f"{label:<18}{statistics.median(r1):>12.1f}{statistics.median(r2):>12.1f}   "
              f"{[round(x) for x in r1]} {[round(x) for x in r2]}", flush=True)

if __name__ == "__main__":
    main()
