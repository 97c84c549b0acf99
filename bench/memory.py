"""Section 6: memory. Server RSS (/proc/<pid>/status VmRSS) before and after N frames, and
how many image-sized copies are made per frame, measured three ways:

1. tracemalloc in process on engine.plugin.protocol.parse_request + build_answer (the body
   already in memory, as a server holds it after its one read): peak / 6,220,800 bytes;
   the same for the Flask baseline app called as WSGI on the same kind of body.
2. Page faults of a real server subprocess: with ``MALLOC_MMAP_THRESHOLD_=131072`` (glibc
   then serves every large block with a fresh mmap, no reuse) and
   ``NUMPY_MADVISE_HUGEPAGE=0`` (4 KiB pages), every new image-sized buffer written costs
   ~1519 minor faults; faults per frame / faults of one calibrated 6.2 MB write = fresh
   image-sized buffers per frame. The reading of the body counts as one unless the server
   reads into a reused buffer.
3. The same on the client: a client subprocess posting with PluginClient.

    .venv/bin/python -m bench.memory --client URL --frames 50     # prints JSON
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import tracemalloc

import numpy as np

from bench.common import (DATA, PY, ROOT, Report, Server, ServerUnavailable, bench_frame, bench_image, echo_server,
                          free_port, mb, otrig_server, proc_minflt, protocol, ratio, run_json, verdict)

FAULT_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072", "NUMPY_MADVISE_HUGEPAGE": "0"}
RSS_TARGET_KB = 5 * 1024


def calibrate_faults() -> float:
    """Minor faults of writing one fresh image-sized buffer, in this process."""
    import resource
    vals = []
    for _ in range(5):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        a = np.ones(protocol.IMAGE_BYTES, np.uint8)
        f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        del a
        vals.append(f1 - f0)
    return float(sorted(vals)[len(vals) // 2])


def client_main(url: str, frames: int) -> dict:
    import resource
    from engine.plugin.client import PluginClient
    calib = calibrate_faults()
    image = bench_image(7)
    source = {"type": "bench", "file": "memory-client"}
    with PluginClient(url, timeout=30) as c:
        for i in range(5):
            c.post(image, bench_frame(i, source))
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for i in range(5, 5 + frames):
            c.post(image, bench_frame(i, source))
        f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    return {"calib": calib, "faults_per_frame": (f1 - f0) / frames}


def original_client_main(url: str, frames: int) -> dict:
    import resource
    from bench.baseline_flask import post_original
    image = bench_image(7)
    for i in range(5):
        post_original(url, image, bench_frame(i))
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for i in range(5, 5 + frames):
        post_original(url, image, bench_frame(i))
    f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    return {"calib": calibrate_faults(), "faults_per_frame": (f1 - f0) / frames}


# --------------------------------------------------------------------------- tracemalloc

def _peak(fn) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def traced_copies() -> dict[str, float]:
    image = bench_image(3)
    enc = protocol.encode_request(image, bench_frame(1))
    body = b"".join(bytes(c) for c in enc.chunks)

    def otrig_parse() -> None:
        req = protocol.parse_request(body, enc.content_type)
        protocol.build_answer(req.frame_text, req.frame, {"x": {"mean": int(req.image[540, 960, 0])}})

    out = {"parse_request+build_answer": _peak(otrig_parse) / protocol.IMAGE_BYTES}
    out["encode_request (client)"] = _peak(lambda: protocol.encode_request(image, bench_frame(1))) / protocol.IMAGE_BYTES

    import requests
    from bench.baseline_flask import app
    prep = requests.Request("POST", "http://127.0.0.1/", files={
        "image": ("image", image.tobytes()), "frame": ("frame", json.dumps(bench_frame(1)))}).prepare()
    fbody = prep.body

    def wsgi(appfn, data: bytes, ctype: str) -> None:
        env = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
               "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(data),
               "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False,
               "wsgi.run_once": False, "CONTENT_TYPE": ctype, "CONTENT_LENGTH": str(len(data))}
        b"".join(appfn(env, lambda *a: None))

    wsgi(app, fbody, prep.headers["Content-Type"])  # warm-up (imports, routing)
    out["Flask baseline app (WSGI, body read incl.)"] = _peak(
        lambda: wsgi(app, fbody, prep.headers["Content-Type"])) / protocol.IMAGE_BYTES
    out["Flask client body: requests prepare(files=)"] = _peak(lambda: requests.Request(
        "POST", "http://127.0.0.1/", files={"image": ("image", image.tobytes()),
                                             "frame": ("frame", json.dumps(bench_frame(1)))}).prepare()) / protocol.IMAGE_BYTES
    try:
        from engine.plugin.app import PluginApp, ServerOptions  # type: ignore
        from engine.plugin.reload import GameHolder
        sapp = PluginApp(GameHolder.load(str(ROOT / "games" / "echo.yaml")), ServerOptions())
        wsgi(sapp, body, enc.content_type)
        out["engine.plugin.app app, echo (WSGI, body read incl.)"] = _peak(
            lambda: wsgi(sapp, body, enc.content_type)) / protocol.IMAGE_BYTES
    except Exception:  # noqa: BLE001 - the server module may not exist yet or have another API
        pass
    return out


# --------------------------------------------------------------------------- run

def post_n(url: str, n: int, image, source: dict, dt: float = 1 / 30, start: int = 0) -> int:
    from engine.plugin.client import PluginClient
    errors = 0
    with PluginClient(url, timeout=60) as c:
        for i in range(start, start + n):
            try:
                c.post(image, bench_frame(i, source, dt))
            except Exception:  # noqa: BLE001
                errors += 1
    return errors


def server_faults(srv: Server, client_args: list[str], frames: int) -> tuple[float, float, float]:
    """(server faults/frame, client faults/frame, calib) for one client subprocess run."""
    f0 = proc_minflt(srv.pid)
    res = run_json(["-m", "bench.memory", *client_args, srv.url, "--frames", str(frames)], 180, env=FAULT_ENV)
    f1 = proc_minflt(srv.pid)
    return (f1 - f0) / (frames + 5), res["faults_per_frame"], res["calib"]


def run(rep: Report, quick: bool) -> None:
    sec = "6 memory"
    n_echo, n_apex, n_faults = (60, 10, 20) if quick else (1000, 200, 100)

    # RSS, echo: cold (1 frame), warm (every worker thread has held a frame), end (leak check)
    n_warm = 10 if quick else 100
    srv, label = echo_server(rep)
    with srv:
        image = bench_image(5)
        post_n(srv.url, 1, image, {"type": "bench", "file": "rss-cold"})
        cold = srv.rss_kb()
        post_n(srv.url, n_warm, image, {"type": "bench", "file": "rss-warm"})
        before = srv.rss_kb()
        t0 = time.perf_counter()
        errs = post_n(srv.url, n_echo, image, {"type": "bench", "file": "rss"}, start=n_warm)
        el = time.perf_counter() - t0
        after = srv.rss_kb()
    rep.add(sec, f"{label}: RSS after 1 frame -> after {n_warm} warm-up frames", f"{mb(cold)} -> {mb(before)}",
            "after 1 frame", ratio(before, cold), note="worker threads' buffers and malloc arenas filling up")
    rep.add(sec, f"{label}: RSS growth over the next {n_echo} frames", mb(after - before), "RSS before",
            ratio(after, before), "< 5 MB", verdict(after - before < RSS_TARGET_KB),
            note=f"{mb(before)} -> {mb(after)}; {n_echo / el:.0f} frames/s; {errs} errors")

    # RSS, apex
    apex = ROOT / "games" / "apex.yaml"
    pic = DATA / "apex" / "t8cp8hhm.jpg"
    if quick:
        rep.add(sec, "otrig serve apex.yaml: RSS growth", "skipped in --quick")
    elif not apex.exists() or not pic.exists():
        rep.na(sec, "apex.yaml RSS", "games/apex.yaml or the apex frame not present")
    else:
        try:
            from engine.media.sources import read_image
            img, fr = read_image(pic)
            with otrig_server(apex, "--assets", str(DATA)) as s2:
                post_n(s2.url, 1, img, fr["source"], dt=6.0)
                c2 = s2.rss_kb()
                post_n(s2.url, 10, img, {**fr["source"], "run": "warm"}, dt=6.0)
                b2 = s2.rss_kb()
                errs = post_n(s2.url, n_apex, img, {**fr["source"], "run": "rss"}, dt=6.0)
                a2 = s2.rss_kb()
            rep.add(sec, f"otrig serve apex.yaml: RSS growth over {n_apex} frames (all cadences due)",
                    mb(a2 - b2), "RSS before", ratio(a2, b2), "< 5 MB", verdict(a2 - b2 < RSS_TARGET_KB),
                    note=f"after 1 frame {mb(c2)}, after 10 {mb(b2)}, after {n_apex} more {mb(a2)}; {errs} errors")
        except ServerUnavailable as e:
            rep.na(sec, "otrig serve apex.yaml RSS", str(e)[:100])

    # copies: tracemalloc in process
    tr = traced_copies()
    base = tr.get("Flask baseline app (WSGI, body read incl.)")
    for k, v in tr.items():
        tgt = ""
        if k.startswith("parse_request"):
            tgt = "<= 1 (server)"
        elif k.startswith("encode_request"):
            tgt = "0 (client)"
        res = "" if not tgt else verdict(v < (1.5 if "server" in tgt else 0.5))
        rep.add(sec, f"tracemalloc peak, image copies: {k}", f"{v:.2f} copies",
                "Flask baseline app" if base and not k.startswith("Flask baseline app") else "",
                ratio(v, base) if base and not k.startswith("Flask baseline app") else "", tgt, res)

    # copies: page faults of real server / client processes
    try:
        srv, label = echo_server_env(rep)
        with srv:
            sf, cf, calib = server_faults(srv, ["--client"], n_faults)
        port = free_port()
        with Server([PY, str(ROOT / "bench" / "baseline_flask.py"), "--port", str(port)], port, env=FAULT_ENV,
                    label="Flask baseline") as fl:
            bsf, bcf, _ = server_faults(fl, ["--original-client"], max(10, n_faults // 4))
    except Exception as e:  # noqa: BLE001
        rep.na(sec, "page-fault copy count", f"{type(e).__name__}: {str(e)[:120]}")
        return
    rep.add(sec, "fresh image-sized buffers written per frame, server (page faults)", f"{sf / calib:.2f} buffers",
            f"Flask baseline {bsf / calib:.2f}", ratio(sf, bsf), "<= 1", verdict(sf / calib < 1.5),
            note=f"{label}; {sf:.0f} faults/frame, {calib:.0f} per 6.2 MB buffer")
    rep.add(sec, "fresh image-sized buffers written per frame, client (page faults)", f"{cf / calib:.2f} buffers",
            f"requests.post(files=) {bcf / calib:.2f}", ratio(cf, bcf), "0", verdict(cf / calib < 0.5),
            note=f"PluginClient; {cf:.0f} faults/frame")


def echo_server_env(rep: Report) -> tuple[Server, str]:
    """The echo server again, started with FAULT_ENV."""
    if not rep.facts.get("otrig_serve_missing"):
        s = otrig_server(ROOT / "games" / "echo.yaml", env=FAULT_ENV)
        return s, "otrig serve echo.yaml"
    port = free_port()
    return (Server([PY, str(ROOT / "bench" / "ingest_servers.py"), "--serve", "cheroot", "--port", str(port)], port,
                   env=FAULT_ENV, label="stand-in echo"), "STAND-IN echo (ingest_servers.py cheroot)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--client")
    ap.add_argument("--original-client")
    ap.add_argument("--frames", type=int, default=50)
    a = ap.parse_args()
    if a.client:
        print(json.dumps(client_main(a.client, a.frames)))
    elif a.original_client:
        print(json.dumps(original_client_main(a.original_client, a.frames)))
    else:
        print(json.dumps(traced_copies()))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
