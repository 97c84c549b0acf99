"""Frame sources on real video files made here with ffmpeg (H.264, B-frames, 1 s GOP)."""
from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.lang.errors import SourceError
from engine.media.sources import VideoSource, ahead, probe_video, read_image, sample_indices

from helpers import SHARED_DATA
from helpers import need_shared_data as need_data  # test_extract imports it from here

SMUCKERS = SHARED_DATA / "melee" / "smuckers.mp4"

BITS = 8  # frame index drawn as 8 big black/white blocks: survives H.264 at any preset


def draw_index(n: int, w: int, h: int) -> np.ndarray:
    img = np.full((h, w, 3), 64, np.uint8)
    bw = w // BITS
    for b in range(BITS):
        if n >> b & 1:
            img[: h // 3, b * bw:(b + 1) * bw] = 255
        else:
            img[: h // 3, b * bw:(b + 1) * bw] = 0
    # something that moves, so the encoder makes real P/B frames
    x = (n * 7) % max(w - 40, 1)
    img[h // 2:h // 2 + 40, x:x + 40] = (0, 0, 255)
    return img


def read_index(img: np.ndarray) -> int:
    h, w = img.shape[:2]
    bw = w // BITS
    n = 0
    for b in range(BITS):
        block = img[h // 12: h // 4, b * bw + bw // 4:(b + 1) * bw - bw // 4]
        if block.mean() > 128:
            n |= 1 << b
    return n


def make_video(path: Path, *, frames: int = 120, fps: int = 30, size: tuple[int, int] = (1920, 1080),
               gop: int = 30, faststart: bool = False) -> Path:
    w, h = size
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}",
           "-r", str(fps), "-i", "pipe:0", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2",
           "-g", str(gop), "-pix_fmt", "yuv420p", "-crf", "28"]
    if faststart:
        cmd += ["-movflags", "+faststart"]
    p = subprocess.Popen(cmd + [str(path)], stdin=subprocess.PIPE)
    for n in range(frames):
        p.stdin.write(draw_index(n, w, h).tobytes())
    p.stdin.close()
    assert p.wait() == 0
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("v") / "idx.mp4", size=(640, 360))


def test_sample_indices_are_nearest_frames():
    assert sample_indices(60, 1800, 0.5) == list(range(0, 1800, 120))
    # 7 fps of 30 fps video: k*30/7 rounded to nearest
    assert sample_indices(30, 31, 7)[:5] == [0, 4, 9, 13, 17]
    # a time exactly between two frames takes the earlier one: 25 fps, 2 fps -> 12.5 -> 12
    assert sample_indices(25, 100, 2)[:3] == [0, 12, 25]
    # asking for more than the video has never repeats a frame
    assert sample_indices(30, 10, 60) == list(range(10))
    # no drift over a long run (the old tool stepped int(30/7)+1 = 5 frames)
    idx = sample_indices(30, 30 * 3600, 7)
    assert idx[-1] == round((len(idx) - 1) * 30 / 7)


def test_video_frames_are_exact_and_resized(video):
    src = VideoSource(video, 2, 0.5, wall_start=1_000_000.0)
    got = list(src)
    assert [f["frame_no"] for _, f in got] == [15, 30, 45, 60, 75, 90, 105]
    for image, frame in got:
        assert image.shape == (1080, 1920, 3) and image.dtype == np.uint8 and image.flags.c_contiguous
        assert read_index(image) == frame["frame_no"]
        assert frame["relative_timestamp"] == frame["frame_no"] / 30
        assert frame["timestamp"] == 1_000_000.0 + frame["relative_timestamp"]
        assert frame["source"] == {"type": "video", "file": str(video), "video_fps": 30.0, "video_frames": 120,
                                   "extract_fps": 2.0, "seek": 0.5, "original_shape": [360, 640, 3]}
        assert list(frame) == ["timestamp", "timestamp_str", "relative_timestamp_str", "relative_timestamp",
                               "frame_no", "source"]


@pytest.mark.parametrize("fps, seek", [(0.5, 0), (1, 0.7), (7, 0), (30, 3.5), (0.3, 0.2)])
def test_seeking_reader_matches_plain_decoding(video, fps, seek):
    fast = [(f["frame_no"], read_index(i)) for i, f in VideoSource(video, fps, seek)]
    plain = [(f["frame_no"], read_index(i)) for i, f in VideoSource(video, fps, seek, allow_seek=False)]
    assert fast == plain
    assert [n for n, _ in fast] == sample_indices(30, 120, fps, seek)
    assert all(n == seen for n, seen in fast)


def test_smuckers_half_fps():
    need_data()
    frames = [f for _, f in VideoSource(SMUCKERS, 0.5, 0)]
    assert [f["frame_no"] for f in frames] == list(range(0, 1800, 120))
    assert [f["relative_timestamp"] for f in frames] == [float(t) for t in range(0, 30, 2)]
    assert frames[0]["source"]["original_shape"] == [360, 640, 3]
    assert frames[-1]["relative_timestamp_str"] == "00:00:28.00"


def test_image_any_size(tmp_path):
    p = tmp_path / "small.png"
    cv2.imwrite(str(p), draw_index(77, 800, 450))
    image, frame = read_image(p, wall_start=0.0)
    assert image.shape == (1080, 1920, 3)
    assert read_index(image) == 77
    assert frame["source"] == {"type": "image", "file": str(p), "original_shape": [450, 800, 3]}
    assert frame["frame_no"] == 0 and frame["relative_timestamp"] == 0.0


def test_unreadable_sources(tmp_path, video):
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n" * 100)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    half = tmp_path / "half.mp4"
    half.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    for bad, words in [(tmp_path / "missing.mp4", "no such file"), (empty, "empty"),
                       (text, "video"), (half, "truncated")]:
        with pytest.raises(SourceError, match=words):
            list(VideoSource(bad, 1, 0))
    with pytest.raises(SourceError, match="past the end"):
        VideoSource(video, 1, 4.0)
    bad_png = tmp_path / "bad.png"
    bad_png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 50)
    with pytest.raises(SourceError, match="not an image"):
        read_image(bad_png)


