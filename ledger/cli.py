"""The `ledger` command: serve, seed the demo, manage tokens and the database."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import click

from ledger.domain.errors import LedgerError
from ledger.integrity.cli import export, keys, verify
from ledger.service import LedgerService
from ledger.settings import ConfigError, Settings
from ledger.tokens import TokenStore
from ledger.webhooks.cli import webhooks
from projections.cli import projections


def _service() -> LedgerService:
    try:
        return LedgerService(Settings.from_env())
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def _init_schema() -> None:
    """Create every table once (the event store's, the ledger's, the read models')."""
    from ledger.ratelimits import create_table as create_rate_limit_table
    from ledger.webhooks.subscriptions import create_tables as create_webhook_tables
    from projections.register import AgreementRegister

    service = _service()
    try:
        AgreementRegister(service, create=True)
        create_webhook_tables(service.store)
        create_rate_limit_table(service.settings)
    finally:
        service.close()


def _require_schema() -> None:
    service = _service()
    try:
        service.head_position()
    except Exception as error:
        raise click.ClickException(
            f"the database is not ready ({type(error).__name__}: {error}); with "
            "LEDGER_CREATE_TABLES=n, run `ledger db init` first"
        ) from None
    finally:
        service.close()


@click.group()
def main() -> None:
    """Governance Ledger: an append-only record of how collaborations govern themselves."""


@main.group()
def db() -> None:
    """The event database."""


@db.command("init")
def db_init() -> None:
    """Create the tables, once, before any worker starts."""
    _init_schema()
    click.echo("database ready", err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Serve the HTTP API with gunicorn."""
    if os.environ.get("LEDGER_CREATE_TABLES", "y").lower() in ("n", "no", "0", "false"):
        _require_schema()  # `ledger db init` made them (several servers must not race to)
    else:
        _init_schema()  # tables exist before workers race to use them
    # Workers never create tables: racing to create them on an empty PostgreSQL fails.
    os.environ.update(
        LEDGER_BIND=f"{host}:{port}", LEDGER_WORKERS=str(workers), LEDGER_CREATE_TABLES="n"
    )
    # The workers add up their metrics in files of a fresh, private directory (prometheus-
    # client's multiprocess mode), which gunicorn removes when it exits (gunicorn_conf.py).
    metrics_dir = tempfile.mkdtemp(prefix="ledger-metrics-")
    os.environ.update(
        PROMETHEUS_MULTIPROC_DIR=metrics_dir, LEDGER_TEMPORARY_METRICS_DIR=metrics_dir
    )
    args = [
        sys.executable, "-m", "gunicorn",
        "--config", "python:ledger.gunicorn_conf",
        "ledger.api:create_app()",
    ]  # fmt: skip
    os.execv(sys.executable, args)


@main.command()
@click.option("--url", help="Post the demo to a running ledger over HTTP instead.")
@click.option(
    "--token", "bearer", envvar="LEDGER_TOKEN", help="A token for --url (or LEDGER_TOKEN)."
)
def demo(url: str | None, bearer: str | None) -> None:
    """Seed the demo collaboration if the ledger is empty; print its id."""
    from ledger.demo import seed_demo_if_empty, seed_demo_over_http

    if url:
        from ledger.client import LedgerClient

        if not bearer:
            raise click.ClickException("--url needs --token (or LEDGER_TOKEN).")
        with LedgerClient(url, bearer) as client:
            click.echo(seed_demo_over_http(client))
        return
    service = _service()
    try:
        collaboration_id = seed_demo_if_empty(service)
    finally:
        service.close()
    if collaboration_id is None:
        click.echo("the ledger already holds collaborations; no demo seeded", err=True)
    else:
        click.echo(collaboration_id)


@main.group()
def token() -> None:
    """Bearer tokens."""


@token.command("create")
@click.option("--name", required=True, help="Who holds it; becomes the `actor` of their events.")
@click.option(
    "--role",
    default="admin",
    show_default=True,
    type=click.Choice(["admin", "recorder", "funder", "evaluator", "auditor", "system"]),
)
@click.option(
    "--collaboration",
    "collaborations",
    multiple=True,
    help="A collaboration id the token may see (repeat for several).",
)
@click.option(
    "--event-type",
    "event_types",
    multiple=True,
    help="An event type a system token may post (repeat for several).",
)
@click.option(
    "--expires-in", "expires_in", type=click.IntRange(1, 3650), help="Days until the token expires."
)
def token_create(name: str, role: str, collaborations: tuple[str, ...],
                 event_types: tuple[str, ...], expires_in: int | None) -> None:  # fmt: skip
    """Create a token and print it (and nothing else) on stdout."""
    with _tokens() as tokens:
        click.echo(tokens.create(name, role, collaborations=collaborations,
                                 event_types=event_types, expires_in_days=expires_in))  # fmt: skip


@token.command("list")
def token_list() -> None:
    """List tokens: name, role, scope, dates (never the tokens themselves)."""
    with _tokens() as tokens:
        for row in tokens.all():
            click.echo(json.dumps(row, sort_keys=True))


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke a token at once."""
    with _tokens() as tokens:
        tokens.revoke(name)
    click.echo(f"revoked {name}", err=True)


@contextmanager
def _tokens() -> Iterator[TokenStore]:
    service = _service()
    try:
        yield TokenStore(service.store)
    except LedgerError as error:
        raise click.ClickException(error.detail) from None
    finally:
        service.close()


main.add_command(keys)
main.add_command(export)
main.add_command(verify)
main.add_command(webhooks)
main.add_command(projections)
