"""`otrig run` on Dask: the same bytes as a sequential run, per VOD, whatever the cluster does.

A real `dask scheduler` and two `dask worker` processes on 127.0.0.1 (free ports, stopped at
teardown) run the demo game over generated videos (one long enough to be cut into
segments), a screenshot and an unreadable file. The state analysis behind the segments
(engine.batch.memory) is checked in-process on the same video: the derived warm-up window
rebuilds the state at every cut, a shorter one does not, and a game whose gate reads an
old value is run whole because cutting it changes its output.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.batch.memory import Memory, game_memory
from engine.batch.plan import GameRef, Job, SourceRef, Unit, plan_video
from engine.batch.unit import compiled_game, run_unit

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OTRIG = [str(BIN / "otrig")] if (BIN / "otrig").exists() else [sys.executable, "-m", "cli.main"]
START = "1700000000"      # --start-time: the same timestamps in every run
RATE = "4"                # -r: samples per second
SEGMENT = "3"             # --segment: the 20 s video is cut into 7 segments at its 2 s keyframes

LATCH = """\
game: latch
version: 1
regions:
  score_panel: {box: [700, 24, 120, 80], anchor: top}
  health_bar:  {box: [60, 1000, 420, 30], anchor: bottom-left}
  banner_band: {box: [40, 450, 320, 140]}
processors:
  screen:
    screens:
      result:
        all:
          - fraction: {region: banner_band, space: bgr, ranges: [[[10, 10, 10], [34, 34, 34]]], min: 0.9}
      playing:
        all:
          - fraction: {region: score_panel, space: bgr, ranges: [[[60, 24, 20], [80, 44, 40]]], min: 0.6}
    default: none
  player:
    when: screen == "playing"
    fields:
      health:
        bar: {region: health_bar, space: hsv, ranges: [[[45, 120, 120], [75, 255, 255]]], percent: true}
  # player is gated off on the result screen, so its last health is as old as the round:
  # `after` keeps running there in a whole run, and not in a segment that starts there
  after:
    when: player.health != null
    fields:
      seen:
        fraction: {region: banner_band, space: bgr, ranges: [[[10, 10, 10], [34, 34, 34]]], min: 0.9}
"""


def otrig(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(OTRIG + list(args), cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    from engine.debug.demo_video import write_screenshots, write_templates, write_video

    d = tmp_path_factory.mktemp("dask")
    write_templates(d / "assets" / "demo_icons")
    write_video(d / "long.mp4", d / "long.json", seconds=20, size=(640, 360))
    write_video(d / "short.mp4", d / "short.json", seconds=4, size=(480, 270))
    write_video(d / "mid.mp4", d / "mid.json", seconds=6, size=(640, 360))
    shot = write_screenshots(d / "shots")[0]
    bad = d / "bad.mp4"
    bad.write_text("not a video\n")
    latch = d / "latch.yaml"
    latch.write_text(LATCH)
    return {"dir": d, "assets": d / "assets", "long": d / "long.mp4", "short": d / "short.mp4", "mid": d / "mid.mp4",
            "shot": shot, "bad": bad, "latch": latch}


def good_sources(media: dict[str, Path]) -> list[str]:
    return [str(media[k]) for k in ("long", "short", "shot", "mid")]


def common(media: dict[str, Path]) -> list[str]:
    return ["-r", RATE, "--start-time", START, "--assets", str(media["assets"])]


@pytest.fixture(scope="module")
def sequential(media) -> tuple[bytes, dict[str, bytes]]:
    """The sequential run's JSON Lines (no distribution flag): all of it, and per source."""
    out = media["dir"] / "sequential.jsonl"
    r = otrig("run", "games/demo.yaml", *good_sources(media), *common(media), "--jsonl", str(out))
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    per: dict[str, list[bytes]] = {}
    for line in data.splitlines(keepends=True):
        per.setdefault(json.loads(line)["source"]["file"], []).append(line)
    assert set(per) == set(good_sources(media))
    return data, {Path(k).stem: b"".join(v) for k, v in per.items()}


# ----------------------------------------------------------------------------- a real cluster

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen
    workers: dict[str, subprocess.Popen]   # worker name -> process

    def client(self):
        from distributed import Client
        return Client(self.address, timeout=30)


