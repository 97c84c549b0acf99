"""`otrig cut`: cut a template out of a screenshot, or (with ``--text``) the glyphs of a font
by example.

Where to cut: ``--region NAME`` of ``--game GAME`` (its boxes after the anchor and viewport
mapping, as the engine reads them), or ``--box X,Y,W,H``: in the game's reference pixels,
mapped like a region (``--anchor``, default center) when ``--game`` is given, else in pixels of
the screenshot resized to the 1920x1080 frame. Only the game file's regions are read (see
:class:`GameRegions`): its steps may load the very templates and fonts being cut.

``--text TEXT`` splits the crop's ink into glyphs as the ``glyphs`` step does
(engine.vision.glyphread.glyph_patches, the reader's default options, ``--polarity`` and
``--cut`` as the step's keys of the same names; a 21:9 or 16:10 screenshot's crop widened
back to its own aspect, as the step reads it) and adds one example image per character to
the font folder ``-o DIR``. The image is the glyph's patch written so that ``Font.load`` reads
it back as the same patch (:func:`example_image`). Nothing is written unless the crop has one
glyph per character and the font, examples added, reads the crop back as TEXT.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

import typer

from cli.options import (GAME_FILE_ERROR, INPUT_ERROR, USAGE_ERROR, PixelBox, ViewportOpt, fail, print_game_file_error,
                         viewport_box)
from engine.lang.errors import GameFileError, GameFileErrors, SourceError
from engine.vision.frame import HEIGHT, WIDTH
from engine.vision.regions import Anchor, CompiledRegion, IntBox, RegionMapper, geometry_for

if TYPE_CHECKING:  # numpy and the glyph reader are imported when a font is cut, not for --help
    import numpy as np

DIGITS = "0123456789"


@dataclass(frozen=True, kw_only=True)
class GameRegions:
    """A game file's regions and how its reference pixels land on a frame: all `otrig cut`
    needs. The file is read and validated, but its steps are not compiled, so a game whose
    templates or fonts do not exist yet (the ones being cut) is no obstacle."""

    name: str  # the file's name, for messages
    regions: dict[str, CompiledRegion]
    mapper: RegionMapper
    viewport: IntBox | None  # --viewport, else the file's

    @classmethod
    def load(cls, game: str, viewport: IntBox | None) -> GameRegions:
        """Raises GameFileError(s) as loading the whole game would."""
        from engine.lang.shipped import resolve_game_path
        from engine.lang.yamlsrc import load_yaml
        from engine.runtime.model import parse_game

        path = resolve_game_path(game)
        spec = parse_game(load_yaml(path, game))
        mapper = RegionMapper(spec.reference)
        return cls(name=path.name, regions={n: CompiledRegion(n, r, mapper) for n, r in spec.regions.items()},
                   mapper=mapper, viewport=viewport if viewport is not None else spec.viewport)

    def region_boxes(self, region: str, frame: dict[str, object]) -> list[IntBox]:
        """The region's boxes in frame pixels; KeyError naming the regions there are."""
        if region not in self.regions:
            raise KeyError(f"no region '{region}' in {self.name} (regions: {', '.join(sorted(self.regions))})")
        return self.regions[region].boxes(geometry_for(frame, self.viewport))

    def map_box(self, box: IntBox, anchor: str, frame: dict[str, object]) -> IntBox:
        """A box in reference pixels, in frame pixels, as a region anchored there maps it."""
        return self.mapper.map(box, anchor, geometry_for(frame, self.viewport))

    def template_scale(self, frame: dict[str, object]) -> tuple[float, float]:
        """Frame pixels per reference pixel (templates are kept in reference pixels)."""
        return self.mapper.scale(geometry_for(frame, self.viewport))


@dataclass(frozen=True)
class Located:
    """A screenshot as a frame and the boxes a command was pointed at in it."""

    image: np.ndarray
    frame: dict[str, object]
    boxes: list[IntBox]     # in frame pixels, each with an area
    regions: GameRegions | None
    where: str              # how the user named them, for messages


