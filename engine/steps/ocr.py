"""`ocr`: read text with Tesseract, then validate it into a value (or null with a reason)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.lang.assets import resolve_dir
from engine.vision.spacing import character_bounds
from engine.vision.ocr import OcrConfig, OcrEngine, OcrUnavailable
from engine.vision.prep import PrepList, compile_prep, run_prep
from engine.vision.regions import CompiledRegion, IntBox
from engine.lang.schema import param
from engine.steps.base import BoxResult, CompileContext, FrameContext, PrepChain, RelativeBox
from engine.steps.text import CompiledText, TextStep
from engine.vision.textpost import Rejected
from engine.lang.yamlsrc import KeyPath


@dataclass(frozen=True, kw_only=True)
class OcrRetry:
    """Another way to read the same crop, tried when the reads before it gave no valid value."""

    prep: PrepList | None = param(None, help="preparation ops instead of the step's")
    psm: int | None = param(None, help="page segmentation mode instead of the step's (8 or 10 for a lone word or digit)", lo=0, hi=13)
    whitelist: str | None = param(None, help="characters instead of the step's")


@dataclass(frozen=True, kw_only=True)
class OcrStep(TextStep):
    """Read text in the region with Tesseract and turn it into a checked value."""

    kind = "ocr"
    summary = "text, cast to a type and validated"
    whitelist: str | None = param(None, help="only these characters, e.g. \"0123456789\"")
    psm: int = param(7, help="Tesseract page segmentation mode (7 = one line, 8 = one word, 6 = a block)", lo=0, hi=13)
    lang: str = param("eng", help="Tesseract language, e.g. eng or a custom font model's name")
    tessdata: str | None = param(None, help="folder with custom .traineddata, relative to the game file or asset roots")
    min_conf: float = param(0.0, help="Tesseract confidence 0-100 below which the value is null", lo=0, hi=100)
    retry: list[OcrRetry] = param(default_factory=list, help="other reads tried in order while no read passes validation (a lone digit often needs psm 8)")
    check_glyphs: bool = param(False, help="the read must have as many characters (spaces aside) as the prepared crop has glyphs "
                                           "(runs of ink columns; a wide run may hold touching ones, a short run such as a dot or comma may "
                                           "be one): a digit Tesseract made up or merged away gives null, not a wrong number")

    def build(self, ctx: CompileContext, path: KeyPath, region: CompiledRegion | RelativeBox,
              prep: PrepChain) -> CompiledOcr:
        tessdata = None
        if self.tessdata is not None:
            tessdata = str(resolve_dir(self.tessdata, ctx, path + ("tessdata",)))
            if not (Path(tessdata) / f"{self.lang}.traineddata").exists():
                raise ctx.src.error(path + ("lang",), f"no {self.lang}.traineddata in the tessdata folder {self.tessdata!r}")
        first = self._read_with(OcrConfig(self.lang, self.psm, self.whitelist, tessdata), prep, ctx, path)
        rules = self.compile_rules(ctx, path)
        retries = []
        for i, r in enumerate(self.retry):
            rpath = path + ("retry", i)
            chain = prep if r.prep is None else compile_prep(r.prep, rpath + ("prep",), ctx.src)
            config = OcrConfig(self.lang, self.psm if r.psm is None else r.psm,
                               self.whitelist if r.whitelist is None else r.whitelist, tessdata)
            retries.append(self._read_with(config, chain, ctx, rpath))
        return CompiledOcr(self, region, prep, rules=rules, first=first, retries=tuple(retries))

    @staticmethod
    def _read_with(config: OcrConfig, chain: PrepChain, ctx: CompileContext, path: KeyPath) -> OcrRead:
        engine = ctx.engines.get(config)
        if engine is None:
            try:
                engine = OcrEngine(config)
                engine.warm()
            except OcrUnavailable as e:
                raise ctx.src.error(path, str(e)) from None
            ctx.engines[config] = engine
        return OcrRead(memo_key=(config, tuple(label for label, _ in chain)), chain=chain, engine=engine)


@dataclass(frozen=True, kw_only=True)
class OcrRead:
    """One way to read a crop: a Tesseract setting and the preparation before it."""

    memo_key: Any           # crops read alike are read once per frame (FrameContext.memo)
    chain: PrepChain
    engine: OcrEngine


@dataclass(frozen=True, eq=False, kw_only=True)
class CompiledOcr(CompiledText[OcrStep]):
    """An ocr step ready for frames: its first read (the step's own prep) and the retries."""

    first: OcrRead
    retries: tuple[OcrRead, ...]

    def measure(self, crop: np.ndarray, prepared: np.ndarray, box: IntBox, fc: FrameContext) -> BoxResult:
        result = self._read(self.first.memo_key, self.first.engine, prepared, box, fc)
        # every read's text and reason, for --explain and the report: the value's reason is
        # the last read's, and why the earlier reads failed would be lost with it
        attempts = [_attempt(result)]
        for i, retry in enumerate(self.retries):
            if result.hit:
                break
            again = self._read(retry.memo_key, retry.engine, run_prep(retry.chain, crop) if retry.chain else crop, box, fc)
            attempts.append(_attempt(again))
            again.details["retry"] = i
            again.details["first"] = {"text": result.details.get("text"), "why": result.reason}
            result = again if again.hit or i == len(self.retries) - 1 else result
        if len(attempts) > 1:
            result.details["attempts"] = attempts
        return result

    def _read(self, memo_key: Any, engine: OcrEngine, prepared: np.ndarray, box: IntBox, fc: FrameContext) -> BoxResult:
        spec = self.spec
        key = (memo_key, box)
        found = fc.memo.get(key)
        if found is None:
            found = fc.memo[key] = engine.read(prepared)
        text, conf = found
        details = {"text": text, "conf": round(conf, 1)}
        if spec.check_glyphs:
            bounds = fc.memo.get((memo_key, box, "glyphs"))
            if bounds is None:
                bounds = fc.memo[(memo_key, box, "glyphs")] = character_bounds(prepared)
            chars = len(text.replace(" ", ""))
            low, high = bounds
            details["glyphs"] = list(bounds)
            if not low <= chars <= high:
                want = str(low) if low == high else f"{low}-{high}"
                return BoxResult(value=None, hit=False, score=conf / 100, confidence=conf / 100,
                                 reason=f"read {chars} characters where the glyphs hold {want} ({text!r})", details=details)
        if conf < spec.min_conf:
            return BoxResult(value=None, hit=False, score=conf / 100, confidence=conf / 100, reason=f"confidence {conf:.0f} < min_conf {spec.min_conf:g}", details=details)
        try:
            value, more = self.rules.apply(text)
        except Rejected as e:
            return BoxResult(value=None, hit=False, score=conf / 100, confidence=conf / 100, reason=str(e), details=details)
        details.update(more)
        return BoxResult(value=value, hit=True, score=conf / 100, confidence=conf / 100, details=details)


def _attempt(r: BoxResult) -> dict[str, Any]:
    """One read as --explain lists it: the text, Tesseract's confidence, why it was rejected."""
    return {"text": r.details.get("text"), "conf": r.details.get("conf"), "reason": r.reason}
