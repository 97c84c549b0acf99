"""bench/digits_corpus.tsv: every row is a usable number crop on a real frame of the shared data.

The rows are parsed by the bench's own loader (what `bench/digits.py` reads), then checked
against the real files: the file exists, the frame index exists in the clip, the box lies
inside the frame and holds some contrast, and the split keeps whole files (or whole clip
stretches) out of tuning for every game.
"""
from __future__ import annotations

import sys
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.digits import CORPUS, TEXT_CHARS, Row, crop, is_video, load_corpus, load_frames  # noqa: E402

MIN_ROWS = 300
MIN_PER_SPLIT = 10  # rows of each split for every game: enough to say something per game
# One frame each: the rows are split by side of the screen (csgo T rows and bottom HUD vs CT
# rows and top HUD; lol red side vs blue side), the only way to hold anything out for them.
SPLIT_INSIDE_FILE = {"csgo/test5.png", "lol/screen2.png"}


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return load_corpus(CORPUS)


@pytest.fixture(scope="module")
def frames(shared_data: Path, rows: list[Row]) -> dict[tuple[str, int], np.ndarray]:
    return load_frames(rows, shared_data)


def test_every_row_parses(rows: list[Row]) -> None:
    assert len(rows) >= MIN_ROWS
    for r in rows:
        assert r.text and set(r.text) <= TEXT_CHARS, f"line {r.line}: text {r.text!r}"
        assert r.split in ("tune", "holdout"), f"line {r.line}: split {r.split!r}"
        assert r.game and r.field, f"line {r.line}: game and field must be named"
    dup = [k for k, n in Counter((r.file, r.frame, r.box) for r in rows).items() if n > 1]
    assert not dup, f"the same box twice: {dup[:3]}"


def test_files_exist(shared_data: Path, rows: list[Row]) -> None:
    missing = sorted({r.file for r in rows if not (shared_data / r.file).is_file()})
    assert not missing, f"not under {shared_data}: {missing}"


def test_frame_indices_exist(shared_data: Path, rows: list[Row]) -> None:
    import av

    wanted: dict[str, int] = defaultdict(int)
    for r in rows:
        if is_video(r.file):
            wanted[r.file] = max(wanted[r.file], r.frame)
        else:
            assert r.frame == 0, f"line {r.line}: {r.file} is an image, frame must be 0"
    for file, last in wanted.items():
        with av.open(str(shared_data / file)) as container:
            decoded = sum(1 for _ in container.decode(video=0))
        assert last < decoded, f"{file}: frame {last} asked, the clip decodes {decoded} frames"


def test_boxes_inside_frames_with_contrast(rows: list[Row], frames: dict[tuple[str, int], np.ndarray]) -> None:
    for r in rows:
        frame = frames[r.key]
        h, w = frame.shape[:2]
        x, y, bw, bh = r.box
        assert x + bw <= w and y + bh <= h, f"line {r.line}: box {r.box} outside {r.file} ({w}x{h})"
        grey = cv2.cvtColor(crop(frame, r.box), cv2.COLOR_BGR2GRAY)
        # the faintest number of the corpus (a white 1 on a bright sky) spans 30 grey levels
        assert int(np.ptp(grey)) >= 25, f"line {r.line}: crop of {r.file} is nearly flat: no number in it"


def test_both_splits_for_every_game(rows: list[Row]) -> None:
    per_game = Counter((r.game, r.split) for r in rows)
    for game in {r.game for r in rows}:
        for split in ("tune", "holdout"):
            assert per_game[(game, split)] >= MIN_PER_SPLIT, f"{game}: {per_game[(game, split)]} {split} rows"
    held = sum(r.split == "holdout" for r in rows) / len(rows)
    assert 0.25 <= held <= 0.5, f"{held:.0%} of the rows are held out; about a third is the aim"


def test_holdout_is_whole_files_or_clip_stretches(rows: list[Row]) -> None:
    by_file: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_file[r.file].append(r)
    for file, mine in by_file.items():
        splits = {r.split for r in mine}
        if is_video(file):
            ordered = [r.split for r in sorted(mine, key=lambda r: r.frame)]
            changes = sum(a != b for a, b in zip(ordered, ordered[1:]))
            assert changes <= 1, f"{file}: tune and holdout frames interleave ({changes} changes)"
        elif file not in SPLIT_INSIDE_FILE:
            assert len(splits) == 1, f"{file}: rows in both splits; hold out whole files"
