"""bench/run --quick completes and prints the results table (no timing assertions: the
machine is small and shared).

Marked `bench`: `make test` leaves it out (it costs 25-40 s of the suite); `make bench-smoke`
and CI (.ci/run) run it on their own."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.bench
def test_bench_quick_prints_table(tmp_path: Path) -> None:
    out = tmp_path / "results.md"
    p = subprocess.run([sys.executable, str(REPO / "bench" / "run"), "--quick", "--out", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    text = p.stdout
    assert "| section | measurement | value | baseline (same run) | ratio | target | result | note |" in text
    for section in ("1 loopback", "2 ingest", "3 processing", "4 OCR", "5 extract", "6 memory", "7 reliability"):
        assert f"| {section} |" in text, f"no rows for section {section}:\n{text[-3000:]}"
    assert "section failed" not in text, text[-3000:]
    assert out.read_text(encoding="utf-8").strip() == text.strip()
