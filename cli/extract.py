"""`otrig extract`: post a video's frames to a plugin the way OverTrack does."""
from __future__ import annotations

import json
import sys
import time
from typing import Generator, Optional, TextIO, cast

import numpy as np
import typer

from cli.options import Fps, Seek
from engine.plugin.client import (PluginBadAnswer, PluginClient, PluginHTTPError, PluginTimeout,
                           PluginUnreachable, changed_fields, check_url)
from engine.lang.errors import SourceError
from engine.media.sources import VideoSource
from engine.media.timefmt import format_relative

# Samples decoded ahead of the one being posted: decoding the next frames overlaps the POST
# of this one (bench/run section 5). 2 keeps the decoder busy through a slow answer and holds
# at most 4 images (~25 MB) at once: queued, being made, being posted.
READ_AHEAD = 2


def samples(video: VideoSource) -> Generator[tuple[np.ndarray, dict], None, None]:
    """The samples `otrig extract` posts, in order: decoded and converted in a background
    thread while the main thread posts (close the generator to stop that thread)."""
    # sources.ahead is a generator function; its close() is what stops the thread
    return cast(Generator[tuple[np.ndarray, dict], None, None], video.ahead(READ_AHEAD))


def _err(msg: str) -> None:
    typer.echo(f"otrig extract: {msg}", err=True)


