"""The pictures `otrig studio` was given: screenshots and videos, read as the engine gets them.

Only these files are ever read: the page names a picture by its index in the command line's
list (and a video's time), never by a path. Frames are read by engine.media.sources, as
`otrig run` reads an image and `otrig extract` a video frame, and the last few are kept.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.lang.errors import SourceError
from engine.media.sources import VideoSource, is_image_path, probe_video, read_image

# Decoded frames kept (each 6.2 MB): the shots being switched between and a few video times.
KEEP_FRAMES = 8


@dataclass(frozen=True, kw_only=True)
class Shot:
    """One picture given on the command line."""

    index: int
    path: Path
    kind: str            # "image" or "video"
    width: int           # as captured, before the resize to 1920x1080
    height: int
    duration: float = 0.0  # seconds (videos)
    fps: float = 0.0       # frames per second (videos)

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.path.name, "kind": self.kind, "size": [self.width, self.height],
                "duration": round(self.duration, 3), "fps": round(self.fps, 3)}

    def clamp(self, t: float) -> float:
        """A media time inside the video (0 for an image), on a whole frame."""
        if self.kind != "video":
            return 0.0
        last = max(0.0, self.duration - 1.0 / self.fps)
        t = min(max(0.0, t), last)
        return round(t * self.fps) / self.fps


class Shots:
    """The pictures, opened and checked once; frames read on demand and cached."""

    def __init__(self, paths: Sequence[str | Path]):
        if not paths:
            raise SourceError("give at least one screenshot or video to show")
        self._cache: OrderedDict[tuple[int, float], tuple[np.ndarray, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        shots = []
        for i, p in enumerate(paths):
            path = Path(p)
            if is_image_path(path):
                image, frame = read_image(path)
                h, w = frame["source"]["original_shape"][:2]
                shots.append(Shot(index=i, path=path, kind="image", width=int(w), height=int(h)))
                image.setflags(write=False)
                self._cache[(i, 0.0)] = (image, frame)  # read to check it: keep it
            else:
                info = probe_video(path)
                shots.append(Shot(index=i, path=path, kind="video", width=info.width, height=info.height,
                                  duration=info.duration, fps=float(info.fps)))
        self.shots: tuple[Shot, ...] = tuple(shots)
        while len(self._cache) > KEEP_FRAMES:
            self._cache.popitem(last=False)

    def shot(self, index: int) -> Shot:
        """IndexError naming the range when there is no such picture."""
        if not 0 <= index < len(self.shots):
            raise IndexError(f"no picture {index}: there are {len(self.shots)} (0..{len(self.shots) - 1})")
        return self.shots[index]

    def read(self, index: int, t: float = 0.0) -> tuple[np.ndarray, dict[str, Any], float]:
        """The 1920x1080 BGR frame of picture ``index`` at media time ``t`` (clamped to the
        video; ignored for an image), its frame JSON, and the time it was read at. The image
        is shared: do not write to it."""
        shot = self.shot(index)
        t = shot.clamp(t)
        key = (index, t)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit[0], dict(hit[1]), t
        if shot.kind == "image":
            image, frame = read_image(shot.path)
        else:
            image, frame = _video_frame(shot, t)
        image.setflags(write=False)
        with self._lock:
            self._cache[key] = (image, frame)
            while len(self._cache) > KEEP_FRAMES:
                self._cache.popitem(last=False)
        return image, dict(frame), t


def _video_frame(shot: Shot, t: float) -> tuple[np.ndarray, dict[str, Any]]:
    # sampling at the video's own rate from t: the first sample is the frame shown at t
    for image, frame in VideoSource(shot.path, fps=shot.fps, seek=t):
        return image, frame
    raise SourceError(f"{shot.path.name}: no frame could be decoded at {t:.3f} s")
