"""`glyphs`: read text glyph by glyph, against a font by example or the built-in digits.

Tesseract is a document OCR: on HUD numbers it joins icons to digits (Apex clip `36` read
`136`), reads dim padding zeros (`040` read `48`) and drops lone digits. This step splits the
crop's ink into glyphs, classifies each (engine.vision.glyphread), and validates the text
with the same rules as `ocr` (engine.steps.text). A glyph that matches nothing well enough
makes the field null with a reason naming its position, never a guess.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np

from engine.lang.assets import resolve_dir
from engine.lang.schema import param
from engine.lang.yamlsrc import KeyPath
from engine.steps.base import BoxResult, CompileContext, FrameContext, PrepChain, RelativeBox
from engine.steps.text import CompiledText, TextStep
from engine.vision.digits import DigitReader
from engine.vision.font import Font, FontError
from engine.vision.glyphread import GlyphClassifier, GlyphOptions, GlyphRead, GlyphScore, read_glyphs
from engine.vision.prep import PrepList, compile_prep, run_prep
from engine.vision.regions import CompiledRegion, IntBox
from engine.vision.textpost import Rejected


_D = GlyphOptions()  # the reader's measured defaults are the step's


@dataclass(frozen=True, kw_only=True)
class GlyphRetry:
    """Another way to cut the same crop into glyphs, tried while no read gave a valid value."""

    prep: PrepList | None = param(None, help="preparation ops instead of the step's")
    polarity: Literal["auto", "bright", "dark"] | None = param(None, help="text polarity instead of the step's")
    cut: int | None = param(None, help="fixed ink cut (grey level) instead of the step's", lo=0, hi=254)


@dataclass(frozen=True)
class _Thresholded:
    """A classifier with the step's own glyph threshold."""

    inner: GlyphClassifier
    threshold: float

    @property
    def charset(self) -> str:
        return self.inner.charset

    @property
    def max_aspect(self) -> float | None:
        aspect = getattr(self.inner, "max_aspect", None)
        return float(aspect) if isinstance(aspect, (int, float)) else None

    def classify(self, patches: Sequence[np.ndarray]) -> list[GlyphScore]:
        return self.inner.classify(patches)


@dataclass(frozen=True, kw_only=True)
class GlyphsStep(TextStep):
    """Read text glyph by glyph (HUD numbers): a font by example, or the built-in digits."""

    kind = "glyphs"
    summary = "text read glyph by glyph against a font by example or the built-in digits, then validated"

    font: str | None = param(None, help="folder of glyph images named by their character (0.png, 7_2.png, colon.png), "
                                        "on the asset path; cut one with `otrig cut --text`. Omitted: the built-in "
                                        "digit reader (0-9 : . / % + -)")
    min_score: float | None = param(None, help="a glyph scoring below this makes the field null (default: the "
                                               "font's or the built-in reader's calibrated threshold; lower it only where "
                                               "an `agree` read must read the same value)", lo=0, hi=1)
    polarity: Literal["auto", "bright", "dark"] = param(_D.polarity, help="text brighter or darker than its background; "
                                                                          "auto: the minority of an Otsu split is text")
    cut: int | None = param(_D.cut, help="fixed grey level between ink and background (default: Otsu's after removing "
                                         "the background's shading)", lo=0, hi=254)
    max_gap: float = param(_D.max_gap, help="a gap wider than this many line heights ends the text (icons beside numbers; "
                                            "Apex digit gaps measure 0.2-0.3, its bullet icon 0.74)", lo=0, hi=20)
    line_tol: float = param(_D.line_tol, help="a glyph this far (in line heights) off the text line, or this much taller, "
                                              "is an icon", lo=0, hi=5)
    dim_ratio: float = param(_D.dim_ratio, help="leading glyphs with less contrast than this times the brightest are padding "
                                                "(Apex `040` reads 40; measured: padding 0.14-0.48, digits >= 0.75)", lo=0, hi=1)
    min_margin: float = param(_D.min_margin, help="a glyph whose score beats the runner-up's by less is ambiguous and makes "
                                                  "the field null (misread glyphs measured <= 0.030)", lo=0, hi=1)
    space: float | None = param(_D.space, help="a gap wider than this many line heights inserts a space (default: never)",
                                lo=0, hi=20)
    split: bool = param(_D.split, help="split a blob too wide for one glyph at its thinnest columns (touching "
                                       "digits); a blob that reads clearly both whole and split, or split two "
                                       "ways, is ambiguous and makes the field null")
    min_conf: float = param(0.0, help="the weakest glyph's score (0-1) below which the value is null", lo=0, hi=1)
    retry: list[GlyphRetry] = param(default_factory=list, help="other cuts tried in order while no read passes validation")

    def build(self, ctx: CompileContext, path: KeyPath, region: CompiledRegion | RelativeBox,
              prep: PrepChain) -> CompiledGlyphs:
        classifier: GlyphClassifier
        if self.font is None:
            try:
                classifier = DigitReader.load()
            except (OSError, ValueError) as e:  # a broken install: say so where the step is
                raise ctx.src.error(path, f"the built-in digit reader cannot load: {e}") from None
        else:
            folder = resolve_dir(self.font, ctx, path + ("font",))
            try:
                classifier = Font.load(folder)
            except FontError as e:
                raise ctx.src.error(path + ("font",), str(e)) from None
            ctx.loaded_files.extend(sorted(p for p in folder.iterdir() if p.is_file()))
        if self.min_score is not None:
            classifier = _Thresholded(classifier, self.min_score)
        rules = self.compile_rules(ctx, path)
        attempts: list[tuple[PrepChain | None, GlyphOptions]] = [(None, self._options(self.polarity, self.cut))]
        for i, r in enumerate(self.retry):
            chain = None if r.prep is None else compile_prep(r.prep, path + ("retry", i, "prep"), ctx.src)
            cut = r.cut if r.cut is not None else self.cut
            attempts.append((chain, self._options(r.polarity or self.polarity, cut)))
        return CompiledGlyphs(self, region, prep, rules=rules, classifier=classifier, attempts=tuple(attempts))

    def _options(self, polarity: Literal["auto", "bright", "dark"], cut: int | None) -> GlyphOptions:
        return GlyphOptions(polarity=polarity, cut=cut, max_gap=self.max_gap, line_tol=self.line_tol,
                            dim_ratio=self.dim_ratio, min_margin=self.min_margin, space=self.space, split=self.split)


