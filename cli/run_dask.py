"""`otrig run` on a Dask cluster: checks the command line, starts or joins the cluster, runs
engine.batch and prints the summary. Output is byte for byte the sequential run's (with
the same --start-time), per source in --out-dir or all sources in order on OUT/stdout."""
from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path
from typing import BinaryIO, Sequence

import typer

from cli.options import INPUT_ERROR, IntBox, fail, load_game_or_exit


def run_distributed(game: str, sources: Sequence[str], *, fps: float, seek: float, jsonl: Path | None,
                    viewport: IntBox | None, assets: Sequence[Path], explain: bool, record: Path | None,
                    workers: int | None, scheduler: str | None, out_dir: Path | None, segment: float,
                    start_time: float | None) -> None:
    from engine.batch.cluster import SCHEDULER_RE, ClusterError, dask_client
    from engine.batch.driver import SourceOutcome, run_batch
    from engine.batch.plan import GameRef, Job, SourceRef
    from engine.batch.progress import Progress
    from engine.batch.sinks import DirSink, OutputNameClash, Sink, StreamSink

    if record is not None:
        raise typer.BadParameter("a recording is written by one process: drop --workers/--scheduler/--out-dir "
                                 "to record", param_hint="--record")
    if workers is not None and scheduler is not None:
        raise typer.BadParameter("give --workers (a local cluster) or --scheduler (a running one), not both",
                                 param_hint="--workers")
    if scheduler is not None and not SCHEDULER_RE.match(scheduler):
        raise typer.BadParameter(f"{scheduler!r} is not a scheduler address such as tcp://10.0.0.5:8786",
                                 param_hint="--scheduler")
    if out_dir is not None and jsonl is not None:
        raise typer.BadParameter("--out-dir writes one file per source; --jsonl one file for all: pick one",
                                 param_hint="--out-dir")
    compiled = load_game_or_exit(game, assets=assets, viewport=viewport)  # game-file errors, here, once
    refs = [SourceRef(index=i, name=s, path=os.path.abspath(s)) for i, s in enumerate(sources)]
    from engine.batch.plan import files_digest
    job = Job(game=GameRef(path=str(compiled.path.resolve()), assets=tuple(str(a.resolve()) for a in assets),
                           viewport=viewport, digest=files_digest(compiled.watched)),
              fps=fps, seek=seek, wall_start=time.time() if start_time is None else start_time, explain=explain,
              segment=segment, topic=f"otrig-progress-{uuid.uuid4().hex}")

    sink: Sink
    skip: frozenset[int] = frozenset()
    out: BinaryIO | None = None
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            dir_sink = DirSink(out_dir, sources)
        except OutputNameClash as e:
            raise typer.BadParameter(str(e), param_hint="SOURCE...") from None
        except OSError as e:
            raise fail("run", f"error: cannot write into {out_dir}: {e.strerror}", INPUT_ERROR) from None
        skip = frozenset(r.index for r in refs if dir_sink.complete(r.index))
        sink = dir_sink
    else:
        try:
            out = sys.stdout.buffer if jsonl is None else open(jsonl, "wb")  # noqa: SIM115
        except OSError as e:
            raise fail("run", f"error: cannot write {jsonl}: {e.strerror}", INPUT_ERROR) from None
        sink = StreamSink(out, len(refs))
    for r in refs:
        if r.index in skip:
            typer.echo(f"otrig run: {r.name}: skipped, {Path(str(out_dir)) / Path(r.name).stem}.jsonl is complete",
                       err=True)

    n_workers = workers if workers is not None or scheduler is not None else (os.cpu_count() or 1)
    progress = Progress(sys.stderr, fps=fps, tty=sys.stderr.isatty())
    t0 = time.monotonic()
    try:
        if len(skip) == len(refs):  # nothing to do: no cluster to start
            outcomes = [SourceOutcome(name=r.name, skipped=True) for r in refs]
        else:
            with dask_client(workers=n_workers, scheduler=scheduler) as client:
                outcomes = run_batch(client, job, refs, sink, progress, skip=skip)
    except ClusterError as e:
        raise fail("run", f"error: {e}", INPUT_ERROR) from None
    except (OSError, TimeoutError) as e:  # distributed's CommClosedError is an OSError
        raise fail("run", f"error: lost the Dask cluster ({type(e).__name__}: {e}); complete outputs are kept, "
                          f"rerun to do the rest", INPUT_ERROR) from None
    except KeyboardInterrupt:
        raise fail("run", "interrupted (complete outputs are kept; rerun to do the rest)", 130) from None
    finally:
        if isinstance(sink, DirSink):
            sink.close()
        if out is not None and jsonl is not None:
            out.close()
    elapsed = time.monotonic() - t0
    for o in outcomes:
        if o.error is not None:
            typer.echo(f"otrig run: error: {o.error}", err=True)
        elif o.whole is not None:
            typer.echo(f"otrig run: {o.name}: run in one piece ({o.whole})", err=True)
    frames = sum(o.frames for o in outcomes)
    failed = sum(o.error is not None for o in outcomes)
    skipped = sum(o.skipped for o in outcomes)
    units = sum(o.units for o in outcomes)
    redone = sum(o.redone for o in outcomes)
    where = scheduler if scheduler is not None else f"{n_workers} local worker{'s' if n_workers != 1 else ''}"
    typer.echo(f"otrig run: {frames} frame{'s' if frames != 1 else ''} from {len(refs) - failed - skipped} of "
               f"{len(refs)} source{'s' if len(refs) != 1 else ''} ({skipped} skipped as complete) in {units} "
               f"unit{'s' if units != 1 else ''} ({redone} segment{'s' if redone != 1 else ''} run again from the "
               f"previous one's state) on {where} in {elapsed:.1f} s "
               f"({frames / fps / max(elapsed, 1e-9):.1f} video s/s)", err=True)
    if failed:
        raise typer.Exit(INPUT_ERROR)