def locate(command: str, image: str, *, game: str | None, region: str | None, box: PixelBox | None,
           anchor: Anchor | None, viewport: PixelBox | None, index: int | None) -> Located:
    """Read ``image`` and find the boxes of ``--region`` (of ``--game``) or ``--box``, as `otrig
    cut` and `otrig probe` take them; a usage or input problem ends the command with its reason."""
    if (region is None) == (box is None):
        raise fail(command, "say where: --region NAME (of --game GAME) or --box X,Y,W,H", USAGE_ERROR)
    if region is not None and game is None:
        raise fail(command, f"--region {region} is a region of a game file: give --game GAME too (or use "
                            f"--box X,Y,W,H)", USAGE_ERROR)
    if anchor is not None and (box is None or game is None):
        raise fail(command, "--anchor places --box in a game's reference pixels: it needs --box and --game",
                   USAGE_ERROR)
    if viewport is not None and game is None:
        raise fail(command, "--viewport maps a game's reference pixels: it needs --game (without it --box is in "
                            "frame pixels)", USAGE_ERROR)
    if box is not None and game is None and (box.x + box.w > WIDTH or box.y + box.h > HEIGHT):
        raise fail(command, f"--box {_box_text(box.box)} reaches outside the {WIDTH}x{HEIGHT} frame (X+W <= "
                            f"{WIDTH}, Y+H <= {HEIGHT}); with --game it is in the game's reference pixels",
                   USAGE_ERROR)
    g: GameRegions | None = None
    if game is not None:
        try:
            g = GameRegions.load(game, viewport_box(viewport))
        except (GameFileErrors, GameFileError) as e:
            print_game_file_error(game, e)
            raise typer.Exit(GAME_FILE_ERROR) from None
    from engine.media.sources import read_image
    try:
        img, frame = read_image(image)
    except SourceError as e:
        raise fail(command, str(e), INPUT_ERROR) from None
    if region is not None:
        assert g is not None  # checked above: --region needs --game
        where = f"region {region!r}"
        try:
            boxes = g.region_boxes(region, frame)
        except KeyError as e:  # names the regions there are
            raise fail(command, f"--region: {e.args[0]}", USAGE_ERROR) from None
    else:
        assert box is not None  # checked above: --region or --box
        where = f"--box {_box_text(box.box)}"
        boxes = [box.box if g is None else g.map_box(box.box, anchor or "center", frame)]
    if not boxes:
        raise fail(command, f"{where} has no box on this frame", INPUT_ERROR)
    if index is not None:
        if not 0 <= index < len(boxes):
            raise fail(command, f"--index {index}: {where} has {len(boxes)} boxes (0..{len(boxes) - 1})",
                       USAGE_ERROR)
        boxes = [boxes[index]]
    for i, (x, y, w, h) in enumerate(boxes):
        if w <= 0 or h <= 0:  # boxes are clipped to the frame: nothing was left of this one
            raise fail(command, f"{where} box {i} {x, y, w, h} is outside the {WIDTH}x{HEIGHT} frame", INPUT_ERROR)
    return Located(img, frame, boxes, g, where)


def parse_box(text: str) -> PixelBox:
    example = "e.g. 1729,961,54,37: X,Y,W,H in the game's reference pixels, or the 1920x1080 frame's"
    try:
        x, y, w, h = (int(p) for p in text.replace(" ", "").split(","))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not four whole numbers ({example})") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise typer.BadParameter(f"{text!r}: X and Y must be 0 or more, W and H above 0 ({example})")
    return PixelBox(x=x, y=y, w=w, h=h)


