"""Text steps read a 21:9 or 16:10 capture at its own aspect: OverTrack squeezes every capture
into 1920x1080, and the ocr and glyphs steps widen each crop back before reading it, while
the boxes they report stay in frame pixels."""
from __future__ import annotations

import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.media.sources import read_image
from engine.runtime.game import load_game
from engine.steps.text import capture_widening
from engine.vision.regions import Geometry

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("shape,viewport,widening", [
    ((2560, 1080), None, 4 / 3),               # 21:9, squeezed to 0.75x its width
    ((3440, 1440), None, 3440 / 1440 * 9 / 16),
    ((1920, 1200), None, 0.9),                 # 16:10, stretched
    ((584, 480), None, 584 / 480 * 9 / 16),    # Melee's bare game picture
    ((1280, 720), None, 1.0),
    ((1366, 768), None, 1.0),                  # 0.05% off 16:9: read as it is
    ((640, 360), (11, 22, 1378, 1033), 1.0),   # a 4:3 inset in a 16:9 stream: the stream is not squeezed
])
def test_the_widening_undoes_the_capture_squeeze_only(shape, viewport, widening):
    assert capture_widening(Geometry(shape[0], shape[1], viewport)) == pytest.approx(widening)


def test_a_21_9_capture_reads_its_text_at_its_own_aspect(shared_data):
    """hud_21_9_pathfinder (2560x1080): the clip, the reserve and the player's name read null
    when read squeezed (glyphs 0.75x as wide as the fonts'; the name's speaker icon read as a
    joined '4'), and right widened back."""
    game = load_game(ROOT / "games" / "apex.yaml", assets=[shared_data], budget_ms=float("inf"))
    img, frame = read_image(shared_data / "apex" / "hud_21_9_pathfinder.png")
    assert frame["source"]["original_shape"][:2] == [1080, 2560]
    out = game.process(img, frame, keep_images=True)
    assert out.objects["ammo"]["clip"] == 3 and out.objects["ammo"]["reserve"] == 80, out.objects["ammo"]
    assert out.objects["player"]["name"] == "AsgarothSG", out.objects["player"]
    clip = next(t.result for t in out.steps if t.processor == "ammo" and t.step == "clip")
    (x, y, w, h), = game.region_boxes("clip", frame)
    assert clip.boxes == [(x, y, w, h)]                      # frame pixels
    assert clip.crop is not None and clip.crop.shape[:2] == (h, round(w * 4 / 3))  # what was read


def test_a_text_run_is_cut_in_frame_pixels_then_read_widened(game_file):
    """A name beside an icon on a 2560x1080 capture: the box placed from the row and cut to
    the run of text in the frame's pixels, then read at the capture's aspect."""
    wide = np.full((1080, 2560, 3), 30, np.uint8)
    cv2.rectangle(wide, (2000, 495), (2040, 548), (255, 255, 255), -1)           # an icon
    cv2.putText(wide, "Bravo", (2100, 533), cv2.FONT_HERSHEY_DUPLEX, 1.2, (255, 255, 255), 2, cv2.LINE_AA)
    img = cv2.resize(wide, (1920, 1080), interpolation=cv2.INTER_AREA)
    p = game_file(textwrap.dedent("""
        game: x
        regions:
          feed: {boxes: [[1340, 490, 520, 60]], anchor: right}     # capture x 1980-2500
        processors:
          k:
            rows: {region: feed}
            fields:
              name:
                ocr: {region: {from: row, offset: [0, 0], text: right, text_height: 40},
                      prep: [grey, {scale: 2}, {threshold: otsu}, invert], psm: 7, regex: '^([A-Za-z]+)$'}
        """))
    frame = {"relative_timestamp": 0.0, "source": {"original_shape": [1080, 2560, 3]}}
    out = load_game(p).process(img, frame, keep_images=True)
    assert out.objects["k"]["rows"] == [{"name": "Bravo"}], out.objects
    name = next(t.result for t in out.steps if t.step == "row0.name")
    (x, y, w, h), = name.boxes
    # the run of text, in frame pixels: from the name's B (x 1575 in the frame), clear of the icon
    assert 1530 < x < 1575 and x + w <= 1875 and w < 120, name.boxes
    assert name.crop is not None and name.crop.shape[1] == round(w * 4 / 3)