@dataclass(frozen=True, eq=False, kw_only=True)
class CompiledGlyphs(CompiledText[GlyphsStep]):
    """A glyphs step ready for frames: its classifier, and the cuts to try in order (the
    step's own, then each retry's: a prep chain instead of the step's, or None)."""

    classifier: GlyphClassifier
    attempts: tuple[tuple[PrepChain | None, GlyphOptions], ...]

    @property
    def threshold(self) -> float | None:
        return self.classifier.threshold

    def measure(self, crop: np.ndarray, prepared: np.ndarray, box: IntBox, fc: FrameContext) -> BoxResult:
        attempts: list[dict[str, Any]] = []
        result = BoxResult(value=None, hit=False, reason="no read")
        for chain, opts in self.attempts:
            image = prepared if chain is None else (run_prep(chain, crop) if chain else crop)
            result = self._read(image, opts)
            attempts.append({"text": result.details.get("text"), "confidence": result.confidence, "reason": result.reason})
            if result.hit:
                break
        if len(attempts) > 1:
            result.details["attempts"] = attempts
        return result

    def _read(self, image: np.ndarray, opts: GlyphOptions) -> BoxResult:
        read = read_glyphs(image, self.classifier, options=opts)
        details = _details(read)
        conf = round(read.confidence, 3)
        if read.text is None:
            return BoxResult(value=None, hit=False, score=conf, confidence=conf, reason=read.reason, details=details)
        if read.confidence < self.spec.min_conf:
            return BoxResult(value=None, hit=False, score=conf, confidence=conf, details=details,
                             reason=f"{read.text!r}: weakest glyph {read.confidence:.2f} < min_conf {self.spec.min_conf:g}")
        try:
            value, more = self.rules.apply(read.text)
        except Rejected as e:
            return BoxResult(value=None, hit=False, score=conf, confidence=conf, details=details,
                             reason=f"read {read.text!r}: {e}")
        details.update(more)
        return BoxResult(value=value, hit=True, score=conf, confidence=conf, details=details)


def _details(read: GlyphRead) -> dict[str, Any]:
    """What --explain and the report show: the text, and every blob read or dropped."""
    return {
        "text": read.text,
        "line": [read.line_top, read.line_height],
        "glyphs": [{"box": list(g.box), "char": g.char, "score": round(g.score, 3), "runner_up": g.runner_up,
                    "margin": round(g.margin, 3), "brightness": round(g.brightness, 2),
                    **({"dropped": g.dropped} if g.dropped else {}), **({"split": True} if g.split else {})}
                   for g in read.glyphs],
    }
