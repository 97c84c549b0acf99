"""`--explain` per step and per box (issue 14), on real frames of ../shared/data: a template's
best and runner-up with where they matched, every OCR attempt's reason, a list's cells and
their null reasons, over `otrig run` and over HTTP."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from engine.runtime.explain import explain_frame
from engine.runtime.game import load_game
from helpers import post_frame

ROOT = Path(__file__).resolve().parents[1]
LOBA = "apex/t8cp8hhm.jpg"  # MANIFEST: champion portrait at 84,956,82,72; weapons [P2020, empty]; clip 12


def frame_of(data: Path, name: str) -> tuple[np.ndarray, dict]:
    img = cv2.imread(str(data / name))
    assert img is not None, name
    return cv2.resize(img, (1920, 1080)), {"relative_timestamp": 0.0,
                                          "source": {"file": name, "original_shape": list(img.shape)}}


def apex(data: Path):
    return load_game(ROOT / "games" / "apex.yaml", assets=[data], budget_ms=float("inf"))


def test_template_names_best_and_runner_up_and_where_they_matched(shared_data):
    img, frame = frame_of(shared_data, LOBA)
    out = apex(shared_data).process(img, frame, explain=True)
    json.dumps(out.explain, allow_nan=False)  # plain JSON, no images or numpy values
    step = out.explain["processors"]["champion"]["steps"]["name"]
    assert step["kind"] == "template" and step["status"] == "hit" and step["value"] == "loba"
    best, runner = step["best"], step["runner_up"]
    assert best["label"] == "loba" and runner["label"] not in (None, "loba")
    assert best["score"] == step["score"] > runner["score"]
    assert step["margin"] == pytest.approx(best["score"] - runner["score"], abs=1e-3)
    # where the best match was, in frame pixels: the manifest's portrait box (84,956,82,72),
    # the template being a few pixels smaller than the portrait's drawn frame
    x, y, w, h = best["box"]
    assert abs(x - 84) <= 3 and abs(y - 956) <= 3 and abs(w - 82) <= 4 and abs(h - 72) <= 6
    assert step["found"] == best["box"]
    rx, ry, rw, rh = runner["box"]
    bx, by, bw, bh = step["box"]  # the region the step looked in
    assert bx <= rx and by <= ry and rx + rw <= bx + bw and ry + rh <= by + bh


def test_a_miss_still_says_where_the_best_candidate_matched(shared_data, game_file):
    img, frame = frame_of(shared_data, LOBA)
    p = game_file(f"""
        game: x
        regions:
          portrait: {{box: [70, 945, 110, 95]}}
        processors:
          champion:
            fields:
              name: {{template: {{region: portrait, templates: apex/champions_large, threshold: 1}}}}
        """)
    out = load_game(p, assets=[shared_data]).process(img, frame, explain=True)
    step = out.explain["processors"]["champion"]["steps"]["name"]
    assert step["status"] == "miss" and step["value"] is None and "found" not in step
    assert step["best"]["label"] == "loba" and "< threshold 1" in step["reason"]
    assert abs(step["best"]["box"][0] - 84) <= 3 and abs(step["best"]["box"][1] - 956) <= 3


RETRY_GAME = """
    game: x
    regions:
      clip: {{box: [1725, 960, 62, 38]}}
    processors:
      ammo:
        fields:
          clip:
            ocr:
              region: clip
              prep: [grey, {{scale: 2}}, invert]
              whitelist: "ABC"
              regex: '^(\\d+)$'
              cast: int
              retry:
                - {{psm: 8}}
                - {{whitelist: "0123456789"{last}}}
    """


def test_every_ocr_attempt_keeps_its_reason(shared_data, game_file):
    """A first read and a retry that fail, then a retry that reads the clip: all three attempts
    are in the explain, each with what it read and why it was refused."""
    img, frame = frame_of(shared_data, LOBA)
    g = load_game(game_file(RETRY_GAME.format(last="")), assets=[shared_data])
    out = g.process(img, frame, explain=True)
    assert out.objects["ammo"]["clip"] == 12
    step = out.explain["processors"]["ammo"]["steps"]["clip"]
    attempts = step["attempts"]
    assert len(attempts) == 3
    assert all(a["reason"] for a in attempts[:2]) and attempts[2]["reason"] is None
    assert attempts[2]["text"] == "12" and step["text"] == "12" and step["value"] == 12
    for a in attempts[:2]:  # a refused read names what was read (letters only: no digits)
        assert "does not match" in a["reason"] or a["reason"] == "no text"


def test_when_every_attempt_fails_each_reason_survives(shared_data, game_file):
    img, frame = frame_of(shared_data, LOBA)
    # the last retry reads the digits but the range refuses 12
    g = load_game(game_file(RETRY_GAME.format(last="").replace("cast: int", "cast: int\n              range: [50, 99]")),
                  assets=[shared_data])
    out = g.process(img, frame, explain=True)
    assert out.objects["ammo"]["clip"] is None
    step = out.explain["processors"]["ammo"]["steps"]["clip"]
    reasons = [a["reason"] for a in step["attempts"]]
    assert len(reasons) == 3 and all(reasons)
    assert "outside the range [50, 99]" in reasons[2] and "12" in reasons[2]
    assert reasons[0] != reasons[2]  # the first read's own reason, not the last one's again
    assert step["reason"] == out.objects["ammo"]["null_reasons"]["clip"] == reasons[2]


def test_a_list_field_explains_each_cell_and_answers_null_reasons_per_element(shared_data):
    img, frame = frame_of(shared_data, LOBA)
    g = apex(shared_data)
    out = g.process(img, frame, explain=True)
    weapons = out.objects["weapons"]
    assert weapons["names"] == ["P2020", None]  # MANIFEST: weapons=[P2020, empty]
    reasons = weapons["null_reasons"]["names"]
    assert reasons[0] is None and isinstance(reasons[1], str) and reasons[1]
    # the list's confidence is its weakest element's
    step = out.explain["processors"]["weapons"]["steps"]["names"]
    cells = step["cells"]
    assert [c["value"] for c in cells] == ["P2020", None] and step["cells_hit"] == 1
    assert [c["status"] for c in cells] == ["hit", "miss"]
    assert cells[1]["reason"] == reasons[1]
    assert cells[0]["text"] == "P2020" and cells[0]["conf"] > 50
    assert [c["box"] for c in cells] == step["boxes"] and len(step["boxes"]) == 2
    assert weapons["confidence"]["names"] == round(min(c["confidence"] for c in cells), 3)
    # the answer without explain is the same answer
    again = g.process(img, {**frame, "relative_timestamp": 10.0})
    assert again.explain is None
    assert json.dumps(again.objects) == json.dumps(out.objects)


def test_glyph_steps_list_each_glyph_with_its_runner_up(shared_data):
    img, frame = frame_of(shared_data, LOBA)
    out = apex(shared_data).process(img, frame, explain=True)
    step = out.explain["processors"]["ammo"]["steps"]["clip"]
    assert step["kind"] == "glyphs" and step["value"] == 12 and step["text"] == "12"
    read = [gl for gl in step["glyphs"] if "char" in gl]
    assert [gl["char"] for gl in read] == ["1", "2"]
    assert all(gl["runner_up"] and gl["runner_up"] != gl["char"] and gl["margin"] > 0 for gl in read)
    assert step["confidence"] == pytest.approx(min(gl["score"] for gl in read), abs=1e-3)


def test_skipped_processors_and_screen_steps_are_explained(shared_data):
    img, frame = frame_of(shared_data, LOBA)
    out = apex(shared_data).process(img, frame, explain=True)
    procs = out.explain["processors"]
    assert list(procs) == [p.name for p in out.processors]
    assert procs["summary"]["status"] == "skip" and procs["summary"]["reason"].startswith("gate: ")
    assert out.explain["skipped"]["summary"] == procs["summary"]["reason"]
    screen = procs["screen"]["steps"]
    frac = next(s for s in screen.values() if s["kind"] == "fraction")
    assert frac["fraction"] == frac["value"] and len(frac["box"]) == 4
    # one function builds it from any frame's traces (otrig studio calls it too)
    again = explain_frame(out.processors, out.steps)
    assert again["processors"] == procs


def test_otrig_run_explain_and_http_explain(shared_data, inproc_game):
    r = CliRunner().invoke(app, ["run", "apex", str(shared_data / LOBA), "--assets", str(shared_data), "--explain"])
    assert r.exit_code == 0, r.output
    ans = json.loads(r.stdout)
    assert ans["explain"]["processors"]["champion"]["steps"]["name"]["best"]["label"] == "loba"
    img, _ = frame_of(shared_data, LOBA)
    url, _server = inproc_game(apex(shared_data))
    doc = json.loads(post_frame(url, img, {"frame_no": 1, "relative_timestamp": 0.0}, path="/?explain=1").body)
    cells = doc["explain"]["processors"]["weapons"]["steps"]["names"]["cells"]
    assert [c["value"] for c in cells] == ["P2020", None]
    plain = json.loads(post_frame(url, img, {"frame_no": 2, "relative_timestamp": 10.0}).body)
    assert "explain" not in plain and plain["weapons"] == doc["weapons"]


def shared_frames(data: Path, game: str):
    """The game's shared stills, or for Melee (videos only) the truth frames of smuckers.mp4."""
    stills = sorted(p for p in (data / game).glob("*") if p.suffix in (".png", ".jpg"))
    for p in stills:
        yield frame_of(data, f"{game}/{p.name}")
    if not stills:
        cap = cv2.VideoCapture(str(data / game / "smuckers.mp4"))
        try:
            for n in (0, 600, 1200, 1799):
                cap.set(cv2.CAP_PROP_POS_FRAMES, n)
                ok, img = cap.read()
                assert ok, n
                yield cv2.resize(img, (1920, 1080)), {"relative_timestamp": n / 60,
                                                      "source": {"file": "smuckers.mp4", "original_shape": list(img.shape)}}
        finally:
            cap.release()


@pytest.mark.parametrize("game", ["apex", "valorant", "melee"])
def test_every_shared_frame_explains_in_plain_json_without_changing_the_answer(shared_data, game):
    g = load_game(ROOT / "games" / f"{game}.yaml", assets=[shared_data], budget_ms=float("inf"))
    kinds: set[str] = set()
    for img, frame in shared_frames(shared_data, game):
        plain = g.process(img, {**frame, "source": {**frame["source"], "run": "plain"}})
        out = g.process(img, {**frame, "source": {**frame["source"], "run": "explain"}}, explain=True)
        assert json.dumps(plain.answer_objects()) == json.dumps({k: v for k, v in out.answer_objects().items()
                                                                 if k != "explain"})
        text = json.dumps(out.explain, allow_nan=False)
        assert len(text) < 100_000  # compact: no images
        steps = [s for p in out.explain["processors"].values() for s in p["steps"].values()]
        assert len(steps) == len(out.steps)
        for s, t in zip(steps, out.steps):
            assert s["status"] == t.status and s["kind"] == t.kind
            if t.result.reason:
                assert s["reason"] == t.result.reason
        kinds |= {s["kind"] for s in steps}
    assert {"ocr", "glyphs"} & kinds  # text steps ran, with what they read
