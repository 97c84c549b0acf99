"""`otrig schema` refuses what `otrig check` refuses, so an editor never shows green where the
tool says red: both come from one declaration per block of keys (engine/lang/schema.py).

The schema is the real `otrig schema` output, checked with jsonschema's Draft 2020-12
validator; the loader is the real `load_game` (Tesseract included, for ocr steps).
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from engine.lang.errors import GameFileError
from engine.runtime.game import load_game
from test_language import BROKEN

ROOT = Path(__file__).resolve().parents[1]

# Broken files of test_language.BROKEN whose problem no JSON Schema can see, keyed by a piece
# of the loader's message. Each is checked below to pass the schema: one the schema learns to
# refuse must leave this list.
LOADER_ONLY = {
    "unknown region 'clips'": "a step's region names a region declared elsewhere in the file: "
                              "JSON Schema cannot compare a value with the file's own keys",
    "unknown name 'screen'": "a gate expression's names are the file's processors: the same",
    "gate cycle": "a cycle runs through several processors' gates: a property of the whole file",
    "bad regular expression": "ocr regexes are Python's (named groups are (?P<name>...)); JSON Schema's "
                              "regex format is ECMA 262, and editors do not assert formats",
    "duplicate key": "YAML readers keep the last of two equal keys: the document a schema sees has one",
}
# Not YAML at all: there is no document for a schema to check; editors flag the syntax themselves.
NOT_YAML = "YAML syntax error"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    r = subprocess.run([sys.executable, "-m", "cli.main", "schema"], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    schema = json.loads(r.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema_errors(validator: jsonschema.Draft202012Validator, text: str) -> list[str]:
    doc = yaml.safe_load(text)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def loader_error(tmp_path: Path, text: str) -> str | None:
    p = tmp_path / "g.yaml"
    p.write_text(text, encoding="utf-8")
    try:
        load_game(p)
    except GameFileError as e:
        return str(e)
    return None


@pytest.mark.parametrize("text,expected", BROKEN, ids=[e.split(": ", 1)[1][:60] for _, e in BROKEN])
def test_every_broken_file_fails_the_schema_too(validator, text, expected):
    text = textwrap.dedent(text).lstrip("\n")
    if NOT_YAML in expected:
        with pytest.raises(yaml.YAMLError):
            yaml.safe_load(text)
        return
    errors = schema_errors(validator, text)
    reason = next((why for key, why in LOADER_ONLY.items() if key in expected), None)
    if reason is not None:
        assert errors == [], f"the schema refuses this now; take it off LOADER_ONLY: {errors}"
    else:
        assert errors, f"the schema accepts a file otrig check refuses with: {expected}"


def test_the_loader_only_list_names_real_broken_files():
    messages = [expected for _, expected in BROKEN]
    for key in [*LOADER_ONLY, NOT_YAML]:
        assert sum(key in m for m in messages) == 1, key


def game(field: str = "{color: {region: r}}", processor: str = "", top: str = "") -> str:
    """A small game file with one field; the pieces are YAML lines at their own indent."""
    return (f"game: x\n{top}regions:\n  r: {{box: [0, 0, 10, 10]}}\n"
            f"processors:\n  p:\n{processor}    fields:\n      t: {field}\n")


RANGE = "[[[0, 0, 0], [20, 20, 20]]]"
REFUSED = {
    "a misspelt key": game("{color: {region: r}, stabel_for: 3}"),
    "stable_for above its bound": game("{color: {region: r}, stable_for: 5000}"),
    "an unknown op in a retry": game("{ocr: {region: r, retry: [{prep: [bogus_op]}]}}"),
    "a palette colour above 255": game("{palette: {region: r, colors: {red: [0, 0, 300]}}}"),
    "a BGR range above 255": game("{fraction: {region: r, ranges: [[[0, 0, 0], [256, 255, 255]]]}}"),
    "an HSV hue of 200": game("{fraction: {region: r, space: hsv, ranges: [[[0, 0, 0], [200, 255, 255]]]}}"),
    "an HSV low hue of 180": game("{bar: {region: r, space: hsv, ranges: [[[180, 0, 0], [180, 255, 255]]]}}"),
    "an HSV hue of 200 in an inrange op": game(
        "{color: {region: r, prep: [{inrange: {space: hsv, ranges: [[[0, 0, 0], [200, 255, 255]]]}}]}}"),
    "a range that is not [low, high]": game("{fraction: {region: r, ranges: [[[0, 0, 0]]]}}"),
    "no ranges": game("{fraction: {region: r, ranges: []}}"),
    "an unknown key in keep": game(f"{{color: {{region: r, prep: [{{keep: {{ranges: {RANGE}, spaces: hsv}}}}]}}}}"),
    "a threshold above 255": game("{color: {region: r, prep: [{threshold: 300}]}}"),
    "a threshold word": game("{color: {region: r, prep: [{threshold: triangle}]}}"),
    "an adaptive block below 3": game("{color: {region: r, prep: [{threshold: {adaptive: {block: 2}}}]}}"),
    "a fractional blur": game("{color: {region: r, prep: [{blur: 2.5}]}}"),
    "a zero scale": game("{color: {region: r, prep: [{scale: 0}]}}"),
    "an argument to grey": game("{color: {region: r, prep: [{grey: 1}]}}"),
    "no argument to scale": game("{color: {region: r, prep: [scale]}}"),
    "two ops in one item": game("{color: {region: r, prep: [{scale: 2, blur: 3}]}}"),
    "an unknown channel": game("{color: {region: r, prep: [{channel: alpha}]}}"),
    "stable_for and vote": game("{color: {region: r}, stable_for: 2, vote: 2}"),
    "within without smoothing": game("{color: {region: r}, within: 2s}"),
    "a zero within": game("{color: {region: r}, vote: 3, within: 0ms}"),
    "two step types in a field": game(f"{{color: {{region: r}}, bar: {{region: r, ranges: {RANGE}}}}}"),
    "no step type in a field": game("{stable_for: 2}"),
    "monotonic sideways": game("{color: {region: r}, monotonic: sideways}"),
    "a zero every": game(processor="    every: 0\n"),
    "an every in hours": game(processor="    every: 2h\n"),
    "a default without screens": game(processor="    default: other\n"),
    "a field named confidence": game().replace("      t:", "      confidence:"),
    "a processor name with a dash": game().replace("  p:", "  my-p:"),
    "a group without a regex": game("{ocr: {region: r, group: 1}}"),
    "an empty vocabulary": game("{ocr: {region: r, vocabulary: []}}"),
    "a region with a box and a grid": game(top="").replace(
        "r: {box: [0, 0, 10, 10]}", "r: {box: [0, 0, 10, 10], grid: {box: [0, 0, 5, 5], n: 2, stride: [5, 0]}}"),
    "a viewport without width": game(top="viewport: [0, 0, 0, 1080]\n"),
    "an empty screen test list": ("game: x\nregions:\n  r: {box: [0, 0, 10, 10]}\nprocessors:\n"
                                  "  s:\n    screens:\n      a: {all: []}\n"),
    "a smoothed field in a processor with rows": game("{color: {region: r}, vote: 3}",
                                                      processor="    rows: {region: r}\n"),
    "a field named row in a processor with rows": game(processor="    rows: {region: r}\n").replace("      t:",
                                                                                                  "      row:"),
}
# [low, high] pairs whose low is above their high: JSON Schema cannot compare two values of one
# document (engine.lang.schema.LowHigh), so only the loader refuses them.
LOW_ABOVE_HIGH = {
    "an ocr range": game("{ocr: {region: r, range: [10, 0]}}"),
    "a row band's height": game(processor=f"    rows: {{region: r, band: {{ranges: {RANGE}, height: [40, 30]}}}}\n"),
    "a colour range": game("{fraction: {region: r, ranges: [[[0, 0, 50], [20, 20, 20]]]}}"),
}
ACCEPTED = {
    "HSV hues 0-179, and 180 as a high bound": game(
        "{fraction: {region: r, space: hsv, ranges: [[[0, 0, 0], [179, 255, 255]], [[170, 50, 50], [180, 255, 255]]]}}"),
    "BGR 0-255 and grey levels": game(
        "{fraction: {region: r, prep: [{inrange: {ranges: [[[0, 0, 0], [255, 255, 255]]]}}, {threshold: 255}], "
        "ranges: [[[255, 255, 255], [255, 255, 255]]]}}"),
    "durations": game("{color: {region: r}, vote: 3, within: 1.5 s}", processor="    every: 500ms\n    offset: 0\n"),
    "every op": game("{color: {region: r, prep: [grey, gray, hsv, max, min, invert, normalize, clear_border, otsu, "
                     "{channel: v}, {inrange: {space: hsv, ranges: [[[0, 0, 0], [179, 255, 255]]]}}, "
                     f"{{keep: {{ranges: {RANGE}}}}}, {{threshold: otsu}}, {{threshold: 128}}, "
                     "{threshold: {adaptive: null}}, {threshold: {adaptive: {block: 15, c: -5}}}, {scale: 0.5}, "
                     "{blur: 3}, {unsharp: 1}, {dilate: 2}, {erode: 2}, {pad: 4}, {height: 30}, {spread: 0.3}]}}"),
    "a screen group with a default": ("game: x\nregions:\n  r: {box: [0, 0, 10, 10]}\nprocessors:\n  s:\n"
                                      "    default: none\n    screens:\n"
                                      f"      a: {{any: [{{fraction: {{region: r, ranges: {RANGE}}}}}]}}\n"),
    "numbers where strings go": game("{ocr: {region: r, vocabulary: [2020, P2020], regex: '(\\d+)', group: 1}}"),
}


@pytest.mark.parametrize("text", REFUSED.values(), ids=REFUSED.keys())
def test_loader_and_schema_refuse_alike(validator, tmp_path, text):
    assert loader_error(tmp_path, text) is not None, "otrig check accepts it"
    assert schema_errors(validator, text), "the schema accepts it"


@pytest.mark.parametrize("text", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_loader_and_schema_accept_alike(validator, tmp_path, text):
    assert loader_error(tmp_path, text) is None
    assert schema_errors(validator, text) == []


@pytest.mark.parametrize("text", LOW_ABOVE_HIGH.values(), ids=LOW_ABOVE_HIGH.keys())
def test_low_above_high_is_refused_by_the_loader_alone(validator, tmp_path, text):
    error = loader_error(tmp_path, text)
    assert error is not None and "is above high" in error, error
    assert schema_errors(validator, text) == [], "the schema refuses it now: make it a REFUSED case"


def test_hue_bounds_are_named_in_the_error_and_the_schema(validator, tmp_path):
    error = loader_error(tmp_path, REFUSED["an HSV hue of 200"])
    assert error is not None and error.endswith(
        "processors.p.fields.t.fraction.ranges[0]: expected [low, high] with three numbers each: hue 0-179 "
        "(OpenCV's scale; a high hue may be 180), saturation and value 0-255, got [[0, 0, 0], [200, 255, 255]]")
    schema = validator.schema
    hue = schema["$defs"]["FractionStep"]["allOf"][0]["then"]["properties"]["ranges"]["items"]["prefixItems"][0]
    assert hue["prefixItems"][0]["maximum"] == 179 and "0-179" in hue["prefixItems"][0]["description"]


def test_schema_errors_point_at_the_key(validator):
    errors = schema_errors(validator, REFUSED["stable_for above its bound"])
    assert "processors.p.fields.t.stable_for: 5000 is greater than the maximum of 1000" in errors
    errors = schema_errors(validator, REFUSED["a misspelt key"])
    # ("does not match any of the regexes: '^x-'": keys starting with x- are allowed)
    assert any(e.startswith("processors.p.fields.t: ") and "'stabel_for'" in e for e in errors), errors


def _game_files() -> list[Path]:
    shipped = [p for p in sorted((ROOT / "games").glob("*.yaml")) if not p.name.endswith(".samples.yaml")]
    return shipped + sorted((ROOT / "tests" / "games").glob("*.yaml"))


@pytest.mark.parametrize("path", _game_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_and_test_games_pass_the_schema(validator, path):
    assert schema_errors(validator, path.read_text(encoding="utf-8")) == []


def test_there_are_game_files_to_check():
    names = {p.name for p in _game_files()}
    assert {"apex.yaml", "valorant.yaml", "melee.yaml", "apex_frame.yaml"} <= names
