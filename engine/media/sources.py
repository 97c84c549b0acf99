"""Frames from videos and still images, shaped as OverTrack posts them.

Every source yields ``(image, frame)``: ``image`` is a C-contiguous BGR uint8 array of
exactly 1920x1080 (any other size is resized with ``cv2.resize``; the original shape is
kept in ``frame["source"]["original_shape"]``) and ``frame`` is the JSON object sent with it.

Video sampling is exact: sample ``k`` is the video frame whose presentation time is nearest
to media time ``seek + k/fps`` (a time exactly between two frames takes the earlier one,
the frame on screen at that instant). ``frame_no`` is that frame's index in the video and
``relative_timestamp`` its media time, from the PTS (``frame_no / video_fps`` for constant
frame rate). A sample that lands on the frame of the previous sample (``fps`` above the
video's rate) is not repeated.

Decoding (see bench/decode_paths.py for the measurements behind it): PyAV with threaded
decoding; frames between samples are decoded (unavoidable) but never converted to BGR.
For constant-frame-rate video the reader seeks instead of decoding forward when a keyframe
must come before the next sample (judged from the longest keyframe interval seen so far),
so sparse sampling skips whole GOPs while dense sampling never seeks. Each sample is
converted to BGR by one swscale context kept for the whole stream. ``VideoSource.ahead()``
(used by `otrig extract`) does all of this in a background thread a few samples ahead of
the consumer, so decoding overlaps posting.
"""
from __future__ import annotations

import math
import os
import queue
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Iterator, TypeVar

import cv2
import numpy as np

from engine.lang.errors import SourceError
from engine.vision.frame import HEIGHT, WIDTH
from engine.media.timefmt import format_relative, format_timestamp

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}

Frame = dict[str, Any]
T = TypeVar("T")


