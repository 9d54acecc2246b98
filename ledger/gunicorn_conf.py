"""gunicorn settings, chosen deliberately; `ledger serve` passes bind and workers via env."""

from __future__ import annotations

import os

bind = os.environ.get("LEDGER_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("LEDGER_WORKERS", "2"))
# Threads let one worker keep serving while a slow client trickles its request in.
worker_class = "gthread"
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
