"""A frame key that a processor also writes: the client's value wins, ours moves aside."""
from __future__ import annotations

import json

import numpy as np

from helpers import post_frame

GAME = """\
game: collide
regions:
  corner: {box: [0, 0, 10, 10]}
processors:
  hud:
    fields:
      tint: {color: {region: corner}}
"""


def test_colliding_keys_are_kept_and_ours_move_to_conflicts(serve_game, tmp_path):
    game = tmp_path / "collide.yaml"
    game.write_text(GAME)
    srv = serve_game(str(game))
    image = np.zeros((1080, 1920, 3), np.uint8)
    image[:10, :10] = (10, 20, 30)
    frame = {"frame_no": 7, "hud": {"from": "the client"}, "otrig_conflicts": [1, 2]}
    r = post_frame(srv.url, image, frame)
    assert r.status == 200, r.body
    answer = json.loads(r.body)
    assert answer["hud"] == {"from": "the client"}
    assert answer["otrig_conflicts"] == [1, 2]
    moved = answer["otrig_conflicts_"]
    assert moved["hud"] == {"tint": [10.0, 20.0, 30.0]}
    assert list(moved) == ["hud"]
    # without collisions the objects are top-level
    plain = json.loads(post_frame(srv.url, image, {"frame_no": 8}).body)
    assert plain["hud"] == {"tint": [10.0, 20.0, 30.0]}