class Progress:
    """One self-rewriting line on stderr: media time, frames posted, frames/s."""

    def __init__(self, total_frames: int, start: float, end: float, enabled: bool, stream: TextIO = sys.stderr):
        self.total, self.start, self.end = total_frames, start, end
        self.enabled, self.stream = enabled, stream
        self.t0 = time.monotonic()
        self.last = 0.0
        self.shown = False

    def update(self, media_time: float, posted: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        span = max(self.end - self.start, 1e-9)
        frac = min(max((media_time - self.start) / span, 0.0), 1.0)
        width = 24
        fill = int(frac * width)
        rate = posted / max(now - self.t0, 1e-9)
        line = (f"[{'#' * fill}{'.' * (width - fill)}] {format_relative(media_time)} / {format_relative(self.end)}"
                f"  frames {posted}/{self.total}  {rate:5.1f} frames/s")
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def extract(
    source: str = typer.Argument(..., metavar="SOURCE", help="Video file to take frames from (anything FFmpeg reads)."),
    destination: str = typer.Argument(..., metavar="DESTINATION",
                                      help="Plugin URL to POST frames to, e.g. http://localhost:5000"),
    fps: Fps = 1.0,
    seek: Seek = 0.0,
    realtime: bool = typer.Option(False, "--realtime", help="Post at the pace of the video's clock, as a live game would (default: as fast as the plugin answers)."),
    keep_going: bool = typer.Option(False, "--keep-going", "-k", help="Report plugin errors and carry on instead of stopping at the first one (exit status is still 1)."),
    timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="Seconds to wait for each answer."),
    retry_for: float = typer.Option(10.0, "--retry-for", min=0.0, help="When the plugin goes away mid-run, retry for this many seconds before giving up."),
    token: Optional[str] = typer.Option(None, "--token", envvar="OTRIG_TOKEN", help="Send header X-Otrig-Token: TOKEN (for `otrig serve --token`)."),
    jsonl: Optional[str] = typer.Option(None, "--jsonl", metavar="OUT", help="Also write every answer as one JSON line to OUT ('-' for stdout)."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Show the progress line on stderr (default: when stderr is a terminal)."),
) -> None:
    """Post frames of a video to an OverTrack plugin, checking every answer.

    Sample k is the video frame nearest to media time SEEK + k/FPS. Each is sent as a raw BGR 1920x1080 image (resized if needed; the original size is in source.original_shape) plus the frame JSON: timestamp, timestamp_str, relative_timestamp_str, relative_timestamp, frame_no, source.

    A non-200 answer, or one that drops or changes a frame field, stops the run with the plugin's message and the frame number (--keep-going reports and carries on). Exit status: 0 when every frame got a good answer, 1 on plugin errors, a lost plugin or an unreadable video, 2 on bad arguments.

    Examples:

      otrig extract -r 0.5 vod.mkv http://localhost:5000

      otrig extract -r 2 -s 90 --realtime vod.mp4 http://127.0.0.1:5000

      otrig extract --keep-going --jsonl answers.jsonl vod.mp4 http://localhost:5000
    """
    try:
        check_url(destination)
    except ValueError as e:
        _err(f"error: DESTINATION {e}")
        raise typer.Exit(2)
    try:
        video = VideoSource(source, fps, seek)
    except SourceError as e:
        _err(f"error: {e}")
        raise typer.Exit(1)

    out: Optional[TextIO] = None
    if jsonl == "-":
        out = sys.stdout
    elif jsonl:
        try:
            out = open(jsonl, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as e:
            _err(f"error: cannot write {jsonl}: {e.strerror}")
            raise typer.Exit(1)

    show = sys.stderr.isatty() if progress is None else progress
    bar = Progress(video.expected, seek, video.info.duration, show)
    client = PluginClient(destination, timeout=timeout, token=token)
    posted = errors = 0
    last_delivered: Optional[int] = None
    status = 0
    t0 = time.monotonic()
    clock0: Optional[float] = None  # realtime: monotonic time of the first frame
    media_end = seek

    def on_retry(e: PluginUnreachable, wait: float) -> None:
        bar.done()
        _err(f"{e}; retrying in {wait:.1f} s")

    frames = samples(video)
    try:
        for image, frame in frames:
            n, rel = frame["frame_no"], frame["relative_timestamp"]
            where = f"frame {n} ({frame['relative_timestamp_str']})"
            if realtime:
                if clock0 is None:
                    clock0 = time.monotonic() - (rel - seek)
                delay = clock0 + (rel - seek) - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            try:
                if last_delivered is None:
                    answer = client.post(image, frame)   # a dead server at the start: say so at once
                else:
                    answer = client.post_with_retry(image, frame, retry_for=retry_for, on_retry=on_retry)
            except PluginHTTPError as e:
                bar.done()
                _err(f"error: {where}: the plugin answered HTTP {e.status}"
                     f"{' ' + e.code if e.code else ''}: {e.message}")
                errors += 1
                if not keep_going:
                    status = 1
                    break
                continue
            except PluginBadAnswer as e:
                bar.done()
                _err(f"error: {where}: {e}")
                errors += 1
                if not keep_going:
                    status = 1
                    break
                continue
            except PluginTimeout as e:
                bar.done()
                _err(f"error: {where}: {e} (raise --timeout if the plugin is just slow)")
                errors += 1
                status = 1
                break
            except PluginUnreachable as e:
                bar.done()
                if last_delivered is None:
                    _err(f"error: cannot post to {destination}: {e}\n"
                         f"  start the plugin first, e.g.: otrig serve games/GAME.yaml --port {client.port}")
                else:
                    _err(f"error: lost the plugin at {destination} while posting {where} "
                         f"(gave up after retrying for {retry_for:g} s): {e}\n"
                         f"  last frame delivered: frame {last_delivered}; resume with -s {rel:g}")
                errors += 1
                status = 1
                break
            posted += 1
            last_delivered = n
            media_end = rel
            bad = changed_fields(frame, answer)
            if bad:
                bar.done()
                _err(f"error: {where}: the answer dropped or changed frame field(s) {', '.join(bad)}; "
                     f"a plugin must return every field of 'frame' unmodified")
                errors += 1
                if not keep_going:
                    status = 1
                    break
            if out is not None:
                out.write(json.dumps(answer) + "\n")
            bar.update(rel, posted)
    except SourceError as e:
        bar.done()
        _err(f"error: {e}")
        errors += 1
        status = 1
    except KeyboardInterrupt:
        bar.done()
        _err("interrupted")
        status = 130
    finally:
        frames.close()  # stop the read-ahead thread (it closes the video)
        client.close()
        if out is not None and out is not sys.stdout:
            out.close()
        elif out is not None:
            out.flush()
    bar.update(media_end, posted, force=True)
    bar.done()
    elapsed = time.monotonic() - t0
    if errors and status == 0:
        status = 1
    typer.echo(
        f"otrig extract: posted {posted} of {video.expected} frames "
        f"({format_relative(seek)}-{format_relative(media_end)} of video) in {elapsed:.1f} s, "
        f"{posted / max(elapsed, 1e-9):.1f} frames/s, {errors} error{'s' if errors != 1 else ''}",
        err=True)
    if status:
        raise typer.Exit(status)
