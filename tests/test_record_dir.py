"""`--record DIR` never deletes what otrig did not write, and says why a folder cannot be used (issue 16)."""
from __future__ import annotations

import json
import os
import re

import pytest

from engine.debug.recorder import Recorder, RecordingDirError
from helpers import make_image, run_otrig


def _record_one(folder, frame_no: int = 1) -> None:
    with Recorder(folder, block=True) as rec:
        rec.record(make_image(frame_no), {"frame_no": frame_no}, b'{"frame_no": %d}' % frame_no, None)


def test_a_folder_of_other_files_is_refused_and_left_alone(tmp_path):
    mine = tmp_path / "videos"
    (mine / "img").mkdir(parents=True)
    (mine / "img" / "holiday.png").write_bytes(b"x")
    (mine / "frames.jsonl").write_text("my own notes\n")
    with pytest.raises(RecordingDirError, match="not an otrig recording.*frames.jsonl, img"):
        Recorder(mine, block=True)
    assert (mine / "img" / "holiday.png").read_bytes() == b"x"
    assert (mine / "frames.jsonl").read_text() == "my own notes\n"


def test_an_earlier_recording_is_replaced_keeping_foreign_files(tmp_path):
    _record_one(tmp_path, 1)
    assert [p.name for p in (tmp_path / "img").iterdir()] == ["000000_thumb.jpg"]
    (tmp_path / "img" / "notes.txt").write_text("mine")
    (tmp_path / "README").write_text("mine too")
    _record_one(tmp_path, 2)
    lines = (tmp_path / "frames.jsonl").read_text().splitlines()
    assert [json.loads(line)["frame"]["frame_no"] for line in lines] == [2]
    assert (tmp_path / "img" / "notes.txt").read_text() == "mine"
    assert (tmp_path / "README").read_text() == "mine too"


def test_a_file_is_refused(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(RecordingDirError, match="that is a file"):
        Recorder(f, block=True)
    assert f.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_folder_is_named(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(RecordingDirError, match="cannot write there"):
            Recorder(ro, block=True)
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("command", ["serve", "run"])
def test_the_cli_says_what_failed_without_a_traceback(tmp_path, command):
    (tmp_path / "keep.txt").write_text("mine")
    args = ["echo", "--record", str(tmp_path), "--port", "0"] if command == "serve" else \
        ["echo", str(tmp_path / "keep.txt"), "--record", str(tmp_path)]
    p = run_otrig(command, *args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    said = _text(p.stderr)
    assert "--record" in said and "not an otrig recording" in said
    assert "Traceback" not in said and "cannot listen" not in said
    assert (tmp_path / "keep.txt").read_text() == "mine"
    p = run_otrig(command, *[a if a != str(tmp_path) else "/proc/otrig-nope" for a in args])
    said = _text(p.stderr)
    assert p.returncode == 2 and "cannot create or read the folder" in said and "Traceback" not in said


def _text(stderr: str) -> str:
    """typer's boxed error as one line of words."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", stderr).split())


def test_a_frame_holding_a_lone_surrogate_is_recorded_as_sent(tmp_path):
    frame = json.loads('{"frame_no": 4, "name": "a\\ud800b"}')  # valid JSON, not encodable as UTF-8
    with Recorder(tmp_path, block=True) as rec:
        assert rec.record(make_image(4), frame, b'{"frame_no": 4, "name": "a\\ud800b"}', None)
    assert rec.stats.errors == 0 and rec.stats.written == 1
    line = (tmp_path / "frames.jsonl").read_text(encoding="utf-8")
    assert json.loads(line)["frame"] == frame
    p = run_otrig("report", str(tmp_path))  # and the report shows it as its escape
    assert p.returncode == 0, p.stderr
    assert "a\\ud800b" in (tmp_path / "report.html").read_text(encoding="utf-8")
