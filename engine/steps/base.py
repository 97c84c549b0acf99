"""What every step shares: a region to look at, preparation, and a result per box.

A step type is two classes. Its spec, a frozen dataclass, is what the game file says: its
fields are the YAML keys (validated and turned into a JSON Schema by
:mod:`engine.lang.schema`). ``spec.compile(...)`` does the load-time work once and returns
the compiled step, a :class:`CompiledStep` subclass holding the spec, where it looks, its
preparation and what its type loaded; its ``measure`` looks at one prepared crop on the
hot path.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

import cv2
import numpy as np

from engine.vision.prep import (RANGES_EXAMPLE, RANGES_HELP, SPACE_HELP, ColorRanges, ColorRangesRule, Op, PrepList,
                                compile_prep, run_prep)
from engine.vision.regions import Anchor, CompiledRegion, Geometry, IntBox, RegionMapper, _clip, text_run
from engine.lang.schema import Bounds, Rule, needs, param
from engine.lang.yamlsrc import KeyPath, Located


Positive = Annotated[float, Bounds(above=0, what="a width or height")]


@dataclass(frozen=True, kw_only=True)
class RelativeRegion:
    """A box placed relative to what an earlier field of the same processor found, or to the
    row being read (`from: row` in a processor with `rows`), optionally cut by other found
    boxes and shrunk to the run of text at one of its sides."""

    rules: ClassVar[tuple[Rule, ...]] = (
        needs("text", "text_height", message="text needs text_height: the height of the text in reference pixels "
                                             "(a blob taller than that is an icon and ends the text)"),
        needs("text_height", "text", message="text_height only matters with text: left or right"),
        needs("text_gap", "text", message="text_gap only matters with text: left or right"),
    )

    from_: str = param(help="the earlier field whose found box is the origin (or row: the row being read)",
                       yaml_name="from")
    anchor: Anchor = param("top-left", help="the point of the found box the offset starts from: its top-left corner, "
                                            "top-right, bottom-left, center, ... (right: the middle of its right edge)")
    offset: tuple[float, float] = param((0.0, 0.0), help="[dx, dy] from the anchor point to the box's top-left, in "
                                                        "reference pixels")
    size: tuple[Positive, Positive] | None = param(None, help="[w, h] in reference pixels (default: the found box's size)")
    before: list[str] = param(default_factory=list, help="earlier fields: the box ends where the leftmost of their found "
                                                         "boxes begins (a killer's name before the weapon icon); the step "
                                                         "is a miss when one of them found nothing")
    after: list[str] = param(default_factory=list, help="earlier fields: the box starts where the rightmost of their found "
                                                        "boxes ends; a miss when one of them found nothing")
    text: Literal["left", "right"] | None = param(None, help="shrink the box to the run of text nearest this side "
                                                            "(names of varying length beside portraits or icons): "
                                                            "see Relative regions")
    text_height: float | None = param(None, above=0, help="with text: the tallest text, descenders included, in reference "
                                                          "pixels; taller ink is an icon and ends the run")
    text_gap: float | None = param(None, above=0, help="with text: a gap wider than this (reference pixels) ends the run "
                                                       "(default: half the text_height; a word space must fit in it)")

    def describe(self) -> str:
        size = "" if self.size is None else f" size {self.size[0]:g}x{self.size[1]:g}"
        cuts = "".join(f" before {b}" for b in self.before) + "".join(f" after {a}" for a in self.after)
        text = "" if self.text is None else f" text {self.text}"
        anchor = "" if self.anchor == "top-left" else f" {self.anchor}"
        return f"from {self.from_}{anchor} +{self.offset[0]:g},{self.offset[1]:g}{size}{cuts}{text}"


@dataclass
class CompileContext:
    """What steps need at load time."""

    src: Located
    game_dir: Path
    asset_roots: list[Path]
    regions: dict[str, CompiledRegion]
    mapper: RegionMapper
    used_regions: set[str]
    loaded_files: list[Path] = field(default_factory=list)  # watched for --reload
    # load-time engines shared by the steps that use them alike (OCR: one per Tesseract
    # setting, its APIs built here, not on a frame); keyed by the step type's own config
    engines: dict[Any, Any] = field(default_factory=dict)

    def region(self, name: str, path: KeyPath) -> CompiledRegion:
        """The region called ``name``, now counted as used; an unknown name is an error at ``path``."""
        if name not in self.regions:
            known = ", ".join(sorted(self.regions)) or "none are declared"
            raise self.src.error(path, f"unknown region '{name}' (regions: {known})")
        self.used_regions.add(name)
        return self.regions[name]


@dataclass
class FrameContext:
    """What steps see on one frame."""

    image: np.ndarray
    geo: Geometry
    scale: tuple[float, float]
    found: dict[str, IntBox] = field(default_factory=dict)  # field -> box found by it this frame
    keep_images: bool = False
    # results shared by steps that do the same costly work on the same pixels this frame
    # (two fields reading one crop with one OCR setting make one Tesseract call)
    memo: dict[Any, Any] = field(default_factory=dict)
    deadline: float = float("inf")  # perf_counter() value after which no step starts


@dataclass(kw_only=True)
class BoxResult:
    """One box's read. ``measure`` fills the value and what it saw; ``CompiledStep.run`` adds
    the box in frame pixels and, when the frame keeps images (--record), its crops."""

    value: Any
    hit: bool
    score: float | None = None
    confidence: float | None = None
    reason: str | None = None
    location: IntBox | None = None
    details: dict[str, Any] = field(default_factory=dict)
    box: IntBox | None = None
    crop: np.ndarray | None = None
    prepared: np.ndarray | None = None


@dataclass(kw_only=True)
class StepResult:
    value: Any
    hit: bool
    score: float | None = None
    threshold: float | None = None
    confidence: float | None = None
    reason: str | None = None
    location: IntBox | None = None
    boxes: list[IntBox] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    crop: np.ndarray | None = None
    prepared: np.ndarray | None = None
    # a region of several boxes (boxes, grid): each box's own read, in the value's order
    # (empty for one box: the step's result is that box's)
    cells: list[BoxResult] = field(default_factory=list)


PrepChain = list[tuple[str, Op]]


@dataclass(frozen=True, kw_only=True)
class Step(ABC):
    """Base of all step types."""

    kind: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    region: str | RelativeRegion = param(help="a region name, or {from, offset, size, ...}: a box placed relative to "
                                              "an earlier field's found box or to the row being read")
    prep: PrepList = param(default_factory=list, help="image preparation ops, run in order (see Prep ops)")

    def compile(self, ctx: CompileContext, path: KeyPath, earlier_fields: list[str]) -> CompiledStep[Any]:
        """The step ready for frames. ``earlier_fields``: what a relative box may be placed by
        (the fields read before this step in its processor, and ``row`` in a processor that
        reads rows)."""
        region: CompiledRegion | RelativeBox
        if isinstance(self.region, str):
            region = ctx.region(self.region, path + ("region",))
        else:
            rel = self.region
            named = [("from", rel.from_)] + [(k, n) for k in ("before", "after") for n in getattr(rel, k)]
            for key, name in named:
                if name not in earlier_fields:
                    where = path + ("region", key) + (() if key == "from" else (getattr(rel, key).index(name),))
                    raise ctx.src.error(where, f"'{name}' is not a field declared earlier in this processor "
                                               f"(earlier: {', '.join(earlier_fields) or 'none'})")
            region = RelativeBox(rel, anchor_fractions(rel.anchor))
        return self.build(ctx, path, region, compile_prep(self.prep, path + ("prep",), ctx.src))

    @abstractmethod
    def build(self, ctx: CompileContext, path: KeyPath, region: CompiledRegion | RelativeBox,
              prep: PrepChain) -> CompiledStep[Any]:
        """The step type's compiled object, with what it loads once (assets, engines, rules)."""


