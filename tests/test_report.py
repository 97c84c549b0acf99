"""otrig report / otrig cut: aggregation, rendering, a recorded run of the shared real frames,
and the page checked in real headless Chromium (no console errors, frames, processors, filter,
screenshot)."""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from engine.debug.recorder import Recorder
from engine.debug.report import build_context, load_recording, render_report

from helpers import SHARED_DATA as DATA, need_shared_data as need_data
from test_recorder import record_run

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"




def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium missing (scripts/system-deps.sh installs it)")
        pytest.skip("chromium not installed")


def game_file(name: str) -> Path:
    """games/<name>.yaml once the games engineer has written it, else the test's own file."""
    real = ROOT / "games" / f"{name}.yaml"
    return real if real.is_file() else ROOT / "tests" / "games" / f"report_{name}.yaml"


# ---- a tiny DevTools client over --remote-debugging-pipe (no websocket, no port) ----------

class Chromium:
    """Headless Chromium driven through the DevTools protocol on fds 3/4 (NUL-framed JSON)."""

    def __init__(self, profile: Path, size: tuple[int, int] = (1400, 1000)):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def fds() -> None:  # child: the protocol wants exactly fd 3 (in) and fd 4 (out)
            import fcntl
            a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}", "--remote-debugging-pipe",
             "about:blank"],
            preexec_fn=fds, pass_fds=(3, 4), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._id = 0
        self._replies: dict[int, dict] = {}
        self.events: list[dict] = []
        self._cv = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.session: str | None = None

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_chrome, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cv:
                    self._cv.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._cv:
                    if "id" in msg:
                        self._replies[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                    self._cv.notify_all()

    def call(self, method: str, params: dict | None = None, *, session: bool = True, timeout: float = 30) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._id not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise TimeoutError(f"no answer to {method}")
                self._cv.wait(left)
            reply = self._replies.pop(self._id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def open(self, url: str, timeout: float = 60) -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        with self._cv:
            while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} did not load")
                self._cv.wait(1)

    def eval(self, expression: str):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def console_errors(self) -> list[str]:
        errs = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                errs.append(json.dumps(p.get("exceptionDetails", {}))[:300])
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errs.append(json.dumps(p.get("args"))[:300])
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                errs.append(p["entry"].get("text", "")[:300])
        return errs

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def browser(tmp_path):
    need_chromium()
    b = Chromium(tmp_path / "chromium-profile")
    yield b
    b.close()


# ---- synthetic recordings -----------------------------------------------------------------

@pytest.fixture
def synthetic(tmp_path) -> Path:
    d = tmp_path / "rec"
    with Recorder(d, crops_max_frames=6, crops_every=2, meta={"game": "synthetic"}, block=True) as rec:
        record_run(rec, 30)
    return d


def test_summary_counts_runs_hits_timings_and_skips(synthetic):
    ctx = build_context(load_recording(synthetic))
    by = {p.name: p for p in ctx["summary"]}
    assert ctx["processors"] == ["screen", "weapon"] and ctx["n_frames"] == 30
    # Frames 0-4, 10-14, 20-24 are in game.
    assert by["screen"].runs == 30 and by["screen"].hits == 15
    assert by["weapon"].runs == 15 and by["weapon"].hits == 15
    assert dict(by["weapon"].skips) == {'gate: screen == "in_game"': 15}
    assert by["weapon"].mean_ms == pytest.approx(4.0) and by["weapon"].p95_ms == pytest.approx(5.0)
    name = next(s for s in by["weapon"].steps if s.step == "name")
    assert name.runs == 15 and name.misses == 5 and name.threshold == 0.8
    assert ctx["screens"] == ["screen"]
    assert "weapon.clip" in ctx["plot_fields"]
    # "changed": the clip counts down every in-game frame; a skipped processor is not a change.
    cards = {c["seq"]: c for c in ctx["cards"]}
    assert "weapon" in cards[1]["changed"] and "weapon" in cards[10]["changed"]
    assert "weapon" not in cards[5]["changed"] and "weapon" not in cards[6]["changed"]


def test_rendered_page_is_self_contained(synthetic, tmp_path):
    out = render_report(synthetic, tmp_path / "moved" / "r.html")
    shutil.rmtree(synthetic)  # the single file must not need the recording any more
    html = out.read_text()
    assert html.count('<article class="frame"') == 30
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html and "<script src" not in html
    assert html.count("data:image/jpeg;base64,") == 30
    assert html.count("data:image/png;base64,") >= 6 * 4
    assert "P2020" in html and "0.800" in html  # runner-up and threshold shown


def test_max_frames_keeps_frames_with_crops_and_spreads_the_rest(synthetic, tmp_path):
    ctx = build_context(load_recording(synthetic), max_frames=10)
    seqs = [c["seq"] for c in ctx["cards"]]
    assert len(seqs) == 10 and {0, 2, 4} <= set(seqs) and 29 in seqs


def test_report_cli_on_a_recording_folder(synthetic, tmp_path):
    r = CliRunner().invoke(app, ["report", str(synthetic), "-o", str(tmp_path / "x.html"), "--no-embed",
                                 "--field", "weapon.clip"])
    assert r.exit_code == 0, r.output
    html = (tmp_path / "x.html").read_text()
    assert 'src="rec/img/000000_thumb.jpg"' in html and ">weapon.clip<" in html


def test_report_cli_errors_are_actionable(tmp_path):
    r = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert r.exit_code == 2 and "not a recording" in r.output
    r = CliRunner().invoke(app, ["report", str(game_file("apex"))])
    assert r.exit_code == 2 and "SOURCE" in r.output


# ---- the real frames ----------------------------------------------------------------------

def real_sources() -> list[str]:
    apex = sorted(str(p) for p in (DATA / "apex").glob("*") if p.suffix in (".png", ".jpg"))
    return apex


@pytest.fixture(scope="module")
def real_report(tmp_path_factory):
    """`otrig report GAME SOURCE...` on the shared Apex and Valorant frames, recorded and kept."""
    need_data()
    base = tmp_path_factory.mktemp("real")
    runs = {}
    for name, sources in (("apex", real_sources()),
                          ("valorant", sorted(str(p) for p in (DATA / "valorant").glob("*.png")))):
        out, rec = base / f"{name}.html", base / f"{name}-rec"
        r = CliRunner().invoke(app, ["report", str(game_file(name)), *sources, "--assets", str(DATA),
                                     "--record", str(rec), "-o", str(out)])
        assert r.exit_code == 0, r.output
        runs[name] = (out, rec, len(sources))
    return runs


def test_real_frames_are_recorded_and_reported(real_report):
    for name, (out, rec, n) in real_report.items():
        recording = load_recording(rec)
        assert len(recording.frames) == n
        assert recording.meta["game"] and recording.meta["processors"]
        for fr in recording.frames:
            assert (rec / fr["thumb"]).is_file()
            assert fr["answer"]["source"]["file"].endswith((".png", ".jpg"))
        html = out.read_text()
        assert html.count('<article class="frame"') == n
    apex = load_recording(real_report["apex"][1])
    steps = [s for fr in apex.frames for s in fr.get("steps", [])]
    assert steps, "the engine reported no step traces"
    assert any(s.get("crop") for s in steps)
    shot = next(fr for fr in apex.frames if fr["frame"]["source"]["file"].endswith("t8cp8hhm.jpg"))
    assert any(s["status"] == "hit" for s in shot["steps"])


def test_report_in_headless_chromium(real_report, browser, tmp_path):
    out, rec, n = real_report["apex"]
    n_procs = len(load_recording(rec).meta["processors"])
    browser.open(out.resolve().as_uri())
    assert browser.eval("document.querySelectorAll('article.frame').length") == n
    assert browser.eval("document.getElementById('n-frames').textContent") == str(n)
    assert browser.eval("document.getElementById('n-processors').textContent") == str(n_procs)
    assert browser.eval("document.querySelectorAll('#f-proc option').length") == n_procs + 1
    assert browser.eval("document.querySelectorAll('table.summary tr.proc').length") == n_procs
    assert browser.eval("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    # Thumbnails carry box overlays coloured by status.
    assert browser.eval("document.querySelectorAll('svg.boxes rect.box').length") > 0
    # Filter: frames where a processor hit, by changing the selects like a user. The processor
    # is one that both hit and missed/skipped on these frames (the screen group in the test game).
    frames = load_recording(rec).frames

    def status(fr, name):
        p = next((p for p in fr.get("processors", []) if p["name"] == name), None)
        return "none" if p is None else "skip" if p["status"] == "skip" else "hit" if p.get("hit") else "miss"

    names = [p["name"] for p in load_recording(rec).meta["processors"]]
    proc = next(nm for nm in names if 0 < sum(status(fr, nm) == "hit" for fr in frames) < n)
    expected = sum(status(fr, proc) == "hit" for fr in frames)
    hits = browser.eval("""(() => {
        const p = document.getElementById('f-proc'), c = document.getElementById('f-cond');
        p.value = %s; p.dispatchEvent(new Event('change'));
        c.value = 'hit'; c.dispatchEvent(new Event('change'));
        return [document.querySelectorAll('article.frame:not([hidden])').length,
                Number(document.getElementById('shown').textContent)];
    })()""" % json.dumps(proc))
    assert hits == [expected, expected]
    for cond in ("miss", "skip"):
        assert browser.eval(f"otrigFilter({json.dumps(proc)}, '{cond}')") == sum(status(fr, proc) == cond for fr in frames)
    assert browser.eval("otrigFilter('*', 'all')") == n
    # The JSON link opens the frame's JSON.
    assert browser.eval("""(() => { const a = document.querySelector('a.jsonlink'); a.click();
        return document.getElementById(a.getAttribute('href').slice(1)).open; })()""") is True
    browser.screenshot(tmp_path / "report.png")
    png = cv2.imread(str(tmp_path / "report.png"))
    assert png is not None and png.shape[1] == 1400
    assert browser.console_errors() == []
    assert all(u.startswith(("file:", "data:")) for u in browser.requested_urls())


def test_synthetic_report_in_headless_chromium(synthetic, browser, tmp_path):
    out = render_report(synthetic, tmp_path / "s.html")
    browser.open(out.resolve().as_uri())
    assert browser.eval("document.querySelectorAll('article.frame').length") == 30
    assert browser.eval("otrigFilter('weapon', 'changed')") == 15
    assert browser.eval("otrigFilter('weapon', 'skip')") == 15
    assert browser.eval("otrigFilter('*', 'all', 'in_game')") == 15
    # Clicking the timeline jumps to a frame.
    browser.eval("otrigFilter('*', 'all')")
    assert browser.eval("""(() => { const r = document.querySelector('#timeline-svg rect[data-seq="10"]');
        r.dispatchEvent(new MouseEvent('click', {bubbles: true})); return location.hash; })()""") == "#f-10"
    browser.screenshot(tmp_path / "synthetic.png")
    assert (tmp_path / "synthetic.png").stat().st_size > 10_000
    assert browser.console_errors() == []


# ---- otrig cut ----------------------------------------------------------------------------

def test_cut_writes_the_region_box(tmp_path):
    need_data()
    src = DATA / "apex" / "t8cp8hhm.jpg"
    game = ROOT / "tests" / "games" / "report_apex.yaml"  # its regions are known here
    from engine.runtime.game import load_game
    g = load_game(game, assets=[DATA])
    if not hasattr(g, "region_boxes"):
        pytest.skip("engine without region_boxes yet")
    region = "clip"
    (box,) = g.region_boxes(region, {"source": {"original_shape": [1080, 1920, 3]}})
    out = tmp_path / "clip.png"
    r = CliRunner().invoke(app, ["cut", str(src), "--game", str(game), "--region", region, "-o", str(out)])
    assert r.exit_code == 0, r.output
    x, y, w, h = box
    cut_img = cv2.imread(str(out))
    assert cut_img.shape == (h, w, 3)
    assert np.array_equal(cut_img, cv2.imread(str(src))[y:y + h, x:x + w])
    # A 4:3 screenshot is stretched to 1920x1080 first; the box follows the anchor mapping.
    small = cv2.resize(cv2.imread(str(src)), (1440, 1080))
    cv2.imwrite(str(tmp_path / "43.png"), small)
    r = CliRunner().invoke(app, ["cut", str(tmp_path / "43.png"), "--game", str(game), "--region", region,
                                 "-o", str(tmp_path / "c43.png")])
    assert r.exit_code == 0, r.output
    (box43,) = g.region_boxes(region, {"source": {"original_shape": [1080, 1440, 3]}})
    # the stretched crop is saved in reference pixels (x divided by 1920/1440), so it
    # matches the 16:9 cut's size and templates cut from any capture match any other
    sx, sy = g.template_scale({"source": {"original_shape": [1080, 1440, 3]}})
    assert cv2.imread(str(tmp_path / "c43.png")).shape[:2] == (round(box43[3] / sy), round(box43[2] / sx))
    assert abs(round(box43[2] / sx) - w) <= 1
    r = CliRunner().invoke(app, ["cut", str(src), "--game", str(game), "--region", "nope", "-o", str(out)])
    assert r.exit_code == 2 and "nope" in r.output and "clip" in r.output  # names the regions there are


def test_video_run_has_media_time_and_plots(tmp_path):
    need_data()
    video = DATA / "melee" / "smuckers.mp4"
    out, rec = tmp_path / "melee.html", tmp_path / "rec"
    r = CliRunner().invoke(app, ["report", str(ROOT / "tests" / "games" / "report_melee.yaml"), str(video),
                                 "-r", "0.5", "--record", str(rec), "-o", str(out), "--crops-every", "3"])
    assert r.exit_code == 0, r.output
    recording = load_recording(rec)
    assert [fr["frame"]["relative_timestamp"] for fr in recording.frames] == [2.0 * k for k in range(15)]
    ctx = build_context(recording)
    assert ctx["span"] == "0:28.00" and ctx["timeline"]["ticks"]
    lanes = [lane["label"] for lane in ctx["timeline"]["lanes"]]
    assert lanes == ["screen state", "screen", "damage", "clock"]
    assert ctx["timeline"]["plots"], "no numeric field was read from the video"
    assert [fr["seq"] for fr in recording.frames if any(s.get("crop") for s in fr["steps"])] == [0, 3, 6, 9, 12]
    html = out.read_text()
    assert html.count('<article class="frame"') == 15
    assert "<polyline" in html or "<circle" in html


def test_report_has_a_row_per_cell_and_draws_template_matches(real_report, browser):
    """A region of several boxes gets a row per box (crop, prepared image, text, confidence,
    reason), its summary counts boxes, and a template's best match is drawn on the frame."""
    out, rec, n = real_report["apex"]
    recording = load_recording(rec)
    shot = next(fr for fr in recording.frames if fr["frame"]["source"]["file"].endswith("t8cp8hhm.jpg"))
    names = next(s for s in shot["steps"] if s["processor"] == "weapons" and s["step"] == "names")
    cells = names["cells"]  # MANIFEST: weapons=[P2020, empty]
    assert [c["status"] for c in cells] == ["hit", "miss"] and cells[0]["value"] == "P2020"
    assert cells[1]["reason"] and "value" not in cells[1]
    assert [c["box"] for c in cells] == names["boxes"]
    for c in cells:
        crop = cv2.imread(str(rec / c["crop"]))
        assert crop is not None and crop.shape[:2] == (c["box"][3], c["box"][2])
        assert cv2.imread(str(rec / c["prep"]), cv2.IMREAD_UNCHANGED) is not None
    # the summary's hit rate counts cells: every recorded read of the two weapon slots
    ran = [s for fr in recording.frames for s in fr["steps"]
           if s["processor"] == "weapons" and s["step"] == "names" and s["status"] != "skip"]
    summary = {p.name: p for p in build_context(recording)["summary"]}["weapons"]
    row = next(s for s in summary.steps if s.step == "names")
    assert row.cells and row.runs == sum(len(s["cells"]) for s in ran)
    assert row.hits == sum(c["status"] == "hit" for s in ran for c in s["cells"]) < row.runs

    browser.open(out.resolve().as_uri())
    card = f"#f-{shot['seq']}"
    got = browser.eval("""(() => {
        const rows = Array.from(document.querySelectorAll('%s tr.cell[data-step="weapons.names"]'));
        return rows.map(r => ({status: r.querySelector('.chip').textContent,
                               text: (r.querySelector('code.text') || {}).textContent || null,
                               reason: (r.querySelector('.reason') || {}).textContent || null,
                               images: Array.from(r.querySelectorAll('img.crop')).map(i => i.naturalWidth > 0)}));
    })()""" % card)
    assert [g["status"] for g in got] == ["hit", "miss"]
    assert got[0]["text"] == "P2020" and got[1]["reason"] == cells[1]["reason"]
    assert all(g["images"] == [True, True] for g in got)
    # the portrait's match is drawn where the manifest says the portrait is (84,956,82,72)
    match = browser.eval("""Array.from(document.querySelectorAll('%s svg.boxes rect.match'))
        .map(r => [r.getAttribute('x'), r.getAttribute('y')].map(Number))""" % card)
    assert any(abs(x - 84) <= 3 and abs(y - 956) <= 3 for x, y in match), match
    assert browser.console_errors() == []