def cut(
    image: Annotated[str, typer.Argument(metavar="IMAGE", help="A screenshot (any size; resized to 1920x1080 like "
                                         "a frame).")],
    output: Annotated[str, typer.Option("-o", "--output", help="PNG to write (file_<i>.png for a region with "
                                        "several boxes); with --text, the font folder to add glyph images to "
                                        "(created if missing).")],
    game: Annotated[Optional[str], typer.Option("--game", "-g", metavar="GAME", help="The game file (or shipped "
                                                "game's name) whose region to cut, or whose reference pixels "
                                                "--box is in.")] = None,
    region: Annotated[Optional[str], typer.Option("--region", help="Region name in the game file.")] = None,
    box: Annotated[Optional[PixelBox], typer.Option(
        "--box", parser=parse_box, metavar="X,Y,W,H", show_default=False,
        help="Cut this box instead of a region: the game's reference pixels mapped like a region with --game, "
             "else pixels of the 1920x1080 frame.")] = None,
    anchor: Annotated[Optional[Anchor], typer.Option(
        "--anchor", show_default=False, help="With --box and --game: the edge or corner the box sticks to on "
                                             "other aspect ratios, as a region's anchor (default: center).")] = None,
    viewport: ViewportOpt = None,
    index: Annotated[Optional[int], typer.Option("--index", help="Only this box of a multi-box region "
                                                 "(0-based).")] = None,
    text: Annotated[Optional[str], typer.Option(
        "--text", metavar="TEXT", help="The text the crop shows (spaces ignored): write one glyph image per "
                                       "character into the font folder -o DIR, for a `glyphs` step's font.")] = None,
    polarity: Annotated[Literal["auto", "bright", "dark"], typer.Option(
        "--polarity", help="With --text: text brighter or darker than its background (auto: the minority of "
                           "an Otsu split), as the glyphs step's polarity.")] = "auto",
    ink_cut: Annotated[Optional[int], typer.Option(
        "--cut", min=0, max=254, metavar="LEVEL", show_default=False,
        help="With --text: fixed grey level between ink and background (default: Otsu's), as the glyphs step's "
             "cut.")] = None,
    prep: Annotated[Optional[str], typer.Option(
        "--prep", metavar="OPS", show_default=False,
        help="With --text: the glyphs step's prep list, as YAML, applied to the crop before it is split into "
             "glyphs, e.g. \"[{keep: {space: hsv, ranges: [[[0, 120, 120], [10, 255, 255]]]}}, max]\" for red "
             "digits on a busy background.")] = None,
) -> None:
    """Cut a template from a screenshot at a region's box (after anchor/viewport mapping) or at
    --box; with --text, cut the glyphs of a font by example.

    \b
      otrig cut shot.png --game games/apex.yaml --region weapon_name -o art/r99.png
      otrig cut shot.png --box 1729,961,54,37 --text 12 -o art/apex-clip
      otrig cut shot2.png --game games/apex.yaml --region clip --text 36 -o art/apex-clip
      otrig cut shot.png --box 928,2,64,26 --text 1:50 --prep "[grey, {scale: 2}]" -o art/timer
    """
    if text is None and (polarity != "auto" or ink_cut is not None or prep is not None):
        raise fail("cut", "--polarity, --cut and --prep say how to split --text into glyphs: they need --text",
                   USAGE_ERROR)
    chain = _prep_chain(prep)
    chars = "" if text is None else text.replace(" ", "")
    if text is not None:
        _check_text(text, chars)
    at = locate("cut", image, game=game, region=region, box=box, anchor=anchor, viewport=viewport, index=index)
    img, frame, boxes, g, where = at.image, at.frame, at.boxes, at.regions, at.where

    if text is None:
        _write_templates(img, frame, boxes, g, Path(output))
        return
    if len(boxes) > 1:
        raise fail("cut", f"{where} has {len(boxes)} boxes: pick the one showing {text!r} with --index "
                          f"(0..{len(boxes) - 1})", USAGE_ERROR)
    from engine.steps.text import capture_widening
    _cut_font(img, boxes[0], text, chars, Path(output), polarity=polarity, ink_cut=ink_cut,
              widen=capture_widening(geometry_for(frame, None)), prep=chain)


def _prep_chain(prep: str | None) -> list[tuple[str, Any]]:
    """``--prep`` as the language compiles a ``prep:`` list; its errors name the option."""
    if prep is None:
        return []
    from engine.lang.errors import GameFileError
    from engine.lang.yamlsrc import load_yaml_text
    from engine.vision.prep import compile_prep

    try:
        src = load_yaml_text(prep, "--prep")
        if not isinstance(src.data, list):
            raise fail("cut", f"--prep must be a YAML list of prep ops, e.g. \"[grey, {{scale: 2}}]\", not {prep!r}",
                       USAGE_ERROR)
        chain = compile_prep(src.data, (), src)
    except GameFileError as e:
        raise fail("cut", f"{e}", USAGE_ERROR) from None
    # The glyph boxes are reported in frame pixels through the prepared crop's scale: an op
    # that moves the glyphs otherwise (pad shifts them, spread moves each apart) would put
    # them elsewhere; neither helps a glyphs step, which needs no border and no spacing.
    moved = sorted({label.split("=")[0] for label, _ in chain} & {"pad", "spread"})
    if moved:
        raise fail("cut", f"--prep: {' and '.join(moved)} move{'' if len(moved) > 1 else 's'} the glyphs, so their boxes could not be given in "
                          f"frame pixels; leave {'them' if len(moved) > 1 else 'it'} out (a glyphs step needs no "
                          f"border or spacing)", USAGE_ERROR)
    return chain


def _box_text(box: IntBox) -> str:
    return ",".join(str(v) for v in box)