def anchor_fractions(anchor: Anchor) -> tuple[float, float]:
    """Where an anchor point lies on a box, as fractions of its width and height:
    top-left (0, 0), right (1, 0.5), bottom (0.5, 1)."""
    horizontal = anchor.split("-")[-1] if anchor not in ("top", "bottom") else "center"
    vertical = anchor.split("-")[0] if anchor not in ("left", "right") else "center"
    return ({"left": 0.0, "center": 0.5, "right": 1.0}[horizontal],
            {"top": 0.0, "center": 0.5, "bottom": 1.0}[vertical])


@dataclass(frozen=True)
class RelativeBox:
    """A relative region ready for frames: its spec, and its anchor as fractions of the found box."""

    spec: RelativeRegion
    anchor: tuple[float, float]

    def boxes(self, fc: FrameContext) -> tuple[list[IntBox] | None, str | None]:
        """The one box this frame, or None and why (an origin or cut that found nothing)."""
        rel = self.spec
        origin = fc.found.get(rel.from_)
        if origin is None:
            return None, f"'{rel.from_}' found nothing to place this box by"
        sx, sy = fc.scale
        ox, oy, ow, oh = origin
        x0 = ox + self.anchor[0] * ow + rel.offset[0] * sx
        y0 = oy + self.anchor[1] * oh + rel.offset[1] * sy
        w, h = (float(ow), float(oh)) if rel.size is None else (rel.size[0] * sx, rel.size[1] * sy)
        x1 = x0 + w
        for name in rel.before:
            cut = fc.found.get(name)
            if cut is None:
                return None, f"'{name}' found nothing to end this box at"
            x1 = min(x1, cut[0])
        for name in rel.after:
            cut = fc.found.get(name)
            if cut is None:
                return None, f"'{name}' found nothing to start this box after"
            x0 = max(x0, cut[0] + cut[2])
        if x1 - x0 < 1:
            cuts = ", ".join(rel.before + rel.after)
            return None, f"nothing is left of the box between {cuts}"
        return [_clip(x0, y0, x1 - x0, h)], None

    def text_run(self, crop: np.ndarray, prepared: np.ndarray, box: IntBox,
                 fc: FrameContext) -> tuple[np.ndarray, np.ndarray, IntBox] | None:
        """The box cut to its run of text nearest the spec's ``text`` side, or None (no text there).

        Works on the prepared crop (the step's own idea of ink), in its pixels; the cut is
        mapped back to the frame for the crop, the trace and what the box finds."""
        rel = self.spec
        ratio = prepared.shape[1] / crop.shape[1]
        assert rel.text is not None and rel.text_height is not None
        height = rel.text_height * fc.scale[1] * prepared.shape[0] / crop.shape[0]
        gap = (rel.text_gap if rel.text_gap is not None else rel.text_height / 2) * fc.scale[0] * ratio
        cols = text_run(prepared, rel.text, height, gap)
        if cols is None:
            return None
        c0, c1 = cols
        x0, x1 = int(c0 / ratio), int(np.ceil(c1 / ratio))
        x, y, w, h = box
        return crop[:, x0:x1], prepared[:, c0:c1], (x + x0, y, max(1, x1 - x0), h)


