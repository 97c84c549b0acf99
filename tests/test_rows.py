"""Rows found at run time (killfeeds, results tables): `rows:` on a processor, boxes relative
to the row (`{from: row, anchor, offset, size, before, after, text}`), presence tests, and
fields that must `agree`.

Frames are drawn here with known answers: a killfeed of 0 to 6 rows, each a band of two
colours (the killer's side and the victim's) with a portrait at each end, the killer's name,
a weapon icon and the victim's name, over a textured background. The real Valorant frames
are read at the end.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.lang.errors import GameFileError
from engine.runtime.game import load_game
from engine.vision.regions import line_runs, text_run

RED = (86, 92, 240)      # BGR, the killer's side
TEAL = (169, 194, 102)   # the victim's side
ROW_H, ROW_STEP, TOP, RIGHT = 40, 46, 100, 1880
NAMES = [("Alpha", "Bravo"), ("Charlie", "Delta"), ("Echo", "Foxtrot"), ("Golf", "Hotel"),
         ("India", "Juliet"), ("Kilo", "Lima")]
WEAPONS = ["rifle", "pistol", "rifle", "pistol", "pistol", "rifle"]


def weapon_icon(kind: str) -> np.ndarray:
    """A white silhouette on black, as killfeed weapon templates are."""
    icon = np.zeros((22, 70 if kind == "rifle" else 40), np.uint8)
    if kind == "rifle":
        icon[4:10, 2:68] = 255
        icon[10:20, 14:24] = 255
        icon[10:16, 40:48] = 255
    else:
        icon[3:10, 2:38] = 255
        icon[10:20, 4:14] = 255
    return icon


def scenery(seed: int = 0) -> np.ndarray:
    """A dull textured background, so that nothing is read off a flat colour by luck."""
    rng = np.random.default_rng(seed)
    small = rng.integers(30, 110, (54, 96, 3), dtype=np.uint8)
    return cv2.resize(small, (1920, 1080), interpolation=cv2.INTER_LINEAR)


def draw_row(img: np.ndarray, y: int, killer: str, victim: str, weapon: str, seed: int = 0) -> tuple[int, int, int, int]:
    """One row, right-aligned at RIGHT: [portrait][killer][weapon] > [victim][portrait].
    Returns the weapon icon's box."""
    font, scale = cv2.FONT_HERSHEY_DUPLEX, 0.6
    (kw, _), _ = cv2.getTextSize(killer, font, scale, 1)
    (vw, _), _ = cv2.getTextSize(victim, font, scale, 1)
    icon = weapon_icon(weapon)
    portrait = 44
    x_vp = RIGHT - portrait                  # victim portrait
    x_vn = x_vp - 10 - vw                    # victim name
    x_split = x_vn - 14                      # where the victim's side begins
    x_w = x_split - 14 - icon.shape[1]       # weapon
    x_kn = x_w - 14 - kw                     # killer name
    x_kp = x_kn - 14 - portrait              # killer portrait
    img[y:y + ROW_H, x_kp:x_split] = RED
    img[y:y + ROW_H, x_split:RIGHT] = TEAL
    rng = np.random.default_rng(seed)
    for x in (x_kp, x_vp):                   # portraits: busy pictures with a bright frame
        img[y:y + ROW_H, x:x + portrait] = rng.integers(40, 230, (ROW_H, portrait, 3), dtype=np.uint8)
        img[y:y + ROW_H, x + portrait - 2:x + portrait] = 255
        img[y:y + ROW_H, x:x + 2] = 255
    base = y + ROW_H // 2 + 7
    cv2.putText(img, killer, (x_kn, base), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(img, victim, (x_vn, base), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    iy = y + (ROW_H - icon.shape[0]) // 2
    img[iy:iy + icon.shape[0], x_w:x_w + icon.shape[1]][icon > 0] = 255
    return x_w, iy, icon.shape[1], icon.shape[0]


def killfeed(n: int, seed: int = 0) -> np.ndarray:
    img = scenery(seed)
    for i in range(n):
        draw_row(img, TOP + i * ROW_STEP, *NAMES[i], WEAPONS[i], seed=seed + i)
    return img


@pytest.fixture
def weapons(tmp_path: Path) -> Path:
    d = tmp_path / "weapons"
    d.mkdir()
    for kind in ("rifle", "pistol"):
        cv2.imwrite(str(d / f"{kind}.png"), weapon_icon(kind))
    return d


RED_HSV = "[[0, 120, 150], [8, 215, 255]]"
TEAL_HSV = "[[76, 80, 120], [90, 165, 235]]"
NAME_READ = """prep: [min, {scale: 2}, {threshold: 150}, invert], psm: 7,
                  regex: '^\\W*([A-Za-z0-9](?:[A-Za-z0-9 ]*[A-Za-z0-9])?)\\W*$'"""

KILLFEED = f"""
    game: feed
    regions:
      feed: {{box: [1180, 80, 700, 320]}}
    processors:
      killfeed:
        confidence: true
        rows:
          region: feed
          band: {{space: hsv, ranges: [{RED_HSV}, {TEAL_HSV}], min: 0.1, height: [34, 46]}}
          max: 6
          present:
            - fraction: {{region: {{from: row}}, space: hsv, ranges: [{RED_HSV}], min: 0.03}}
            - fraction: {{region: {{from: row}}, space: hsv, ranges: [{TEAL_HSV}], min: 0.03}}
        fields:
          weapon:
            template: {{region: {{from: row}}, prep: [min], templates: weapons, threshold: 0.9}}
          killer:
            ocr: {{region: {{from: weapon, anchor: left, offset: [-200, -19], size: [198, 38],
                           text: right, text_height: 22, text_gap: 9}},
                  {NAME_READ}}}
          victim:
            ocr: {{region: {{from: row, anchor: top-right, offset: [-244, 1], size: [198, 38],
                           text: right, text_height: 22, text_gap: 9}},
                  {NAME_READ}}}
    """


def run(game, img: np.ndarray, t: float = 0.0, **kw):
    return game.process(img, {"relative_timestamp": t, "source": {"test": t}}, **kw)


@pytest.mark.parametrize("n", [0, 1, 3, 6])
def test_band_rows_are_read_top_to_bottom(game_file, weapons, n):
    g = load_game(game_file(KILLFEED))
    out = run(g, killfeed(n, seed=n))
    rows = out.objects["killfeed"]["rows"]
    assert [(r["killer"], r["victim"], r["weapon"]) for r in rows] == [
        (*NAMES[i], WEAPONS[i]) for i in range(n)]
    assert all(set(r) == {"killer", "victim", "weapon", "confidence"} for r in rows)
    finder = next(s.result for s in out.steps if s.step == "rows")
    assert finder.value == n and [b[1] for b in finder.boxes] == [TOP + i * ROW_STEP for i in range(n)]


def test_gates_see_the_rows(game_file, weapons):
    """In when: the list is processor.rows, its items objects of the fields."""
    text = KILLFEED + """
      first:
        when: killfeed.rows[0].killer == "Alpha" and killfeed.rows[1] == null
        fields:
          seen: {fraction: {region: feed, ranges: [[[0, 0, 0], [255, 255, 255]]]}}
    """
    g = load_game(game_file(text))
    assert "first" in run(g, killfeed(1)).objects
    assert "first" not in run(g, killfeed(3), t=1.0).objects


def test_more_rows_than_max_reads_the_first_ones(game_file, weapons):
    g = load_game(game_file(KILLFEED.replace("max: 6", "max: 2")))
    rows = run(g, killfeed(3)).objects["killfeed"]["rows"]
    assert [r["killer"] for r in rows] == ["Alpha", "Charlie"]


def test_a_band_that_is_not_a_row_reads_nothing(game_file, weapons):
    """Scenery the colour of a row: a one-coloured stripe (fails the presence test) and a
    stripe too tall to be a row (fails the band's height) give no row, and nothing is read
    there: not one step of the fields runs on them."""
    g = load_game(game_file(KILLFEED))
    img = killfeed(1)
    y1 = TOP + ROW_STEP
    img[y1:y1 + ROW_H, 1500:1880] = RED                       # one colour only
    cv2.putText(img, "Ghost", (1600, y1 + 27), cv2.FONT_HERSHEY_DUPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    y2 = y1 + ROW_STEP
    img[y2:y2 + 90, 1500:1700] = RED                         # far too tall
    img[y2:y2 + 90, 1700:1880] = TEAL
    out = run(g, img)
    assert [r["killer"] for r in out.objects["killfeed"]["rows"]] == ["Alpha"]
    finder = next(s.result for s in out.steps if s.step == "rows")
    assert [b[1] for b in finder.boxes] == [TOP, y1]          # the tall stripe is not even a candidate
    assert not [s for s in out.steps if s.step.startswith("row1.") and "present" not in s.step]
    assert any(s.step == "row1.present[1]" and s.status == "miss" for s in out.steps)


def test_fixed_rows_of_a_grid_keep_only_those_present(game_file, weapons):
    """A results table: a grid region's cells are the rows, the presence test drops the
    empty ones, and the rows are the filled cells, top to bottom."""
    g = load_game(game_file(f"""
        game: table
        regions:
          slots: {{grid: {{box: [1180, {TOP}, 700, {ROW_H}], n: 6, stride: [0, {ROW_STEP}]}}}}
        processors:
          table:
            rows:
              region: slots
              present:
                - fraction: {{region: {{from: row}}, space: hsv, ranges: [{TEAL_HSV}], min: 0.05}}
            fields:
              victim:
                ocr: {{region: {{from: row, anchor: top-right, offset: [-244, 1], size: [198, 38],
                               text: right, text_height: 22}},
                      {NAME_READ}}}
        """))
    img = scenery()
    for i in (0, 2, 5):
        draw_row(img, TOP + i * ROW_STEP, *NAMES[i], WEAPONS[i], seed=i)
    out = run(g, img)
    assert [r["victim"] for r in out.objects["table"]["rows"]] == ["Bravo", "Foxtrot", "Lima"]
    read = {s.step.split(".")[0] for s in out.steps if s.step.endswith(".victim")}
    assert read == {"row0", "row2", "row5"}


def test_rows_found_by_a_marker_template(game_file, weapons, tmp_path):
    """Rows found by a template drawn on each row (here the weapon icons themselves): each
    match is a row across the region; two markers on one row make one row."""
    g = load_game(game_file(f"""
        game: marks
        regions:
          feed: {{box: [1180, 80, 700, 320]}}
        processors:
          killfeed:
            rows:
              region: feed
              template: {{templates: weapons, threshold: 0.9}}
            fields:
              victim:
                ocr: {{region: {{from: row, anchor: top-right, offset: [-244, -9], size: [198, 38],
                               text: right, text_height: 22}},
                      {NAME_READ}}}
        """))
    img = killfeed(3)
    icon = weapon_icon("pistol")
    img[TOP + 9:TOP + 9 + icon.shape[0], 1250:1250 + icon.shape[1]][icon > 0] = 255  # a second marker on row 0
    out = run(g, img)
    assert [r["victim"] for r in out.objects["killfeed"]["rows"]] == ["Bravo", "Delta", "Foxtrot"]


def test_relative_boxes_anchor_before_and_after(game_file, weapons):
    """A box ends at the left of one found box and starts at the right of another; anchors
    pick the found box's corner; a cut by a field that found nothing is a miss, not a guess."""
    g = load_game(game_file(f"""
        game: boxes
        regions:
          feed: {{box: [1180, {TOP}, 700, {ROW_H}]}}
        processors:
          row:
            fields:
              weapon: {{template: {{region: feed, prep: [min], templates: weapons, threshold: 0.9}}}}
              left_of: {{fraction: {{region: {{from: weapon, anchor: top-left, offset: [-300, 0], size: [300, 10],
                                              before: [weapon]}}, ranges: [[[0, 0, 0], [255, 255, 255]]]}}}}
              right_of: {{fraction: {{region: {{from: weapon, anchor: bottom-right, offset: [-500, -10],
                                               size: [600, 10], after: [weapon]}}, ranges: [[[0, 0, 0], [255, 255, 255]]]}}}}
              centre: {{fraction: {{region: {{from: weapon, anchor: center, offset: [-2, -3], size: [4, 6]}},
                                   ranges: [[[0, 0, 0], [255, 255, 255]]]}}}}
              nothing: {{template: {{region: feed, templates: weapons, threshold: 0.99, prep: [invert]}}}}
              cut: {{fraction: {{region: {{from: weapon, before: [nothing]}}, ranges: [[[0, 0, 0], [255, 255, 255]]]}}}}
        """))
    img = scenery()
    wx, wy, ww, wh = draw_row(img, TOP, "Alpha", "Bravo", "rifle")
    out = run(g, img)
    boxes = {s.step: s.result.boxes[0] for s in out.steps if s.result.boxes}
    found = next(s.result for s in out.steps if s.step == "weapon")
    assert found.value == "rifle" and found.score > 0.99
    assert boxes["left_of"] == (wx - 300, wy, 300, 10)
    assert boxes["right_of"] == (wx + ww, wy + wh - 10, 100, 10)
    assert boxes["centre"] == (wx + ww // 2 - 2, wy + wh // 2 - 3, 4, 6)
    obj = out.objects["row"]
    assert obj["cut"] is None and obj["null_reasons"]["cut"] == "'nothing' found nothing to end this box at"


def test_text_run_finds_the_name_beside_icons():
    """text_run on drawn crops: the name nearest the side, never a portrait or icon beyond
    the gap; an icon closer than the gap makes it None, and so does an icon before any text;
    a word space inside the gap is kept; specks are ignored; either polarity."""
    def crop() -> np.ndarray:
        c = np.full((38, 300), 80, np.uint8)
        cv2.putText(c, "Bot 1", (160, 26), cv2.FONT_HERSHEY_DUPLEX, 0.6, 255, 1, cv2.LINE_AA)
        return c
    cols = np.flatnonzero((crop() > 160).any(axis=0))
    name = (int(cols[0]), int(cols[-1]) + 1)
    alone = text_run(crop(), "right", 22, 9)
    assert alone is not None and alone[0] <= name[0] and alone[1] >= name[1]      # "Bot 1" whole
    assert name[0] - alone[0] <= 4 and alone[1] - name[1] <= 4                    # half a gap around it
    busy = crop()
    busy[:, 100:140] = np.random.default_rng(0).integers(60, 255, (38, 40))        # a portrait
    busy[:, 138:140] = 255
    busy[30, 250] = 255                                                            # a speck
    assert text_run(busy, "right", 22, 9) == alone
    near = crop()
    near[5:33, name[0] - 6:name[0] - 4] = 255                                      # an icon 4 px before the text
    assert text_run(near, "right", 22, 9) is None
    icon_first = crop()
    icon_first[5:33, 270:280] = 255                                                # an icon between the side and the text
    assert text_run(icon_first, "right", 22, 9) is None
    edge = crop()
    edge[2:36, 296:300] = 255                                                      # cut by the box's edge: skipped
    assert text_run(edge, "right", 22, 9) == alone
    assert text_run(255 - crop(), "right", 22, 9) == alone                         # dark text on light
    assert text_run(crop(), "left", 22, 9) == alone                                # the only text, from the left
    assert text_run(np.full((38, 300), 80, np.uint8), "left", 22, 9) is None


def test_line_runs_bridge_gaps_and_keep_row_heights():
    fill = np.zeros(100)
    fill[10:44] = 0.5
    fill[20:22] = 0.0          # text crossing the band
    fill[50:55] = 0.5          # too thin
    fill[60:100] = 0.5         # runs to the end
    assert line_runs(fill, 0.1, 2, 30, 40) == [(10, 44), (60, 100)]
    assert line_runs(fill, 0.1, 1, 30, 40) == [(60, 100)]


def test_agree_makes_a_disagreement_null(game_file):
    img = np.zeros((1080, 1920, 3), np.uint8)
    img[100:140, 100:300] = 255
    g = load_game(game_file("""
        game: agree
        regions:
          a: {box: [100, 100, 200, 40]}
          b: {box: [100, 100, 100, 40]}
          c: {box: [300, 100, 100, 40]}
        processors:
          p:
            fields:
              same: {fraction: {region: a, ranges: [[[200, 200, 200], [255, 255, 255]]], min: 0.5},
                     agree: [{fraction: {region: b, ranges: [[[200, 200, 200], [255, 255, 255]]], min: 0.5}}]}
              other: {fraction: {region: a, ranges: [[[200, 200, 200], [255, 255, 255]]], min: 0.5},
                      agree: [{fraction: {region: c, ranges: [[[200, 200, 200], [255, 255, 255]]]}}]}
        """))
    out = run(g, img)
    obj = out.objects["p"]
    assert obj["same"] == 1.0
    assert obj["other"] is None and obj["null_reasons"]["other"] == "read 1.0, but agree[0] read 0.0"
    assert [s.step for s in out.steps] == ["same", "same.agree[0]", "other", "other.agree[0]"]


BROKEN_ROWS = [
    ("""
     processors:
       k:
         rows: {region: feed}
         screens: {s: {all: [{fraction: {region: feed, ranges: [[[0, 0, 0], [9, 9, 9]]]}}]}}
     """, "processors.k.rows: rows reads the processor's fields once per row: give fields, not screens"),
    ("""
     processors:
       k:
         rows: {region: nowhere}
         fields: {a: {fraction: {region: feed, ranges: [[[0, 0, 0], [9, 9, 9]]]}}}
     """, "processors.k.rows.region: unknown region 'nowhere'"),
    ("""
     processors:
       k:
         rows: {region: feed}
         fields: {a: {fraction: {region: {from: row}, ranges: [[[0, 0, 0], [9, 9, 9]]]}, vote: 3}}
     """, "processors.k.fields.a.vote: vote follows one value across frames"),
    ("""
     processors:
       k:
         rows: {region: feed}
         fields: {row: {fraction: {region: feed, ranges: [[[0, 0, 0], [9, 9, 9]]]}}}
     """, "processors.k.fields.row: 'row' names the row being read"),
    ("""
     processors:
       k:
         fields: {a: {fraction: {region: {from: row}, ranges: [[[0, 0, 0], [9, 9, 9]]]}}}
     """, "processors.k.fields.a.fraction.region.from: 'row' is not a field declared earlier in this processor"),
    ("""
     processors:
       k:
         fields:
           a: {fraction: {region: feed, ranges: [[[0, 0, 0], [9, 9, 9]]]}}
           b: {fraction: {region: {from: a, before: [c]}, ranges: [[[0, 0, 0], [9, 9, 9]]]}}
     """, "processors.k.fields.b.fraction.region.before[0]: 'c' is not a field declared earlier"),
    ("""
     processors:
       k:
         rows: {region: two}
         band: null
         fields: {a: {fraction: {region: feed, ranges: [[[0, 0, 0], [9, 9, 9]]]}}}
     """, "processors.k.band: unknown key"),
    ("""
     processors:
       k:
         rows: {region: two, band: {ranges: [[[0, 0, 0], [9, 9, 9]]], height: [30, 40]}}
         fields: {a: {fraction: {region: feed, ranges: [[[0, 0, 0], [9, 9, 9]]]}}}
     """, "processors.k.rows.region: rows are looked for in one box"),
    ("""
     processors:
       k:
         rows: {region: feed, band: {ranges: [[[0, 0, 0], [9, 9, 9]]], height: [40, 30]}}
         fields: {a: {fraction: {region: feed, ranges: [[[0, 0, 0], [9, 9, 9]]]}}}
     """, "processors.k.rows.band.height: low 40 is above high 30"),
    ("""
     processors:
       k:
         rows: {region: feed, band: {ranges: [[[0, 0, 0], [9, 9, 9]]], height: [30, 40]},
                template: {templates: x}}
         fields: {a: {fraction: {region: feed, ranges: [[[0, 0, 0], [9, 9, 9]]]}}}
     """, "processors.k.rows.template: use band or template, not both"),
    ("""
     processors:
       k:
         rows: {region: feed}
         fields: {a: {fraction: {region: {from: row, text: left}, ranges: [[[0, 0, 0], [9, 9, 9]]]}}}
     """, "processors.k.fields.a.fraction.region.text: text needs text_height"),
]


@pytest.mark.parametrize("text,expected", BROKEN_ROWS)
def test_rows_mistakes_are_reported_where_they_are(game_file, text, expected):
    head = """
        game: x
        regions:
          feed: {box: [0, 0, 100, 100]}
          two: {boxes: [[0, 0, 10, 10], [20, 0, 10, 10]]}
        """
    p = game_file(textwrap.dedent(head) + textwrap.dedent(text))
    with pytest.raises(GameFileError) as e:
        load_game(p)
    assert expected in str(e.value)


def test_schema_knows_rows_and_relative_boxes():
    """The JSON Schema (otrig schema) comes from the same declarations: it accepts a rows
    processor and refuses a band and a template together, and text without text_height."""
    import jsonschema
    import yaml

    from engine.runtime.model import game_schema
    v = jsonschema.Draft202012Validator(game_schema())
    good = yaml.safe_load(textwrap.dedent(KILLFEED))
    assert not list(v.iter_errors(good))
    both = yaml.safe_load(textwrap.dedent(KILLFEED))
    both["processors"]["killfeed"]["rows"]["template"] = {"templates": "weapons"}
    assert list(v.iter_errors(both))
    no_height = yaml.safe_load(textwrap.dedent(KILLFEED))
    del no_height["processors"]["killfeed"]["fields"]["victim"]["ocr"]["region"]["text_height"]
    assert list(v.iter_errors(no_height))


# --- the real Valorant killfeed ---------------------------------------------------------------

REAL_ROWS = {  # MANIFEST.tsv; the weapons read by eye against the overtrack silhouettes
    "ydc-hud-054-hp27.png": [("hookill", "beskhu3epmn", "ghost")],
    "ydc-hud-105-ability.png": [("chivasiara", "GoodWoman", "phantom"), ("chivasiara", "Bot 1", "phantom")],
    "ydc-hud-114-scoped.png": [("ZuziaGG", "julieii", "spectre")],
    "mid_round.png": [],
}


def test_real_valorant_killfeed_rows(shared_data):
    """Every row of the shared frames, right: found at run time (the hp27 frame's row sits
    39 px higher than the others'), names by OCR, weapons by template."""
    from engine.media.sources import read_image

    root = Path(__file__).resolve().parents[1]
    g = load_game(root / "games" / "valorant.yaml", assets=[shared_data], budget_ms=float("inf"))
    for name, expected in REAL_ROWS.items():
        img, frame = read_image(shared_data / "valorant" / name)
        out = g.process(img, {**frame, "relative_timestamp": 0.0})
        rows = out.objects["killfeed"]["rows"]
        assert [(r["killer"], r["victim"], r["weapon"]) for r in rows] == expected, name


def test_the_rows_examples_in_the_docs_load(game_file, weapons):
    """docs/games.md's Rows section: each of its YAML examples is a working game file."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "games.md").read_text(encoding="utf-8")
    section = doc.split("### Rows: killfeeds and results tables", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```yaml\n")[1:]]
    assert len(blocks) == 2
    for i, block in enumerate(blocks):
        g = load_game(game_file("game: doc\n" + block, name=f"doc{i}.yaml"))
        out = run(g, killfeed(2, seed=i))
        assert isinstance(next(iter(out.objects.values()))["rows"], list)
