"""The built-in digit reader on real HUD crops: right or null, never wrong.

Crops are read by the glyph reader (`read_glyphs`) with the digit reader as its classifier:
the pipeline a game file without a font gets. The non-digit tests hand every blob of a crop
(cut by the training script) to `classify` directly. The model saw rendered fonts only.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

from engine.vision.digits import DEFAULT_MODEL, DigitReader
from engine.vision.glyphread import GlyphOptions, GlyphRead, read_glyphs

ROOT = Path(__file__).resolve().parents[1]


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_digits", ROOT / "scripts" / "train_digits.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


train = _load_script()

Box = tuple[int, int, int, int]
# file, box (x, y, w, h) with a margin of background, the HUD's value, colour preparation
RIGHT: list[tuple[str, Box, str, str]] = [
    ("valorant/ydc-hud-054-hp27.png", (590, 1005, 55, 40), "27", "grey"),  # health
    ("valorant/ydc-hud-054-hp27.png", (1300, 1005, 30, 45), "0", "grey"),  # clip, a lone 0
    ("valorant/ydc-hud-054-hp27.png", (1350, 1012, 30, 26), "36", "grey"),  # reserve
    ("valorant/ydc-hud-054-hp27.png", (812, 37, 22, 28), "2", "grey"),  # score left, a lone 2
    ("valorant/ydc-hud-054-hp27.png", (1087, 36, 22, 28), "2", "grey"),  # score right
    ("valorant/ydc-hud-054-hp27.png", (1836, 1034, 36, 22), "650", "grey"),  # credits
    ("valorant/ydc-hud-054-hp27.png", (930, 30, 60, 34), "0:54", "grey"),  # round timer
    ("valorant/ydc-hud-114-scoped.png", (812, 37, 22, 28), "1", "grey"),  # score left
    ("valorant/ydc-hud-114-scoped.png", (1086, 36, 24, 28), "4", "grey"),  # score right
    ("valorant/ydc-hud-114-scoped.png", (1300, 1005, 30, 45), "2", "grey"),  # clip
    ("valorant/ydc-hud-114-scoped.png", (1350, 1012, 30, 26), "10", "grey"),  # reserve
    ("valorant/ydc-hud-114-scoped.png", (545, 1018, 21, 16), "25", "grey"),  # armour
    ("valorant/ydc-hud-114-scoped.png", (1854, 1034, 18, 22), "0", "grey"),  # credits
    ("valorant/ydc-hud-114-scoped.png", (578, 1005, 75, 42), "100", "grey"),  # health
    ("apex/t8cp8hhm.jpg", (1730, 962, 52, 35), "12", "grey"),  # clip (manifest box + 3 px)
    ("apex/t8cp8hhm.jpg", (1727, 1000, 54, 25), "19", "grey"),  # reserve; its dim padding 0 is dropped
    ("csgo/test5.png", (52, 1035, 70, 32), "100", "red"),  # health, red on sand
    ("csgo/test5.png", (1754, 1033, 26, 34), "7", "grey"),  # clip
    ("csgo/test5.png", (1794, 1048, 30, 22), "35", "grey"),  # reserve, in smaller type
    ("csgo/test5.png", (933, 4, 60, 22), "1:50", "grey"),  # round timer
    ("melee/smuckers.mp4", (178, 47, 88, 18), "07:51", "grey"),  # timer minutes:seconds
    ("melee/smuckers.mp4", (273, 46, 36, 19), "53", "grey"),  # timer hundredths, smaller
    # damage: white text over a pink and yellow stage, so whiteness (the darkest channel)
    ("melee/smuckers.mp4", (48, 300, 75, 26), "18%", "white"),
    ("melee/smuckers.mp4", (285, 304, 55, 22), "7%", "white"),
    # thousands separators: a ',' read as '.' is a wrong number ('1.200'); these read null now
    ("valorant/mid_round.png", (1822, 1035, 48, 21), "1,200", "grey"),  # credits
    ("overwatch/cards-screen.jpg", (304, 693, 58, 23), "5,832", "grey"),  # end-of-match card stat
]
# Ink that is not digits: every glyph must score below the threshold.
NOT_DIGITS: list[tuple[str, Box, str]] = [
    ("apex/t8cp8hhm.jpg", (176, 967, 114, 21), "player name CMDR_SDCore"),
    ("apex/t8cp8hhm.jpg", (1796, 962, 30, 36), "bullet icon right of the clip"),
    ("valorant/ydc-hud-054-hp27.png", (1821, 1035, 16, 20), "credits icon"),
]
DAMAGE = ("none", "720p", "jpeg60")


def _frame(shared: Path, name: str, cache: dict[str, np.ndarray]) -> np.ndarray:
    if name not in cache:
        if name.endswith(".mp4"):
            import av

            with av.open(str(shared / name)) as container:
                for i, frame in enumerate(container.decode(video=0)):
                    if i == 600:  # decode order; the manifest's frame with 18% / 7% / 07:51.53
                        cache[name] = frame.to_ndarray(format="bgr24")
                        break
        else:
            img = cv2.imread(str(shared / name), cv2.IMREAD_COLOR)
            assert img is not None, f"cannot read {name}"
            cache[name] = np.asarray(img)
    return cache[name]


def _damage(img: np.ndarray, how: str) -> np.ndarray:
    if how == "720p":  # the whole frame down to 2/3 and back, as a 720p capture scaled up
        h, w = img.shape[:2]
        small = cv2.resize(img, (w * 2 // 3, h * 2 // 3), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if how == "jpeg60":
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 60])
        assert ok
        return np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR))
    return img


def _grey(crop: np.ndarray, prep: str) -> np.ndarray:
    if prep == "white":
        return crop.min(axis=2)
    if prep == "red":  # redness: CS:GO's red health is as grey as the sand behind it
        c = crop.astype(np.int16)
        return np.clip(c[..., 2] - np.maximum(c[..., 1], c[..., 0]), 0, 255).astype(np.uint8)
    return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)


@pytest.fixture(scope="module")
def reader() -> DigitReader:
    return DigitReader.load()


@pytest.fixture(scope="module")
def frames() -> dict[str, np.ndarray]:
    return {}


def _crop(shared: Path, frames: dict[str, np.ndarray], name: str, box: Box, prep: str,
          how: str) -> np.ndarray:
    x, y, w, h = box
    key = f"{name}|{how}"
    if key not in frames:
        frames[key] = _damage(_frame(shared, name, frames), how)
    return _grey(frames[key][y:y + h, x:x + w], prep)


def _why(read: GlyphRead) -> str:
    return f"{read.text!r} ({read.reason}; " + ", ".join(
        f"{g.char}:{g.score:.2f}" if g.char else f"[{g.dropped}]" for g in read.glyphs) + ")"


# Measured with the shipped weights (the CNN): 17 of 26 crops right, 9 null (among them both
# commas, at 0.58-0.62 under the 0.89 threshold). The floors catch a model or cutter that
# quietly reads less.
MIN_RIGHT = 16
# Apex's template digits: 14 of 20 right
MIN_TEMPLATES = 13


def test_real_crops_right_or_null(shared_data: Path, reader: DigitReader,
                                  frames: dict[str, np.ndarray]) -> None:
    reads = {(name, box): read_glyphs(_crop(shared_data, frames, name, box, prep, "none"), reader)
             for name, box, _, prep in RIGHT}
    wrong = [f"{name} {box}: {_why(reads[name, box])} for {want!r}" for name, box, want, _ in RIGHT
             if reads[name, box].text not in (None, want)]
    assert not wrong, "\n".join(wrong)
    right = sum(reads[name, box].text == want for name, box, want, _ in RIGHT)
    assert right >= MIN_RIGHT, [f"{name} {box}: {_why(reads[name, box])}" for name, box, want, _ in RIGHT
                                if reads[name, box].text != want]


@pytest.mark.parametrize("name,box,want", [
    ("valorant/ydc-hud-054-hp27.png", (1300, 1005, 30, 45), "0"),  # clip: a lone 0
    ("valorant/ydc-hud-054-hp27.png", (812, 37, 22, 28), "2"),  # score: a lone 2
    ("valorant/ydc-hud-114-scoped.png", (1300, 1005, 30, 45), "2"),  # clip: a lone 2
])
def test_lone_digits_read_right(shared_data: Path, reader: DigitReader, frames: dict[str, np.ndarray],
                                name: str, box: Box, want: str) -> None:
    read = read_glyphs(_crop(shared_data, frames, name, box, "grey", "none"), reader)
    assert read.text == want, _why(read)


# Melee's "7%" after a 720p round trip or JPEG 60: the % sets the line and the taller italic 7,
# cut by the box's top, is left out as an icon; the % alone read "%" (a wrong read, under a
# strict xfail until the ink left out was also read over its own rows: there it reads '7',
# so the text may go on there and the read is null).
DAMAGED = [pytest.param(*r, how, id=f"{r[0]}:{r[2]}-{how}") for r in RIGHT for how in DAMAGE[1:]]


@pytest.mark.parametrize("name,box,want,prep,how", DAMAGED)
def test_damaged_crops_right_or_null(shared_data: Path, reader: DigitReader, frames: dict[str, np.ndarray],
                                     name: str, box: Box, want: str, prep: str, how: str) -> None:
    read = read_glyphs(_crop(shared_data, frames, name, box, prep, how), reader)
    assert read.text in (None, want), f"{how}: {_why(read)} for {want!r}"


# Boxes that cut through the number's first or last glyph, leaving a column of its edge inside:
# that remnant is dim (0.47-0.57 of the brightest glyph's contrast), and must still count as a
# glyph the box may have cut. Left out as dim ink, these read '24', '2' and '5' (found in review).
@pytest.mark.parametrize("name,box,shown", [
    ("valorant/scoreboard.png", (718, 358, 21, 15), "245"),  # its 5 cut to one column
    ("apex/img4.png", (144, 398, 26, 33), "12"),  # its 1 cut to one column
    ("lol/screen2.png", (1823, 2, 11, 14), "52"),
])
def test_a_box_cutting_a_glyph_reads_null_not_short(shared_data: Path, reader: DigitReader,
                                                     frames: dict[str, np.ndarray], name: str, box: Box,
                                                     shown: str) -> None:
    read = read_glyphs(_crop(shared_data, frames, name, box, "grey", "none"), reader)
    assert read.text is None and "edge" in (read.reason or ""), f"{_why(read)} for {shown!r} cut by the box"


@pytest.mark.parametrize("min_margin", [0.035, 0.0])
def test_a_blob_read_clearly_two_ways_is_null_whatever_the_margin(shared_data: Path, reader: DigitReader,
                                                                  frames: dict[str, np.ndarray],
                                                                  min_margin: float) -> None:
    # Overwatch's '55%' at 720p: its % reads clearly whole (0.98) and split into a 9 and a 6
    # (0.99); it read '5596' before, and with min_margin 0 until the disagreement stopped
    # being a margin of 0 (found in review)
    grey = _crop(shared_data, frames, "overwatch/cards-screen.jpg", (1402, 693, 46, 21), "grey", "720p")
    read = read_glyphs(grey, reader, options=GlyphOptions(min_margin=min_margin))
    assert read.text is None, _why(read)
    assert "two ways" in (read.reason or "") and "'%'" in (read.reason or ""), read.reason


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("name,box,what", NOT_DIGITS, ids=[r[2] for r in NOT_DIGITS])
def test_non_digits_score_below_threshold(shared_data: Path, reader: DigitReader,
                                          frames: dict[str, np.ndarray], name: str, box: Box,
                                          what: str, how: str) -> None:
    # every blob, with the training script's cutter: the glyph reader would drop some of them
    # as icons before the classifier saw them, and this is the classifier's test
    ink = train.binarise(_crop(shared_data, frames, name, box, "grey", how))
    patches = train.patches_of(ink, train.cut_glyphs(ink))
    assert patches, f"{what}: no ink found in {box}"
    high = [s for s in reader.classify(patches) if s.score >= reader.threshold]
    assert not high, f"{what} ({how}) has glyphs scored as characters: {high}"


def test_apex_template_digits_right_or_null(shared_data: Path, reader: DigitReader) -> None:
    """The Apex 'font by example' glyphs, one digit per image: each reads as its name or null."""
    folder = shared_data / "templates" / "apex" / "overtrack-digits"
    paths = sorted(folder.glob("*/*.png"))
    assert len(paths) == 20, f"expected 20 template digits in {folder}"
    # a 3 px margin of the glyph's own edge: the glyph reader nulls ink touching the crop's edge
    reads = {p: read_glyphs(cv2.copyMakeBorder(np.asarray(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)),
                                               3, 3, 3, 3, cv2.BORDER_REPLICATE), reader) for p in paths}
    wrong = [f"{p.parent.name}/{p.name}: {_why(r)}" for p, r in reads.items() if r.text not in (None, p.stem)]
    assert not wrong, "\n".join(wrong)
    assert sum(r.text == p.stem for p, r in reads.items()) >= MIN_TEMPLATES


def test_classify_contract(reader: DigitReader) -> None:
    """Scores are probabilities over the charset; margin is the gap to the runner-up."""
    probes = train.probe_patches()
    scores = reader.classify(probes)
    assert len(scores) == len(probes)
    for s in scores:
        assert s.char in reader.charset and s.runner_up in reader.charset and s.char != s.runner_up
        assert 0.0 <= s.score - s.margin <= s.score <= 1.0
    assert reader.classify([]) == []
    with pytest.raises(ValueError, match="non-empty 2-D"):
        reader.classify([np.zeros((0, 5), np.float32)])


def test_shipped_weights_match_the_training_script(reader: DigitReader) -> None:
    """The weights are the script's, served as the script saw them.

    Re-training here is out: rendering and training take minutes and need the Debian font
    packages. Instead the npz must record the script's current settings (a changed setting
    without a re-run of `make model` fails here), and the serving code must reproduce the
    probabilities the script computed on its fixed probe patches (OpenCV Hershey glyphs and
    seeded noise, no fonts) when it wrote the weights (a changed normalisation or feature
    fails here)."""
    meta = reader.settings
    for key, value in train.recorded_settings().items():
        assert meta[key] == value, (f"digits_model.npz has {key}={meta[key]!r}, the script "
                                    f"{value!r}: re-run `python scripts/train_digits.py`")
    with np.load(DEFAULT_MODEL, allow_pickle=False) as npz:
        recorded = npz["probe"]
    probs = reader.probabilities(reader.features(train.probe_patches()))
    assert probs.shape == recorded.shape
    np.testing.assert_allclose(probs, recorded, atol=1e-4)
    assert 0.5 < reader.threshold < 1.0
    assert DEFAULT_MODEL.stat().st_size < 3_000_000
