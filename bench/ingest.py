"""Section 2: ingest. `otrig serve games/echo.yaml` (a real subprocess) posted to by
engine.plugin.client.PluginClient (the client `otrig extract` uses), 1 and 2 concurrent clients,
against the loopback limit (section 1) and the original tool's path (requests.post with
files= into the Flask echo server of bench/baseline_flask.py), all in the same run.
"""
from __future__ import annotations

from typing import Callable

from bench.common import (PY, ROOT, Poster, Report, Server, ServerUnavailable, bench_frame, bench_image, drive, fps, free_port,
                          otrig_server, ratio)



def plugin_posters(url: str) -> Callable[[int], Poster]:
    from engine.plugin.client import PluginClient, changed_fields

    def make(i: int) -> Poster:
        client = PluginClient(url, timeout=30)
        image = bench_image(i + 1)
        source = {"type": "bench", "file": f"ingest-client-{i}", "original_shape": [1080, 1920, 3]}

        def post(n: int) -> None:
            frame = bench_frame(n, source)
            answer = client.post(image, frame)
            if changed_fields(frame, answer):
                raise RuntimeError("answer changed frame fields")
        return post
    return make


def original_posters(url: str) -> Callable[[int], Poster]:
    from bench.baseline_flask import post_original

    def make(i: int) -> Poster:
        image = bench_image(i + 1)
        return lambda n: post_original(url, image, bench_frame(n))
    return make


def flask_server() -> Server:
    port = free_port()
    return Server([PY, str(ROOT / "bench" / "baseline_flask.py"), "--port", str(port)], port,
                  label="Flask baseline")


def best_of(rounds: int, fn) -> tuple[float, int]:
    """The best rate of a few short rounds (the least disturbed by the neighbours), total errors."""
    rates, errs = [], 0
    for _ in range(rounds):
        r, e = fn()
        rates.append(r)
        errs += e
    return max(rates), errs


def run(rep: Report, quick: bool) -> None:
    sec = "2 ingest"
    rounds, seconds = (1, 1.0) if quick else (3, 1.5)
    loop1, loop2 = rep.facts.get("loop1", 0.0), rep.facts.get("loop2", 0.0)
    fl = flask_server()
    try:
        srv = otrig_server(ROOT / "games" / "echo.yaml")
        try:
            fl.start()
        except ServerUnavailable as e:
            rep.na(sec, "original path: requests.post(files=) -> Flask echo", str(e)[:80])
            fl = None
        try:
            srv.start()
        except ServerUnavailable as e:
            rep.na(sec, "otrig serve echo.yaml <- PluginClient", str(e)[:120])
            srv = None
        res: dict[tuple[str, int], tuple[float, int]] = {}
        for name, s, make in (("flask", fl, original_posters), ("otrig", srv, plugin_posters)):
            if s is not None:
                drive(make(s.url), 1, 0.3)  # warm-up
        for _ in range(rounds):  # rounds interleave the configurations: same noise for each
            for name, s, make in (("flask", fl, original_posters), ("otrig", srv, plugin_posters)):
                if s is None:
                    continue
                for n in (1, 2):
                    r, e = drive(make(s.url), n, seconds)
                    old = res.get((name, n), (0.0, 0))
                    res[(name, n)] = (max(old[0], r), old[1] + e)
    finally:
        for s in (fl, srv):
            if s is not None:
                s.stop()
    b1, be1 = res.get(("flask", 1), (0.0, 0))
    b2, be2 = res.get(("flask", 2), (0.0, 0))
    how = f"best of {rounds} interleaved rounds of {seconds:g} s"
    if fl is not None:
        rep.add(sec, "original path: requests.post(files=) -> Flask echo, 1 client", fps(b1), "loopback 1 client",
                ratio(b1, loop1), note=how + (f"; {be1} errors" if be1 else ""))
        rep.add(sec, "original path, 2 clients", fps(b2), "loopback 2 clients", ratio(b2, loop2),
                note=f"{be2} errors" if be2 else "")
    if srv is None:
        return
    r1, e1 = res[("otrig", 1)]
    r2, e2 = res[("otrig", 2)]
    rep.facts["echo1"], rep.facts["echo2"] = r1, r2
    for n, r, e, loop, base in ((1, r1, e1, loop1, b1), (2, r2, e2, loop2, b2)):
        rep.add(sec, f"otrig serve echo.yaml <- PluginClient, {n} client{'s' if n > 1 else ''}", fps(r),
                f"loopback limit (1), {n} client{'s' if n > 1 else ''}", ratio(r, loop),
                note=how + (f"; {e} errors" if e else ""))
        if base:
            rep.add(sec, f"  otrig vs original path, {n} client{'s' if n > 1 else ''}", fps(r),
                    "original path", ratio(r, base))
