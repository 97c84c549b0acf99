"""The Dask client of a run: a local cluster of worker processes, or a real cluster's scheduler.

Local workers are processes with one thread each: the engine holds the GIL for much of a
frame (Python steps, numpy on small crops), so threads of one process would not add up,
and one thread per core keeps OpenCV's and PyAV's own threads from fighting over cores.
"""
from __future__ import annotations

import ctypes
import logging
import re
import signal
import socket
from contextlib import contextmanager
from typing import Any, Iterator

from distributed.diagnostics.plugin import WorkerPlugin

SCHEDULER_RE = re.compile(r"^(tcp|tls)://[^\s:/]+:\d{1,5}$")
CONNECT_TIMEOUT_S = 15.0


class ClusterError(Exception):
    """The cluster cannot be reached or started; the message says which and why."""


# glibc mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def tune_malloc_for_frames() -> bool:
    """Keep 6 MB frames on the heap and freed memory in the process.

    Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which hands every freed
    frame back to the OS: one unit of melee at -r 10 (300 frames) on a local worker took
    1,049,000 page faults, 2.75 s of system time and 12.7 s; with the mmap threshold at 32 MB
    and the trim threshold at 256 MB, 1,200-4,200 faults, 0.2-0.8 s and 8.9-10.0 s (glibc's
    defaults in a plain process: 1,600-15,800 faults, 0.7-0.9 s). False where this is not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 256 << 20))
    except (OSError, AttributeError):
        return False


class FrameMalloc(WorkerPlugin):
    """Registered by the client on every worker of the run, local or remote (see
    :func:`tune_malloc_for_frames`), so `dask worker` needs no environment of its own."""

    def setup(self, worker: Any) -> None:
        tune_malloc_for_frames()


class LeaveInterruptToClient(WorkerPlugin):
    """Registered on the workers of a local cluster only: Ctrl-C reaches every process of the
    terminal's group, and each local worker printed a 30-line KeyboardInterrupt traceback
    before otrig's own "interrupted". The client stops them when it is interrupted. (A
    remote `dask worker` keeps Ctrl-C for whoever runs it.)"""

    def setup(self, worker: Any) -> None:
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the process's main thread: leave the default
            pass


@contextmanager
def dask_client(*, workers: int | None, scheduler: str | None) -> Iterator[Any]:
    """A connected ``distributed.Client``: to ``scheduler`` (``tcp://HOST:PORT``), or to a
    local cluster of ``workers`` processes started here and stopped on exit."""
    from distributed import Client, LocalCluster  # noqa: PLC0415
    # a killed or lost worker is retried and reported by otrig; Dask's own warnings about it
    # would bury the progress line
    for name in ("distributed", "distributed.client", "distributed.scheduler", "distributed.worker"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if scheduler is not None:
        host, _, port = scheduler.split("://", 1)[1].rpartition(":")
        try:  # Dask retries a refused connection until its timeout: ask the port once first
            socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as e:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {e} "
                               f"(is `dask scheduler` running there, and the port open?)") from None
        with client:
            client.register_plugin(FrameMalloc(), name="otrig-frame-malloc")
            yield client
        return
    try:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               # no dashboard, and its HTTP server on a free port rather than
                               # 8787 (taken by any other cluster on the machine: a warning)
                               scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                               silence_logs=logging.ERROR)
    except (OSError, RuntimeError) as e:
        raise ClusterError(f"cannot start a local Dask cluster of {workers} workers: {e}") from None
    with cluster, Client(cluster) as client:
        client.register_plugin(FrameMalloc(), name="otrig-frame-malloc")
        client.register_plugin(LeaveInterruptToClient(), name="otrig-local-interrupt")
        yield client
