"""Number readers on real HUD crops: right / null / wrong per reader, and ms per number.

    .venv/bin/python bench/digits.py [--stress] [--split all|tune|holdout] [--json OUT]

Every row of bench/digits_corpus.tsv is a box around one number on a real frame under the
shared data (see the file's header for how truth was read and which rows are held out).
Each reader gets the BGR crop and its row and returns ``(text or None, confidence)``; a read
is right when it equals the truth with spaces removed, null when the reader returns
nothing, wrong otherwise. A wrong number is far worse than a null.

Readers:
- ``tesseract``: tesserocr, one API object, psm 7, whitelist = the corpus's characters, on
  the crop prepared as the shipped games prepare numbers: grey, 3x cubic, Otsu, dark text
  on white (polarity from the crop's border: the side of the split holding most of the
  border is background). No pad, no retry, no confidence cut: one line read. The shipped
  game files tune this per field (valorant grey + invert, apex max at 0.5x, melee min at
  1.25x cut at 130, most with a pad and retries); one prep for every crop measures Tesseract,
  not a game file's tuning.
- ``glyphs-font``: engine.vision.glyphread.read_glyphs with a font by example: the Apex clip
  and reserve fonts of the shared templates for those fields, otherwise a font cut from the
  corpus's ``tune`` rows of the same game and field (a crop whose glyph count equals its
  text length gives one example per character), saved to a temp folder and loaded with
  Font.load. A field with no font is n/a. Its holdout rows are reported on their own too:
  a font read on the crops it was cut from flatters itself.
- ``glyphs-builtin``: read_glyphs with the built-in DigitReader.
- ``rapidocr``: PaddleOCR's recognition model from rapidocr-onnxruntime (no detection, no
  angle classifier) as an outside reference; a read below its default text_score (0.5) is null.

--stress re-reads every crop cut from the whole frame as other captures would give it
(engine.debug.perturb: JPEG 60 and 40, 720p and back, shifted 2 px either way, noise sigma 6,
15% darker). Its "720p" scales any frame by 2/3, so the 640x360 Melee clip goes through 427x240.

Times are time.perf_counter around the reader call only (prep included, decoding and
perturbing not). On this 2-core shared machine a run takes 60-75 s, 5.5-6 min with --stress
(rapidocr is most of it); medians moved 2-6x between runs with the machine's load, so compare
readers within one run.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
CORPUS = Path(__file__).resolve().with_name("digits_corpus.tsv")
COLUMNS = ("file", "frame", "x", "y", "w", "h", "text", "game", "field", "split", "note")
TEXT_CHARS = frozenset("0123456789:./%,+-k")
SPLITS = ("tune", "holdout")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")
APEX_FONTS = {"clip": "templates/apex/overtrack-digits/clip", "reserve": "templates/apex/overtrack-digits/reserve"}

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from engine.vision.glyphread import GlyphClassifier

Frame = np.ndarray
FrameKey = tuple[str, int]


# --------------------------------------------------------------------------- corpus

@dataclass(frozen=True)
class Row:
    file: str
    frame: int
    box: tuple[int, int, int, int]  # x, y, w, h in the file's own pixels
    text: str
    game: str
    field: str
    split: str
    note: str
    line: int  # line number in the TSV, for messages

    @property
    def key(self) -> FrameKey:
        return (self.file, self.frame)


class CorpusError(ValueError):
    """A corpus line that cannot be used; the message names the line and the fix."""


def load_corpus(path: Path = CORPUS) -> list[Row]:
    """The rows of the corpus TSV (``#`` lines at the top are comments, then a header line)."""
    rows: list[Row] = []
    header_seen = False
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or (raw.startswith("#") and not header_seen):
            continue
        cells = raw.split("\t")
        if not header_seen:
            if tuple(cells) != COLUMNS:
                raise CorpusError(f"{path}:{n}: header must be {' '.join(COLUMNS)} (tab-separated), not {cells}")
            header_seen = True
            continue
        if len(cells) != len(COLUMNS):
            raise CorpusError(f"{path}:{n}: {len(cells)} tab-separated cells, expected {len(COLUMNS)}")
        d = dict(zip(COLUMNS, cells))
        try:
            frame, x, y, w, h = (int(d[k]) for k in ("frame", "x", "y", "w", "h"))
        except ValueError:
            raise CorpusError(f"{path}:{n}: frame, x, y, w, h must be integers") from None
        if frame < 0 or x < 0 or y < 0 or w <= 0 or h <= 0:
            raise CorpusError(f"{path}:{n}: frame, x, y must be >= 0 and w, h > 0")
        if d["split"] not in SPLITS:
            raise CorpusError(f"{path}:{n}: split must be one of {', '.join(SPLITS)}, not {d['split']!r}")
        bad = set(d["text"]) - TEXT_CHARS
        if not d["text"] or bad:
            raise CorpusError(f"{path}:{n}: text {d['text']!r} must be non-empty and use only "
                              f"{''.join(sorted(TEXT_CHARS))}")
        rows.append(Row(d["file"], frame, (x, y, w, h), d["text"], d["game"], d["field"], d["split"], d["note"], n))
    if not header_seen:
        raise CorpusError(f"{path}: no header line ({' '.join(COLUMNS)})")
    return rows


def is_video(file: str) -> bool:
    return file.lower().endswith(VIDEO_SUFFIXES)


def load_frames(rows: Iterable[Row], data: Path = DATA) -> dict[FrameKey, Frame]:
    """Every frame the rows use, BGR. A video is decoded once, in order (PyAV, the decode
    index is the corpus's frame number), keeping only the frames asked for."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for r in rows:
        wanted[r.file].add(r.frame)
    out: dict[FrameKey, Frame] = {}
    for file, idx in wanted.items():
        path = data / file
        if not path.is_file():
            raise FileNotFoundError(f"{path} (corpus file) is missing: is the shared data at {data}?")
        if not is_video(file):
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f"{path}: not a readable image")
            out.update({(file, i): img for i in idx})
            continue
        import av  # video only; the project's decoder

        last = max(idx)
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i in idx:
                    out[(file, i)] = frame.to_ndarray(format="bgr24")
                if i >= last:
                    break
        missing = sorted(idx - {i for f, i in out if f == file})
        if missing:
            raise ValueError(f"{path}: no frame {missing[0]} (the clip is shorter)")
    return out


def crop(frame: Frame, box: tuple[int, int, int, int]) -> Frame:
    x, y, w, h = box
    return np.ascontiguousarray(frame[y:y + h, x:x + w])


# --------------------------------------------------------------------------- readers

Read = tuple[str | None, float]


class Reader(Protocol):
    name: str

    def applies(self, row: Row) -> bool: ...

    def __call__(self, crop_bgr: Frame, row: Row) -> Read: ...


def whitelist_of(rows: Iterable[Row]) -> str:
    return "".join(sorted({c for r in rows for c in r.text}))


def tesseract_prep(crop_bgr: Frame) -> Frame:
    """Grey, 3x cubic, Otsu, dark text on white: the side of the Otsu split that holds most of
    the crop's border is the background (a number box has margins all round)."""
    grey = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY)
    big = cv2.resize(grey, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    _, bw = cv2.threshold(big, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    border = np.concatenate((bw[0], bw[-1], bw[:, 0], bw[:, -1]))
    if border.mean() < 127:  # background dark: invert so the text is dark on white
        bw = cv2.bitwise_not(bw)
    return np.ascontiguousarray(bw)


class TesseractReader:
    name = "tesseract"

    def __init__(self, whitelist: str) -> None:
        import tesserocr

        from engine.vision.ocr import default_tessdata

        self._api = tesserocr.PyTessBaseAPI(path=default_tessdata(), lang="eng", psm=tesserocr.PSM.SINGLE_LINE,
                                            oem=tesserocr.OEM.LSTM_ONLY)
        self._api.SetVariable("tessedit_char_whitelist", whitelist)

    def applies(self, row: Row) -> bool:
        return True

    def __call__(self, crop_bgr: Frame, row: Row) -> Read:
        img = tesseract_prep(crop_bgr)
        h, w = img.shape
        self._api.SetImageBytes(img.tobytes(), w, h, 1, w)
        text = self._api.GetUTF8Text().strip()
        return (text or None), self._api.MeanTextConf() / 100.0


class GlyphReader:
    """read_glyphs on the grey crop with one classifier for every row (the built-in digits)."""

    def __init__(self, name: str, classifier: GlyphClassifier) -> None:
        from engine.vision.glyphread import read_glyphs

        self.name = name
        self._classifier = classifier
        self._read = read_glyphs

    def applies(self, row: Row) -> bool:
        return True

    def __call__(self, crop_bgr: Frame, row: Row) -> Read:
        r = self._read(cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY), self._classifier)
        return r.text, r.confidence


# Examples kept per character of a cut font: a user cuts a few; hundreds (every tune crop)
# made one Font.scores call cost ~47 ms on Melee damage.
MAX_EXAMPLES = 6

_CHAR_NAMES = {":": "colon", ".": "dot", "/": "slash", "%": "percent", ",": "comma", "+": "plus", "-": "minus"}


@dataclass
class FontSet:
    """Fonts by (game, field) and where each came from."""
    fonts: dict[tuple[str, str], GlyphClassifier] = field(default_factory=dict)
    source: dict[tuple[str, str], str] = field(default_factory=dict)


def cut_fonts(rows: Sequence[Row], frames: dict[FrameKey, Frame], folder: Path, data: Path = DATA) -> FontSet:
    """Fonts for every (game, field): the Apex ammo templates for Apex clip and reserve, else
    one cut from the field's tune rows as `otrig cut --text` cuts a font (written as PNGs, one
    per glyph, loaded by Font.load).

    A crop gives examples only when they are the text's characters, not merely as many glyphs:
    a count that matches can pair a label with the wrong glyph ('18%' whose 1 was lost and whose
    % fell in two parts gave an '8' labelled '1', a % circle labelled '8'; a speck at the box's
    edge gave a '7'). So, as `otrig cut --text` does, the font with a crop's examples added must
    read that crop back as its text; then every crop used must read as its text or as nothing
    (never as another text) with the font cut from the *other* crops alone, and a crop that
    fails is dropped with its examples, until all agree."""
    from cli.cut import example_image
    from engine.vision.font import Font, FontError
    from engine.vision.glyphread import example_patch, glyph_patches, read_glyphs

    def font_of(images: Sequence[tuple[str, np.ndarray]]) -> Font:
        return Font.from_images(images)

    out = FontSet()
    for fld, rel in APEX_FONTS.items():
        out.fonts[("apex", fld)] = Font.load(data / rel)
        out.source[("apex", fld)] = f"{rel} (shared templates)"
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in rows:
        if r.split == "tune" and (r.game, r.field) not in out.fonts:
            groups[(r.game, r.field)].append(r)
    for (game, fld), tune in groups.items():
        cuts: list[_Cut] = []  # the crops used so far, in order
        per_char: dict[str, int] = defaultdict(int)
        for r in tune:
            text = drawn(r)
            if all(per_char[c] >= MAX_EXAMPLES for c in text):
                continue  # enough examples of each of its characters already
            grey = cv2.cvtColor(crop(frames[r.key], r.box), cv2.COLOR_BGR2GRAY)
            glyphs = glyph_patches(grey, expect=len(text))
            if len(glyphs) != len(text):
                continue
            images = [(c, example_image(patch, max(2, patch.shape[0] // 4))) for c, (_, patch) in zip(text, glyphs)]
            try:  # the images as `otrig cut --text` writes them, read back as Font.load reads them
                for _, img in images:
                    example_patch(img)
            except ValueError:  # a glyph that cannot be segmented again (a speck, a sliver)
                continue
            cut = _Cut(r, grey, text, tuple(images))
            if read_glyphs(grey, font_of([e for c in cuts for e in c.images] + images)).text != text:
                continue
            cuts.append(cut)
            for char in text:
                per_char[char] += 1
        cuts = _agreeing(cuts, font_of, read_glyphs)
        target = folder / game / fld
        target.mkdir(parents=True, exist_ok=True)
        count = 0
        kept: dict[str, int] = defaultdict(int)
        for c in cuts:
            for char, img in c.images:
                if kept[char] >= MAX_EXAMPLES:
                    continue
                kept[char] += 1
                cv2.imwrite(str(target / f"{_CHAR_NAMES.get(char, char)}_{count}.png"), img)
                count += 1
        if count:
            try:
                out.fonts[(game, fld)] = Font.load(target)
                out.source[(game, fld)] = f"cut from {len(cuts)}/{len(tune)} tune crops ({count} glyphs)"
            except FontError as e:
                out.source[(game, fld)] = f"no font: {e}"
        else:
            out.source[(game, fld)] = f"no font: none of {len(tune)} tune crops cut into its text's glyphs"
    return out


@dataclass(frozen=True)
class _Cut:
    """One tune crop cut into examples."""
    row: Row
    grey: np.ndarray
    text: str
    images: tuple[tuple[str, np.ndarray], ...]  # (character, example image) as written


def _agreeing(cuts: list[_Cut], font_of: Callable[..., GlyphClassifier],
              read: Callable[..., object]) -> list[_Cut]:
    """The crops whose text the font cut from the other crops reads right or not at all: a crop
    read as another text disagrees with the rest (its labels, or theirs, are on the wrong
    glyphs). All that disagree go at once (a mislabelled crop can make a right one misread too);
    repeat until none does."""
    cuts = list(cuts)
    while len(cuts) > 1:
        bad = []
        for k, c in enumerate(cuts):
            others = [e for j, o in enumerate(cuts) if j != k for e in o.images]
            if not others or not set(c.text) <= {ch for ch, _ in others}:
                continue  # the others lack one of its characters: nothing to check it against
            text = getattr(read(c.grey, font_of(others)), "text", None)
            if text is not None and text != c.text:
                bad.append(k)
        if not bad:
            break
        cuts = [c for k, c in enumerate(cuts) if k not in bad]
    return cuts


class GlyphFontReader:
    name = "glyphs-font"

    def __init__(self, fonts: FontSet) -> None:
        from engine.vision.glyphread import read_glyphs

        self.fonts = fonts
        self._read = read_glyphs

    def applies(self, row: Row) -> bool:
        # A font by example reads only what it has examples of: a crop whose text holds a
        # character the font lacks (cut from too few tune crops) is n/a, as a user's font
        # would be completed first (`otrig cut --text` lists what it still lacks).
        font = self.fonts.fonts.get((row.game, row.field))
        return font is not None and set(drawn(row)) <= set(font.charset)

    def __call__(self, crop_bgr: Frame, row: Row) -> Read:
        font = self.fonts.fonts[(row.game, row.field)]
        r = self._read(cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY), font)
        return r.text, r.confidence


class RapidOcrReader:
    name = "rapidocr"
    TEXT_SCORE = 0.5  # rapidocr's own default text_score (config.yaml): below it a line is dropped

    def __init__(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self._engine = RapidOCR()

    def applies(self, row: Row) -> bool:
        return True

    def __call__(self, crop_bgr: Frame, row: Row) -> Read:
        result, _ = self._engine(crop_bgr, use_det=False, use_cls=False, use_rec=True)
        if not result:
            return None, 0.0
        text, score = str(result[0][0]).strip(), float(result[0][1])
        return (text if text and score >= self.TEXT_SCORE else None), score


# --------------------------------------------------------------------------- variants

@dataclass(frozen=True)
class Variant:
    name: str
    apply: Callable[[Frame], Frame] | None  # None: the frame as stored


def stress_variants() -> list[Variant]:
    """Capture variants from the project's perturbations (read-only use)."""
    try:
        from engine.debug import perturb
    except ImportError:  # before the engine's move into sub-packages
        from engine import perturb  # type: ignore[no-redef]
    v = perturb.VARIANTS
    jpeg40 = v["jpeg40"].apply if "jpeg40" in v else perturb._jpeg(40)
    # the registry's noise is sigma 4; this bench asks for 6, from the same generator
    return [Variant("jpeg60", v["jpeg60"].apply), Variant("jpeg40", jpeg40),
            Variant("720p", v["720p"].apply), Variant("shift+2", v["shift+2"].apply),
            Variant("shift-2", v["shift-2"].apply), Variant("noise6", perturb._noise(6.0)),
            Variant("dim85", v["dim85"].apply)]


# --------------------------------------------------------------------------- the run

@dataclass(frozen=True)
class Outcome:
    reader: str
    variant: str
    row: Row
    status: str  # right | null | wrong | n/a
    read: str | None
    confidence: float
    ms: float | None


def drawn(row: Row) -> str:
    """The truth as the HUD draws it: Melee's timer draws its centiseconds with no dot
    (07:5153 for 07:51.53), so no reader is asked for the dot; every other row is its text."""
    return row.text.replace(".", "") if (row.game, row.field) == ("melee", "timer") else row.text


def judge(read: str | None, row: Row) -> str:
    if read is None or not read.strip():
        return "null"
    return "right" if read.replace(" ", "") == drawn(row) else "wrong"


def run(readers: Sequence[Reader], rows: Sequence[Row], frames: dict[FrameKey, Frame],
        variants: Sequence[Variant]) -> list[Outcome]:
    """One loop: every variant, every frame (perturbed once), every row, every reader."""
    by_frame: dict[FrameKey, list[Row]] = defaultdict(list)
    for r in rows:
        by_frame[r.key].append(r)
    out: list[Outcome] = []
    for variant in variants:
        for key, frame_rows in by_frame.items():
            frame = frames[key] if variant.apply is None else variant.apply(frames[key])
            for r in frame_rows:
                c = crop(frame, r.box)
                for reader in readers:
                    if not reader.applies(r):
                        out.append(Outcome(reader.name, variant.name, r, "n/a", None, 0.0, None))
                        continue
                    t0 = time.perf_counter()
                    text, conf = reader(c, r)
                    ms = (time.perf_counter() - t0) * 1000.0
                    out.append(Outcome(reader.name, variant.name, r, judge(text, r), text, conf, ms))
    return out


def _pct(n: int, total: int) -> str:
    return f"{100.0 * n / total:5.1f}% {n:4d}" if total else "    -    "


def table(outcomes: Sequence[Outcome], readers: Sequence[str], title: str) -> list[str]:
    lines = [title, f"{'reader':<15} {'crops':>5} {'n/a':>4}  {'right':>11}  {'null':>11}  {'wrong':>11}"
                    f"  {'ms med':>7} {'ms mean':>7}"]
    for name in readers:
        mine = [o for o in outcomes if o.reader == name]
        read = [o for o in mine if o.status != "n/a"]
        n = len(read)
        counts = {s: sum(o.status == s for o in read) for s in ("right", "null", "wrong")}
        times = [o.ms for o in read if o.ms is not None]
        med = f"{statistics.median(times):7.2f}" if times else "      -"
        mean = f"{statistics.fmean(times):7.2f}" if times else "      -"
        lines.append(f"{name:<15} {len(mine):>5} {len(mine) - n:>4}  {_pct(counts['right'], n)}  "
                     f"{_pct(counts['null'], n)}  {_pct(counts['wrong'], n)}  {med} {mean}")
    near = {name: sum(o.status == "wrong" and digits_only(o.read) == digits_only(o.row.text)
                      for o in outcomes if o.reader == name) for name in readers}
    if any(near.values()):
        lines.append("  of the wrong, same digits as the truth, only other characters differ "
                     "(Melee's undrawn timer dot, '#1'): " + ", ".join(f"{k} {v}" for k, v in near.items()))
    return lines


def digits_only(text: str | None) -> str:
    return "".join(c for c in text or "" if c.isdigit())


def stress_table(outcomes: Sequence[Outcome], readers: Sequence[str], variants: Sequence[str]) -> list[str]:
    lines = ["stress: right / null / WRONG per capture variant (crops a reader applies to)",
             f"{'reader':<15} " + " ".join(f"{v:>15}" for v in variants)]
    for name in readers:
        cells = []
        for v in variants:
            mine = [o for o in outcomes if o.reader == name and o.variant == v and o.status != "n/a"]
            c = {s: sum(o.status == s for o in mine) for s in ("right", "null", "wrong")}
            cells.append(f"{c['right']:>4}/{c['null']:>4}/{c['wrong']:>4}  ")
        lines.append(f"{name:<15} " + " ".join(f"{x:>15}" for x in cells))
    return lines


def wrong_list(outcomes: Sequence[Outcome], title: str) -> list[str]:
    wrong = [o for o in outcomes if o.status == "wrong"]
    lines = [f"{title} ({len(wrong)})"]
    for o in wrong:
        r = o.row
        where = r.file if r.frame == 0 and not is_video(r.file) else f"{r.file}#{r.frame}"
        var = "" if o.variant == "as stored" else f" [{o.variant}]"
        lines.append(f"  {o.reader:<15} {where:<45} {r.field:<15} truth {r.text!r:<12} read {o.read!r}{var}")
    return lines


def make_readers(rows: Sequence[Row], frames: dict[FrameKey, Frame], tmp: Path, notes: list[str],
                 digits_model: Path | None = None) -> tuple[list[Reader], FontSet | None]:
    """Every reader that can be built here; one that cannot is left out with the reason."""
    readers: list[Reader] = []
    fonts: FontSet | None = None
    builders: list[tuple[str, Callable[[], Reader]]] = [
        ("tesseract", lambda: TesseractReader(whitelist_of(rows))),
        ("glyphs-font", lambda: GlyphFontReader(cut_fonts(rows, frames, tmp))),
        ("glyphs-builtin", lambda: _builtin(digits_model)),
        ("rapidocr", RapidOcrReader),
    ]
    for name, build in builders:
        try:
            reader = build()
        except Exception as e:  # a reader not installed or not landed yet: say so, run the rest
            notes.append(f"{name}: n/a ({type(e).__name__}: {e})")
            continue
        readers.append(reader)
        if isinstance(reader, GlyphFontReader):
            fonts = reader.fonts
    return readers, fonts


def _builtin(model: Path | None) -> GlyphReader:
    from engine.vision.digits import DigitReader

    return GlyphReader("glyphs-builtin", DigitReader.load(model))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stress", action="store_true", help="also read every crop under 7 capture variants")
    ap.add_argument("--split", choices=("all", "tune", "holdout"), default="all", help="which corpus rows to read")
    ap.add_argument("--json", type=Path, help="write every read (reader, variant, row, status, read, ms) here")
    ap.add_argument("--digits-model", type=Path, help="weights for glyphs-builtin (default: the packaged model)")
    ap.add_argument("--corpus", type=Path, default=CORPUS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    all_rows = load_corpus(args.corpus)
    rows = [r for r in all_rows if args.split == "all" or r.split == args.split]
    t0 = time.perf_counter()
    # fonts are cut from the tune rows whatever --split reads, so their frames are loaded too
    chosen = set(rows)
    frames = load_frames([r for r in all_rows if r in chosen or r.split == "tune"])
    decode_s = time.perf_counter() - t0
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="otrig-digit-fonts-") as tmp:
        readers, fonts = make_readers(all_rows, frames, Path(tmp), notes, args.digits_model)
        variants = [Variant("as stored", None)] + (stress_variants() if args.stress else [])
        t1 = time.perf_counter()
        outcomes = run(readers, rows, frames, variants)
        run_s = time.perf_counter() - t1
    names = [r.name for r in readers]
    base = [o for o in outcomes if o.variant == "as stored"]
    games = sorted({r.game for r in rows})
    out = [f"digits bench: {len(rows)} crops ({args.split}) of {len(all_rows)} in {args.corpus.name}, "
           f"games {', '.join(games)}; frames decoded in {decode_s:.1f} s, reads in {run_s:.1f} s",
           *[f"  {n}" for n in notes], ""]
    out += table(base, names, f"as stored, {args.split} rows")
    if args.split == "all":
        out += [""] + table([o for o in base if o.row.split == "holdout"], names,
                            "holdout rows only (glyphs-font: fonts cut from tune rows, read on other frames)")
    if args.stress:
        stressed = [o for o in outcomes if o.variant != "as stored"]
        out += [""] + table(stressed, names, f"stress: {len(variants) - 1} capture variants together")
        out += [""] + stress_table(stressed, names, [v.name for v in variants[1:]])
    if fonts is not None:
        out += ["", "glyphs-font fonts:"]
        out += [f"  {g}/{f}: {s}" for (g, f), s in sorted(fonts.source.items())]
        na = sorted({(o.row.game, o.row.field) for o in base if o.reader == "glyphs-font" and o.status == "n/a"})
        if na:
            out.append(f"  n/a (no font): {', '.join(f'{g}/{f}' for g, f in na)}")
    out += [""] + wrong_list(base, "wrong reads, as stored")
    if args.stress:
        out += [""] + wrong_list([o for o in outcomes if o.variant != "as stored"], "wrong reads under stress")
    print("\n".join(out))
    if args.json:
        args.json.write_text(json.dumps([
            {"reader": o.reader, "variant": o.variant, "file": o.row.file, "frame": o.row.frame, "box": o.row.box,
             "game": o.row.game, "field": o.row.field, "split": o.row.split, "truth": o.row.text,
             "status": o.status, "read": o.read, "confidence": round(o.confidence, 4),
             "ms": None if o.ms is None else round(o.ms, 3)} for o in outcomes], indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
