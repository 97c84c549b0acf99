"""otrig studio: the page in real headless Chromium on a real Apex frame (loads clean, a saved
edit moves the box and changes the read, a broken save shows file:line:col and keeps the last
run, a drag gives the box in reference pixels, a click the pixel's HSV), the server's bad-input
rules over real HTTP, and the frame-to-reference mapping against the engine's own mapper."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import pytest

from engine.debug.studio.geometry import reference_box
from engine.media.sources import read_image
from engine.vision.regions import Geometry, RegionMapper

from helpers import get, run_otrig, stop_process
from test_report import Chromium, need_chromium

ROOT = Path(__file__).resolve().parents[1]
SHOT = "apex/t8cp8hhm.jpg"              # 1920x1080, a golden sample of games/apex.yaml
WIDE = "apex/hud_21_9_pathfinder.png"   # 2560x1080: the right-anchored HUD moves
VIDEO = "melee/smuckers.mp4"             # 640x360, 60 fps, 30 s
CLIP_LINE = "clip:        {box: [1720, 956, 66, 50], anchor: bottom-right}"


# ---- the studio as a real subprocess -----------------------------------------------------------

@dataclass
class StudioProcess:
    proc: subprocess.Popen[bytes]
    url: str
    game: Path
    log_path: Path

    def stop(self) -> None:
        stop_process(self.proc)

    def get_json(self, path: str) -> tuple[int, Any]:
        r = get(self.url, path)
        return r.status, json.loads(r.body)


def start_studio(tmp_path: Path, data: Path, shots: list[str], timeout: float = 60) -> StudioProcess:
    """`otrig studio` on a copy of games/apex.yaml (and its samples file) in tmp_path, so the
    test edits the copy; the URL is read from its first line on stdout."""
    game = tmp_path / "apex.yaml"
    game.write_text((ROOT / "games" / "apex.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "apex.samples.yaml").write_text((ROOT / "games" / "apex.samples.yaml").read_text(encoding="utf-8"),
                                                encoding="utf-8")
    log_path = tmp_path / "studio.log"
    with open(log_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", "studio", str(game), *[str(data / s) for s in shots],
                                 "--assets", str(data), "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=err)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()  # blocks until the URL is printed, or the process ends
    if not line.startswith("otrig studio http://"):
        proc.kill()
        raise RuntimeError(f"otrig studio did not start ({line!r}):\n{log_path.read_text(errors='replace')}")
    return StudioProcess(proc, line.split()[-1].rstrip("/"), game, log_path)


@pytest.fixture
def studio(tmp_path, shared_data):
    started: list[StudioProcess] = []

    def start(*shots: str) -> StudioProcess:
        s = start_studio(tmp_path, shared_data, list(shots) or [SHOT])
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium, driven as the report's tests drive it (test_report.Chromium)."""
    need_chromium()
    b = Chromium(tmp_path / "chromium-profile", size=(1600, 1200))
    yield b
    b.close()


@pytest.fixture
def wide_browser(tmp_path):
    """Chromium wide enough that the frame is drawn at least at 1:1 (each 1920x1080 frame pixel
    gets a screen pixel of its own, so a drag lands on exact pixels)."""
    need_chromium()
    b = Chromium(tmp_path / "chromium-profile", size=(3400, 1500))
    yield b
    b.close()