def start_cluster(log_dir: Path, n_workers: int = 2) -> Cluster:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log_dir.mkdir(parents=True, exist_ok=True)
    dask = [str(BIN / "dask")] if (BIN / "dask").exists() else [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    sched = subprocess.Popen(dask + ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(log_dir / "scheduler.log", "wb"))
    workers = {}
    for i in range(n_workers):
        name = f"w{i}"
        workers[name] = subprocess.Popen(
            dask + ["worker", address, "--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                    "--host", "127.0.0.1"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(log_dir / f"{name}.log", "wb"))
    cluster = Cluster(address, sched, workers)
    try:
        with cluster.client() as c:
            c.wait_for_workers(n_workers, timeout=60)
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def stop_cluster(cluster: Cluster) -> None:
    """Workers first (a worker whose scheduler went away first waits to reconnect), then
    the scheduler; whatever has not exited 5 s after SIGTERM is killed."""
    for group in (list(cluster.workers.values()), [cluster.scheduler]):
        for p in group:
            if p.poll() is None:
                p.terminate()
        for p in group:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("cluster-logs"))
    yield c
    stop_cluster(c)


def read_outputs(folder: Path) -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in folder.glob("*.jsonl")}


def test_cluster_output_is_the_sequential_run_per_vod(media, sequential, cluster, tmp_path):
    _, expected = sequential
    out = tmp_path / "out"
    r = otrig("run", "games/demo.yaml", *good_sources(media), str(media["bad"]), *common(media),
              "--scheduler", cluster.address, "--out-dir", str(out), "--segment", SEGMENT)
    assert r.returncode == 1, r.stderr                       # one source could not be read ...
    assert f"error: {media['bad']}: " in r.stderr and "Traceback" not in r.stderr
    assert read_outputs(out) == expected                     # ... and the others are complete, byte for byte
    assert not list(out.glob("*.part")) and not (out / "bad.jsonl").exists()
    # the long video was cut in 7 segments, the 6 s one in 2 and every cut was rebuilt by its warm-up
    assert "from 4 of 5 sources" in r.stderr and "in 11 units (0 segments run again" in r.stderr, r.stderr

    # a rerun skips the complete outputs and touches none of them
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.jsonl")}
    again = otrig("run", "games/demo.yaml", *good_sources(media), str(media["bad"]), *common(media),
                  "--scheduler", cluster.address, "--out-dir", str(out), "--segment", SEGMENT)
    assert again.returncode == 1
    for name in ("long", "short", "playing", "mid"):
        assert f"{name}.jsonl is complete" in again.stderr
    assert "0 frames from 0 of 5 sources (4 skipped" in again.stderr, again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.jsonl")} == stamps


def test_local_cluster_into_one_file_in_source_order(media, sequential, tmp_path):
    whole, _ = sequential
    out = tmp_path / "all.jsonl"
    r = otrig("run", "games/demo.yaml", *good_sources(media), *common(media), "--workers", "2", "--segment", SEGMENT,
              "--jsonl", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == whole
    assert "on 2 local workers" in r.stderr
    # the progress line (not a terminal: a line now and then, and the last one)
    assert re.search(r"otrig run: \[#+\] 121/121 frames, [\d.]+ video s/s, ETA 0:00:00", r.stderr), r.stderr


def test_a_killed_worker_changes_nothing(media, sequential, tmp_path):
    _, expected = sequential
    c = start_cluster(tmp_path / "logs")
    try:
        out = tmp_path / "out"
        run = subprocess.Popen(OTRIG + ["run", "games/demo.yaml", str(media["long"]), *common(media), "-r", "10",
                                        "--scheduler", c.address, "--out-dir", str(out), "--segment", SEGMENT],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        killed = None
        with c.client() as client:
            deadline = time.monotonic() + 60
            while killed is None and time.monotonic() < deadline and run.poll() is None:
                busy = {addr: keys for addr, keys in client.processing().items()
                        if any(str(k).startswith("run_unit") for k in keys)}
                if busy:
                    name = client.scheduler_info()["workers"][next(iter(busy))]["name"]
                    os.kill(c.workers[name].pid, signal.SIGKILL)   # mid-unit, no goodbye
                    killed = name
                else:
                    time.sleep(0.02)
        stdout, stderr = run.communicate(timeout=120)
        assert killed is not None, "no unit was seen running to kill its worker"
        assert c.workers[killed].wait(timeout=10) == -signal.SIGKILL
        assert run.returncode == 0, stderr
        assert read_outputs(out) == {"long": expected_at_rate(media, "10")}
    finally:
        stop_cluster(c)


def expected_at_rate(media: dict[str, Path], rate: str) -> bytes:
    r = otrig("run", "games/demo.yaml", str(media["long"]), *common(media), "-r", rate)
    assert r.returncode == 0, r.stderr
    return r.stdout.encode()


# ----------------------------------------------------------------------------- the state analysis

def test_memory_of_the_shipped_games(shared_data, media):
    def memory(game: str) -> Memory:
        return game_memory(compiled_game(GameRef(path=game, assets=(str(shared_data), str(media["assets"])))).graph)

    demo, melee, apex, valorant = (memory(g) for g in ("demo", "melee", "apex", "valorant"))
    assert demo.bounded and demo.window == 3.0          # result's vote of 3 reads, each within 1 s
    assert melee.bounded and melee.window == 2.0        # stable_for 2, within 1 s
    assert not apex.bounded and any("summary_layout has a gate" in r for r in apex.unbounded)
    assert not valorant.bounded and any("hud has a gate" in r for r in valorant.unbounded)


def in_process(media: dict[str, Path], game: Path | str, memory: Memory | None) -> tuple[bytes, list, list[bool]]:
    """The long video run whole and cut (with ``memory``, or the game's own) without Dask:
    (whole output, the segments' results, per cut: did the warm-up rebuild the state)."""
    job = Job(game=GameRef(path=str(game), assets=(str(media["assets"]),)), fps=float(RATE), seek=0.0,
              wall_start=float(START), segment=float(SEGMENT))
    src = SourceRef(index=0, name=str(media["long"]), path=str(media["long"]))
    whole = run_unit(job, Unit(source=src, index=0, count=1)).lines
    plan = plan_video(src, job, memory or game_memory(compiled_game(job.game).graph))
    results = [run_unit(job, u) for u in plan.units]
    rebuilt = [b.start_state == a.end_state for a, b in zip(results, results[1:])]
    return whole, results, rebuilt


def test_the_warm_up_window_rebuilds_the_state_at_every_cut(media, sequential):
    _, expected = sequential
    whole, results, rebuilt = in_process(media, "games/demo.yaml", None)
    assert whole == expected["long"]
    assert len(results) == 7 and all(rebuilt)
    assert b"".join(r.lines for r in results) == whole
    # without the window (two samples of warm-up) the state at the cut into the result
    # screen differs: the banner's vote has fewer reads than the whole run's
    _, _, rebuilt = in_process(media, "games/demo.yaml", Memory(window=0.0, unbounded=()))
    assert not all(rebuilt)


def test_an_unbounded_game_is_run_whole_because_cutting_it_changes_the_output(media):
    memory = game_memory(compiled_game(GameRef(path=str(media["latch"]))).graph)
    assert memory.unbounded == ("after reads player in a gate, and player has a gate of its own: "
                                "its last value can be any age",)
    job = Job(game=GameRef(path=str(media["latch"])), fps=float(RATE), seek=0.0, wall_start=float(START),
              segment=float(SEGMENT))
    src = SourceRef(index=0, name=str(media["long"]), path=str(media["long"]))
    plan = plan_video(src, job, memory)
    assert len(plan.units) == 1 and plan.whole is not None and "unbounded" in plan.whole
    # measured: cut anyway, the segment on the result screen answers differently, and the
    # check at its boundary sees that its state was not rebuilt
    whole, results, rebuilt = in_process(media, media["latch"], Memory(window=memory.window, unbounded=()))
    assert b"".join(r.lines for r in results) != whole
    assert not all(rebuilt)


def test_a_cut_the_warm_up_cannot_rebuild_is_run_again_from_the_state_before_it(media, monkeypatch):
    """The driver's check, on an in-process cluster: the latch game forced into segments
    still gives the whole run's output, by running the bad segment again."""
    from distributed import Client, LocalCluster

    import engine.batch.unit as unit_mod
    from engine.batch.driver import run_batch
    from engine.batch.progress import Progress
    from engine.batch.sinks import StreamSink

    monkeypatch.setattr(unit_mod, "game_memory", lambda graph: Memory(window=0.0, unbounded=()))
    job = Job(game=GameRef(path=str(media["latch"])), fps=float(RATE), seek=0.0, wall_start=float(START),
              segment=float(SEGMENT), topic="otrig-test")
    src = SourceRef(index=0, name=str(media["long"]), path=str(media["long"]))
    whole = run_unit(job, Unit(source=src, index=0, count=1)).lines

    class Buffer:
        def __init__(self) -> None:
            self.data = b""

        def write(self, b: bytes) -> None:
            self.data += b

        def flush(self) -> None:
            pass

    buf = Buffer()
    with open(os.devnull, "w") as devnull, \
            LocalCluster(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None,
                         scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}) as lc, \
            Client(lc) as client:
        (outcome,) = run_batch(client, job, [src], StreamSink(buf, 1), Progress(devnull, fps=4, tty=False))  # type: ignore[arg-type]
    assert outcome.error is None and outcome.units == 7 and outcome.redone >= 1
    assert buf.data == whole


def flat(text: str) -> str:
    """An error message without the box and line breaks typer's rich output draws around it."""
    return " ".join(re.sub("[│╭╮╰╯─]", " ", text).split())


def test_command_line_errors(media, tmp_path):
    r = otrig("run", "games/demo.yaml", str(media["short"]), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1")
    assert r.returncode == 2 and "not both" in r.stderr
    r = otrig("run", "games/demo.yaml", str(media["short"]), "--scheduler", "127.0.0.1:8786")
    assert r.returncode == 2 and "tcp://" in r.stderr
    r = otrig("run", "games/demo.yaml", str(media["short"]), "--out-dir", str(tmp_path), "--record", str(tmp_path / "r"))
    assert r.returncode == 2 and "--record" in r.stderr
    r = otrig("run", "games/demo.yaml", str(media["short"]), str(media["dir"] / "shots" / "short.png"),
              "--assets", str(media["assets"]), "--out-dir", str(tmp_path))
    assert r.returncode == 2 and "would both write short.jsonl; rename one" in flat(r.stderr)
    port = free_port()  # nothing listens there
    r = otrig("run", "games/demo.yaml", str(media["short"]), "--assets", str(media["assets"]),
              "--scheduler", f"tcp://127.0.0.1:{port}")
    assert r.returncode == 1 and f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in r.stderr
    assert "Traceback" not in r.stderr
    for start in ("1700000000000", "-5", "nan"):  # milliseconds, before 1970: a usage error, not an OverflowError
        r = otrig("run", "games/demo.yaml", str(media["short"]), "--start-time", start)
        assert r.returncode == 2 and "--start-time" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_an_edited_game_is_loaded_again_by_a_live_cluster(media, cluster, tmp_path):
    """Workers keep a loaded game between runs; an edit of the file (same path) must reach
    them. Before, the second run answered with the first file's field names (health, not hp)."""
    game = tmp_path / "demo.yaml"
    text = (ROOT / "games" / "demo.yaml").read_text()
    assert "      health:\n" in text
    game.write_text(text)
    args = ["run", str(game), str(media["short"]), *common(media), "--scheduler", cluster.address]
    first = otrig(*args, "--jsonl", str(tmp_path / "1.jsonl"))
    assert first.returncode == 0, first.stderr
    game.write_text(text.replace("      health:\n", "      hp:\n"))
    second = otrig(*args, "--jsonl", str(tmp_path / "2.jsonl"))
    assert second.returncode == 0, second.stderr
    expected = otrig("run", str(game), str(media["short"]), *common(media), "--jsonl", str(tmp_path / "seq.jsonl"))
    assert expected.returncode == 0, expected.stderr
    assert (tmp_path / "2.jsonl").read_bytes() == (tmp_path / "seq.jsonl").read_bytes()
    assert (tmp_path / "1.jsonl").read_bytes() != (tmp_path / "2.jsonl").read_bytes()


def test_a_truncated_video_keeps_what_was_read_as_the_sequential_run_does(media, tmp_path):
    """A video cut off part way: the sequential run writes the frames before the damage and
    names the error; so does a distributed one, cut in segments or not (before, it wrote
    nothing, or only the segments before the damaged one)."""
    data = media["long"].read_bytes()
    cut = tmp_path / "trunc.mp4"
    cut.write_bytes(data[:int(len(data) * 0.6)])
    seq = otrig("run", "games/demo.yaml", str(cut), *common(media), "--jsonl", str(tmp_path / "seq.jsonl"))
    lines = (tmp_path / "seq.jsonl").read_bytes()
    assert lines and "trunc.mp4" in seq.stderr
    for extra in ([], ["--segment", SEGMENT]):
        out = tmp_path / f"out{len(extra)}"
        r = otrig("run", "games/demo.yaml", str(cut), *common(media), "--workers", "1", "--out-dir", str(out), *extra)
        assert r.returncode == 1 and f"error: {cut}: " in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert not (out / "trunc.jsonl").exists()                 # not complete: a rerun does it again
        assert (out / "trunc.jsonl.part").read_bytes() == lines   # but what was read is kept


def test_ctrl_c_stops_a_local_cluster_without_worker_tracebacks(media, tmp_path):
    """Ctrl-C reaches the whole process group: the run says "interrupted" (status 130) and
    keeps what is complete; the local workers leave it to the client (before, each printed
    a KeyboardInterrupt traceback: 4 for 2 workers)."""
    import os
    import signal

    cmd = [*OTRIG, "run", "games/demo.yaml", str(media["long"]), "-r", "30", "--start-time", START, "--assets",
           str(media["assets"]), "--workers", "2", "--segment", SEGMENT, "--out-dir", str(tmp_path / "out")]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert p.stderr is not None
    seen = b""
    while b"frames, " not in seen:  # the cluster is up and units are running: press Ctrl-C
        chunk = p.stderr.read1(4096)
        assert chunk, seen.decode()
        seen += chunk
    os.killpg(p.pid, signal.SIGINT)
    rest = p.communicate(timeout=60)[1]
    err = (seen + rest).decode()
    assert p.returncode == 130 and "interrupted" in err, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
