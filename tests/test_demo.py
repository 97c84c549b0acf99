"""`otrig demo` end to end: a real `otrig serve` subprocess, frames over real HTTP from
`otrig extract`, answers scored against the truth the demo drew."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    p = subprocess.run([sys.executable, "-m", "cli.main", "demo", "--out", str(out)],
                       cwd=str(ROOT), capture_output=True, text=True, timeout=240)
    return out, p


def test_demo_exits_zero_and_prints_the_table(demo_run):
    out, p = demo_run
    assert p.returncode == 0, f"otrig demo failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    assert "frames/s" in p.stdout
    for field in ("screen", "score.blue", "score.red", "clock.left", "player.health", "ability.icon", "result.banner"):
        assert field in p.stdout


def test_every_field_is_read_right_on_90_percent(demo_run):
    out, p = demo_run
    acc = json.loads((out / "accuracy.json").read_text())
    assert acc["frames"] == 40            # 20 s at 2 frames/s, every one answered
    assert acc["fps"] > 0
    for row in acc["fields"]:
        assert row["frames"] > 0, row
        assert row["accuracy"] >= 0.9, row
    by_field = {r["field"]: r["frames"] for r in acc["fields"]}
    assert by_field["screen"] == 40
    assert by_field["result.banner"] == 6  # 17.0 .. 19.5 s
    assert by_field["score.blue"] == 34


def test_answers_came_over_http_with_every_frame_field(demo_run):
    out, p = demo_run
    answers = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines() if line.strip()]
    truth = json.loads((out / "truth.json").read_text())
    assert len(truth["frames"]) == 600
    assert [a["frame_no"] for a in answers] == list(range(0, 600, 15))
    for a in answers:
        # the frame fields OverTrack sent come back, and the source is the 1280x720 capture
        assert {"timestamp", "timestamp_str", "relative_timestamp", "relative_timestamp_str", "source"} <= set(a)
        assert a["source"]["original_shape"] == [720, 1280, 3]
    # the last frames are the result screen, read as a victory
    assert answers[-1]["screen"] == {"name": "result"}
    assert answers[-1]["result"]["banner"] == truth["frames"][-1]["banner"] == "VICTORY"
    assert "score" not in answers[-1]  # gated off on the result screen


def test_server_was_stopped(demo_run):
    out, p = demo_run
    m = re.search(r"is up at http://127\.0\.0\.1:(\d+)/", p.stdout)
    assert m, p.stdout
    with socket.socket() as s:
        s.settimeout(1)
        assert s.connect_ex(("127.0.0.1", int(m.group(1)))) != 0, "the demo left its server running"


def test_report_written(demo_run):
    out, p = demo_run
    report = out / "report.html"
    assert report.is_file() and report.stat().st_size > 10_000
    assert f"report: {report}" in p.stdout
    frames = (out / "recording" / "frames.jsonl").read_text().splitlines()  # `otrig serve --record`
    assert len(frames) == 40


def test_demo_files_for_the_tutorial(demo_run):
    out, p = demo_run
    for name in ("demo.mp4", "truth.json", "screenshots/playing.png", "screenshots/result.png",
                 "assets/demo_icons/circle.png", "assets/demo_icons/triangle.png", "assets/demo_icons/square.png"):
        assert (out / name).is_file(), name