def wait_for(browser: Chromium, expression: str, timeout: float = 30.0) -> Any:
    """Poll a JS expression until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = browser.eval(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout:g} s: {expression}")
        time.sleep(0.05)


RUN_READY = "window.otrigStudio && window.otrigStudio.run && window.otrigStudio.stress"
CLIP_BOX = """(() => { const r = document.querySelector('#regions rect[data-region="clip"]');
    return r ? ['x','y','width','height'].map(a => Number(r.getAttribute(a))) : null; })()"""
CLIP_VALUE = """(() => { const c = document.querySelector('tr[data-key="ammo.clip"] div.value');
    return c ? c.textContent : null; })()"""


def client_point(browser: Chromium, x: float, y: float) -> tuple[int, int]:
    """The screen pixel nearest to frame point (x, y), in whole CSS pixels as mouse events
    carry them. With the frame drawn at 1:1 or larger, the one nearest a frame pixel's centre
    lies inside that pixel."""
    m = browser.eval("(() => { const m = document.getElementById('frame').getScreenCTM(); "
                     "return [m.a, m.d, m.e, m.f]; })()")
    return round(m[0] * x + m[2]), round(m[1] * y + m[3])


def mouse(browser: Chromium, kind: str, at: tuple[float, float]) -> None:
    browser.call("Input.dispatchMouseEvent", {"type": kind, "x": at[0], "y": at[1], "button": "left",
                                              "buttons": 0 if kind == "mouseReleased" else 1, "clickCount": 1})


# ---- in Chromium -------------------------------------------------------------------------------

def test_page_loads_clean_and_draws_every_region_and_step(studio, browser):
    s = studio(SHOT)
    browser.open(s.url + "/")
    wait_for(browser, RUN_READY)
    run = browser.eval("window.otrigStudio.run")
    n_region_boxes = sum(len(r["boxes"]) for r in run["regions"])
    assert n_region_boxes > 20
    assert browser.eval("document.querySelectorAll('#regions rect.region').length") == n_region_boxes
    assert browser.eval(CLIP_BOX) == [1720, 956, 66, 50]  # 16:9: the file's own pixels
    # every step of every processor that ran has a row, with its crop and prepared image
    steps = [(p["name"], st["step"]) for p in run["processors"] for st in p["steps"]]
    assert browser.eval("document.querySelectorAll('#processors tr[data-key]').length") == len(steps)
    assert browser.eval(CLIP_VALUE) == "12"
    assert browser.eval("document.querySelectorAll('tr[data-key=\"ammo.clip\"] td.img img').length") == 2
    # a step over two boxes (both weapon slots): each box's crop and its own prepared image
    assert browser.eval("document.querySelectorAll('tr[data-key=\"weapons.names\"] td.img img').length") == 4
    titles = browser.eval("[...document.querySelectorAll('tr[data-key=\"weapons.names\"] td.img img')]"
                          ".map((i) => i.title)")
    assert titles == [f"weapons.names box {i} {what}" for i in (0, 1) for what in ("crop", "prepared")]
    # the step's --explain entry, one per box (cells)
    explain = browser.eval("JSON.parse(document.querySelector('tr[data-key=\"weapons.names\"] td.reason pre')"
                           ".textContent)")
    assert explain["kind"] == "ocr" and len(explain["cells"]) == 2 and explain["cells"][0]["text"] == "P2020"
    assert browser.eval("document.querySelector('tr[data-key=\"match.squads_left\"] td.reason').textContent")
    # stress: the frame is a golden sample, so its expected values come from the samples file
    stress = browser.eval("window.otrigStudio.stress")
    assert stress["expected_from"].startswith("sample")
    assert stress["expected"]["ammo.clip"] == 12
    assert len(stress["variants"]) == 9
    assert browser.eval("document.querySelectorAll('#stress-table td.mark-right').length") > 9
    assert browser.eval("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert browser.console_errors() == []
    assert all(u.startswith((s.url, "data:")) for u in browser.requested_urls())


def test_a_saved_edit_moves_the_box_and_changes_the_read(studio, browser):
    s = studio(SHOT)
    browser.open(s.url + "/")
    wait_for(browser, RUN_READY)
    assert browser.eval(CLIP_VALUE) == "12"
    text = s.game.read_text(encoding="utf-8")
    assert CLIP_LINE in text
    s.game.write_text(text.replace(CLIP_LINE, CLIP_LINE.replace("1720, 956", "1520, 906")), encoding="utf-8")
    wait_for(browser, f"JSON.stringify({CLIP_BOX}) === '[1520,906,66,50]'")
    assert browser.eval(CLIP_VALUE) != "12"   # the box is off the digits now
    assert browser.eval("document.querySelector('tr[data-key=\"ammo.clip\"] td.reason').textContent")
    assert browser.console_errors() == []


def test_a_broken_save_shows_located_errors_and_keeps_the_last_run(studio, browser):
    s = studio(SHOT)
    browser.open(s.url + "/")
    wait_for(browser, RUN_READY)
    text = s.game.read_text(encoding="utf-8")
    s.game.write_text(text.replace(CLIP_LINE, "clip:        {box: [1720, 956, 66], anchor: bottom-right}"),
                      encoding="utf-8")
    errors = wait_for(browser, "Array.from(document.querySelectorAll('#error-list code')).map(c => c.textContent)")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith("  clip:"))
    assert any(re.match(rf"apex\.yaml:{line}:\d+: regions\.clip\.box", e) for e in errors), errors
    assert browser.eval("document.getElementById('errors').hidden") is False
    # with the file's lines around it, the broken one marked
    assert "{box: [1720, 956, 66]" in browser.eval("document.querySelector('#error-list pre.context .here').textContent")
    # the last good run stays on the page, marked stale
    assert browser.eval("document.body.classList.contains('stale')") is True
    assert browser.eval(CLIP_VALUE) == "12"
    assert browser.eval(CLIP_BOX) == [1720, 956, 66, 50]
    # fixing the file clears the errors
    s.game.write_text(text, encoding="utf-8")
    wait_for(browser, "document.getElementById('errors').hidden && !document.body.classList.contains('stale')")
    assert browser.console_errors() == []


def test_drag_gives_the_reference_box_and_click_the_pixel_hsv(studio, wide_browser, shared_data):
    s = studio(SHOT, WIDE)
    b = wide_browser
    b.open(s.url + "/")
    wait_for(b, RUN_READY)
    b.eval("document.querySelector('button[data-shot=\"1\"]').click()")  # the 21:9 capture
    wait_for(b, "window.otrigStudio.run.shot === 1")
    x, y, w, h = b.eval(CLIP_BOX)
    assert (x, y) != (1720, 956)  # stuck to the right edge of a wider screen: moved
    assert b.eval("document.getElementById('frame').getBoundingClientRect().width") >= 1920
    mouse(b, "mousePressed", client_point(b, x + 0.5, y + 0.5))
    mouse(b, "mouseMoved", client_point(b, x + w / 2, y + h / 2))
    mouse(b, "mouseReleased", client_point(b, x + w - 0.5, y + h - 0.5))
    text = wait_for(b, "(() => { const t = document.getElementById('boxyaml').textContent; "
                       "return t.startsWith('box:') ? t : null; })()")
    assert b.eval("window.otrigStudio.box") == [x, y, w, h]
    assert b.eval("document.getElementById('anchor').value") == "bottom-right"  # the clip region's
    got = [int(v) for v in re.fullmatch(r"box: \[(\d+), (\d+), (\d+), (\d+)\]", text).groups()]
    # the region's own box, back through the 21:9 mapping (whole pixels both ways: +-1)
    assert all(abs(g - e) <= 1 for g, e in zip(got, [1720, 956, 66, 50])), got
    mapper, geo = RegionMapper((1920, 1080)), Geometry(2560, 1080, None)
    assert all(abs(a - e) <= 1 for a, e in zip(mapper.map(tuple(got), "bottom-right", geo), (x, y, w, h)))
    assert b.eval("document.querySelectorAll('#probe table tr').length") == 7  # header + B G R H S V
    # a click on one pixel: its HSV as OpenCV gives it for the frame the engine reads
    px, py = x + 20, y + 15
    mouse(b, "mousePressed", client_point(b, px + 0.5, py + 0.5))
    mouse(b, "mouseReleased", client_point(b, px + 0.5, py + 0.5))
    hsv = wait_for(b, "document.getElementById('pixel').dataset.hsv")
    image, _ = read_image(shared_data / WIDE)
    expected = cv2.cvtColor(image[py:py + 1, px:px + 1], cv2.COLOR_BGR2HSV)[0, 0]
    assert hsv == ",".join(str(int(v)) for v in expected)
    assert b.eval("document.getElementById('pixel').dataset.bgr") == ",".join(str(int(v)) for v in image[py, px])
    assert b.console_errors() == []


# ---- the server over real HTTP -----------------------------------------------------------------

def test_bad_requests_get_json_errors_and_no_file_is_served_by_path(studio, shared_data):
    s = studio(SHOT)
    status, doc = s.get_json("/api/run?shot=0")
    assert status == 200 and doc["objects"]["ammo"]["clip"] == 12
    for path, want, code in [
        ("/api/box?shot=0&box=1720,956,0,50", 400, "bad_box"),
        ("/api/box?shot=0&box=1900,1000,66,50", 400, "bad_box"),
        ("/api/box?shot=0&box=a,b,c,d", 400, "bad_box"),
        ("/api/box?shot=0", 400, "missing_parameter"),
        ("/api/box?shot=0&box=1720,956,66,50&anchor=middle", 400, "bad_anchor"),
        ("/api/run?shot=7", 400, "bad_parameter"),
        ("/api/run?shot=-1", 400, "bad_parameter"),
        ("/api/run?shot=0&t=nan", 400, "bad_parameter"),
        ("/api/pixel?shot=0&x=1920&y=5", 400, "bad_parameter"),
        ("/api/pixel?shot=0&y=5", 400, "missing_parameter"),
        ("/api/frame?shot=../../etc/passwd", 400, "bad_parameter"),
        ("/../../etc/passwd", 404, None),
        ("/%2e%2e/%2e%2e/etc/passwd", 404, None),
        ("/studio.html", 404, None),           # the page's files only under their routes
        ("/report.js", 404, None),
        ("/templates/studio.js", 404, None),
        (f"/{SHOT}", 404, None),
        ("/apex.yaml", 404, None),
    ]:
        r = get(s.url, path)
        assert r.status == want, (path, r.status, r.body[:200])
        assert r.headers["content-type"].startswith("application/json"), path
        err = r.error
        assert err["message"], path
        if code:
            assert err["code"] == code, (path, err)
        assert b"root:" not in r.body and b"game:" not in r.body
    r = get(s.url, "/api/state", method="POST")
    assert r.status == 405 and r.error["code"] == "method_not_allowed"
    r = get(s.url, "/api/state", headers={"Host": "attacker.example:80"})
    assert r.status == 403 and r.error["code"] == "not_loopback"
    # the good answers: the page, a frame, a pixel equal to the image's
    page = get(s.url, "/")
    assert page.status == 200 and b"/studio.js" in page.body
    frame = get(s.url, "/api/frame?shot=0")
    assert frame.status == 200 and frame.headers["content-type"] == "image/jpeg"
    # never cached: the same URL is another picture once the studio restarts with other shots
    assert frame.headers["cache-control"] == "no-store"
    image, _ = read_image(shared_data / SHOT)
    status, px = s.get_json("/api/pixel?shot=0&x=1750&y=980")
    assert status == 200 and px["bgr"] == [int(v) for v in image[980, 1750]]
    assert s.proc.poll() is None  # none of it brought the studio down


def test_a_video_is_sought_and_a_frame_that_is_no_sample_is_stressed_against_itself(studio):
    s = studio(SHOT, VIDEO)
    status, state = s.get_json("/api/state")
    assert status == 200 and state["shots"][1]["kind"] == "video" and state["shots"][1]["fps"] == 60
    status, run = s.get_json("/api/run?shot=1&t=10.004")
    assert status == 200 and run["t"] == 10.0  # on the frame shown at that time
    status, end = s.get_json("/api/run?shot=1&t=999")
    assert status == 200 and end["t"] == pytest.approx(1799 / 60)  # clamped to the last frame
    a, b = get(s.url, "/api/frame?shot=1&t=0").body, get(s.url, "/api/frame?shot=1&t=20").body
    assert a[:2] == b[:2] == b"\xff\xd8" and a != b
    status, stress = s.get_json("/api/stress?shot=1&t=10")
    assert status == 200 and stress["expected_from"] == "the frame as it is"
    as_is = stress["variants"][0]
    assert as_is["name"] == "as-is" and all(r["mark"] == "right" for r in as_is["reads"].values())


def test_cli_refuses_a_non_loopback_host_and_bad_input(tmp_path, shared_data):
    shot = str(shared_data / SHOT)
    r = run_otrig("studio", "games/apex.yaml", shot, "--host", "0.0.0.0", "--port", "0")
    assert r.returncode == 2 and "refusing to listen on 0.0.0.0" in r.stderr
    r = run_otrig("studio", "games/apex.yaml", str(tmp_path / "missing.png"), "--port", "0")
    assert r.returncode == 1 and "missing.png: no such file" in r.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("game: x\nregions:\n  a: {box: [1, 2, 3]}\n", encoding="utf-8")
    r = run_otrig("studio", str(broken), shot, "--port", "0")
    assert r.returncode == 1 and re.search(r"broken\.yaml:3:\d+: regions\.a\.box", r.stderr), r.stderr
    assert "Traceback" not in r.stderr
    for port in ("-1", "99999"):  # a usage error, not a traceback or port 99999 mod 65536
        r = run_otrig("studio", "games/apex.yaml", shot, "--port", port)
        assert r.returncode == 2 and "--port" in r.stderr and "Traceback" not in r.stderr, r.stderr


# ---- the mapping back ------------------------------------------------------------------------

@pytest.mark.parametrize("geo", [Geometry(1920, 1080, None), Geometry(2560, 1080, None), Geometry(3440, 1440, None),
                                 Geometry(1920, 1200, None), Geometry(1440, 1080, None),
                                 Geometry(1920, 1080, (0, 0, 1440, 810)), Geometry(1920, 1080, (200, 100, 960, 540))])
@pytest.mark.parametrize("anchor", ["top-left", "top", "bottom-right", "center", "left", "bottom"])
def test_reference_box_is_what_the_engine_maps_onto_the_drawn_box(geo, anchor):
    mapper = RegionMapper((1920, 1080))
    for ref in [(1720, 956, 66, 50), (78, 950, 94, 82), (560, 120, 800, 70), (1834, 56, 26, 22)]:
        drawn = mapper.map(ref, anchor, geo)
        back = reference_box(mapper, drawn, anchor, geo)
        # whole pixels both ways: within a pixel of the original in frame pixels, after
        # mapping forward again, and within the scale's rounding in reference pixels
        again = mapper.map(back, anchor, geo)
        assert all(abs(a - d) <= 1 for a, d in zip(again, drawn)), (ref, drawn, back, again)
        sx, sy = mapper.scale(geo)
        tol = (1 + 1 / sx, 1 + 1 / sy, 1 + 2 / sx, 1 + 2 / sy)
        assert all(abs(b - r) <= t for b, r, t in zip(back, ref, tol)), (ref, back)


# ---- stress marks, in process ------------------------------------------------------------------

def test_stress_marks_reads_against_a_sample_and_against_the_plain_frame(shared_data):
    from engine.debug.golden import Sample
    from engine.debug.studio.stress import matching_sample, stress_view
    from engine.runtime.game import load_game

    game = load_game(ROOT / "games" / "apex.yaml", assets=[shared_data])
    image, frame = read_image(shared_data / SHOT)
    sample = matching_sample(ROOT / "games" / "apex.yaml", [shared_data], shared_data / SHOT, None, None)
    assert sample is not None and sample.expect["ammo.clip"] == 12
    view = stress_view(game, image, frame, sample)
    marks = {v["name"]: v["reads"]["ammo.clip"]["mark"] for v in view["variants"]}
    assert marks["as-is"] == "right" and set(marks.values()) <= {"right", "null"}
    # a sample whose expected clip is not what is on screen: every read of 12 is wrong
    wrong = Sample(index=0, label="off", path=SHOT, kind="image", frame_no=None, viewport=None,
                   expect={"ammo.clip": 13, "screen.name": "in_game"})
    view = stress_view(game, image, frame, wrong)
    for v in view["variants"]:
        r = v["reads"]["ammo.clip"]
        assert r["mark"] == ("wrong" if r["value"] == 12 else "null"), (v["name"], r)
        assert v["reads"]["screen.name"]["mark"] == "right"
    assert view["variants"][0]["wrong"] == 1
    # no sample: the frame as it is is the expectation, so it is right everywhere as-is
    view = stress_view(game, image, frame, None)
    assert view["expected_from"] == "the frame as it is" and view["variants"][0]["null"] == 0
    assert all(r["mark"] == "right" for r in view["variants"][0]["reads"].values())
