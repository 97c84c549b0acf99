"""`otrig demo`: draw a synthetic game video, serve games/demo.yaml, stream the video to it
over HTTP, score the answers against what was drawn, and write the debug report.

It is also the end-to-end smoke test: it exits 1 when any field is read right on fewer
than 90% of the frames, or when a stage (serve, extract, report) fails.
"""
from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import typer

from engine.lang.shipped import games_dir

GAME = games_dir() / "demo.yaml"
MIN_ACCURACY = 0.9


def _say(msg: str = "") -> None:
    typer.echo(msg)


def _warn(msg: str) -> None:
    typer.echo(f"otrig demo: {msg}", err=True)


def otrig_cmd(*args: str) -> list[str]:
    """Run an otrig command with this interpreter (works without the venv on PATH)."""
    return [sys.executable, "-m", "cli.main", *args]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----------------------------------------------------------------------------- scoring

@dataclass
class FieldCheck:
    """One answer field compared with the truth: on which frames, and what counts as right."""

    name: str                       # shown in the table, e.g. score.blue
    path: tuple[str, str]           # (processor, field) in the answer
    truth: str                      # key in the truth record
    screen: str | None              # only frames of this screen (None: all frames)
    same: Callable[[Any, Any], bool] = lambda read, want: read == want
    tolerance: str = ""


def _near(tol: float) -> Callable[[Any, Any], bool]:
    return lambda read, want: isinstance(read, (int, float)) and not isinstance(read, bool) and abs(read - want) <= tol


CHECKS = [
    FieldCheck("screen", ("screen", "name"), "screen", None),
    FieldCheck("score.blue", ("score", "blue"), "blue", "playing"),
    FieldCheck("score.red", ("score", "red"), "red", "playing"),
    FieldCheck("clock.left", ("clock", "left"), "timer", "playing",
               _near(0.0)),
    FieldCheck("player.health", ("player", "health"), "health", "playing", _near(2.0), "±2"),
    FieldCheck("ability.icon", ("ability", "icon"), "icon", "playing"),
    FieldCheck("result.banner", ("result", "banner"), "banner", "result"),
]