def _write_templates(img: np.ndarray, frame: dict[str, object], boxes: list[IntBox], g: GameRegions | None,
                     out: Path) -> None:
    import cv2

    out.parent.mkdir(parents=True, exist_ok=True)
    # templates are kept in reference pixels, so they match at any capture size (no game: the
    # frame is the reference)
    sx, sy = g.template_scale(frame) if g is not None else (1.0, 1.0)
    for i, (x, y, w, h) in enumerate(boxes):
        path = out if len(boxes) == 1 else out.with_name(f"{out.stem}_{i}{out.suffix or '.png'}")
        crop = img[y:y + h, x:x + w]
        if abs(sx - 1) > 0.02 or abs(sy - 1) > 0.02:
            size = (max(1, round(crop.shape[1] / sx)), max(1, round(crop.shape[0] / sy)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if sx > 1 else cv2.INTER_CUBIC)
        if not cv2.imwrite(str(path), crop):
            raise fail("cut", f"{path}: could not write (is the suffix an image type?)", INPUT_ERROR)
        typer.echo(f"{path}  {x},{y},{w},{h}")


# ----------------------------------------------------------------------------- fonts by example

def _check_text(text: str, chars: str) -> None:
    if not chars:
        raise fail("cut", f"--text {text!r} has no characters (spaces are ignored: glyphs have none)", USAGE_ERROR)
    for c in chars:
        if not c.isprintable():
            raise fail("cut", f"--text {text!r}: {c!r} is not a printable character", USAGE_ERROR)


def glyph_stem(char: str) -> str:
    """The file stem a glyph image of ``char`` is saved under: its name from the font's
    NAMED_CHARS when it has one ('%' -> 'percent', '.' -> 'dot': characters that cannot be, or
    are awkward in, file names), else the character itself."""
    from engine.vision.font import NAMED_CHARS

    return next((name for name, c in NAMED_CHARS.items() if c == char), char)


def free_stem(char: str, taken: set[str], chars_present: set[str]) -> str:
    """The stem for a new example of ``char``: its plain stem when the font has no example of
    it yet, else the next of stem_2, stem_3 ... that no file uses (``taken``: every stem in the
    folder, any suffix, compared case-blind, since some file systems are)."""
    stem = glyph_stem(char)
    lower = {t.lower() for t in taken}
    if char not in chars_present and stem.lower() not in lower:
        return stem
    k = 2
    while f"{stem}_{k}".lower() in lower:
        k += 1
    return f"{stem}_{k}"


def example_image(patch: np.ndarray, margin: int) -> np.ndarray:
    """A glyph patch (ink in [0, 1] over the line's rows, as glyph_patches gives it) as an 8-bit
    image that glyphread.example_patch reads back to the same patch, within 1/255.

    example_patch ramps a glyph from 1/4 to 3/4 of its own contrast (background 0, ink level
    the 90th percentile of its ink: 255 here, where the patch is solid), so the patch's values
    are written on that ramp: p -> 255 (1/4 + p/2), solid ink 255, no ink 0. The rows are the
    line's rows, no more: a short glyph ('.', '-') keeps its place on the line only so. Black
    columns at each side keep the ink off the image's edges."""
    import cv2
    import numpy as np

    levels = np.where(patch >= 1.0, 255.0, np.where(patch > 0.0, 255.0 * (0.25 + 0.5 * patch), 0.0))
    image = np.rint(levels).astype(np.uint8)
    return cv2.copyMakeBorder(image, 0, 0, margin, margin, cv2.BORDER_CONSTANT, value=0)


def _font_files(folder: Path) -> list[Path]:
    """The files Font.load reads as glyph examples."""
    from engine.vision.font import IMAGE_SUFFIXES

    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)


def font_summary(folder: Path) -> str:
    """``font DIR: 0 1 2 9 (4 examples); still missing: 3 4 5 6 7 8``: the characters the font
    has examples of, and the digits it has none of."""
    from engine.vision.font import char_of

    chars = [char_of(p.stem) for p in _font_files(folder)]
    have = sorted({c for c in chars if c is not None})
    missing = [d for d in DIGITS if d not in have]
    n = len(chars)
    tail = f"still missing: {' '.join(missing)}" if missing else "every digit 0-9 has an example"
    return f"font {folder}: {' '.join(have)} ({n} example{'s' if n != 1 else ''}); {tail}"


