"""The `dark_text` prep op: text dark on light whichever way a row has it (issue 14)."""
from __future__ import annotations

import cv2
import numpy as np

from engine.runtime.game import load_game
from engine.vision.prep import dark_text


def _row(text: str, ink: int, panel: int) -> np.ndarray:
    img = np.full((40, 260), panel, np.uint8)
    cv2.putText(img, text, (8, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, ink, 2)
    return img


def test_both_polarities_come_out_dark_on_light():
    for ink, panel in ((235, 30), (30, 235)):
        out = dark_text(cv2.cvtColor(_row("WIN 42", ink, panel), cv2.COLOR_GRAY2BGR))
        assert out.ndim == 2
        assert out[0, 0] > 200 and out.min() < 60  # light background, dark text


def test_highlighted_and_plain_rows_read_alike(game_file):
    frame = np.zeros((1080, 1920, 3), np.uint8)
    frame[100:140, 100:360] = cv2.cvtColor(_row("RANK 12", 235, 30), cv2.COLOR_GRAY2BGR)   # plain row
    frame[140:180, 100:360] = cv2.cvtColor(_row("RANK 12", 30, 235), cv2.COLOR_GRAY2BGR)   # highlighted
    g = load_game(game_file("""
        game: x
        regions:
          rows: {boxes: [[100, 100, 260, 40], [100, 140, 260, 40]]}
        processors:
          table:
            fields:
              rank: {ocr: {region: rows, prep: [dark_text, {pad: 10}], psm: 7, regex: '(\\d+)$', cast: int}}
        """))
    assert g.process(frame, {}).objects["table"]["rank"] == [12, 12]