def score_answers(answers: list[dict[str, Any]], truth: dict[str, Any]) -> list[dict[str, Any]]:
    """Per field: frames it should be on, frames read right, accuracy, a few misses."""
    by_frame = {f["frame_no"]: f for f in truth["frames"]}
    rows = []
    for c in CHECKS:
        n = ok = 0
        misses: list[str] = []
        for a in answers:
            want_rec = by_frame.get(a.get("frame_no"))
            if want_rec is None or (c.screen is not None and want_rec["screen"] != c.screen):
                continue
            want = want_rec[c.truth]
            obj = a.get(c.path[0])
            read = obj.get(c.path[1]) if isinstance(obj, dict) else None
            n += 1
            if read is not None and c.same(read, want):
                ok += 1
            elif len(misses) < 3:
                why = ""
                if isinstance(obj, dict) and isinstance(obj.get("null_reasons"), dict):
                    why = obj["null_reasons"].get(c.path[1], "")
                misses.append(f"{a.get('relative_timestamp_str', a.get('frame_no'))}: read {json.dumps(read)}, "
                              f"drew {json.dumps(want)}" + (f" ({why})" if why else ""))
        rows.append({"field": c.name, "frames": n, "correct": ok, "accuracy": ok / n if n else None,
                     "tolerance": c.tolerance, "misses": misses})
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    head = ("field", "frames", "right", "accuracy", "")
    body = []
    for r in rows:
        acc = "-" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f}%"
        flag = "" if r["accuracy"] is not None and r["accuracy"] >= MIN_ACCURACY else "  <-- below 90%"
        body.append((r["field"] + (f" ({r['tolerance']})" if r["tolerance"] else ""), str(r["frames"]),
                     str(r["correct"]), acc, flag))
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(4)]
    lines = ["  " + "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths)))]
    lines.append("  " + "  ".join("-" * w for w in widths))
    for row in body:
        lines.append("  " + "  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                                      for i, (v, w) in enumerate(zip(row, widths))) + row[4])
    return "\n".join(lines)


# ----------------------------------------------------------------------------- server

class Server:
    """`otrig serve` as a child process, logged to a file."""

    def __init__(self, port: int, assets: Path, record: Path | None, log: Path):
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        args = ["serve", str(GAME), "--host", "127.0.0.1", "--port", str(port), "--assets", str(assets),
                "--fault-dir", str(log.parent / "faults")]
        if record is not None:
            args += ["--record", str(record)]
        self.args = args
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(otrig_cmd(*args), stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def log_tail(self, n: int = 15) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def wait_healthy(self, timeout: float = 60.0) -> dict[str, Any]:
        """Poll GET /health until it answers 200; raise RuntimeError if the server died."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"`otrig {' '.join(self.args)}` exited with status {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "health", timeout=2) as r:
                    body = r.read()
                    if r.status == 200:
                        try:
                            return json.loads(body)
                        except ValueError:
                            return {"raw": body.decode(errors="replace")[:200]}
            except (urllib.error.URLError, OSError, ValueError) as e:
                last = str(e)
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer GET /health within {timeout:g} s ({last})")

    def stop(self, timeout: float = 20.0) -> int | None:
        """Ctrl-C first (lets --record flush), then terminate, then kill."""
        try:
            if self.proc.poll() is None:
                for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                    try:
                        self.proc.send_signal(sig)
                    except ProcessLookupError:
                        break
                    try:
                        self.proc.wait(wait)
                        break
                    except subprocess.TimeoutExpired:
                        continue
            return self.proc.returncode
        finally:
            self._log.close()


# ----------------------------------------------------------------------------- stages

def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    out = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line))
    return out


def _recording_present(rec: Path) -> bool:
    return rec.is_dir() and any(rec.iterdir())


def _stream(video: Path, url: str, fps: float, answers: Path, log: Path) -> tuple[int, str, float]:
    """`otrig extract -r FPS VIDEO URL --jsonl ANSWERS`; returns (status, its summary line, seconds)."""
    t0 = time.monotonic()
    p = subprocess.run(otrig_cmd("extract", "-r", f"{fps:g}", str(video), url, "--jsonl", str(answers),
                                 "--no-progress"),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - t0
    text = p.stdout.decode(errors="replace")
    log.write_text(text, encoding="utf-8")
    summary = next((ln for ln in reversed(text.splitlines()) if ln.startswith("otrig extract: posted")), "")
    if p.returncode != 0:
        _warn(f"`otrig extract` failed (status {p.returncode}):\n{text.strip()[-2000:]}")
    return p.returncode, summary, elapsed


def _in_process(video: Path, assets: Path, fps: float, answers: Path, rec: Path | None) -> tuple[int, str, float]:
    """The same run without HTTP (--in-process): for debugging the game file only."""
    from cli.options import RecordLimits, load_game_or_exit, make_recorder
    from engine.media.sources import VideoSource
    from engine.runtime.loop import run_frame

    game = load_game_or_exit(GAME, assets=[assets])
    recorder = None
    if rec is not None:
        recorder = make_recorder(rec, game, RecordLimits(), block=True,
                                 meta={"sources": [str(video)], "fps": fps})
    t0 = time.monotonic()
    n = 0
    try:
        with open(answers, "wb") as f:
            for image, frame in VideoSource(video, fps):
                f.write(run_frame(game, image, frame, recorder=recorder).body + b"\n")
                n += 1
    finally:
        if recorder is not None:
            recorder.close()
    elapsed = time.monotonic() - t0
    return 0, f"in-process: {n} frames in {elapsed:.1f} s", elapsed


def _render_report(rec: Path, out: Path, log: Path) -> Path | None:
    p = subprocess.run(otrig_cmd("report", str(rec), "-o", str(out)), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    log.write_text(p.stdout.decode(errors="replace"), encoding="utf-8")
    if p.returncode != 0 or not out.exists():
        _warn(f"`otrig report` failed (status {p.returncode}); see {log}")
        return None
    return out


def prepare(out: Path) -> dict[str, Any]:
    """Draw the video, its truth, the icon templates and two screenshots into OUT."""
    from engine.debug import demo_video

    out.mkdir(parents=True, exist_ok=True)
    assets = out / "assets"
    demo_video.write_templates(assets / "demo_icons")
    demo_video.write_screenshots(out / "screenshots")
    meta = demo_video.write_video(out / "demo.mp4", out / "truth.json")
    return meta


def demo(
    out: Path = typer.Option(Path("out/demo"), "--out", help="Folder for the video, truth, answers and report."),
    fps: float = typer.Option(2.0, "--fps", "-r", min=0.1, max=30.0, help="Frames per second of video to stream to the server."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port for the server (default: a free one)."),
    keep_server: bool = typer.Option(False, "--keep-server", help="Leave the server running at the end (its URL is printed)."),
    report: bool = typer.Option(True, "--report/--no-report", help="Record the server's frames and render the HTML report."),
    in_process: bool = typer.Option(False, "--in-process", help="Skip HTTP: run the game in this process (debugging the game file only)."),
) -> None:
    """Run the built-in demo end to end, and check what it read.

    Draws a 20 s synthetic game (score, m:ss timer, health bar, ability icon, VICTORY/DEFEAT
    banner) into OUT/demo.mp4 with the truth of every frame in OUT/truth.json, starts
    `otrig serve games/demo.yaml`, streams the video to it with `otrig extract`, compares
    every answer with what was drawn, and writes OUT/report.html. Exits 1 when any field is
    read right on fewer than 90% of its frames.

    Examples:

      otrig demo

      otrig demo --out /tmp/demo --keep-server
    """
    out = out.resolve()
    t_start = time.monotonic()
    _say(f"otrig demo: writing to {out}")
    t0 = time.monotonic()
    try:
        meta = prepare(out)
    except (RuntimeError, OSError) as e:
        _warn(f"error: cannot draw the demo video: {e}")
        raise typer.Exit(1)
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    _say(f"  1. drew {len(meta['frames'])} frames ({meta['seconds']:g} s, {meta['width']}x{meta['height']} "
         f"at {meta['fps']} fps, {meta['codec']}) in {time.monotonic() - t0:.1f} s: {out / 'demo.mp4'}")
    _say(f"     truth per frame: {out / 'truth.json'}; screenshots: {out / 'screenshots'}")

    answers = out / "answers.jsonl"
    rec = out / "recording"
    for stale in (answers, out / "report.html", out / "accuracy.json"):  # never show a previous run's
        stale.unlink(missing_ok=True)
    if rec.exists():
        import shutil
        shutil.rmtree(rec)
    server: Server | None = None
    status = 0
    try:
        if in_process:
            _say("  2. --in-process: no server, no HTTP")
            code, summary, elapsed = _in_process(out / "demo.mp4", out / "assets", fps, answers, rec if report else None)
        else:
            p = port or free_port()
            t0 = time.monotonic()
            server = Server(p, out / "assets", rec if report else None, out / "serve.log")
            try:
                health = server.wait_healthy()
            except RuntimeError as e:
                _warn(f"error: {e}\n--- {out / 'serve.log'} ---\n{server.log_tail()}")
                raise typer.Exit(1) from None
            game_info = health.get("game") if isinstance(health, dict) else None
            _say(f"  2. `otrig serve games/demo.yaml` is up at {server.url} in {time.monotonic() - t0:.1f} s"
                 + (f" (game {json.dumps(game_info)})" if game_info else ""))
            code, summary, elapsed = _stream(out / "demo.mp4", server.url, fps, answers, out / "extract.log")
        got = _read_jsonl(answers)
        rate = len(got) / max(elapsed, 1e-9)
        m = re.search(r"([\d.]+) frames/s", summary)
        if m:  # extract's own count: decode, POST, engine, answer; not its start-up
            rate = float(m.group(1))
        _say(f"  3. streamed {len(got)} frames ({fps:g} per second of video) over HTTP: {rate:.1f} frames/s "
             f"(decode + POST + engine + answer); {len(got) / max(elapsed, 1e-9):.1f} frames/s with start-up")
        if summary:
            _say(f"     {summary}")
        if code != 0:
            status = 1
        if server is not None and not keep_server:
            server.stop()
        report_path = None
        if report and not in_process and keep_server:
            time.sleep(1.0)  # the recorder writes in the background
        if report and _recording_present(rec):
            report_path = _render_report(rec, out / "report.html", out / "report.log")
        elif report:
            _warn(f"error: nothing was recorded in {rec}, so there is no report")
        if report and report_path is None:
            status = 1
        rows = score_answers(got, truth)
        _say("  4. what was read, against what was drawn:")
        _say(format_table(rows))
        for r in rows:
            for m in r["misses"]:
                _say(f"     {r['field']} miss at {m}")
        (out / "accuracy.json").write_text(json.dumps({"fps": rate, "frames": len(got), "fields": rows}, indent=2),
                                           encoding="utf-8")
        bad = [r["field"] for r in rows if r["accuracy"] is None or r["accuracy"] < MIN_ACCURACY]
        if not got:
            bad = bad or ["(no answers)"]
        _say(f"  5. report: {report_path}" if report_path else "  5. report: not written")
        _say(f"     answers: {answers}")
        if keep_server and server is not None:
            _say(f"     the server is still running at {server.url} (pid {server.proc.pid}); "
                 f"stop it with: kill -INT {server.proc.pid}")
        if bad:
            _warn(f"FAILED: below {MIN_ACCURACY:.0%} on {', '.join(bad)}")
            status = 1
        elif status == 0:
            _say(f"otrig demo: OK, every field read right on >= {MIN_ACCURACY:.0%} of its frames "
                 f"({time.monotonic() - t_start:.1f} s in all)")
    except KeyboardInterrupt:
        _warn("interrupted")
        status = 130
    finally:
        if server is not None and not keep_server and server.proc.poll() is None:
            server.stop()
    if status:
        raise typer.Exit(status)
