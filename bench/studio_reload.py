#!/usr/bin/env python3
"""otrig studio: time from saving the game file to updated results, on the Apex game.

    .venv/bin/python bench/studio_reload.py [--repeats 9]

A real `otrig studio` subprocess on a copy of games/apex.yaml (in a temp folder) and the
shared Apex frame apex/t8cp8hhm.jpg. Each repeat moves the clip box and saves the file:

* **HTTP**: a long poll (/api/wait) returns, then /api/run answers with the new run;
* **page**: headless Chromium shows the studio; the time is the page's own Date.now() once
  it has drawn the new run (the machine's clock on both sides).

Baseline, measured in the same run: compiling the game file and running it on the frame
with its images kept, in this process (what any reload has to do). Medians of the repeats.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

CLIP = "clip:        {box: [1720, 956, 66, 50], anchor: bottom-right}"
MOVED = CLIP.replace("1720, 956", "1520, 906")


def get_json(url: str, timeout: float = 60) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def baseline(game: Path, repeats: int) -> list[float]:
    from engine.media.sources import read_image
    from engine.runtime.game import load_game

    image, frame = read_image(DATA / "apex" / "t8cp8hhm.jpg")
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        g = load_game(game, assets=[DATA])
        g.process(image, {**frame, "source": {**frame["source"], "n": time.time()}}, explain=True, keep_images=True)
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def save(game: Path, text: str, i: int) -> float:
    edited = text if i % 2 else text.replace(CLIP, MOVED)
    t0 = time.time()
    game.write_text(edited, encoding="utf-8")
    return t0


def over_http(url: str, game: Path, text: str, repeats: int) -> list[float]:
    out = []
    gen = get_json(url + "api/state")["generation"]
    for i in range(repeats):
        got: dict = {}
        waiter = threading.Thread(target=lambda: got.update(get_json(f"{url}api/wait?since={gen}")))
        waiter.start()
        time.sleep(0.3)  # the long poll is waiting
        t0 = save(game, text, i)
        waiter.join()
        get_json(url + "api/run?shot=0")
        out.append((time.time() - t0) * 1e3)
        gen = got["generation"]
    return out


def in_page(url: str, game: Path, text: str, repeats: int, profile: Path) -> list[float]:
    from test_report import Chromium

    b = Chromium(profile, size=(1600, 1200))
    out = []
    try:
        b.open(url)
        while not b.eval("window.otrigStudio && window.otrigStudio.runs > 0"):
            time.sleep(0.05)
        for i in range(repeats):
            runs = b.eval("window.otrigStudio.runs")
            time.sleep(0.3)
            t0 = save(game, text, i)
            deadline = time.monotonic() + 30
            while b.eval("window.otrigStudio.runs") == runs:
                if time.monotonic() > deadline:
                    raise TimeoutError("the page did not update within 30 s")
                time.sleep(0.02)
            out.append(b.eval("window.otrigStudio.renderedAt") - t0 * 1e3)
    finally:
        b.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="otrig-studio-bench-") as tmp:
        game = Path(tmp) / "apex.yaml"
        text = (ROOT / "games" / "apex.yaml").read_text(encoding="utf-8")
        game.write_text(text, encoding="utf-8")
        base = baseline(game, args.repeats)
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", "studio", str(game), str(DATA / "apex" / "t8cp8hhm.jpg"),
                                 "--assets", str(DATA), "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().decode().split()[-1]
            http = over_http(url, game, text, args.repeats)
            page = in_page(url, game, text, args.repeats, Path(tmp) / "chromium")
        finally:
            proc.terminate()
            proc.wait(10)
    med = statistics.median
    print(f"baseline: compile apex.yaml + run the frame, in process: median {med(base):.0f} ms "
          f"(min {min(base):.0f}, max {max(base):.0f})")
    for name, xs in (("save -> /api/run answered (HTTP)", http), ("save -> page redrawn (Chromium)", page)):
        print(f"{name}: median {med(xs):.0f} ms (min {min(xs):.0f}, max {max(xs):.0f}), "
              f"{med(xs) / med(base):.2f}x the baseline")


if __name__ == "__main__":
    main()