def exact(x: float | int | Fraction) -> Fraction:
    """A user number as the decimal it was written as (``0.1`` -> 1/10, not the binary float)."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, int):
        return Fraction(x)
    return Fraction(repr(float(x)))


def to_1080p(image: np.ndarray) -> np.ndarray:
    """Resize any BGR image to 1920x1080 (area filter when shrinking), C-contiguous uint8."""
    h, w = image.shape[:2]
    if (h, w) != (HEIGHT, WIDTH):
        interp = cv2.INTER_AREA if w > WIDTH or h > HEIGHT else cv2.INTER_LINEAR
        image = cv2.resize(image, (WIDTH, HEIGHT), interpolation=interp)
    if image.dtype != np.uint8:
        raise SourceError(f"unsupported pixel type {image.dtype} (expected 8-bit)")
    return np.ascontiguousarray(image)


def make_frame(relative: float, frame_no: int, wall_start: float, source: dict[str, Any]) -> Frame:
    ts = wall_start + relative
    return {
        "timestamp": ts,
        "timestamp_str": format_timestamp(ts),
        "relative_timestamp_str": format_relative(relative),
        "relative_timestamp": relative,
        "frame_no": frame_no,
        "source": source,
    }


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


# --------------------------------------------------------------------------- images

def read_image(path: str | os.PathLike, *, wall_start: float | None = None) -> tuple[np.ndarray, Frame]:
    """One still image as a frame: ``source = {"type": "image", "file", "original_shape"}``."""
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{path}: no such file")
    if p.is_dir():
        raise SourceError(f"{path}: is a directory, expected an image or video file")
    data = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise SourceError(f"{path}: not an image OpenCV can read (corrupt, truncated or another format)")
    source = {"type": "image", "file": str(path), "original_shape": [int(img.shape[0]), int(img.shape[1]), 3]}
    return to_1080p(img), make_frame(0.0, 0, time.time() if wall_start is None else wall_start, source)


# --------------------------------------------------------------------------- videos

@dataclass
class VideoInfo:
    path: str
    fps: Fraction          # average frame rate
    frames: int            # frame count from the header, else estimated from the duration
    width: int
    height: int
    duration: float        # seconds
    cfr: bool              # constant frame rate (average rate == base rate)
    codec: str
    frames_exact: bool = True  # the count is the header's, not estimated from the duration


def _av():
    try:
        import av  # noqa: PLC0415
    except ImportError as e:  # pragma: no cover - declared dependency
        raise SourceError(f"PyAV is not installed ({e}); pip install av") from None
    return av


def _open(path: str):
    av = _av()
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{path}: no such file")
    if p.is_dir():
        raise SourceError(f"{path}: is a directory, expected a video file")
    if p.stat().st_size == 0:
        raise SourceError(f"{path}: the file is empty")
    try:
        container = av.open(str(p), metadata_errors="ignore")
    except av.error.FFmpegError as e:
        raise SourceError(f"{path}: not a video file FFmpeg can read ({_why(e)}); "
                          f"it may be truncated, corrupt or another kind of file") from None
    if not container.streams.video:
        container.close()
        raise SourceError(f"{path}: contains no video stream")
    if container.format.name == "tty" or container.streams.video[0].codec_context.name == "ansi":
        # FFmpeg "plays" any text file as an ANSI-art video
        container.close()
        raise SourceError(f"{path}: is a text file, not a video")
    return container


def _why(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return msg.split(": '", 1)[0]


def _info_from(path: str, container) -> VideoInfo:
    s = container.streams.video[0]
    fps = s.average_rate or s.guessed_rate or s.base_rate
    if not fps or fps <= 0:
        raise SourceError(f"{path}: the video stream has no frame rate")
    fps = Fraction(fps)
    if s.duration is not None and s.time_base:
        duration = float(s.duration * s.time_base)
    elif container.duration:
        duration = container.duration / 1_000_000
    else:
        duration = 0.0
    frames = int(s.frames or 0)
    frames_exact = frames > 0
    if not frames_exact:
        frames = int(round(duration * fps))
    base = s.base_rate or s.guessed_rate
    cfr = bool(base) and Fraction(base) == fps
    if not s.codec_context.width or not s.codec_context.height:
        raise SourceError(f"{path}: the video stream has no picture size (corrupt header?)")
    if frames <= 0:
        raise SourceError(f"{path}: the video has no frames")
    if not duration:
        duration = float(frames / fps)
    return VideoInfo(path=str(path), fps=fps, frames=frames, width=s.codec_context.width,
                     height=s.codec_context.height, duration=duration, cfr=cfr, codec=s.codec_context.name,
                     frames_exact=frames_exact)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame rate, frame count, size and duration; ``SourceError`` if it is not a readable video."""
    container = _open(str(path))
    try:
        return _info_from(str(path), container)
    finally:
        container.close()


def sample_times(fps: float | Fraction, seek: float | Fraction = 0) -> Iterator[Fraction]:
    """Media times ``seek + k/fps`` for k = 0, 1, 2, ... (exact fractions)."""
    f, s = exact(fps), exact(seek)
    k = 0
    while True:
        yield s + k / f
        k += 1


def sample_indices(video_fps: Fraction, frames: int, fps: float | Fraction, seek: float | Fraction = 0) -> list[int]:
    """The frame indices a constant-frame-rate video is sampled at (no repeats)."""
    out: list[int] = []
    for t in sample_times(fps, seek):
        n = math.ceil(t * video_fps - Fraction(1, 2))  # nearest; a tie goes to the earlier frame
        if n >= frames:
            break
        if not out or n != out[-1]:
            out.append(max(n, 0))
    return out


