"""Section 7: reliability load (issue 7). Two concurrent clients, each with its own
``source`` object, post N frames each to one `otrig serve games/echo.yaml`; every answer is
checked (HTTP 200, every frame field back unchanged, its own frame_no and source: no
cross-talk between streams). Errors and server RSS at start and end.
"""
from __future__ import annotations

import threading
import time

from bench.common import Report, bench_frame, bench_image, echo_server, mb, ratio, verdict


def run(rep: Report, quick: bool, per_client: int | None = None) -> None:
    from engine.plugin.client import PluginClient, changed_fields
    sec = "7 reliability"
    n = per_client or (40 if quick else 1000)
    srv, label = echo_server(rep)
    errors = [0, 0]
    first_error: list[str] = []
    done = [0, 0]

    def client(i: int) -> None:
        image = bench_image(100 + i)
        source = {"type": "bench", "file": f"reliability-client-{i}", "original_shape": [1080, 1920, 3]}
        with PluginClient(srv.url, timeout=60) as c:
            for k in range(n):
                frame = bench_frame(k, source)
                try:
                    answer = c.post(image, frame)
                    bad = changed_fields(frame, answer)
                    if bad:
                        raise RuntimeError(f"answer changed {bad}")
                except Exception as e:  # noqa: BLE001 - counted and reported
                    errors[i] += 1
                    if not first_error:
                        first_error.append(f"client {i} frame {k}: {type(e).__name__}: {e}"[:150])
                done[i] += 1

    with srv:
        rss0 = srv.rss_kb()
        ts = [threading.Thread(target=client, args=(i,)) for i in range(2)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        el = time.perf_counter() - t0
        rss1 = srv.rss_kb()
        alive = srv.proc is not None and srv.proc.poll() is None
    total = sum(done)
    rep.add(sec, f"2 clients x {n} frames, own sources -> {label}: errors", f"{sum(errors)} errors",
            f"{total} frames posted", f"{sum(errors) / max(total, 1):.2%}", "0 errors",
            verdict(sum(errors) == 0 and alive),
            note=(f"{total / el:.1f} frames/s; server {'alive' if alive else 'DIED'}"
                  + (f"; first: {first_error[0]}" if first_error else "")))
    rep.add(sec, "server RSS start -> end", f"{mb(rss0)} -> {mb(rss1)}", "RSS at start", ratio(rss1, rss0),
            note=f"growth {mb(rss1 - rss0)} (includes warm-up of the worker threads' buffers)")
