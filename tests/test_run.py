"""`otrig run`: the server's per-frame processing in-process, as JSON Lines."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_sources import draw_index, make_video  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OTRIG = Path(sys.executable).parent / "otrig"


def otrig(*args: str) -> subprocess.CompletedProcess:
    cmd = [str(OTRIG)] if OTRIG.exists() else [sys.executable, "-m", "cli.main"]
    return subprocess.run(cmd + list(args), cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("run")
    png = d / "shot.png"
    cv2.imwrite(str(png), draw_index(5, 1280, 720))
    jpg = d / "shot.jpg"
    cv2.imwrite(str(jpg), draw_index(6, 1920, 1080))
    vid = make_video(d / "clip.mp4", frames=60, size=(320, 180))
    return {"png": png, "jpg": jpg, "video": vid, "dir": d}


def test_image_gives_jsonl_with_image_source(media):
    r = otrig("run", "games/echo.yaml", str(media["png"]))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert obj["source"] == {"type": "image", "file": str(media["png"]), "original_shape": [720, 1280, 3]}
    assert obj["frame_no"] == 0 and obj["relative_timestamp"] == 0.0
    assert list(obj)[:6] == ["timestamp", "timestamp_str", "relative_timestamp_str", "relative_timestamp",
                             "frame_no", "source"]
    assert "Traceback" not in r.stderr


def test_images_and_video_to_file(media):
    out = media["dir"] / "out.jsonl"
    r = otrig("run", "games/echo.yaml", str(media["jpg"]), str(media["video"]), "-r", "2", "-s", "0.5",
              "--jsonl", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    objs = [json.loads(line) for line in out.read_text().splitlines()]
    assert objs[0]["source"]["type"] == "image" and objs[0]["source"]["original_shape"] == [1080, 1920, 3]
    vids = objs[1:]
    assert [o["frame_no"] for o in vids] == [15, 30, 45]
    assert [o["relative_timestamp"] for o in vids] == [0.5, 1.0, 1.5]
    assert all(o["source"]["type"] == "video" and o["source"]["original_shape"] == [180, 320, 3] for o in vids)


def test_answer_format_matches_the_server(media):
    """Each line is engine.plugin.protocol.build_answer of the frame's JSON text: the frame, then objects."""
    from engine.runtime.game import load_game
    from engine.plugin.protocol import build_answer
    from engine.media.sources import read_image

    game = load_game(ROOT / "games" / "echo.yaml")
    image, frame = read_image(media["png"])
    expected = build_answer(json.dumps(frame).encode(), frame,
                            game.process(image, frame, explain=True).answer_objects())
    r = otrig("run", "games/echo.yaml", str(media["png"]), "--explain")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    want = json.loads(expected)
    for k in ("timestamp", "timestamp_str"):  # wall clock differs between the two runs
        got.pop(k), want.pop(k)
    assert list(got) == list(want) and "explain" in got
    got.pop("explain"), want.pop("explain")   # holds timings
    assert got == want


def test_bad_sources_and_game(media, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"nope")
    r = otrig("run", "games/echo.yaml", str(bad), str(media["png"]))
    assert r.returncode == 1
    assert "broken.png" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stdout.splitlines()) == 1  # the good source still ran
    # the argument checks in-process (same code, no process start-up)
    from typer.testing import CliRunner

    from cli.main import app
    res = CliRunner().invoke(app, ["run", str(tmp_path / "missing.yaml"), str(media["png"])])
    assert res.exit_code == 1 and "missing.yaml" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(app, ["run", "games/echo.yaml", str(media["png"]), "--viewport", "1,2,3"])
    assert res.exit_code == 2 and "X,Y,W,H" in res.output