S = TypeVar("S", bound=Step)


@dataclass(frozen=True, eq=False)
class CompiledStep(ABC, Generic[S]):
    """A step ready for frames: its spec as written, where it looks, its preparation. Each
    step type's subclass adds what it loaded and ``measure``."""

    spec: S
    region: CompiledRegion | RelativeBox
    prep: PrepChain

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def threshold(self) -> float | None:
        """The score a hit needs, for traces and the report (None: the type has no one score)."""
        return None

    def widen(self, fc: FrameContext) -> float:
        """How much wider each crop is made before it is measured: 1, unless the step type
        reads shapes that a squeezed or stretched capture distorts (text)."""
        return 1.0

    # -- per frame ------------------------------------------------------------------------
    def place(self, fc: FrameContext) -> tuple[list[IntBox] | None, str | None]:
        if isinstance(self.region, CompiledRegion):
            return self.region.boxes(fc.geo), None
        return self.region.boxes(fc)

    def run(self, fc: FrameContext) -> StepResult:
        boxes, why = self.place(fc)
        if boxes is None:
            return StepResult(value=None, hit=False, threshold=self.threshold, reason=why)
        boxes = list(boxes)  # a named region's boxes are its cache: the result gets its own list
        rel = self.region if isinstance(self.region, RelativeBox) and self.region.spec.text is not None else None
        widen = self.widen(fc)
        results: list[BoxResult] = []
        crop = prepared = None
        keep = fc.keep_images
        for i, (x, y, w, h) in enumerate(boxes):
            crop = fc.image[y:y + h, x:x + w]
            box = (x, y, w, h)
            if crop.size == 0:
                results.append(BoxResult(value=None, hit=False, reason="the box lies outside the frame", box=box))
                continue
            if rel is not None:
                trimmed = rel.text_run(crop, self._prepare(crop), box, fc)
                if trimmed is None:
                    results.append(BoxResult(value=None, hit=False, box=box, crop=crop if keep else None,
                                             reason=f"no text clear of icons at the box's {rel.spec.text} side"))
                    continue
                crop, prepared, box = trimmed
                boxes[i] = box
                if widen != 1.0:  # the run was found in frame pixels; it is read widened
                    crop = widened(crop, widen)
                    prepared = self._prepare(crop)
            else:
                if widen != 1.0:
                    crop = widened(crop, widen)
                prepared = self._prepare(crop)
            r = self.measure(crop, prepared, box, fc)
            if r.location is not None:
                lx, ly, lw, lh = r.location
                if widen != 1.0:  # back to frame pixels
                    lx, lw = round(lx / widen), max(1, round(lw / widen))
                r.location = (lx + box[0], ly + box[1], lw, lh)
            r.box = box
            if keep:
                r.crop, r.prepared = crop, prepared
            results.append(r)
        if len(results) == 1 and not (isinstance(self.region, CompiledRegion) and self.region.multi):
            r = results[0]
            return StepResult(value=r.value, hit=r.hit, score=r.score, threshold=self.threshold,
                              confidence=r.confidence, reason=r.reason, location=r.location, boxes=boxes,
                              details=r.details, crop=crop if keep else None, prepared=prepared if keep else None)
        confs = [r.confidence for r in results if r.confidence is not None]
        scores = [r.score for r in results if r.score is not None]
        reasons = [f"box {i}: {r.reason}" for i, r in enumerate(results) if r.reason]
        return StepResult(
            value=[r.value for r in results], hit=any(r.hit for r in results),
            score=min(scores) if scores else None, threshold=self.threshold,
            confidence=min(confs) if confs else None, reason="; ".join(reasons) or None, boxes=boxes,
            details={"per_box": [r.details for r in results]} if any(r.details for r in results) else {},
            crop=crop if keep else None, prepared=prepared if keep else None, cells=results,
        )

    def _prepare(self, crop: np.ndarray) -> np.ndarray:
        return run_prep(self.prep, crop) if self.prep else crop

    @abstractmethod
    def measure(self, crop: np.ndarray, prepared: np.ndarray, box: IntBox, fc: FrameContext) -> BoxResult:
        """Look at one box's crop (``box`` in frame pixels); a location found is in the crop's pixels."""


