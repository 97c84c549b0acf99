"""The current frame as other captures would give it (engine.debug.perturb's variants), read
by the game, each value marked right, null or wrong.

"Wrong" needs a value that is right. When the picture is one of the game's golden samples
(``<game>.samples.yaml`` beside the game file, paths resolved as `otrig test` resolves them),
its ``expect`` values are; otherwise the values read on the frame as it is, so a variant is
marked where it reads something else than the unchanged frame (which may itself be wrong).
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from engine.debug.golden import Sample, SamplesError, judge, load_samples, resolve, samples_path_for, value_at
from engine.debug.perturb import VARIANTS
from engine.debug.recorder import jsonable
from engine.debug.studio.runview import fresh_stream
from engine.lang.errors import SourceError
from engine.runtime.game import CompiledGame

# The keys the engine adds to a processor's object: not read values.
_NOT_READ = frozenset({"confidence", "null_reasons", "age"})
THUMB_WIDTH = 320


@dataclass(frozen=True)
class Expected:
    values: dict[str, Any]   # processor.field -> the right value
    source: str              # "sample <label>" or "the frame as it is"


def read_values(objects: dict[str, Any]) -> dict[str, Any]:
    """``processor.field -> value`` of every field read (rows' lists as one value each)."""
    out: dict[str, Any] = {}
    for proc, obj in objects.items():
        if isinstance(obj, dict):
            for name, value in obj.items():
                if name not in _NOT_READ:
                    out[f"{proc}.{name}"] = value
    return out


def matching_sample(game_path: Path, roots: Sequence[str | Path], shot: Path, frame_no: int | None,
                    viewport: tuple[int, int, int, int] | None) -> Sample | None:
    """The golden sample that is this picture (and video frame), if the game has one."""
    try:
        samples = load_samples(samples_path_for(game_path))
    except SamplesError:
        return None
    folders = [Path(r) for r in roots] or [samples_path_for(game_path).parent]
    for s in samples:
        if s.viewport is not None and s.viewport != viewport:
            continue  # read through another viewport than the game's: not this run
        try:
            path = resolve(s.path, folders)
        except SourceError:
            continue
        if path.resolve() == shot.resolve() and (s.kind == "image" or s.frame_no == frame_no):
            return s
    return None


def expected_for(sample: Sample | None, plain: dict[str, Any]) -> Expected:
    if sample is not None:
        return Expected(dict(sample.expect), f"sample {sample.label}")
    return Expected(read_values(plain), "the frame as it is")


def thumb_uri(image: np.ndarray) -> str:
    h, w = image.shape[:2]
    small = cv2.resize(image, (THUMB_WIDTH, round(h * THUMB_WIDTH / w)), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode("ascii") if ok else ""


class Superseded(Exception):
    """The game was saved again while its variants were being read: nobody wants them now."""


def stress_view(game: CompiledGame, image: np.ndarray, frame: dict[str, Any], sample: Sample | None,
                wanted: Callable[[], bool] = lambda: True) -> dict[str, Any]:
    """The frame as it is and as each variant gives it, with every expected value's read
    and mark. Raises :class:`Superseded` as soon as ``wanted()`` is false: the 9 reads take
    0.3-1 s of CPU, which a save arriving meanwhile should not wait for."""
    plain = game.process(image, fresh_stream(frame)).objects
    expected = expected_for(sample, plain)
    keys = list(expected.values)
    columns = [("as-is", "the frame as it is", image, plain)]
    for v in VARIANTS.values():
        if not wanted():
            raise Superseded(v.name)
        changed = v.apply(image)
        columns.append((v.name, v.help, changed, game.process(changed, fresh_stream(frame)).objects))
    out = []
    for name, help_text, img, objects in columns:
        reads = {}
        for k in keys:
            got = value_at(objects, k)
            reads[k] = {"value": jsonable(got), "mark": judge(expected.values[k], got)}
        out.append({"name": name, "help": help_text, "thumb": thumb_uri(img), "reads": reads,
                    "wrong": sum(r["mark"] == "wrong" for r in reads.values()),
                    "null": sum(r["mark"] == "null" for r in reads.values())})
    return {"expected_from": expected.source, "keys": keys,
            "expected": {k: jsonable(v) for k, v in expected.values.items()}, "variants": out}
