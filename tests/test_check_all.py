"""`otrig check` reports every independent problem of a game file in one pass (issue 14)."""
from __future__ import annotations

import pytest

from engine.lang.errors import GameFileError, GameFileErrors
from engine.runtime.game import load_game
from helpers import run_otrig

SHAPE_PROBLEMS = """
game: x
regions:
  a: {box: [0, 0, 10]}
  b: {box: [0, 0, 10, 10], anchr: top}
processors:
  p:
    every: fast
    fields:
      v: {color: {region: a}}
  q:
    fields:
      w: {fraction: {region: b, space: hsv, ranges: [[[0, 0, 0], [200, 255, 255]]], min: 0.5}}
"""

COMPILE_PROBLEMS = """
game: x
regions:
  a: {box: [0, 0, 10, 10]}
processors:
  p:
    fields:
      v: {color: {region: nowhere}}
      w: {color: {region: a}}
  q:
    when: p.v > 3 and
    fields:
      x: {color: {region: elsewhere}}
"""


def test_every_shape_problem_at_once(game_file):
    with pytest.raises(GameFileErrors) as info:
        load_game(game_file(SHAPE_PROBLEMS))
    said = [str(e) for e in info.value.errors]
    assert len(said) == 4, said
    assert any("regions.a.box" in s for s in said)
    assert any("regions.b.anchr: unknown key" in s for s in said)
    assert any("processors.p.every" in s for s in said)
    assert any("processors.q.fields.w.fraction.ranges" in s and "179" in s for s in said)
    assert all(isinstance(e, GameFileError) and e.line is not None for e in info.value.errors)


def test_every_compile_problem_at_once(game_file):
    with pytest.raises(GameFileErrors) as info:
        load_game(game_file(COMPILE_PROBLEMS))
    said = [str(e) for e in info.value.errors]
    assert len(said) == 3, said
    assert any("unknown region 'nowhere'" in s for s in said)
    assert any("processors.q.when" in s for s in said)
    assert any("unknown region 'elsewhere'" in s for s in said)


def test_one_problem_is_reported_as_itself(game_file):
    with pytest.raises(GameFileError, match="unknown region 'nowhere'"):
        load_game(game_file(COMPILE_PROBLEMS.replace("region: elsewhere", "region: a")
                            .replace("when: p.v > 3 and", "when: p.v > 3")))


def test_check_prints_each_and_counts(game_file):
    r = run_otrig("check", str(game_file(SHAPE_PROBLEMS)))
    assert r.returncode == 1
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len([line for line in lines if ".yaml:" in line and ": " in line]) >= 4, r.stderr
    assert "4 problems" in r.stderr and "Traceback" not in r.stderr


ANCHORED = """
game: x
x-white: &white [[[0, 0, 200], [180, 40, 255]]]
regions:
  a: {box: [0, 0, 10, 10]}
  b: {box: [10, 0, 10, 10]}
processors:
  p:
    fields:
      u: {fraction: {region: a, space: hsv, ranges: *white, min: 0.5}}
      v: {fraction: {region: b, space: hsv, ranges: *white, min: 0.5}}
"""


def test_shared_settings_by_yaml_anchor_under_an_x_key(game_file):
    import jsonschema
    import numpy as np
    import yaml

    from engine.runtime.model import game_schema

    g = load_game(game_file(ANCHORED))
    white = np.full((1080, 1920, 3), 255, np.uint8)
    out = g.process(white, {"relative_timestamp": 0.0}).objects["p"]
    assert out["u"] == out["v"] == 1.0, out  # the share of white, read alike through the anchor
    jsonschema.validate(yaml.safe_load(ANCHORED), game_schema())  # the editor agrees
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(ANCHORED.replace("x-white", "white")), game_schema())


@pytest.mark.parametrize("text", ["game: e\nprocessors:\n", "game: e\nregions:\nprocessors:\n", "game: e\n"])
def test_an_empty_game_is_valid(game_file, text):
    import jsonschema
    import yaml

    from engine.runtime.model import game_schema

    g = load_game(game_file(text))
    import numpy as np

    assert g.process(np.zeros((1080, 1920, 3), np.uint8), {}).objects == {}
    jsonschema.validate(yaml.safe_load(text), game_schema())


def test_x_keys_inside_maps_of_names(game_file):
    g = load_game(game_file("""
game: x
regions:
  x-hud: &hud {box: [0, 0, 10, 10]}
  a: *hud
processors:
  p:
    fields:
      x-note: {color: {region: nowhere}}
      v: {color: {region: a}}
"""))
    assert list(g.regions) == ["a"] and [f.name for f in g.graph.processors[0].fields] == ["v"]


def test_a_bad_gate_and_bad_screen_steps_are_all_reported(game_file):
    with pytest.raises(GameFileErrors) as info:
        load_game(game_file("""
game: x
regions:
  a: {box: [0, 0, 10, 10]}
processors:
  s:
    when: 1 +
    screens:
      one: {all: [{color: {region: nowhere}}, {color: {region: elsewhere}}]}
"""))
    said = " | ".join(str(e) for e in info.value.errors)
    assert len(info.value.errors) == 3 and "nowhere" in said and "elsewhere" in said and "when" in said, said


def test_a_field_with_emit_false_places_boxes_but_is_not_answered(game_file, tmp_path):
    import cv2
    import numpy as np

    (tmp_path / "marks").mkdir()
    mark = np.zeros((14, 14, 3), np.uint8)
    mark[2:12, 2:12] = 255
    cv2.imwrite(str(tmp_path / "marks" / "m.png"), mark)
    g = load_game(game_file("""
game: x
regions:
  a: {box: [0, 0, 40, 40]}
processors:
  p:
    confidence: true
    fields:
      anchor: {template: {region: a, templates: marks/*.png, threshold: 0.5}, emit: false}
      near: {color: {region: {from: anchor, offset: [4, 4], size: [4, 4]}}, when: p.anchor != null}
"""))
    img = np.zeros((1080, 1920, 3), np.uint8)
    img[10:20, 10:20] = 255
    out = g.process(img, {"relative_timestamp": 0.0}).objects["p"]
    assert "anchor" not in out and "anchor" not in out["confidence"]
    assert out["near"] == [255.0, 255.0, 255.0]  # its box was placed by the hidden field


SCREEN_BY_BARE_NAME = """
game: x
regions:
  a: {box: [0, 0, 10, 10]}
processors:
  screen:
    screens:
      results: {all: [{fraction: {region: a, space: hsv, ranges: [[[0, 0, 0], [180, 255, 255]]], min: 0.5}}]}
  results:
    when: screen == results
    fields:
      v: {color: {region: a}}
  other:
    when: screen.name == "results"
    fields:
      w:
        color: {region: a}
        when: screen != other
"""


def test_a_screen_compared_with_a_bare_processor_name_is_warned(tmp_path):
    """`when: screen == results`, where results is a screen and also a processor, compares
    two processors' values and never opens; check warns and says what to write. A quoted
    name is not warned."""
    p = tmp_path / "x.yaml"
    p.write_text(SCREEN_BY_BARE_NAME)
    r = run_otrig("check", str(p))
    assert r.returncode == 0, r.stderr
    warned = [line for line in r.stderr.splitlines() if "compares screen group" in line]
    assert len(warned) == 2, r.stderr
    assert warned[0].startswith(f"warning: {p}:10: processors.results.when: `screen == results`")
    assert warned[0].endswith('write screen.name == "results"')
    # 'other' is no screen of the group: the hint is a quoted name, whatever it is
    assert "processors.other.fields.w.when" in warned[1] and warned[1].endswith('screen.name == "..."')
