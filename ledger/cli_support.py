"""What every `ledger` subcommand needs: the service, opened from the environment, with
configuration and ledger errors shown as command-line errors, and closed at the end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from ledger.domain.errors import LedgerError
from ledger.service import LedgerService
from ledger.settings import ConfigError, Settings


@contextmanager
def open_service() -> Iterator[LedgerService]:
    try:
        service = LedgerService(Settings.from_env())
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    try:
        yield service
    except LedgerError as error:
        raise click.ClickException(error.detail) from None
    finally:
        service.close()
