"""engine.debug.recorder: what a recorded frame keeps, the crop/budget bounds, and that recording never
blocks the caller."""
from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import need_shared_data

from engine.debug.recorder import Recorder, jsonable
from engine.runtime.results import FrameOutput, ProcessorTrace, StepTrace
from engine.steps.base import StepResult


def noise(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)


def synthetic_output(i: int, img: np.ndarray) -> FrameOutput:
    """A frame's run as the engine reports it: a screen group, an OCR and a template field."""
    in_game = (i // 5) % 2 == 0
    out = FrameOutput(objects={"screen": {"name": "in_game" if in_game else None}})
    out.processors.append(ProcessorTrace(name="screen", status="ran", ms=0.4, hit=in_game))
    out.steps.append(StepTrace(processor="screen", step="in_game[0]", kind="fraction", status="hit" if in_game else "miss",
                               ms=0.2, result=StepResult(
                                   value=0.3 if in_game else 0.01, hit=in_game, score=0.3 if in_game else 0.01,
                                   threshold=0.05, boxes=[(1700, 950, 100, 60)], crop=img[950:1010, 1700:1800],
                                   prepared=img[950:1010, 1700:1800, 0] > 100)))
    if in_game:
        clip = 30 - i % 5
        out.objects["weapon"] = {"clip": clip, "name": "R-99"}
        out.processors.append(ProcessorTrace(name="weapon", status="ran", ms=3.0 + i % 3, hit=True))
        out.steps.append(StepTrace(processor="weapon", step="clip", kind="ocr", status="hit", ms=2.5, result=StepResult(
            value=clip, hit=True, score=0.9, boxes=[(1733, 965, 46, 29)], details={"text": str(clip), "conf": 90.0},
            crop=img[965:994, 1733:1779], prepared=img[965:994, 1733:1779, 1])))
        out.steps.append(StepTrace(processor="weapon", step="name", kind="template", status="hit" if i % 3 else "miss",
                                   ms=1.0, result=StepResult(
                                       value="R-99", hit=bool(i % 3), score=np.float32(0.81), threshold=0.8,
                                       boxes=[(1576, 1039, 46, 12)], crop=img[1039:1051, 1576:1622],
                                       details={"best": "R-99", "runner_up": "P2020", "runner_up_score": 0.6,
                                                "margin": 0.21})))
    else:
        out.processors.append(ProcessorTrace(name="weapon", status="skip", reason='gate: screen == "in_game"'))
    return out


def frame_of(i: int) -> dict:
    return {"timestamp": 1000.0 + i / 2, "relative_timestamp": i / 2, "frame_no": i * 30,
            "source": {"name": "vod.mkv", "fps": 60}}


def record_run(rec: Recorder, n: int, img: np.ndarray | None = None) -> None:
    img = noise() if img is None else img
    for i in range(n):
        out = synthetic_output(i, img)
        frame = frame_of(i)
        rec.record(img, frame, json.dumps({**frame, **out.answer_objects()}).encode(), out)


def lines(d: Path) -> list[dict]:
    return [json.loads(x) for x in (d / "frames.jsonl").read_text().splitlines()]


def du(d: Path) -> int:
    return sum(f.stat().st_size for f in d.rglob("*") if f.is_file())


def test_records_frame_in_out_traces_thumbs_and_crops(tmp_path):
    with Recorder(tmp_path, crops_max_frames=3, crops_every=2, block=True) as rec:
        record_run(rec, 12)
    recs = lines(tmp_path)
    assert [r["seq"] for r in recs] == list(range(12))
    r0 = recs[0]
    assert r0["frame"]["frame_no"] == 0 and r0["answer"]["weapon"]["clip"] == 30
    assert r0["processors"][1] == {"name": "weapon", "status": "ran", "hit": True, "ms": 3.0}
    name = next(s for s in r0["steps"] if s["step"] == "name")
    assert name["score"] == pytest.approx(0.81, abs=1e-6) and name["threshold"] == 0.8
    assert name["details"]["runner_up"] == "P2020" and name["status"] == "miss"
    skip = next(p for p in recs[5]["processors"] if p["name"] == "weapon")
    assert skip["status"] == "skip" and "gate" in skip["reason"]
    # A thumbnail for every frame, downscaled.
    for r in recs:
        thumb = cv2.imread(str(tmp_path / r["thumb"]))
        assert thumb.shape == (270, 480, 3)
    # Crops: every 2nd frame, at most 3 frames -> seq 0, 2, 4.
    with_crops = [r["seq"] for r in recs if any("crop" in s for s in r["steps"])]
    assert with_crops == [0, 2, 4]
    clip = next(s for s in recs[0]["steps"] if s["step"] == "clip")
    crop = cv2.imread(str(tmp_path / clip["crop"]), cv2.IMREAD_UNCHANGED)
    prep = cv2.imread(str(tmp_path / clip["prep"]), cv2.IMREAD_UNCHANGED)
    assert crop.shape == (29, 46, 3) and prep.shape == (29, 46)
    assert clip["crop"] == "img/000000_weapon_clip_crop.png"
    # A boolean mask is written as a 0/255 image.
    scr = next(s for s in recs[0]["steps"] if s["processor"] == "screen")
    assert set(np.unique(cv2.imread(str(tmp_path / scr["prep"]), cv2.IMREAD_UNCHANGED))) <= {0, 255}
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["recorder"]["stats"]["written"] == 12 and meta["recorder"]["closed"] is True
    assert meta["recorder"]["crops_every"] == 2 and meta["recorder"]["crops_max_frames"] == 3


def test_crops_every_kth_frame_without_frame_limit(tmp_path):
    with Recorder(tmp_path, crops_max_frames=None, crops_every=4, block=True) as rec:
        record_run(rec, 13)
    assert [r["seq"] for r in lines(tmp_path) if any("crop" in s for s in r["steps"])] == [0, 4, 8, 12]


def test_crops_off(tmp_path):
    with Recorder(tmp_path, crops_max_frames=0, block=True) as rec:
        record_run(rec, 4)
    assert not list((tmp_path / "img").glob("*.png"))
    assert len(list((tmp_path / "img").glob("*_thumb.jpg"))) == 4


def test_crop_is_copied_before_the_caller_reuses_its_buffer(tmp_path):
    img = np.zeros((1080, 1920, 3), np.uint8)
    rec = Recorder(tmp_path, queue_size=8)
    out = synthetic_output(0, img)
    rec.record(img, frame_of(0), None, out)
    img[:] = 255  # the server reuses the request buffer right away
    rec.close()
    clip = next(s for s in lines(tmp_path)[0]["steps"] if s["step"] == "clip")
    assert cv2.imread(str(tmp_path / clip["crop"])).max() == 0
    assert cv2.imread(str(tmp_path / lines(tmp_path)[0]["thumb"])).max() < 10


def test_500_frames_stay_under_a_small_budget(tmp_path):
    budget_mb = 1.0
    rec = Recorder(tmp_path, crops_max_frames=None, crops_every=1, budget_mb=budget_mb, block=True)
    record_run(rec, 500)  # noise compresses badly: ~150 KB thumbnails
    stats = rec.close()
    assert du(tmp_path) <= budget_mb * 1024 * 1024
    assert stats.images_skipped_budget > 0
    assert stats.written + stats.dropped_budget == 500
    recs = lines(tmp_path)
    assert recs and "thumb" in recs[0] and "thumb" not in recs[-1]  # images stop, lines go on
    assert stats.written > 100


def test_json_lines_also_stop_at_the_budget(tmp_path):
    rec = Recorder(tmp_path, crops_max_frames=0, budget_mb=0.15, thumb_width=0, block=True)
    big = {"blob": "x" * 250}
    img = noise()
    for i in range(2000):
        out = FrameOutput(objects={"p": {"v": i, **big}}, processors=[ProcessorTrace(name="p", status="ran", hit=True)])
        rec.record(img, frame_of(i), None, out)
    stats = rec.close()
    assert du(tmp_path) <= 0.15 * 1024 * 1024
    assert stats.dropped_budget > 0 and stats.written > 50


def test_full_queue_drops_and_counts_instead_of_blocking(tmp_path, monkeypatch):
    rec = Recorder(tmp_path, queue_size=2)
    slow = rec._write

    def slow_write(item):
        time.sleep(0.05)
        slow(item)

    monkeypatch.setattr(rec, "_write", slow_write)
    img = noise()
    t = time.perf_counter()
    results = [rec.record(img, frame_of(i), None, synthetic_output(i, img)) for i in range(40)]
    elapsed = time.perf_counter() - t
    stats = rec.close()
    assert elapsed < 1.0, "record() must not wait for the disk"
    assert results.count(False) == stats.dropped_queue > 0
    assert stats.written == results.count(True) == len(lines(tmp_path))
    assert json.loads((tmp_path / "meta.json").read_text())["recorder"]["stats"]["dropped_queue"] == stats.dropped_queue


def test_record_after_close_is_a_no_op_and_close_twice_is_fine(tmp_path):
    rec = Recorder(tmp_path)
    rec.close()
    assert rec.record(noise(), frame_of(0), None, synthetic_output(0, noise())) is False
    rec.close()


def test_new_recording_replaces_an_old_one(tmp_path):
    with Recorder(tmp_path, block=True) as rec:
        record_run(rec, 3)
    with Recorder(tmp_path, block=True) as rec:
        record_run(rec, 1)
    assert len(lines(tmp_path)) == 1 and len(list((tmp_path / "img").glob("*_thumb.jpg"))) == 1


def test_jsonable_keeps_lines_small_and_valid():
    v = jsonable({"a": np.int64(3), "b": np.float32(0.5), "c": float("nan"), "d": np.zeros((100, 100)),
                  "e": "y" * 5000, "f": list(range(1000)), "g": b"\x00" * 10, "h": (1, 2), "i": np.arange(3)})
    s = json.dumps(v, allow_nan=False)
    assert v["a"] == 3 and v["b"] == 0.5 and v["c"] is None and v["i"] == [0, 1, 2]
    assert v["d"].startswith("<array 100x100") and len(v["e"]) < 400 and len(v["f"]) == 65
    assert len(s) < 2000


def test_the_callers_thread_never_writes_to_disk(tmp_path, monkeypatch):
    """The server's request thread only copies crops and queues them: every encode and write
    happens on the recorder's own thread, so a slow disk never slows the answer."""
    import threading

    img = noise()
    rec = Recorder(tmp_path, crops_max_frames=None, queue_size=1000)
    writers: set[int] = set()
    write = rec._write

    def spy(item):
        writers.add(threading.get_ident())
        write(item)

    monkeypatch.setattr(rec, "_write", spy)
    for i in range(20):
        assert rec.record(img, frame_of(i), None, synthetic_output(i, img)) is True
    stats = rec.close()
    assert stats.written == 20 == len(lines(tmp_path))
    assert writers and threading.get_ident() not in writers


def test_records_the_answer_bytes_it_is_given(tmp_path):
    """The recorder keeps the answer it is handed (the bytes run_frame built and the server
    sent), parsed, never one of its own making; a frame without an answer keeps its trace."""
    img = noise()
    frame = frame_of(3)
    sent = b'{"timestamp": 1001.5, "frame_no": 90, "client": "text as sent", "screen":{"name":"in_game"}}'
    rec = Recorder(tmp_path, block=True)
    rec.record(img, frame, sent, synthetic_output(3, img))
    rec.record(img, frame_of(4), None, synthetic_output(4, img))
    rec.close()
    first, second = lines(tmp_path)
    assert first["answer"] == json.loads(sent)
    assert second["answer"] is None and second["objects"]["weapon"]["clip"] == 26


def test_otrig_serve_record_writes_a_recording(tmp_path):
    """`otrig serve GAME --record DIR`: every posted frame is recorded, flushed on shutdown."""
    import signal
    import socket
    import subprocess
    import sys
    import urllib.request

    from engine.plugin.protocol import encode_request

    data = need_shared_data()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    rec_dir = tmp_path / "rec"
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", str(root / "tests/games/report_apex.yaml"),
                             "--port", str(port), "--record", str(rec_dir), "--assets", str(data)],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"server did not start: {proc.stdout.read().decode()[-2000:] if proc.poll() is not None else ''}")
                time.sleep(0.2)
        img = cv2.imread(str(data / "apex" / "t8cp8hhm.jpg"))
        for i in range(3):
            enc = encode_request(img, frame_of(i))
            body = b"".join(bytes(c) for c in enc.chunks)
            r = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, headers={"Content-Type": enc.content_type})
            answer = json.loads(urllib.request.urlopen(r, timeout=60).read())
            assert answer["frame_no"] == i * 30
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    recs = lines(rec_dir)
    assert [r["frame"]["frame_no"] for r in recs] == [0, 30, 60]
    assert recs[0]["answer"]["frame_no"] == 0 and recs[0]["steps"]
    assert any(s.get("crop") for s in recs[0]["steps"]), "the server did not ask the engine for crops"
    assert json.loads((rec_dir / "meta.json").read_text())["recorder"]["closed"] is True