def widened(img: np.ndarray, factor: float) -> np.ndarray:
    """``img`` made ``factor`` times as wide, resampled as the prep op ``scale`` resamples text:
    INTER_AREA to shrink, INTER_CUBIC to grow. (INTER_LINEAR, tried first, blurs thin strokes
    enough that Tesseract read the cm-summary 21:9 frame's 'Psyhix69', 16 px tall, as
    'Psyhix63'; INTER_CUBIC, AREA and LANCZOS4 all read it right.)"""
    w = max(1, round(img.shape[1] * factor))
    return cv2.resize(img, (w, img.shape[0]), interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)


@dataclass(frozen=True, kw_only=True)
class ColorRangeStep(Step):
    """A step that looks for pixels in colour ranges (fraction, bar)."""

    rules: ClassVar[tuple[Rule, ...]] = (ColorRangesRule(),)

    space: Literal["bgr", "hsv"] = param("bgr", help=SPACE_HELP)
    ranges: list[Any] = param(help=RANGES_HELP, nonempty=f"expected a list of [low, high] colour pairs, e.g. {RANGES_EXAMPLE}")

    def color_ranges(self) -> ColorRanges:
        """The ranges as arrays (the rule above checked them while the file was parsed)."""
        return ColorRanges.of(self.space, self.ranges)
