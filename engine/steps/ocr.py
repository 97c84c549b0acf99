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
from engine.vision.regions import IntBox
from engine.lang.schema import param
from engine.steps.base import BoxResult, CompileContext, FrameContext
from engine.steps.text import TextStep
from engine.vision.textpost import Rejected
from engine.lang.yamlsrc import KeyPath


@dataclass(kw_only=True)
class OcrRetry:
    """Another way to read the same crop, tried when the reads before it gave no valid value."""

    prep: PrepList | None = param(None, help="preparation ops instead of the step's")
    psm: int | None = param(None, help="page segmentation mode instead of the step's (8 or 10 for a lone word or digit)", lo=0, hi=13)
    whitelist: str | None = param(None, help="characters instead of the step's")


@dataclass(kw_only=True)
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
                                           "(runs of ink columns; a wide run may hold touching ones): a digit Tesseract made up "
                                           "or merged away gives null, not a wrong number")

    def compile_step(self, ctx: CompileContext, path: KeyPath) -> None:
        tessdata = None
        if self.tessdata is not None:
            tessdata = str(resolve_dir(self.tessdata, ctx, path + ("tessdata",)))
            if not (Path(tessdata) / f"{self.lang}.traineddata").exists():
                raise ctx.src.error(path + ("lang",), f"no {self.lang}.traineddata in the tessdata folder {self.tessdata!r}")
        try:
            self._engine = OcrEngine(OcrConfig(self.lang, self.psm, self.whitelist, tessdata))
            self._engine.warm()
        except OcrUnavailable as e:
            raise ctx.src.error(path, str(e)) from None
        self._rules = self.compile_rules(ctx, path)
        self._memo_key = (self._engine.config, tuple(label for label, _ in self._prep))
        self._retries: list[tuple[Any, list, OcrEngine]] = []
        for i, r in enumerate(self.retry):
            rpath = path + ("retry", i)
            chain = self._prep if r.prep is None else compile_prep(r.prep, rpath + ("prep",), ctx.src)
            config = OcrConfig(self.lang, self.psm if r.psm is None else r.psm,
                               self.whitelist if r.whitelist is None else r.whitelist, tessdata)
            try:
                engine = OcrEngine(config)
                engine.warm()
            except OcrUnavailable as e:
                raise ctx.src.error(rpath, str(e)) from None
            self._retries.append(((config, tuple(label for label, _ in chain)), chain, engine))

    def measure(self, crop: np.ndarray, prepared: np.ndarray, box: IntBox, fc: FrameContext) -> BoxResult:
        result = self._read(self._memo_key, self._engine, prepared, box, fc)
        for i, (memo_key, chain, engine) in enumerate(self._retries):
            if result.hit:
                break
            again = self._read(memo_key, engine, run_prep(chain, crop) if chain else crop, box, fc)
            again.details["retry"] = i
            again.details["first"] = {"text": result.details.get("text"), "why": result.reason}
            result = again if again.hit or i == len(self._retries) - 1 else result
        return result

    def _read(self, memo_key: Any, engine: OcrEngine, prepared: np.ndarray, box: IntBox, fc: FrameContext) -> BoxResult:
        key = (memo_key, box)
        found = fc.memo.get(key)
        if found is None:
            found = fc.memo[key] = engine.read(prepared)
        text, conf = found
        details = {"text": text, "conf": round(conf, 1)}
        if self.check_glyphs:
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
        if conf < self.min_conf:
            return BoxResult(value=None, hit=False, score=conf / 100, confidence=conf / 100, reason=f"confidence {conf:.0f} < min_conf {self.min_conf:g}", details=details)
        try:
            value, more = self._rules.apply(text)
        except Rejected as e:
            return BoxResult(value=None, hit=False, score=conf / 100, confidence=conf / 100, reason=str(e), details=details)
        details.update(more)
        return BoxResult(value=value, hit=True, score=conf / 100, confidence=conf / 100, details=details)
