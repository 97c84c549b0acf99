"""Random edits of a valid game file give a valid graph or a located error, never a traceback."""
from __future__ import annotations


from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.lang.errors import GameFileError
from engine.runtime.game import load_game

VALID = """\
game: fuzz
version: 1
regions:
  panel: {box: [100, 100, 200, 40], anchor: bottom-right}
  cells: {grid: {box: [10, 10, 20, 20], n: 3, stride: [30, 0]}}
processors:
  screen:
    every: 1s
    default: other
    screens:
      playing: {all: [{fraction: {region: panel, space: hsv, ranges: [[[0, 0, 200], [180, 40, 255]]], min: 0.2}}]}
  hud:
    when: screen == "playing"
    look_behind: 2s
    on_skip: repeat
    every: 500ms
    confidence: true
    fields:
      ammo: {ocr: {region: panel, prep: [grey, {scale: 2}, invert], whitelist: "0123456789", cast: int, range: [0, 300]}, stable_for: 2}
      tint: {palette: {region: cells, colors: {red: [0, 0, 255], blue: [255, 0, 0]}}}
      fill: {bar: {region: panel, ranges: [[[0, 150, 0], [80, 255, 80]]], direction: left}}
"""

TOKENS = ["", " ", ":", "-", "[", "]", "{", "}", ",", "\n", "  ", "0", "-1", "999999", "x", "null", "true",
          "'", '"', "&a", "*a", "!!python/object:os.system", "<<", "#", "1e400", "nan", "\t"]


@st.composite
def edits(draw):
    text = VALID
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        token = draw(st.sampled_from(TOKENS))
        if kind == "insert":
            text = text[:pos] + token + text[pos:]
        elif kind == "delete":
            n = draw(st.integers(1, 8))
            text = text[:pos] + text[pos + n:]
        else:
            n = draw(st.integers(1, 6))
            text = text[:pos] + token + text[pos + n:]
    return text


def test_valid_file_loads(tmp_path):
    p = tmp_path / "fuzz.yaml"
    p.write_text(VALID)
    assert [pr.name for pr in load_game(p).graph.processors] == ["screen", "hud"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=edits())
def test_random_edits_never_crash(tmp_path, text):
    p = tmp_path / "fuzz.yaml"
    p.write_text(text, encoding="utf-8")
    try:
        load_game(p)
    except GameFileError as e:
        message = str(e)
        assert message.startswith(str(p)), message
        assert "Traceback" not in message
