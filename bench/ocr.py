"""Section 4: OCR. engine.vision.ocr.OcrEngine (tesserocr, API object reused) against pytesseract
(a tesseract process per call) on the same prepared crops of the real Apex frame, same run.

The crops are the OCR boxes of tests/games/apex_frame.yaml plus the second weapon slot of
games/apex.yaml, prepared the way those files do (grey, scale 3, invert).
"""
from __future__ import annotations

import statistics
import time

import cv2
import numpy as np

from bench.common import DATA, Report, ms, verdict

TARGET = 20.0
# name: (x, y, w, h) in 1920x1080 frame pixels (the apex frame is 1920x1080: no mapping)
BOXES = {
    "player_name": (175, 966, 116, 23),
    "weapon_name": (1560, 1034, 80, 22),
    "clip": (1725, 960, 62, 38),
    "reserve": (1725, 1000, 62, 25),
    "weapon_slot2": (1710, 1034, 120, 22),
}


def crops(frame: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for name, (x, y, w, h) in BOXES.items():
        c = cv2.cvtColor(frame[y:y + h, x:x + w], cv2.COLOR_BGR2GRAY)
        c = cv2.resize(c, (w * 3, h * 3), interpolation=cv2.INTER_CUBIC)
        out[name] = np.ascontiguousarray(255 - c)
    return out


def timed(fn, reps: int) -> tuple[float, str]:
    ts, text = [], ""
    for _ in range(reps):
        t0 = time.perf_counter()
        text = fn()
        ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts), text


def run(rep: Report, quick: bool) -> None:
    sec = "4 OCR"
    path = DATA / "apex" / "t8cp8hhm.jpg"
    if not path.exists():
        rep.na(sec, "OcrEngine vs pytesseract", f"{path} not present")
        return
    from engine.vision.ocr import OcrConfig, OcrEngine, backend_name
    import pytesseract

    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame.shape[:2] != (1080, 1920):
        frame = cv2.resize(frame, (1920, 1080))
    cs = crops(frame)
    eng = OcrEngine(OcrConfig(psm=7))
    cfg = f"--psm 7 --oem 1 --tessdata-dir {eng.tessdata}"
    reps_fast, reps_slow = (5, 1) if quick else (30, 4)
    fast, slow, same = [], [], 0
    details = []
    for name, c in cs.items():
        eng.read(c)  # the API object is created on first use, once per thread: not a per-call cost
        f_ms, f_text = timed(lambda: eng.read(c)[0], reps_fast)
        s_ms, s_text = timed(lambda: pytesseract.image_to_string(c, config=cfg).strip(), reps_slow)
        fast.append(f_ms)
        slow.append(s_ms)
        same += f_text == s_text
        details.append((f"  {name} crop {c.shape[1]}x{c.shape[0]}", ms(f_ms), f"pytesseract {s_ms:.0f} ms",
                        f"{s_ms / f_ms:.1f}x faster",
                        f"read {f_text!r}" + ("" if f_text == s_text else f" (pytesseract {s_text!r})")))
    f_all, s_all = statistics.median(fast), statistics.median(slow)
    rep.add(sec, f"pytesseract.image_to_string, median per call over {len(cs)} crops", ms(s_all),
            note="a tesseract process per call")
    rep.add(sec, f"engine.vision.ocr.OcrEngine.read ({backend_name()}), median per call", ms(f_all),
            "pytesseract", f"{s_all / f_all:.1f}x faster", f">= {TARGET:g}x", verdict(s_all / f_all >= TARGET),
            note=f"same text on {same}/{len(cs)} crops")
    for item, value, base, r, note in details:
        rep.add(sec, item, value, base, r, note=note)
