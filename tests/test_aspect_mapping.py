"""Regions on captures of other aspect ratios: the game fits its 16:9 HUD inside the screen
and sticks each element to its anchor's edges (engine.vision.regions.RegionMapper)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from cli.cut import GameRegions
from engine.vision.regions import Geometry, RegionMapper

REF = (1920, 1080)


@pytest.mark.parametrize(("size", "anchor", "box", "want"), [
    # 16:10: the HUD at the width's scale (1.0), bottom elements 120 px lower, then 0.9x tall
    ((1920, 1200), "bottom-right", (1720, 956, 66, 50), (1720, 968, 66, 45)),
    ((1920, 1200), "top-left", (10, 20, 100, 40), (10, 18, 100, 36)),
    ((1920, 1200), "center", (900, 500, 120, 80), (900, 504, 120, 72)),
    # 4:3: the HUD at 0.75, right and bottom edges kept, then stretched 4/3 wide
    ((1440, 1080), "bottom-right", (1720, 956, 66, 50), (1720, 987, 66, 38)),
    ((1440, 1080), "top", (900, 20, 120, 40), (900, 15, 120, 30)),
    # 21:9: the height's scale (1.0), stuck to the right, then squeezed 0.75 wide (as before)
    ((2560, 1080), "bottom-right", (1720, 956, 66, 50), (1770, 956, 50, 50)),
    ((2560, 1080), "top", (900, 20, 120, 40), (915, 20, 90, 40)),
])
def test_boxes_follow_the_fitted_hud(size, anchor, box, want):
    got = RegionMapper(REF).map(box, anchor, Geometry(size[0], size[1], None))
    assert all(abs(a - b) <= 1 for a, b in zip(got, want)), (got, want)


def _capture(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """What a game drawing this HUD at another aspect shows, stretched to 1920x1080 as
    OverTrack sends it: the picture at the fitted scale, its top half stuck to the top edge
    and its bottom half to the bottom (the HUD's anchors), the gap filled grey."""
    w, h = size
    s = min(w / REF[0], h / REF[1])
    small = cv2.resize(frame, (round(REF[0] * s), round(REF[1] * s)), interpolation=cv2.INTER_AREA)
    canvas = np.full((h, w, 3), 90, np.uint8)
    sh, sw = small.shape[:2]
    x0 = (w - sw) // 2
    half = sh // 2
    canvas[:half, x0:x0 + sw] = small[:half]
    canvas[h - (sh - half):, x0:x0 + sw] = small[half:]
    return cv2.resize(canvas, REF, interpolation=cv2.INTER_AREA if w > REF[0] else cv2.INTER_LINEAR)


@pytest.mark.parametrize("size", [(1920, 1200), (1440, 1080), (1680, 1050)])
@pytest.mark.parametrize("region", ["clip", "reserve", "portrait", "player_name", "weapon_names"])
def test_real_hud_regions_land_on_the_same_pixels(shared_data, size, region):
    frame = cv2.imread(str(shared_data / "apex" / "t8cp8hhm.jpg"))
    g = GameRegions.load("apex", None)
    (x, y, w, h), = g.region_boxes(region, {})[:1]
    want = frame[y:y + h, x:x + w]
    shot = _capture(frame, size)
    (cx, cy, cw, ch), = g.region_boxes(region, {"source": {"original_shape": [size[1], size[0], 3]}})[:1]
    got = cv2.resize(shot[cy:cy + ch, cx:cx + cw], (w, h), interpolation=cv2.INTER_LINEAR)
    score = cv2.matchTemplate(got, want, cv2.TM_CCOEFF_NORMED)[0, 0]
    assert score > 0.85, (region, size, (cx, cy, cw, ch), score)
