"""The glyph reader and fonts by example on real Apex HUD frames (engine/vision/glyphread.py, font.py).

Crops are prepared as the apex game file prepares its ammo counters (`max`: the brightest
channel) and boxed with a few px of margin around the text. Expected values are the frames'
ground truth in /work/shared/data/MANIFEST.tsv.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.vision.font import Font, FontError, char_of
from engine.vision.glyphread import GlyphOptions, GlyphRead, glyph_patches, read_glyphs

# (x, y, w, h) of the text and the margin a game file author would add, confirmed by looking
T8_CLIP = (1733, 965, 46, 29)  # '12'
T8_RESERVE = (1730, 1003, 48, 19)  # '019': the 0 is dim padding
P21_CLIP = (2370, 962, 48, 32)  # '03': the 0 is dim padding
P21_RESERVE = (2370, 1002, 48, 19)  # '080': the first 0 is dim padding
MARGIN = 4


@pytest.fixture(scope="module")
def apex(shared_data: Path) -> Path:
    return shared_data / "apex"


@pytest.fixture(scope="module")
def fonts(shared_data: Path) -> dict[str, Font]:
    digits = shared_data / "templates" / "apex" / "overtrack-digits"
    return {name: Font.load(digits / name) for name in ("clip", "reserve")}


@pytest.fixture(scope="module")
def t8(apex: Path) -> np.ndarray:
    return _image(apex / "t8cp8hhm.jpg")


def _image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    assert img is not None, f"cannot read {path}"
    return img


def crop(frame: np.ndarray, box: tuple[int, int, int, int], *, scale: float = 1.0,
         left: int = MARGIN, right: int = MARGIN, margin: int = MARGIN) -> np.ndarray:
    """The box (in 1080p pixels, scaled to the frame) with margins, brightest channel."""
    x, y, w, h = box
    x0, x1 = round((x - left) * scale), round((x + w + right) * scale)
    y0, y1 = round((y - margin) * scale), round((y + h + margin) * scale)
    return frame[y0:y1, x0:x1].max(axis=2)


def via_720p(frame: np.ndarray) -> np.ndarray:
    small = cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)


def via_jpeg(frame: np.ndarray, quality: int = 60) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert ok and decoded is not None
    return np.asarray(decoded)


def read_chars(read: GlyphRead) -> list[str | None]:
    return [g.char for g in read.glyphs if g.dropped is None]


# --- real frames -------------------------------------------------------------------------------

Capture = Callable[[np.ndarray], np.ndarray]
CAPTURES: dict[str, tuple[Capture, float]] = {
    "as captured": (lambda f: f, 1.0),
    "720p round trip": (via_720p, 1.0),
    "jpeg 60": (via_jpeg, 1.0),
    "720p round trip + jpeg 60": (lambda f: via_jpeg(via_720p(f)), 1.0),
    "1440p": (lambda f: cv2.resize(f, (2560, 1440), interpolation=cv2.INTER_LINEAR), 4 / 3),
}


@pytest.mark.parametrize("capture", CAPTURES)
def test_t8_clip_and_reserve_read_under_captures(t8: np.ndarray, fonts: dict[str, Font], capture: str) -> None:
    change, scale = CAPTURES[capture]
    frame = change(t8)
    clip = read_glyphs(crop(frame, T8_CLIP, scale=scale), fonts["clip"])
    reserve = read_glyphs(crop(frame, T8_RESERVE, scale=scale), fonts["reserve"])
    assert (clip.text, reserve.text) == ("12", "19"), (clip.reason, reserve.reason)
    assert clip.confidence >= fonts["clip"].threshold
    # the reserve's padding zero is dim: dropped as padding or never ink, never read
    assert all(g.dropped == "dim padding" for g in reserve.glyphs if g.box[0] < reserve.glyphs[0].box[0])
    assert read_chars(reserve) == ["1", "9"]


def test_21_9_capture_drops_the_dim_padding_zeros(apex: Path, fonts: dict[str, Font]) -> None:
    frame = _image(apex / "hud_21_9_pathfinder.png")  # 2560x1080: the HUD is drawn at 1080p scale
    clip = read_glyphs(crop(frame, P21_CLIP), fonts["clip"])
    reserve = read_glyphs(crop(frame, P21_RESERVE), fonts["reserve"])
    assert (clip.text, reserve.text) == ("3", "80"), (clip.reason, reserve.reason)
    # the padding zeros are on the line and classify as 0, but they are dim
    for read in (clip, reserve):
        padding = [g for g in read.glyphs if g.dropped == "dim padding"]
        assert all(g.brightness < GlyphOptions().dim_ratio for g in padding)


# --- dim padding built from real glyphs -----------------------------------------------------------

def _zero_glyph(shared_data: Path, height: int) -> np.ndarray:
    """The clip font's real 0, its ink cropped and scaled to `height` rows, ink in [0, 1]."""
    image = cv2.imread(str(shared_data / "templates/apex/overtrack-digits/clip/0.png"), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    ys, xs = np.nonzero(np.asarray(image) > 127)
    zero = np.asarray(image)[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32) / 255
    return cv2.resize(zero, (round(zero.shape[1] * height / zero.shape[0]), height), interpolation=cv2.INTER_AREA)


def with_zero(grey: np.ndarray, zero: np.ndarray, top: int, x: int, strength: float) -> np.ndarray:
    """The crop with the zero drawn at (x, top), `strength` of the way from the background to
    the digits' level (Apex draws padding at ~30% of the digits' contrast)."""
    out = grey.astype(np.float32)
    digits = float(np.percentile(grey, 99))
    h, w = zero.shape
    region = out[top:top + h, x:x + w]
    out[top:top + h, x:x + w] = region + strength * (digits - region) * zero
    return out.astype(np.uint8)


@pytest.fixture(scope="module")
def clip_with_room(t8: np.ndarray, fonts: dict[str, Font], shared_data: Path) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The real '12' crop with empty panel on its left, a real 0 scaled to its line, and where
    a padding zero goes (the line's top, 6 px before the 1 as the HUD spaces its digits)."""
    grey = crop(t8, T8_CLIP, left=MARGIN + 30)
    read = read_glyphs(grey, fonts["clip"])
    assert read.text == "12"
    zero = _zero_glyph(shared_data, read.line_height)
    first = read.glyphs[0].box[0]
    return grey, zero, read.line_top, first - 6 - zero.shape[1]


@pytest.mark.parametrize("strength", [0.3, 0.4, 0.5])
def test_a_dim_leading_zero_is_padding(clip_with_room: tuple[np.ndarray, np.ndarray, int, int],
                                       fonts: dict[str, Font], strength: float) -> None:
    grey, zero, top, x = clip_with_room
    read = read_glyphs(with_zero(grey, zero, top, x, strength), fonts["clip"])
    assert read.text == "12", read.reason


def test_a_dim_zero_is_padding_whichever_path_drops_it(clip_with_room: tuple[np.ndarray, np.ndarray, int, int],
                                                       fonts: dict[str, Font]) -> None:
    """Otsu leaves a 40% zero out of the ink; a fixed cut under it takes it as ink, and the
    brightness rule drops it: both read '12'."""
    grey, zero, top, x = clip_with_room
    image = with_zero(grey, zero, top, x, 0.4)
    by_otsu = read_glyphs(image, fonts["clip"])
    background = int(np.median(grey))
    by_brightness = read_glyphs(image, fonts["clip"], options=GlyphOptions(cut=background + 15))
    assert by_otsu.text == by_brightness.text == "12", (by_otsu.reason, by_brightness.reason)
    padding = [g for g in by_brightness.glyphs if g.dropped == "dim padding"]
    assert len(padding) == 1 and 0.25 < padding[0].brightness < 0.55


def test_a_bright_leading_zero_is_a_real_zero(clip_with_room: tuple[np.ndarray, np.ndarray, int, int],
                                              fonts: dict[str, Font]) -> None:
    grey, zero, top, x = clip_with_room
    read = read_glyphs(with_zero(grey, zero, top, x, 1.0), fonts["clip"])
    assert read.text == "012", read.reason


def test_a_lone_dim_zero_still_reads_zero(clip_with_room: tuple[np.ndarray, np.ndarray, int, int],
                                          fonts: dict[str, Font]) -> None:
    """The last glyph is never padding: a crop holding only a dim 0 reads '0'."""
    grey, zero, top, x = clip_with_room
    alone = with_zero(grey, zero, top, x, 0.4)[:, :x + zero.shape[1] + 3]  # cut 3 px before the '1'
    read = read_glyphs(alone, fonts["clip"])
    assert read.text == "0", read.reason


# --- icons, unknown glyphs, touching glyphs ----------------------------------------------------------

def test_the_ammo_icon_beside_the_clip_ends_the_text(t8: np.ndarray, fonts: dict[str, Font]) -> None:
    read = read_glyphs(crop(t8, T8_CLIP, right=MARGIN + 60), fonts["clip"])  # the ammo-type icon on the right
    assert read.text == "12", read.reason
    assert "icon" in [g.dropped for g in read.glyphs]


def test_the_bullet_icon_before_the_reserve_starts_it_after(t8: np.ndarray, fonts: dict[str, Font]) -> None:
    """The white bullet is brighter than the orange digits: Otsu's first split takes the icon
    alone; the retry below that cut finds the digits, and the icon is beyond the gap."""
    read = read_glyphs(crop(t8, T8_RESERVE, left=MARGIN + 36), fonts["reserve"])
    assert read.text == "19", read.reason
    bullet = read.glyphs[0]
    assert bullet.dropped == "beyond gap" and bullet.box[0] < 30


def test_a_glyph_the_font_lacks_makes_the_read_null(t8: np.ndarray, fonts: dict[str, Font]) -> None:
    grey = crop(t8, T8_CLIP, left=MARGIN + 34).copy()
    first = read_glyphs(grey, fonts["clip"])
    scale = cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_SIMPLEX, first.line_height, 3)
    (w, _), _ = cv2.getTextSize("A", cv2.FONT_HERSHEY_SIMPLEX, scale, 3)
    origin = (first.glyphs[0].box[0] - 6 - w, first.line_top + first.line_height)
    cv2.putText(grey, "A", origin, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 3, cv2.LINE_AA)
    read = read_glyphs(grey, fonts["clip"])
    assert read.text is None
    assert read.reason is not None and read.reason.startswith("glyph 1 of 3 is unclear: best ")
    assert read.glyphs[0].score < fonts["clip"].threshold


def _close_gap(grey: np.ndarray, overlap: int) -> np.ndarray:
    """The crop with the columns between its two glyphs removed, so the second glyph's first
    ink column lands `overlap` px onto the first's last (the columns meet by their max)."""
    _, ink = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    cols = np.flatnonzero(ink.any(axis=0))
    gap = np.flatnonzero(np.diff(cols) > 1)[0]
    last, first = int(cols[gap]), int(cols[gap + 1])  # last ink column of the 1, first of the 2
    joined = np.concatenate([grey[:, :last + 1 - overlap], grey[:, first:]], axis=1)
    joined[:, last + 1 - overlap:last + 1] = np.maximum(grey[:, last + 1 - overlap:last + 1],
                                                        grey[:, first:first + overlap])
    return joined


@pytest.mark.parametrize("overlap", [1, 2])
def test_touching_glyphs_are_split(t8: np.ndarray, fonts: dict[str, Font], overlap: int) -> None:
    read = read_glyphs(_close_gap(crop(t8, T8_CLIP), overlap), fonts["clip"])
    assert read.text == "12", read.reason
    assert [g.split for g in read.glyphs if g.dropped is None] == [True, True]


def test_dark_text_on_bright_reads_the_same(t8: np.ndarray, fonts: dict[str, Font]) -> None:
    read = read_glyphs(cv2.bitwise_not(crop(t8, T8_CLIP)), fonts["clip"])
    assert (read.text, read.polarity) == ("12", "dark"), read.reason


@pytest.mark.parametrize("name, box, expected", [
    ("ap-lowres-apryze.jpg", (431, 242, 16, 10), "5"),  # drawn as a dim 0 then 5
    ("ap-lowres-enemyapex.jpg", (431, 246, 16, 10), "24"),
])
def test_stream_thumbnails_upscaled_are_never_read_wrong(apex: Path, fonts: dict[str, Font], name: str,
                                                         box: tuple[int, int, int, int], expected: str) -> None:
    """480x270 thumbnails: the digits are ~7 px high. Upscaled to 1080p they read right today
    (see the report); a null would be acceptable, a wrong number is not."""
    frame = cv2.resize(_image(apex / name), (1920, 1080), interpolation=cv2.INTER_LINEAR)
    x, y, w, h = (4 * v for v in box)
    read = read_glyphs(frame[y:y + h, x:x + w].max(axis=2), fonts["clip"])
    assert read.text in (expected, None), read.glyphs


def test_a_box_cutting_through_a_glyph_is_not_read(apex: Path, fonts: dict[str, Font]) -> None:
    """The reserve box shifted left until it cuts the last 0 in half: the half 0 alone would
    read as a 1 ('81'); ink at the crop's edge makes the read null instead."""
    frame = _image(apex / "hud_21_9_pathfinder.png")
    x, y, w, h = P21_RESERVE
    read = read_glyphs(crop(frame, (x - 12, y, w, h), margin=3, left=2, right=2), fonts["reserve"])
    assert read.text is None
    assert read.reason is not None and "right edge" in read.reason


# --- cutting a crop into examples ------------------------------------------------------------------

def test_glyph_patches_give_one_patch_per_character_over_the_line(t8: np.ndarray) -> None:
    patches = glyph_patches(crop(t8, T8_CLIP))
    assert len(patches) == 2
    for (x, y, w, h), patch in patches:
        assert patch.dtype == np.float32 and 0.0 <= patch.min() and patch.max() <= 1.0
        assert patch.shape[1] == w and patch.max() > 0.9
    assert patches[0][1].shape[0] == patches[1][1].shape[0]  # the same line rows for every glyph


def test_a_font_cut_from_one_capture_reads_another(t8: np.ndarray) -> None:
    """The `otrig cut --text 12` flow: examples cut from the capture itself read a 720p copy."""
    patches = glyph_patches(crop(t8, T8_CLIP), expect=2)
    font = Font([(c, patch) for c, (_, patch) in zip("12", patches)])
    assert font.charset == "12"
    read = read_glyphs(crop(via_jpeg(via_720p(t8)), T8_CLIP), font)
    assert read.text == "12", read.reason
    assert read.confidence > 0.9


# --- fonts -------------------------------------------------------------------------------------

def test_font_file_names_name_their_character() -> None:
    assert [char_of(s) for s in ("7", "7_2", "7-b", "colon", "Percent_2", "dot", "-", "_", "ab", "dott")] == \
        ["7", "7", "7", ":", "%", ".", "-", "_", None, None]


def test_font_load_reads_named_and_extra_examples(shared_data: Path, tmp_path: Path) -> None:
    digits = shared_data / "templates" / "apex" / "overtrack-digits" / "clip"
    for src, name in (("1.png", "1.png"), ("1.png", "1_b.png"), ("2.png", "2-x.png"), ("0.png", "colon.png")):
        shutil.copy(digits / src, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image: ignored")
    font = Font.load(tmp_path, threshold=0.8)
    assert (font.charset, font.threshold) == ("12:", 0.8)  # sorted


def test_font_errors_name_the_folder_or_file(tmp_path: Path) -> None:
    with pytest.raises(FontError, match="does not exist"):
        Font.load(tmp_path / "nope")
    with pytest.raises(FontError, match="holds no glyph images"):
        Font.load(tmp_path)
    cv2.imwrite(str(tmp_path / "ab.png"), np.zeros((20, 10), np.uint8))
    with pytest.raises(FontError, match=r"ab\.png.*not a character"):
        Font.load(tmp_path)
    (tmp_path / "ab.png").unlink()
    cv2.imwrite(str(tmp_path / "7.png"), np.full((20, 10), 90, np.uint8))
    with pytest.raises(FontError, match=r"7\.png.*no ink"):
        Font.load(tmp_path)


def test_glyph_options_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="polarity"):
        GlyphOptions(polarity="grey")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_gap"):
        GlyphOptions(max_gap=-1)


# --- text that goes on past the layout, parts, small and wide glyphs (real Apex pixels) -----------

def _paste(grey: np.ndarray, glyphs: np.ndarray, x: int, bottom: int) -> np.ndarray:
    """`glyphs` (a crop of the same capture) laid by its max at column x, its last row on `bottom`."""
    out = grey.copy()
    h, w = glyphs.shape
    region = out[bottom - h:bottom, x:x + w]
    out[bottom - h:bottom, x:x + w] = np.maximum(region, glyphs[:, :region.shape[1]])
    return out


def _clip_with_room(t8: np.ndarray, fonts: dict[str, Font], right: int) -> tuple[np.ndarray, GlyphRead]:
    grey = crop(t8, T8_CLIP, right=MARGIN + right)
    grey[:, crop(t8, T8_CLIP).shape[1]:] = int(np.median(grey[:, :3]))  # empty panel beyond the box (no icon)
    read = read_glyphs(grey, fonts["clip"])
    assert read.text == "12", read.reason
    return grey, read


def test_smaller_glyphs_after_the_gap_are_read_or_the_read_is_null(t8: np.ndarray, fonts: dict[str, Font]) -> None:
    """Melee's timer draws its centiseconds at 3/4 size on the seconds' baseline, 0.5-0.94 line
    heights after them. The real '12' followed by itself at 3/4 size: never read '12' alone."""
    grey, read = _clip_with_room(t8, fonts, 60)
    ink = crop(t8, T8_CLIP)[MARGIN - 1:MARGIN + T8_CLIP[3] + 1, MARGIN - 1:MARGIN + T8_CLIP[2] + 1]
    small = cv2.resize(ink, None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA)
    end = max(g.box[0] + g.box[2] for g in read.glyphs if g.char)
    bottom = read.line_top + read.line_height + 1
    for gap in (0.5, 0.8):  # within max_gap, and beyond it (twice max_gap at most)
        text = read_glyphs(_paste(grey, small, end + round(gap * read.line_height), bottom), fonts["clip"]).text
        assert text in ("1212", None), (gap, text)
    # the same glyphs at full size beyond the gap are other text: left out, they make it null
    far = _paste(grey, ink, end + round(0.8 * read.line_height), bottom + 1)
    later = read_glyphs(far, fonts["clip"])
    assert later.text is None and later.reason is not None and "left out of the text" in later.reason


def test_glyphs_too_small_to_tell_apart_are_not_read(t8: np.ndarray, fonts: dict[str, Font]) -> None:
    """The real '12' at 1/5 and 1/6 of its size (6 and 5 px): their margins over the runner-up
    mean little there, so the read is null rather than a guess."""
    for scale in (0.2, 1 / 6):
        small = cv2.resize(t8, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        read = read_glyphs(crop(small, T8_CLIP, scale=scale, left=2 / scale, right=2 / scale,
                                margin=2 / scale), fonts["clip"])
        assert read.text is None, (scale, read.text, read.reason)


def test_two_glyphs_squeezed_into_one_patch_do_not_read_as_one(fonts: dict[str, Font]) -> None:
    font = fonts["clip"]
    one, two = (g for g in glyph_patches(font_image(font, "12")))
    joined = np.concatenate([one[1], two[1]], axis=1)
    assert float(font.scores([joined]).max()) < font.threshold


def font_image(font: Font, text: str) -> np.ndarray:
    """The overtrack clip templates of `text` side by side, 4 px apart, as a crop."""
    folder = Path(font.name)
    images = [cv2.imread(str(folder / f"{c}.png"), cv2.IMREAD_GRAYSCALE) for c in text]
    row = [np.pad(np.asarray(i), ((4, 4), (2, 2))) for i in images if i is not None]
    return np.concatenate(row, axis=1)


def test_a_short_glyph_example_keeps_its_place_on_the_line(t8: np.ndarray) -> None:
    """A colon cut over the line's rows (as `otrig cut --text` writes it) is read over the
    line's rows: cut on its own rows it scored 0.49 against itself."""
    from engine.vision.font import font_lines

    grey = crop(t8, T8_CLIP)
    patches = glyph_patches(grey, expect=2)
    height = patches[0][1].shape[0]
    colon = np.zeros((height, 6), np.float32)
    colon[height // 4:height // 4 + 4, 1:5] = 1.0
    colon[3 * height // 4 - 4:3 * height // 4, 1:5] = 1.0
    images = [(c, np.pad((p * 255).astype(np.uint8), ((0, 0), (3, 3)))) for c, (_, p) in zip("12", patches)]
    images.append((":", np.pad((colon * 255).astype(np.uint8), ((0, 0), (3, 3)))))
    assert font_lines([i for _, i in images]) == {height: (0, height)}
    font = Font.from_images(images)
    got = font.classify([colon])[0]
    assert (got.char, got.score > 0.95) == (":", True)
