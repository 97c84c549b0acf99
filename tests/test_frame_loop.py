"""One frame loop (engine.runtime.loop.run_frame): the server, `otrig run` and `otrig report`
process a frame, build its answer once, and hand that answer to the recorder, so a recording
holds exactly what was answered. Before it, the server built each recorded frame's answer
twice (once for the client, once in the recorder's hook) and every command had its own loop.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import engine.runtime.loop as loop
from cli.main import app
from engine.debug.recorder import Recorder
from engine.runtime.game import load_game
from helpers import post_frame

GAME = """\
game: loop
regions:
  corner: {box: [0, 0, 10, 10]}
  mid: {box: [900, 500, 20, 20]}
processors:
  screen:
    screens:
      lit: {all: [{fraction: {region: mid, space: bgr, ranges: [[[180, 180, 180], [255, 255, 255]]], min: 0.9}}]}
    default: dark
  hud:
    when: screen == "lit"
    every: 1s
    fields:
      tint: {color: {region: corner}}
"""


@pytest.fixture
def game_file(tmp_path) -> Path:
    p = tmp_path / "loop.yaml"
    p.write_text(GAME)
    return p


@pytest.fixture
def count_answers(monkeypatch) -> list[bytes]:
    """Every answer built in this process, in order (the one builder, wrapped)."""
    built: list[bytes] = []
    real = loop.build_answer

    def counting(*args, **kwargs):
        out = real(*args, **kwargs)
        built.append(out)
        return out

    monkeypatch.setattr(loop, "build_answer", counting)
    return built


def frame_image(i: int) -> np.ndarray:
    img = np.zeros((1080, 1920, 3), np.uint8)
    img[:10, :10] = (10 * i, 20, 30)
    if i % 2 == 0:
        img[500:520, 900:920] = 200
    return img


def rec_lines(d: Path) -> list[dict]:
    return [json.loads(x) for x in (d / "frames.jsonl").read_text().splitlines()]


def test_the_recorded_answer_is_the_answer_the_server_sent_built_once(inproc_game, game_file, tmp_path,
                                                                     count_answers):
    game = load_game(game_file)
    rec_dir = tmp_path / "rec"
    recorder = Recorder(rec_dir, game=game, block=True)
    url, _server = inproc_game(game, recorder=recorder)
    bodies = []
    for i in range(4):
        # the client's own text: key order, spacing, a float written 1.10 and a \\u escape come back as sent
        text = (f'{{"frame_no": {i},  "timestamp": 1.10, "who": "\\u00e9", '
                f'"relative_timestamp": {i}.0}}').encode()
        r = post_frame(url, frame_image(i), text)
        assert r.status == 200, r.body
        assert r.body.startswith(text[:-1])
        bodies.append(r.body)
    recorder.close()
    assert count_answers == bodies  # one answer built per frame: the one sent
    recorded = rec_lines(rec_dir)
    assert [line["answer"] for line in recorded] == [json.loads(b) for b in bodies]
    assert json.loads(bodies[0])["hud"] == {"tint": [0.0, 20.0, 30.0]}
    assert "hud" not in json.loads(bodies[1])  # gated off on a dark frame
    assert recorded[0]["steps"], "the engine's step traces were recorded"


def write_shots(folder: Path, n: int) -> list[str]:
    """n screenshots of distinct frames, as PNG files."""
    import cv2

    shots = []
    for i in range(n):
        p = folder / f"shot{i}.png"
        cv2.imwrite(str(p), frame_image(i))
        shots.append(str(p))
    return shots


def test_otrig_run_writes_and_records_one_answer_per_frame(game_file, tmp_path, count_answers):
    shots = write_shots(tmp_path, 3)
    rec_dir = tmp_path / "rec"
    r = CliRunner().invoke(app, ["run", str(game_file), *shots, "--record", str(rec_dir)])
    assert r.exit_code == 0, r.output
    printed = r.stdout_bytes.splitlines()
    assert printed == count_answers  # each line is the one answer built for its frame
    assert [line["answer"] for line in rec_lines(rec_dir)] == [json.loads(b) for b in printed]


def test_otrig_report_records_one_answer_per_frame(game_file, tmp_path, count_answers):
    shots = write_shots(tmp_path, 2)
    rec_dir = tmp_path / "rec"
    r = CliRunner().invoke(app, ["report", str(game_file), *shots, "--record", str(rec_dir),
                                 "-o", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    assert [line["answer"] for line in rec_lines(rec_dir)] == [json.loads(b) for b in count_answers]
    assert len(count_answers) == 2


def test_a_value_that_is_not_json_fails_the_frame_but_its_trace_is_recorded(tmp_path):
    from engine.runtime.results import FrameOutput

    class NaNGame:
        def process(self, image, frame, *, explain=False, keep_images=False):
            return FrameOutput(objects={"x": {"v": float("nan")}})

    with Recorder(tmp_path, block=True) as rec:
        with pytest.raises(loop.FrameNotAnswered, match="NaN"):
            loop.run_frame(NaNGame(), frame_image(0), {"frame_no": 1}, recorder=rec)
    (line,) = rec_lines(tmp_path)
    assert line["answer"] is None and line["objects"] == {"x": {"v": None}}


def test_the_recording_describes_the_compiled_game(game_file, tmp_path):
    """meta.json's processors and regions come from CompiledGame.describe(), not a second
    reading of the YAML: the effective viewport (--viewport) is in it, and step labels match
    the traces'."""
    r = CliRunner().invoke(app, ["run", str(game_file), str(tmp_path / "none.png"), "--record", str(tmp_path / "rec"),
                                 "--viewport", "0,0,1280,720"])
    assert r.exit_code == 1  # the source is missing; the recording was still set up
    meta = json.loads((tmp_path / "rec" / "meta.json").read_text())
    assert meta["game"] == "loop" and meta["viewport"] == [0, 0, 1280, 720]
    procs = {p["name"]: p for p in meta["processors"]}
    assert procs["screen"] == {"name": "screen", "kind": "screens", "items": ["lit"],
                               "step_regions": {"lit[0]": "mid"}, "every": None, "when": None, "emit": True}
    assert procs["hud"]["every"] == 1.0 and procs["hud"]["when"] == 'screen == "lit"'
    assert procs["hud"]["step_regions"] == {"tint": "corner"}
    assert meta["regions"]["mid"] == {"anchor": "center", "boxes": [[900, 500, 20, 20]]}


def test_describe_names_a_step_placed_from_an_earlier_field(tmp_path):
    p = tmp_path / "rel.yaml"
    p.write_text(textwrap.dedent("""\
        game: rel
        regions:
          bar: {box: [0, 0, 100, 20]}
        processors:
          p:
            fields:
              icon: {color: {region: bar}}
              next: {color: {region: {from: icon, offset: [4, 0], size: [10, 5]}}}
        """))
    (proc,) = load_game(p).describe().processors
    assert proc.step_regions == {"icon": "bar", "next": "from icon +4,0 size 10x5"}
