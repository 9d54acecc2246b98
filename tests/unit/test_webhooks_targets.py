"""Webhook targets: only http(s) URLs whose host resolves to public addresses, every one."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

import pytest

from ledger.webhooks.targets import TargetRefusedError, check_target

INTERNAL = [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "240.0.0.1", "::1", "fe80::1", "fc00::1", "ff02::1", "::",
    "::ffff:127.0.0.1",
]  # fmt: skip
PUBLIC = "93.184.216.34"


def resolving_to(*addresses: str) -> Any:
    def resolve(host: str, port: int) -> Sequence[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


def unresolvable(host: str, port: int) -> Sequence[tuple[Any, ...]]:
    raise socket.gaierror("Name or service not known")


@pytest.mark.parametrize("address", INTERNAL)
def test_a_host_on_an_internal_address_is_refused(address: str) -> None:
    with pytest.raises(TargetRefusedError, match="resolves to"):
        check_target(
            "https://hooks.example.org/in", allow_private=False, resolve=resolving_to(address)
        )


def test_every_address_of_the_host_is_checked() -> None:
    with pytest.raises(TargetRefusedError):
        check_target(
            "https://hooks.example.org/in",
            allow_private=False,
            resolve=resolving_to(PUBLIC, "10.0.0.5"),
        )


def test_a_host_on_public_addresses_is_accepted() -> None:
    check_target("https://hooks.example.org/in", allow_private=False, resolve=resolving_to(PUBLIC))


def test_internal_addresses_are_accepted_when_allowed() -> None:
    check_target("http://127.0.0.1:8080/in", allow_private=True)


def test_loopback_by_name_is_refused_without_the_setting() -> None:
    with pytest.raises(TargetRefusedError):
        check_target("http://localhost:8080/in", allow_private=False)


@pytest.mark.parametrize("url", ["ftp://hooks.example.org/in", "https:///in", "hooks.example.org"])
def test_only_http_urls_with_a_host_are_accepted(url: str) -> None:
    with pytest.raises(TargetRefusedError, match="http"):
        check_target(url, allow_private=True, resolve=resolving_to(PUBLIC))


def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(TargetRefusedError, match="does not resolve"):
        check_target("https://nowhere.invalid/in", allow_private=True, resolve=unresolvable)
