"""What every step shares: a region to look at, preparation, and a result per box.

A step type is one dataclass: its fields are the YAML keys (validated and turned into a
JSON Schema by :mod:`engine.lang.schema`); ``compile`` does the load-time work once;
``measure`` looks at one prepared crop on the hot path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from engine.vision.prep import (RANGES_EXAMPLE, RANGES_HELP, SPACE_HELP, ColorRanges, ColorRangesRule, Op, PrepList,
                                compile_prep, parse_ranges, run_prep)
from engine.vision.regions import CompiledRegion, Geometry, IntBox, RegionMapper, _clip
from engine.lang.schema import Rule, param
from engine.lang.yamlsrc import KeyPath, Located


@dataclass(kw_only=True)
class RelativeRegion:
    """A box placed relative to what an earlier field of the same processor found."""

    from_: str = param(help="the earlier field whose found box is the origin", yaml_name="from")
    offset: tuple[float, float] = param((0.0, 0.0), help="[dx, dy] from the found box's top-left, in reference pixels")
    size: tuple[float, float] = param(help="[w, h] in reference pixels")


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
    value: Any
    hit: bool
    score: float | None = None
    confidence: float | None = None
    reason: str | None = None
    location: IntBox | None = None
    details: dict[str, Any] = field(default_factory=dict)


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


@dataclass(kw_only=True)
class Step:
    """Base of all step types."""

    kind: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    region: str | RelativeRegion = param(help="a region name, or {from, offset, size} relative to an earlier field")
    prep: PrepList = param(default_factory=list, help="image preparation ops, run in order (see Prep ops)")

    def __post_init__(self) -> None:
        self._prep: list[tuple[str, Op]] = []
        self._region: CompiledRegion | None = None

    # -- load time ------------------------------------------------------------------------
    def compile(self, ctx: CompileContext, path: KeyPath, earlier_fields: list[str]) -> None:
        if isinstance(self.region, str):
            if self.region not in ctx.regions:
                known = ", ".join(sorted(ctx.regions)) or "none are declared"
                raise ctx.src.error(path + ("region",), f"unknown region '{self.region}' (regions: {known})")
            self._region = ctx.regions[self.region]
            ctx.used_regions.add(self.region)
        elif self.region.from_ not in earlier_fields:
            raise ctx.src.error(path + ("region", "from"),
                                f"'{self.region.from_}' is not a field declared earlier in this processor "
                                f"(earlier: {', '.join(earlier_fields) or 'none'})")
        self._prep = compile_prep(self.prep, path + ("prep",), ctx.src)
        self.compile_step(ctx, path)

    def compile_step(self, ctx: CompileContext, path: KeyPath) -> None:
        """Load-time work of a step type (assets, engines). Default: nothing."""

    @property
    def threshold(self) -> float | None:
        return None

    # -- per frame ------------------------------------------------------------------------
    def boxes(self, fc: FrameContext) -> list[IntBox] | None:
        if self._region is not None:
            return self._region.boxes(fc.geo)
        rel = self.region
        assert isinstance(rel, RelativeRegion)
        origin = fc.found.get(rel.from_)
        if origin is None:
            return None
        sx, sy = fc.scale
        return [_clip(origin[0] + rel.offset[0] * sx, origin[1] + rel.offset[1] * sy,
                      rel.size[0] * sx, rel.size[1] * sy)]

    def run(self, fc: FrameContext) -> StepResult:
        boxes = self.boxes(fc)
        if boxes is None:
            return StepResult(value=None, hit=False, threshold=self.threshold,
                              reason=f"'{self.region.from_}' found nothing to place this box by")  # type: ignore[union-attr]
        results: list[BoxResult] = []
        crop = prepared = None
        for (x, y, w, h) in boxes:
            crop = fc.image[y:y + h, x:x + w]
            if crop.size == 0:
                results.append(BoxResult(value=None, hit=False, reason="the box lies outside the frame"))
                continue
            prepared = run_prep(self._prep, crop) if self._prep else crop
            r = self.measure(crop, prepared, (x, y, w, h), fc)
            if r.location is not None:
                r.location = (r.location[0] + x, r.location[1] + y, r.location[2], r.location[3])
            results.append(r)
        keep = fc.keep_images
        if len(results) == 1 and not (self._region is not None and self._region.multi):
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
            crop=crop if keep else None, prepared=prepared if keep else None,
        )

    def measure(self, crop: np.ndarray, prepared: np.ndarray, box: IntBox, fc: FrameContext) -> BoxResult:
        raise NotImplementedError


@dataclass(kw_only=True)
class ColorRangeStep(Step):
    """A step that looks for pixels in colour ranges (fraction, bar)."""

    rules: ClassVar[tuple[Rule, ...]] = (ColorRangesRule(),)

    space: Literal["bgr", "hsv"] = param("bgr", help=SPACE_HELP)
    ranges: list[Any] = param(help=RANGES_HELP, nonempty=f"expected a list of [low, high] colour pairs, e.g. {RANGES_EXAMPLE}")

    def compile_step(self, ctx: CompileContext, path: KeyPath) -> None:
        self._ranges: ColorRanges = parse_ranges(self.space, self.ranges, path, ctx.src)