class VideoSource:
    """Iterate ``(image_1920x1080, frame)`` for the samples of one video.

    Construction probes the file and raises ``SourceError`` for anything unreadable or a
    ``seek`` at or past the end; iteration raises ``SourceError`` if the stream turns out to
    be corrupt or truncated before the samples its header promised.
    """

    def __init__(self, path: str | os.PathLike, fps: float = 1.0, seek: float = 0.0, *,
                 wall_start: float | None = None, allow_seek: bool = True, start_sample: int = 0):
        if not (fps > 0 and math.isfinite(fps)):
            raise SourceError(f"the sampling rate must be a positive number of frames per second, got {fps}")
        if not (seek >= 0 and math.isfinite(seek)):
            raise SourceError(f"the seek must be a non-negative number of seconds, got {seek}")
        self.path = str(path)
        self.fps = float(fps)
        self.seek = float(seek)
        self.wall_start = wall_start
        self.allow_seek = allow_seek
        # the samples of seek + k/fps from k = start_sample on: a segment of a longer run
        # (engine.batch) reads the same samples, and the same `source`, as the whole run
        self.start_sample = max(0, int(start_sample))
        self.info = probe_video(self.path)
        last_time = (self.info.frames - Fraction(1, 2)) / self.info.fps
        if exact(seek) > last_time:
            raise SourceError(
                f"{self.path}: --seek {seek:g} s is past the end of the video "
                f"({self.info.duration:.2f} s, {self.info.frames} frames)")
        if self.info.cfr:
            self.expected = len(sample_indices(self.info.fps, self.info.frames, fps, seek))
        else:  # an estimate for the progress line; the PTS decide the real samples
            self.expected = int((self.info.duration - self.seek) * self.fps) + 1
        self.source = {
            "type": "video",
            "file": self.path,
            "video_fps": float(self.info.fps),
            "video_frames": self.info.frames,
            "extract_fps": self.fps,
            "seek": self.seek,
            "original_shape": [self.info.height, self.info.width, 3],
        }

    def __iter__(self) -> Iterator[tuple[np.ndarray, Frame]]:
        from av.video.reformatter import VideoReformatter  # noqa: PLC0415 - PyAV checked by probe
        wall = time.time() if self.wall_start is None else self.wall_start
        # One swscale context (and thread pool) for the whole stream: frame.to_ndarray(format=)
        # would build a new one for every sample, about twice the cost. Each reformat writes a
        # newly allocated frame, so every sample is its own array (the client posts it from
        # its own memory while the next one is decoded, see `ahead`).
        to_bgr = VideoReformatter()
        for n, t, vf in self._frames():
            try:
                img = to_bgr.reformat(vf, format="bgr24").to_ndarray()
            except Exception as e:  # noqa: BLE001 - a broken frame is a source problem
                raise SourceError(f"{self.path}: frame {n} cannot be converted: {e}") from None
            yield to_1080p(img), make_frame(float(t), n, wall, self.source)

    def ahead(self, depth: int = 2) -> Iterator[tuple[np.ndarray, Frame]]:
        """The same samples, decoded and converted in a background thread up to ``depth``
        samples ahead of the consumer (see :func:`ahead`)."""
        return ahead(self, depth)

    def _first_gop(self, max_packets: int = 1500) -> int:
        """The longest keyframe interval (in frames) among the first few keyframes, read from
        packet flags without decoding (a few ms), so sparse sampling seeks from the start."""
        av = _av()
        try:
            with av.open(self.path) as c:
                s = c.streams.video[0]
                tb, start, fps = s.time_base, s.start_time or 0, self.info.fps
                keys: list[int] = []
                for i, pkt in enumerate(c.demux(s)):
                    if pkt.is_keyframe and pkt.pts is not None:
                        keys.append(round((pkt.pts - start) * tb * fps))
                        if len(keys) >= 4:
                            break
                    if i >= max_packets:
                        break
        except av.error.FFmpegError:
            return 0
        gaps = [b - a for a, b in zip(keys, keys[1:]) if b > a]
        if gaps:
            return max(gaps)
        return max_packets if keys else 0  # one keyframe in all those packets: a long GOP

    # The decode loop: yields (frame_no, media time, av.VideoFrame) for the sampled frames.
    def _frames(self) -> Iterator[tuple[int, Fraction, Any]]:
        av = _av()
        info = self.info
        container = _open(self.path)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            tb = stream.time_base
            start_pts = stream.start_time or 0
            half = Fraction(1, 2) / info.fps
            by_pts = info.cfr and tb is not None  # frame_no from the PTS is exact only for CFR
            times = sample_times(self.fps, self.seek)
            for _ in range(self.start_sample):
                next(times)
            target = next(times)
            last_emitted = -1
            prev: tuple[int, Fraction, Any] | None = None
            index = -1
            gop = self._first_gop() if (by_pts and self.allow_seek) else 0  # longest keyframe interval seen
            last_key: int | None = None
            seek_to: Fraction | None = target if (target > 0 and by_pts and self.allow_seek) else None
            sought: Fraction | None = None  # the target of the last seek: never seek twice for one

            while True:
                if seek_to is not None:
                    pts = start_pts + int(seek_to / tb)
                    container.seek(pts, stream=stream, backward=True, any_frame=False)
                    sought = seek_to
                    prev = None
                    last_key = None
                    seek_to = None
                restart = False
                try:
                    for vf in container.decode(stream):
                        if by_pts and vf.pts is not None:
                            # CFR: the index from the PTS, the time from the index (so a
                            # millisecond time base does not make 1/30 s read as 0.033)
                            n = round((vf.pts - start_pts) * tb * info.fps)
                            t = Fraction(n) / info.fps
                        else:
                            # VFR (or no PTS): count frames, take the time from the PTS
                            index += 1
                            n = index
                            t = (vf.pts - start_pts) * tb if (vf.pts is not None and tb) else Fraction(n) / info.fps
                        index = n
                        if vf.key_frame:
                            if last_key is not None and n > last_key:
                                gop = max(gop, n - last_key)
                            last_key = n
                        # Emit every target this frame has passed.
                        while t >= target:
                            if prev is not None and target - prev[1] <= t - target:
                                chosen = prev
                            else:
                                chosen = (n, t, vf)
                            if chosen[0] != last_emitted:
                                last_emitted = chosen[0]
                                yield chosen
                            target = next(times)
                        prev = (n, t, vf)
                        # A keyframe is due before the next sample (keyframes seen so far are
                        # at most `gop` apart): seek to it instead of decoding up to it.
                        if by_pts and self.allow_seek and gop and last_key is not None and target != sought:
                            next_key = last_key + gop
                            if (math.ceil(target * info.fps - Fraction(1, 2)) >= next_key and next_key - n > 4 and
                                    target < (info.frames - Fraction(1, 2)) / info.fps):
                                seek_to = target
                                restart = True
                                break
                except av.error.FFmpegError as e:
                    raise SourceError(f"{self.path}: the video is corrupt near frame {index + 1}: "
                                      f"{_why(e)}") from None
                if restart:
                    continue
                break
            # End of stream: the last frame still serves a target within half a frame of it.
            if prev is not None and prev[1] < target <= prev[1] + half and prev[0] != last_emitted:
                last_emitted = prev[0]
                yield prev
            decoded_to = prev[0] if prev is not None else index
            # (an estimated count, e.g. MKV with audio longer than the video, proves nothing)
            if info.frames_exact and info.frames - 1 - decoded_to > max(Fraction(2), info.fps / 2):
                raise SourceError(
                    f"{self.path}: the video ends at frame {decoded_to} but its header promises "
                    f"{info.frames} frames; the file is probably truncated")
        finally:
            container.close()