def test_truncated_after_header(tmp_path):
    full = make_video(tmp_path / "fs.mp4", frames=90, size=(320, 180), faststart=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.6)])
    assert probe_video(cut).frames == 90  # the header still promises every frame
    with pytest.raises(SourceError, match="truncated|corrupt"):
        list(VideoSource(cut, 10, 0))


def test_variable_frame_rate_uses_pts(tmp_path):
    # 30 fps for the first second, then 15 fps: samples must follow the PTS, not the index
    vfr = tmp_path / "vfr.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=160x90:rate=30:duration=2,setpts='if(lt(N,30),N/30,1+(N-30)/15)/TB'",
                    "-c:v", "libx264", "-preset", "ultrafast", "-fps_mode", "vfr", str(vfr)], check=True)
    frames = [f for _, f in VideoSource(vfr, 2, 0)]
    assert [f["frame_no"] for f in frames] == [0, 15, 30, 37, 45, 52]
    assert [round(f["relative_timestamp"], 4) for f in frames] == [0.0, 0.5, 1.0, 1.4667, 2.0, 2.4667]


def test_ahead_keeps_order_and_raises_where_the_source_did():
    def items():
        yield from range(5)
        raise SourceError("broken after 5")

    got = []
    with pytest.raises(SourceError, match="broken after 5"):
        for x in ahead(items(), 2):
            got.append(x)
    assert got == [0, 1, 2, 3, 4]
    assert list(ahead(iter(range(100)), 3)) == list(range(100))


def test_ahead_close_stops_and_closes_the_source_in_its_thread():
    made, closed_in = [], []

    def endless():
        try:
            n = 0
            while True:
                made.append(n)
                yield n
                n += 1
        finally:
            closed_in.append(threading.current_thread().name)

    it = ahead(endless(), 2)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()
    assert closed_in == ["otrig-read-ahead"]                 # PyAV objects stay in one thread
    assert len(made) <= 3 + 2 + 1                             # read at most depth + 1 ahead
    assert not any(t.name == "otrig-read-ahead" for t in threading.enumerate())


def test_video_read_ahead_gives_the_same_fresh_images(video):
    plain = list(VideoSource(video, 7, 0.2, wall_start=0.0))
    early = list(VideoSource(video, 7, 0.2, wall_start=0.0).ahead(2))
    assert [f for _, f in early] == [f for _, f in plain]
    for (a, _), (b, _) in zip(early, plain):
        assert np.array_equal(a, b)
    # every sample is its own memory: held all together, each still shows its own frame
    images = [i for i, _ in early]
    assert [read_index(i) for i in images] == [f["frame_no"] for _, f in early]
    for i, a in enumerate(images):
        assert a.flags.c_contiguous
        for b in images[i + 1:]:
            assert not np.shares_memory(a, b)
