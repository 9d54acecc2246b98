"""gunicorn settings, chosen deliberately; `ledger serve` passes bind and workers via env."""

from __future__ import annotations

import os
import shutil
from typing import Protocol

from prometheus_client import multiprocess

bind = os.environ.get("LEDGER_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("LEDGER_WORKERS", "2"))
# gthread, but each request is read by the worker's event loop before a thread takes it, so
# slow or stalled clients cannot hold the threads (ledger/gunicorn_worker.py).
worker_class = "ledger.gunicorn_worker.RequestBufferingWorker"
threads = int(os.environ.get("LEDGER_THREADS", "4"))
# Never preload: each worker builds its own eventsourcing Application after the fork.
preload_app = False
timeout = 30
graceful_timeout = 10
keepalive = 5
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = None
errorlog = "-"
loglevel = "warning"


class _Worker(Protocol):
    pid: int


def child_exit(server: object, worker: _Worker) -> None:
    """A worker ended: its live gauges leave /metrics (its counts stay in the sums)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: object) -> None:
    """Remove the metrics directory that `ledger serve` made for this run alone."""
    directory = os.environ.get("LEDGER_TEMPORARY_METRICS_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