# --------------------------------------------------------------------------- read-ahead

_END = object()


def ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``items`` in a background thread, at most ``depth`` items (plus the one being
    made) ahead of the consumer; yield them in order.

    PyAV decodes and converts with the GIL released and a socket send releases it too, so a
    video's next samples are decoded while the current one is posted. The items must not
    share memory with later ones (every video sample is a fresh array). An exception raised
    by ``items`` is raised here after the items before it, as iterating ``items`` directly
    would. ``items`` is iterated and closed in the thread (PyAV objects stay in one thread);
    closing this generator (``close()``, ``break``, an exception in the consumer) stops the
    thread after at most the item it is making and waits for it.
    """
    q: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        it = None
        try:
            it = iter(items)
            for item in it:
                q.put((True, item))
                if stop.is_set():
                    return
            q.put((True, _END))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            q.put((False, e))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="otrig-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # drain so a blocked put returns and the thread sees `stop`
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()


# --------------------------------------------------------------------------- many sources

def iter_sources(paths: Iterable[str | os.PathLike], fps: float = 1.0, seek: float = 0.0, *,
                 wall_start: float | None = None) -> Iterator[tuple[np.ndarray, Frame]]:
    """Frames from each path in turn: still images (by extension) give one frame each,
    videos their samples. Each source is its own stream (its own ``source`` object)."""
    for p in paths:
        if is_image_path(p):
            yield read_image(p, wall_start=wall_start)
        else:
            yield from VideoSource(p, fps, seek, wall_start=wall_start)
