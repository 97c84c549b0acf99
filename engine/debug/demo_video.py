"""The demo's synthetic game: a scripted 20-second match drawn with OpenCV, plus its truth.

Everything the demo reads is drawn here, with ``cv2.putText`` and plain shapes: a score
panel (``BLUE 3 - 2 RED``), a countdown timer ``m:ss``, a health bar, an ability icon
(circle, triangle or square) and, in the last seconds, a VICTORY or DEFEAT banner over a
dimmed screen. The icon templates the game file matches against are drawn by the same
code, so :func:`write_templates` and the video always agree.

The match is a pure function of time (:func:`state_at`), so the truth of any frame is
known exactly; :func:`write_video` stores it per frame in a JSON file next to the video.
Layout constants are in 1920x1080 pixels, the reference space of ``games/demo.yaml``.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

W, H = 1920, 1080
FPS = 30
SECONDS = 20.0
RESULT_AT = 17.0           # the round ends here; the result banner covers the rest
CLOCK_START = 65           # the timer shows 1:05 at t = 0 and counts down in real time

FONT = cv2.FONT_HERSHEY_DUPLEX       # labels and the banner
DIGITS = cv2.FONT_HERSHEY_SIMPLEX    # numbers: its zero has no slash
WHITE = (255, 255, 255)
PANEL = (70, 34, 30)        # BGR: the dark navy of the HUD panels
BLUE = (235, 140, 40)
RED = (60, 60, 230)
HEALTH = (80, 200, 60)      # green fill of the health bar
HEALTH_BG = (30, 30, 60)    # the empty part of the bar
BANNER_BG = (20, 20, 20)
DIM = 0.45                  # how dark the arena gets behind the result banner
GOLD = (40, 200, 250)

# HUD layout (x, y, w, h). games/demo.yaml's regions are these boxes, slightly padded.
SCORE_PANEL = (660, 20, 600, 90)
BLUE_DIGITS = (830, 32, 90, 66)      # where the blue score's digits are drawn
RED_DIGITS = (1000, 32, 90, 66)
TIMER_PANEL = (880, 118, 160, 54)
HEALTH_BAR = (60, 1000, 420, 30)
ICON_PANEL = (1780, 940, 100, 100)
ICON_SIZE = 64
DIGIT_SCALE, DIGIT_THICK = 2.0, 4
TIMER_SCALE, TIMER_THICK = 1.5, 3
BANNER_BAND = (0, 430, 1920, 220)

ICONS = ("circle", "triangle", "square")

# The script: when each team scores, health hits and heals, which ability is ready.
BLUE_GOALS = (2.2, 6.8, 9.4, 13.1, 15.9)
RED_GOALS = (4.1, 8.3, 11.7)
DAMAGE = ((1.5, 25), (3.7, 30), (7.2, 40), (10.4, 15), (12.8, 55), (15.1, 20))  # (time, hp lost)
REGEN_PER_S = 9.0


@dataclass
class Truth:
    """What one frame shows: the answers a perfect reader would give."""

    frame_no: int
    t: float
    screen: str           # "playing" or "result"
    blue: int
    red: int
    timer: int            # seconds left, as shown in m:ss
    timer_text: str
    health: float         # 0-100, the share of the bar drawn filled
    icon: str
    banner: str | None    # VICTORY / DEFEAT on the result screen


def _health(t: float) -> float:
    hp = 100.0
    last = 0.0
    for at, lost in DAMAGE:
        if at > t:
            break
        hp = min(100.0, hp + (at - last) * REGEN_PER_S)
        hp = max(5.0, hp - lost)
        last = at
    return min(100.0, hp + (t - last) * REGEN_PER_S)


def state_at(frame_no: int, fps: int = FPS) -> Truth:
    """The match at video frame ``frame_no``: exactly what :func:`draw_frame` draws."""
    t = frame_no / fps
    blue = sum(1 for g in BLUE_GOALS if g <= t)
    red = sum(1 for g in RED_GOALS if g <= t)
    left = max(0, CLOCK_START - int(min(t, RESULT_AT)))
    bar_w = HEALTH_BAR[2]
    filled = int(round(bar_w * _health(t) / 100.0))
    screen = "result" if t >= RESULT_AT else "playing"
    return Truth(
        frame_no=frame_no, t=round(t, 4), screen=screen, blue=blue, red=red, timer=left,
        timer_text=f"{left // 60}:{left % 60:02d}", health=round(100.0 * filled / bar_w, 2),
        icon=ICONS[int(t // 3) % len(ICONS)],
        banner=("VICTORY" if blue > red else "DEFEAT") if screen == "result" else None,
    )


# ----------------------------------------------------------------------------- drawing
# Layout is in 1920x1080 pixels; ``k`` scales it to the size being drawn (2/3 for 720p).

def _p(v: float, k: float) -> int:
    return int(round(v * k))


def draw_icon(img: np.ndarray, name: str, x: int, y: int, size: int = ICON_SIZE) -> None:
    """One ability icon, ``size`` pixels square, drawn into ``img`` with its top-left at (x, y)."""
    cv2.rectangle(img, (x, y), (x + size - 1, y + size - 1), (70, 55, 45), -1)
    c = size / 2
    m = size / 8
    if name == "circle":
        cv2.circle(img, (int(round(x + c)), int(round(y + c))), int(round(c - m)), (60, 210, 250), -1, cv2.LINE_AA)
    elif name == "triangle":
        pts = np.array([[x + c, y + m], [x + size - m, y + size - m], [x + m, y + size - m]]).round().astype(np.int32)
        cv2.fillPoly(img, [pts], (80, 220, 120), cv2.LINE_AA)
    elif name == "square":
        a, b = int(round(m * 1.25)), int(round(size - m * 1.25)) - 1
        cv2.rectangle(img, (x + a, y + a), (x + b, y + b), (230, 120, 200), -1)
    else:
        raise ValueError(f"unknown icon {name!r}")


def _box(img: np.ndarray, box: tuple[float, float, float, float], color: tuple[int, int, int], k: float) -> None:
    x, y, w, h = box
    cv2.rectangle(img, (_p(x, k), _p(y, k)), (_p(x + w, k) - 1, _p(y + h, k) - 1), color, -1)


def _text(img: np.ndarray, text: str, box: tuple[float, float, float, float], scale: float,
          color: tuple[int, int, int], thickness: int, k: float, align: str = "center", font: int = FONT) -> None:
    th_ = max(1, _p(thickness, k))
    (tw, th), _ = cv2.getTextSize(text, font, scale * k, th_)
    x, y, w, h = (v * k for v in box)
    left = x + (w - tw) / 2 if align == "center" else x
    cv2.putText(img, text, (int(round(left)), int(round(y + (h + th) / 2))), font, scale * k, color, th_, cv2.LINE_AA)


def background(width: int = W, height: int = H) -> np.ndarray:
    """The arena: a vertical gradient with a floor grid (drawn once per size)."""
    k = height / H
    ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    top, bottom = np.array([90, 60, 40], np.float32), np.array([40, 90, 70], np.float32)
    row = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)   # (height, 3)
    img = np.ascontiguousarray(np.repeat(row[:, None, :], width, axis=1))
    for x in range(-W, 2 * W, 160):
        cv2.line(img, (_p(W / 2, k), _p(380, k)), (_p(x, k), height), (70, 110, 90), 2, cv2.LINE_AA)
    for y in (460, 560, 700, 900):
        cv2.line(img, (0, _p(y, k)), (width, _p(y, k)), (70, 110, 90), 2, cv2.LINE_AA)
    return img


def _dim(color: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(int(c * DIM) for c in color)  # type: ignore[return-value]


def draw_frame(truth: Truth, bg: np.ndarray, dimmed: np.ndarray | None = None,
               out: np.ndarray | None = None) -> np.ndarray:
    """One BGR frame showing ``truth``, the size of ``bg`` (any 16:9 size).

    ``dimmed`` is the background behind the result banner (computed if not given); ``out``
    a buffer to draw into instead of a new array."""
    k = bg.shape[0] / H
    playing = truth.screen == "playing"
    base = bg if playing else (dimmed if dimmed is not None else (bg * DIM).astype(np.uint8))
    if out is None:
        img = base.copy()
    else:
        np.copyto(out, base)
        img = out
    t = truth.t
    # Something that moves, as in a game: two "players" crossing the arena.
    blue, red = (BLUE, RED) if playing else (_dim(BLUE), _dim(RED))
    cv2.circle(img, (_p(300 + (t * 97) % 1300, k), _p(720 + 40 * np.sin(t * 2), k)), _p(36, k), blue, -1, cv2.LINE_AA)
    cv2.circle(img, (_p(1700 - (t * 71) % 1300, k), _p(620, k)), _p(30, k), red, -1, cv2.LINE_AA)

    if playing:
        x, y, w, h = SCORE_PANEL
        _box(img, SCORE_PANEL, PANEL, k)
        _text(img, "BLUE", (x + 30, y, 0, h), 1.4, BLUE, 3, k, align="left")
        _text(img, "RED", (x + w - 120, y, 0, h), 1.4, RED, 3, k, align="left")
        _text(img, str(truth.blue), BLUE_DIGITS, DIGIT_SCALE, WHITE, DIGIT_THICK, k, font=DIGITS)
        gap = BLUE_DIGITS[0] + BLUE_DIGITS[2]
        _text(img, "-", (gap, BLUE_DIGITS[1], RED_DIGITS[0] - gap, BLUE_DIGITS[3]), 2.0, WHITE, 4, k)
        _text(img, str(truth.red), RED_DIGITS, DIGIT_SCALE, WHITE, DIGIT_THICK, k, font=DIGITS)

        _box(img, TIMER_PANEL, PANEL, k)
        _text(img, truth.timer_text, TIMER_PANEL, TIMER_SCALE, WHITE, TIMER_THICK, k, font=DIGITS)

        x, y, w, h = HEALTH_BAR
        _box(img, (x - 4, y - 4, w + 8, h + 8), PANEL, k)
        _box(img, HEALTH_BAR, HEALTH_BG, k)
        if truth.health > 0:
            _box(img, (x, y, w * truth.health / 100.0, h), HEALTH, k)
        _text(img, "HP", (x, y - 44, 0, 30), 1.0, WHITE, 2, k, align="left")

        x, y, w, h = ICON_PANEL
        _box(img, ICON_PANEL, PANEL, k)
        off = (w - ICON_SIZE) / 2
        draw_icon(img, truth.icon, _p(x + off, k), _p(y + off, k), _p(ICON_SIZE, k))
    else:
        _box(img, BANNER_BAND, BANNER_BG, k)
        color = GOLD if truth.banner == "VICTORY" else RED
        _text(img, truth.banner or "", BANNER_BAND, 4.0, color, 9, k)
        _text(img, f"BLUE {truth.blue} - {truth.red} RED", (0, 600, 1920, 40), 1.2, WHITE, 2, k)
    return img


def frames(seconds: float = SECONDS, fps: int = FPS, size: tuple[int, int] = (W, H)
           ) -> Iterator[tuple[Truth, np.ndarray]]:
    """``(truth, image)`` per video frame. The image is one reused buffer: copy it to keep it."""
    bg = background(*size)
    dimmed = (bg * DIM).astype(np.uint8)   # the arena dims behind the result
    buf = np.empty_like(bg)
    for n in range(int(round(seconds * fps))):
        truth = state_at(n, fps)
        yield truth, draw_frame(truth, bg, dimmed, out=buf)


# ----------------------------------------------------------------------------- files

def write_templates(folder: str | Path) -> list[Path]:
    """The icon templates, one PNG per icon, drawn by :func:`draw_icon` (label = file name)."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for name in ICONS:
        img = np.zeros((ICON_SIZE, ICON_SIZE, 3), np.uint8)
        draw_icon(img, name, 0, 0)
        p = d / f"{name}.png"
        cv2.imwrite(str(p), img)
        out.append(p)
    return out