def _cut_font(img: np.ndarray, box: IntBox, text: str, chars: str, folder: Path, *,
              polarity: Literal["auto", "bright", "dark"], ink_cut: int | None, widen: float,
              prep: list[tuple[str, Any]]) -> None:
    """``widen``: the capture's squeeze undone (engine.steps.text.capture_widening), so the
    examples have the glyphs' true shape, as the glyphs step reads them; then ``prep``, as the
    step prepares its crop (its scale is undone for the boxes it reports)."""
    import cv2

    from engine.steps.base import widened
    from engine.vision.font import Font, FontError, char_of
    from engine.vision.glyphread import GlyphOptions, glyph_patches, read_glyphs

    if folder.exists() and not folder.is_dir():
        raise fail("cut", f"-o {folder}: with --text, -o is the font folder, and this is a file", USAGE_ERROR)
    from engine.vision.prep import run_prep

    x, y, w, h = box
    crop = img[y:y + h, x:x + w]
    if widen != 1.0:
        crop = widened(crop, widen)
    if prep:
        try:
            crop = run_prep(prep, crop)
        except ValueError as e:
            raise fail("cut", f"--prep: {e}", USAGE_ERROR) from None
        except cv2.error as e:  # e.g. a scale that leaves no pixel
            why = str(e).strip().splitlines()[-1].split("error: ")[-1]
            raise fail("cut", f"--prep could not be applied to the {w}x{h} crop: {why}", USAGE_ERROR) from None
    # the prepared crop's pixels per frame pixel (a scale op grows it)
    sx, sy = crop.shape[1] / w, crop.shape[0] / h

    def frame_x(gx: int) -> int:  # a column of the crop, in frame pixels
        return x + round(gx / sx)

    options = GlyphOptions(polarity=polarity, cut=ink_cut)
    glyphs = glyph_patches(crop, options, expect=len(chars))
    if len(glyphs) != len(chars):
        where = ", ".join(f"{frame_x(gx)}..{frame_x(gx + gw) - 1}" for (gx, _, gw, _), _ in glyphs)
        found = f"{len(glyphs)} glyph{'s' if len(glyphs) != 1 else ''} at x {where}" if glyphs else "no glyphs"
        raise fail("cut", f"found {found} in the box {_box_text(box)} (frame pixels), but --text {text!r} has "
                          f"{len(chars)} character{'s' if len(chars) != 1 else ''}: box the text alone (ink on "
                          f"its line next to it counts as a glyph), or give --text as the crop shows it "
                          f"(--polarity, --cut or --prep if the ink is split wrong); nothing written", INPUT_ERROR)

    existing = _font_files(folder)
    present = {c for c in (char_of(p.stem) for p in existing) if c is not None}
    taken = {p.stem for p in folder.iterdir()} if folder.is_dir() else set()
    planned: list[tuple[str, np.ndarray, IntBox]] = []
    for char, ((gx, gy, gw, gh), patch) in zip(chars, glyphs):
        stem = free_stem(char, taken, present)
        taken.add(stem)
        present.add(char)
        margin = max(2, patch.shape[0] // 4)
        in_frame = (frame_x(gx), y + round(gy / sy), frame_x(gx + gw) - frame_x(gx), max(1, round(gh / sy)))
        planned.append((stem, example_image(patch, margin), in_frame))

    # The font as it will be, in a scratch folder: it must read this very crop as the text,
    # else the examples (or the folder's own) are not what the user thinks.
    with tempfile.TemporaryDirectory(prefix="otrig-font-") as tmp:
        scratch = Path(tmp)
        for p in existing:
            shutil.copyfile(p, scratch / p.name)
        for stem, image, _ in planned:
            cv2.imwrite(str(scratch / f"{stem}.png"), image)
        try:
            read = read_glyphs(crop, Font.load(scratch), options=options)
        except FontError as e:
            raise fail("cut", f"the font folder {folder} cannot be used: {str(e).replace(str(scratch), str(folder))}; "
                              f"nothing written", INPUT_ERROR) from None
    if read.text != chars:
        why = f"as {read.text!r}" if read.text is not None else f"as nothing: {read.reason}"
        raise fail("cut", f"with these examples the font reads the box {_box_text(box)} {why}; nothing written",
                   INPUT_ERROR)

    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for stem, image, (gx, gy, gw, gh) in planned:
        path = folder / f"{stem}.png"
        data = cv2.imencode(".png", image)[1]  # a uint8 array always encodes as PNG
        try:
            with open(path, "xb") as f:  # never over a user's file, even one made since we looked
                f.write(data.tobytes())
        except OSError as e:
            for p in written:
                p.unlink(missing_ok=True)
            raise fail("cut", f"{path}: could not write ({e.strerror or e}); nothing written", INPUT_ERROR) from None
        written.append(path)
        typer.echo(f"{path}  {gx},{gy},{gw},{gh}")
    typer.echo(font_summary(folder))
