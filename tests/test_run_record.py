"""`otrig run --record DIR` records what `otrig report DIR` renders."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import SHARED_DATA as DATA, need_shared_data as need_data

ROOT = Path(__file__).resolve().parents[1]


def test_run_record_then_report(tmp_path):
    need_data()
    rec = tmp_path / "rec"
    frames = [DATA / "apex" / "t8cp8hhm.jpg", DATA / "apex" / "img1.png"]
    r = subprocess.run([sys.executable, "-m", "cli.main", "run", str(ROOT / "tests" / "games" / "apex_frame.yaml"),
                        *map(str, frames), "--assets", str(DATA), "--record", str(rec)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    answers = [json.loads(line) for line in r.stdout.splitlines()]
    assert answers[0]["weapon"]["clip"] == 12
    lines = [json.loads(line) for line in (rec / "frames.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    assert any(p.name.endswith("_crop.png") for p in (rec / "img").iterdir())
    out = tmp_path / "report.html"
    r = subprocess.run([sys.executable, "-m", "cli.main", "report", str(rec), "-o", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    assert "loba" in html and "weapon" in html
