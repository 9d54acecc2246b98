"""`ledger webhooks run` delivers; `ledger webhooks list` and `retry` look after subscriptions."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

import click

from ledger import logs
from ledger.cli_support import open_service
from ledger.service import LedgerService
from ledger.webhooks.delivery import DeliveryPolicy, Dispatcher
from ledger.webhooks.subscriptions import Subscriptions

DEFAULTS = DeliveryPolicy()
F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def webhooks() -> None:
    """Webhook deliveries: run the deliverer beside `ledger serve`."""


def _option(
    name: str, envvar: str, default: float, kind: click.ParamType[Any], text: str
) -> Callable[[F], F]:
    return click.option(name, envvar=envvar, default=default, show_default=True,
                        show_envvar=True, type=kind, help=text)  # fmt: skip


@webhooks.command("run")
@click.option(
    "--once", is_flag=True, help="Deliver what is stored now (waiting out retries), then exit."
)
@_option(
    "--max-attempts",
    "LEDGER_WEBHOOK_MAX_ATTEMPTS",
    DEFAULTS.max_attempts,
    click.IntRange(1, 100),
    "Failed attempts at one event before dead-lettering.",
)
@_option(
    "--backoff",
    "LEDGER_WEBHOOK_BACKOFF_SECONDS",
    DEFAULTS.backoff_seconds,
    click.FloatRange(0.001, 86400),
    "Pause before the first retry; it doubles each time.",
)
@_option(
    "--backoff-max",
    "LEDGER_WEBHOOK_BACKOFF_MAX_SECONDS",
    DEFAULTS.backoff_max_seconds,
    click.FloatRange(0.001, 7 * 86400),
    "The longest pause between retries.",
)
@_option(
    "--timeout",
    "LEDGER_WEBHOOK_TIMEOUT_SECONDS",
    DEFAULTS.timeout_seconds,
    click.FloatRange(0.1, 300),
    "Seconds a receiver has to answer.",
)
@_option(
    "--lease",
    "LEDGER_WEBHOOK_LEASE_SECONDS",
    DEFAULTS.lease_seconds,
    click.FloatRange(0.2, 3600),
    "Seconds a subscription stays claimed (≥ 2 × timeout).",
)
@_option(
    "--threads",
    "LEDGER_WEBHOOK_THREADS",
    4,
    click.IntRange(1, 64),
    "Subscriptions served at once by this process.",
)
@_option(
    "--poll",
    "LEDGER_WEBHOOK_POLL_SECONDS",
    1.0,
    click.FloatRange(0.01, 60),
    "Seconds between looks at the log when there is nothing to deliver.",
)
@click.option("--base-url", envvar="LEDGER_WEBHOOK_BASE_URL", default="", show_envvar=True,
              help="The ledger's public URL (https://ledger.example.org): each CloudEvent's "
              "dataschema then points at its /event-types.")  # fmt: skip
def run(once: bool, max_attempts: int, backoff: float, backoff_max: float, timeout: float,
        lease: float, threads: int, poll: float, base_url: str) -> None:  # fmt: skip
    """Deliver events to webhook subscribers until stopped (SIGTERM or Ctrl-C)."""
    try:
        policy = DeliveryPolicy(max_attempts=max_attempts, backoff_seconds=backoff,
                                backoff_max_seconds=backoff_max, timeout_seconds=timeout,
                                lease_seconds=lease, base_url=base_url)  # fmt: skip
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--lease") from None
    with open_service() as service:
        logs.configure(service.settings.log_level)
        dispatcher = Dispatcher(service, policy, allow_private=service.settings.webhook_allow_private,
                                threads=threads)  # fmt: skip

        def stop(signum: int, frame: FrameType | None) -> None:
            dispatcher.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if once:
            dispatcher.drain(poll)
        else:
            click.echo("delivering webhooks; stop with Ctrl-C", err=True)
            dispatcher.run_forever(poll)


def _subscriptions(service: LedgerService) -> Subscriptions:
    return Subscriptions(
        service, allow_private=service.settings.webhook_allow_private, create=False
    )


@webhooks.command("list")
def list_subscriptions() -> None:
    """Every subscription with its delivery state, one JSON object a line (never the secret)."""
    with open_service() as service:
        for item in _subscriptions(service).all(None):
            click.echo(json.dumps(item, sort_keys=True))


@webhooks.command("retry")
@click.argument("subscription_id")
def retry(subscription_id: str) -> None:
    """Resume a dead-lettered subscription from the event it stopped at."""
    with open_service() as service:
        item = _subscriptions(service).retry(subscription_id)
    click.echo(f"subscription {item['id']} is active again from position {item['position']}",
               err=True)  # fmt: skip