class _Writer:
    """H.264 through an ffmpeg pipe; OpenCV's mp4v writer when ffmpeg is missing."""

    def __init__(self, path: Path, fps: int, size: tuple[int, int]):
        self.proc: subprocess.Popen | None = None
        self.cv: cv2.VideoWriter | None = None
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg:
            self.codec = "h264"
            self.proc = subprocess.Popen(
                [ffmpeg, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{size[0]}x{size[1]}",
                 "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "animation",
                 "-crf", "18", "-g", str(fps * 2), "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(path)],
                stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        else:
            self.codec = "mp4v"
            self.cv = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
            if not self.cv.isOpened():
                raise RuntimeError(f"cannot write {path}: no ffmpeg and OpenCV has no mp4v encoder")

    def write(self, img: np.ndarray) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write(np.ascontiguousarray(img).data.cast("B"))
            except BrokenPipeError:
                self.close()  # raises with ffmpeg's message
                raise
        else:
            assert self.cv is not None
            self.cv.write(img)

    def close(self) -> None:
        if self.proc is not None:
            proc, self.proc = self.proc, None
            assert proc.stdin is not None
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if proc.wait() != 0:
                raise RuntimeError(f"ffmpeg failed to encode the demo video: {err.strip()[-500:]}")
        elif self.cv is not None:
            self.cv.release()
            self.cv = None


SHOTS = {"playing.png": 10.5, "result.png": 18.5}   # screenshot name -> media time


def write_screenshots(folder: str | Path, fps: int = FPS) -> list[Path]:
    """Full-size 1920x1080 PNG screenshots of a playing and a result frame, as a player would take."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    bg = background(W, H)
    out = []
    for name, t in SHOTS.items():
        p = d / name
        cv2.imwrite(str(p), draw_frame(state_at(int(round(t * fps)), fps), bg))
        out.append(p)
    return out


def write_video(video: str | Path, truth_path: str | Path, *, seconds: float = SECONDS, fps: int = FPS,
                size: tuple[int, int] = (1280, 720)) -> dict[str, object]:
    """Draw the match into ``video`` (H.264 .mp4, ``size`` pixels) and its truth into ``truth_path``.

    The capture is 1280x720 by default, as a stream would be; the plugin gets it resized to
    1920x1080, where the game file's boxes are written."""
    video, truth_path = Path(video), Path(truth_path)
    video.parent.mkdir(parents=True, exist_ok=True)
    writer = _Writer(video, fps, size)
    truths = []
    try:
        for truth, img in frames(seconds, fps, size):
            writer.write(img)
            truths.append(asdict(truth))
    finally:
        writer.close()
    meta = {"video": str(video), "codec": writer.codec, "width": size[0], "height": size[1], "fps": fps,
            "seconds": seconds, "frames": truths}
    truth_path.write_text(json.dumps(meta, separators=(",", ":")) + "\n", encoding="utf-8")
    return meta
