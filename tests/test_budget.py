"""A frame's time budget never turns into a wrong value, and no frame builds a Tesseract API
inside it (issue 16, item 5)."""
from __future__ import annotations

import threading

import cv2
import numpy as np

from engine.runtime.game import load_game
from engine.vision.ocr import OcrConfig, OcrEngine


def _frame(t: float = 0.0) -> dict:
    return {"relative_timestamp": t, "timestamp": 1_700_000_000 + t}


SCREENS = """
game: x
budget_ms: {budget}
regions:
  all: {{box: [0, 0, 1920, 1080]}}
  corner: {{box: [0, 0, 20, 20]}}
processors:
  screen:
    default: other
    screens:
      menu:
        all:
          - color: {{region: all, stat: median}}
          - color: {{region: all, stat: median}}
          - fraction: {{region: corner, space: bgr, ranges: [[[200, 200, 200], [255, 255, 255]]], min: 0.5}}
      game:
        all:
          - fraction: {{region: corner, space: bgr, ranges: [[[0, 0, 0], [10, 10, 10]]], min: 0.5}}
  hud:
    when: screen.name == "game"
    fields:
      c: {{color: {{region: corner}}}}
"""


def test_a_budget_stop_in_a_screen_group_is_null_not_the_default(game_file):
    black = np.zeros((1080, 1920, 3), np.uint8)  # the "game" screen, tried after "menu"
    out = load_game(game_file(SCREENS.format(budget=1))).process(black, _frame())
    assert out.objects["screen"]["name"] is None
    assert "time budget" in out.objects["screen"]["null_reasons"]["name"]
    full = load_game(game_file(SCREENS.format(budget=10_000), name="full.yaml")).process(black, _frame())
    assert full.objects["screen"]["name"] == "game" and full.objects["hud"]["c"] == [0.0, 0.0, 0.0]


def test_reads_wait_for_the_apis_built_at_load_time():
    img = np.full((60, 240), 255, np.uint8)
    cv2.putText(img, "4096", (10, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 0, 3)
    engine = OcrEngine(OcrConfig(psm=7, whitelist="0123456789"), apis=2)
    engine.warm()
    assert engine._built == 2
    got: list[str] = []

    def read() -> None:
        for _ in range(5):
            got.append(engine.read(img)[0])

    threads = [threading.Thread(target=read) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == ["4096"] * 30
    assert engine._built == 2  # six threads, never a third API
