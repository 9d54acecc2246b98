"""Which URLs may receive webhooks: http(s) on public addresses only, unless private ones are
allowed (`LEDGER_WEBHOOK_ALLOW_PRIVATE`), so a subscription cannot reach the ledger's own network."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from ledger.domain.errors import LedgerError

Resolve = Callable[[str, int], Sequence[tuple[Any, ...]]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefusedError(LedgerError):
    """The webhook URL is not one the ledger may deliver to."""

    rule = "webhook-target-refused"


def _resolve(host: str, port: int) -> Sequence[tuple[Any, ...]]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def is_internal(address: Address) -> bool:
    """Loopback, private, link-local, reserved, multicast or otherwise not globally reachable."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or not address.is_global
    )


def check_target(url: str, *, allow_private: bool, resolve: Resolve = _resolve) -> None:
    """Raise `TargetRefusedError` unless `url` is http(s) and its host resolves only to
    addresses the ledger may reach: every address is checked, not just the first."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefusedError("The url must be an http:// or https:// URL with a host name.")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = resolve(host, port)
    except (OSError, UnicodeError, ValueError):
        raise TargetRefusedError(
            f"The host '{host}' of the url does not resolve; check the host name."
        ) from None
    if allow_private:
        return
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if is_internal(address):
            raise TargetRefusedError(
                f"The url's host '{host}' resolves to {address}, a loopback, private or reserved "
                "address, which the ledger does not deliver to; use a public address."
            )
