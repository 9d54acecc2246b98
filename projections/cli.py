"""`ledger projections`: keep the read models current from their own process, see how far
behind they are, rebuild them from the event log."""

from __future__ import annotations

import json
import logging
import signal
import threading
from types import FrameType

import click

from ledger import logs
from ledger.cli_support import open_service
from projections.register import AgreementRegister

log = logging.getLogger("ledger.projections")


@click.group()
def projections() -> None:
    """Read models: run the projection runner beside `ledger serve`."""


@projections.command("run")
@click.option("--poll", envvar="LEDGER_PROJECTION_POLL_SECONDS", default=0.5, show_default=True,
              show_envvar=True, type=click.FloatRange(0.01, 60),
              help="Seconds between looks at the event log when there is nothing new.")  # fmt: skip
@click.option("--once", is_flag=True, help="Catch up with what is stored now, then exit.")
def run(poll: float, once: bool) -> None:
    """Keep the agreement register caught up with the event log until stopped (SIGTERM or
    Ctrl-C). Readers still catch up on their own, so this only takes that work off requests;
    several runners may run at once (each batch is claimed by moving the tracked position)."""
    with open_service() as service:
        logs.configure(service.settings.log_level)
        register = AgreementRegister(service, create=False)
        stopping = threading.Event()

        def stop(signum: int, frame: FrameType | None) -> None:
            stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if not once:
            click.echo("keeping projections current; stop with Ctrl-C", err=True)
        while not stopping.is_set():
            try:
                processed = register.catch_up()
            except Exception:  # the database may be away for a while: keep trying
                log.exception("catching up failed; trying again")
                processed = 0
            if processed:
                log.info("projected %d events", processed)
            if once:
                break
            if not processed:
                stopping.wait(poll)


@projections.command("status")
def status() -> None:
    """Print each projection's position and how many events it has yet to process (JSON)."""
    with open_service() as service:
        register = AgreementRegister(service, create=False)
        report = {"agreement_register": {"position": register.position(), "lag": register.lag()}}
        click.echo(json.dumps(report))


@projections.command("rebuild")
def rebuild() -> None:
    """Drop the agreement register and build it again from the whole event log; print its
    checksum (equal checksums, equal projections)."""
    with open_service() as service:
        register = AgreementRegister(service, create=False)
        processed = register.rebuild()
        click.echo(f"rebuilt from {processed} events", err=True)
        click.echo(register.checksum())
