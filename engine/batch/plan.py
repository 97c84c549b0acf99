"""What a run is made of: the job every unit shares, and each source's units of work.

A still image is one unit; a video is one unit, or, when it is long, has a constant frame
rate and the game's state is bounded (engine.batch.memory), several time segments cut at
keyframes. A segment outputs the samples whose frame lies in ``[start_frame, end_frame)``
and first runs the game, without output, over the samples of its warm-up window, so that
the state it carries into its first output frame is the one a run over the whole video
would carry (checked at every boundary by the driver).
"""
from __future__ import annotations

import bisect
import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from engine.lang.errors import SourceError
from engine.media.sources import VideoInfo, VideoSource, exact, is_image_path, sample_indices
from engine.batch.memory import Memory

IntBox = tuple[int, int, int, int]

# A segment shorter than this many samples is not worth its warm-up and its task.
MIN_SEGMENT_SAMPLES = 8


@dataclass(frozen=True, kw_only=True)
class GameRef:
    """What a worker needs to load the game: absolute paths (workers may run elsewhere)."""

    path: str
    assets: tuple[str, ...] = ()
    viewport: IntBox | None = None
    # a hash of the game file and every file it loaded (templates, fonts), so that a worker
    # of a long-lived cluster loads the game again after an edit instead of its cached copy
    digest: str = ""


@dataclass(frozen=True, kw_only=True)
class Job:
    """What every unit of one run shares."""

    game: GameRef
    fps: float
    seek: float
    wall_start: float          # the timestamp of media time 0, the same for every unit of a source
    explain: bool = False
    segment: float = 300.0     # seconds of video per segment of a long video (0: never cut)
    topic: str = "otrig-progress"  # the Dask event topic units report progress on


@dataclass(frozen=True, kw_only=True)
class SourceRef:
    index: int     # position on the command line
    name: str      # as given: goes into every frame's source.file, as in a sequential run
    path: str      # absolute: what a worker opens


@dataclass(frozen=True, kw_only=True)
class Unit:
    source: SourceRef
    index: int                 # segment number within the source
    count: int                 # segments of the source
    image: bool = False
    first_sample: int = 0      # the sample (k of seek + k/fps) decoding starts at, warm-up included
    start_frame: int = 0       # output the samples whose frame_no is >= start_frame ...
    end_frame: int | None = None  # ... and < end_frame
    expected: int = 1          # samples it outputs (for the progress bar)

    @property
    def key(self) -> str:
        return f"{self.source.index}.{self.index}"


@dataclass(frozen=True, kw_only=True)
class Plan:
    source: SourceRef
    units: tuple[Unit, ...] = ()
    error: str | None = None   # the source cannot be read (named in the message)
    whole: str | None = None   # why a long video was not cut, for the summary


def keyframes(path: str, info: VideoInfo) -> list[int]:
    """Frame indices of the keyframes, from the packet flags (demuxing, no decoding)."""
    import av  # noqa: PLC0415 - PyAV is checked by probe_video

    keys: list[int] = []
    try:
        with av.open(path) as c:
            s = c.streams.video[0]
            tb, start = s.time_base, s.start_time or 0
            if tb is None:
                return keys
            for pkt in c.demux(s):
                if pkt.is_keyframe and pkt.pts is not None:
                    keys.append(round((pkt.pts - start) * tb * info.fps))
    except av.error.FFmpegError as e:
        raise SourceError(f"{path}: cannot read its packets to find keyframes: {e}") from None
    return sorted(set(keys))


def cut_points(keys: list[int], first: int, frames: int, step: int) -> list[int]:
    """Segment starts: the first keyframe at or after each multiple of ``step`` frames past
    ``first``, leaving no segment shorter than half a step at the end."""
    cuts: list[int] = []
    target = first + step
    while target < frames - step // 2:
        i = bisect.bisect_left(keys, target)
        if i == len(keys) or keys[i] >= frames - step // 2:
            break
        if not cuts or keys[i] > cuts[-1]:
            cuts.append(keys[i])
        target = max(target + step, keys[i] + 1)
    return cuts


def warmup_first_sample(start_frame: int, video_fps: Fraction, fps: float, seek: float, window: float) -> int:
    """The sample to start decoding at for a segment starting at ``start_frame``: the warm-up
    window before it, and at least one sample whose frame is before it (so a sample that
    lands on the frame of the one before is dropped as in the whole run)."""
    f, s = exact(fps), exact(seek)
    t = min(Fraction(start_frame) / video_fps - exact(window), Fraction(start_frame - 1) / video_fps)
    return max(0, math.floor((t - s) * f) - 1)


def plan_video(src: SourceRef, job: Job, memory: Memory) -> Plan:
    """Probe a video (SourceError if unreadable) and cut it into units."""
    vs = VideoSource(src.path, job.fps, job.seek)
    info = vs.info
    whole = Plan(source=src, units=(Unit(source=src, index=0, count=1, expected=vs.expected),))
    span = info.duration - job.seek
    step_s = max(job.segment, MIN_SEGMENT_SAMPLES / job.fps)
    if job.segment <= 0 or span < 1.5 * step_s:
        return whole
    if not info.cfr:
        return Plan(source=src, units=whole.units, whole="variable frame rate: frame numbers come from counting")
    if not memory.bounded:
        return Plan(source=src, units=whole.units, whole="the game's state is unbounded: " + "; ".join(memory.unbounded))
    first = math.ceil(exact(job.seek) * info.fps - Fraction(1, 2))
    cuts = cut_points(keyframes(src.path, info), first, info.frames, max(1, round(step_s * float(info.fps))))
    if not cuts:
        return Plan(source=src, units=whole.units, whole="no keyframe to cut at")
    samples = sample_indices(info.fps, info.frames, job.fps, job.seek)
    starts = [0] + cuts
    ends: list[int | None] = [*cuts, None]
    # the window plus two samples and two video frames: slots and reads are decided per sample
    window = memory.window + 2 / job.fps + 2 / float(info.fps)
    units = []
    for i, (a, b) in enumerate(zip(starts, ends)):
        lo = bisect.bisect_left(samples, a)
        hi = len(samples) if b is None else bisect.bisect_left(samples, b)
        units.append(Unit(source=src, index=i, count=len(starts), start_frame=a, end_frame=b, expected=hi - lo,
                          first_sample=0 if i == 0 else warmup_first_sample(a, info.fps, job.fps, job.seek, window)))
    return Plan(source=src, units=tuple(units))


def plan_source(src: SourceRef, job: Job, memory: Memory) -> Plan:
    """A source's units, or its error (an unreadable file is named, the others go on)."""
    if is_image_path(src.name):
        return Plan(source=src, units=(Unit(source=src, index=0, count=1, image=True),))
    try:
        return plan_video(src, job, memory)
    except SourceError as e:
        return Plan(source=src, error=str(e).replace(src.path, src.name))


def files_digest(paths: Sequence[str | os.PathLike[str]]) -> str:
    """A hash of the files' paths and bytes (a file that cannot be read hashes as missing)."""
    h = hashlib.sha256()
    for path in paths:
        h.update(os.fsencode(path) + b"\0")
        try:
            h.update(Path(path).read_bytes())
        except OSError:
            h.update(b"\0missing")
    return h.hexdigest()
