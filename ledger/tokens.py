"""Bearer tokens: random secrets stored only as SHA-256 hashes, each with a role, a scope and
an optional expiry. Issuing and revoking are logged for good."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from ledger.domain.errors import LedgerError
from ledger.domain.timefmt import format_instant
from ledger.persistence import LedgerStore

TOKEN_PREFIX = "glt_"


class Role(StrEnum):
    ADMIN = "admin"
    RECORDER = "recorder"
    FUNDER = "funder"
    EVALUATOR = "evaluator"
    AUDITOR = "auditor"
    SYSTEM = "system"


# Roles whose tokens see the whole ledger; the others see only the collaborations in scope.
GLOBAL_ROLES = frozenset({Role.ADMIN, Role.AUDITOR})


class TokenError(LedgerError):
    rule = "token-invalid"


class TokenNameTakenError(TokenError):
    rule = "token-name-taken"


class TokenNotFoundError(TokenError):
    rule = "token-not-found"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name (the events' actor), its role and its scope."""

    name: str
    role: str
    collaborations: frozenset[str] = field(default_factory=frozenset)
    event_types: frozenset[str] = field(default_factory=frozenset)

    @property
    def sees_everything(self) -> bool:
        return self.role in GLOBAL_ROLES

    def sees(self, collaboration_id: str) -> bool:
        return self.sees_everything or collaboration_id in self.collaborations

    def scope(self) -> frozenset[str] | None:
        """The collaborations this principal may see; None for all of them."""
        return None if self.sees_everything else self.collaborations


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> str:
    return format_instant(datetime.now(UTC))


class TokenStore:
    def __init__(self, store: LedgerStore) -> None:
        self.store = store

    def create(
        self,
        name: str,
        role: str = Role.ADMIN,
        *,
        collaborations: Sequence[str] = (),
        event_types: Sequence[str] = (),
        expires_in_days: int | None = None,
        created_by: str = "cli",
    ) -> str:
        """Issue a new token; only its hash is stored, so it is shown once."""
        _check_scope(role, collaborations, event_types)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires = format_instant(now + timedelta(days=expires_in_days)) if expires_in_days else None
        scope = {"collaborations": sorted(collaborations), "event_types": sorted(event_types)}
        if self.store.query_one("SELECT 1 AS taken FROM ledger_tokens WHERE name=?", (name,)):
            raise TokenNameTakenError(f"A token named '{name}' exists; choose another name.")
        with self.store.writing() as c:
            self.store.run(
                c,
                "INSERT INTO ledger_tokens VALUES (?,?,?,?,?,?,?,?,NULL)",
                (name, _hash(token), role, json.dumps(scope["collaborations"]),
                 json.dumps(scope["event_types"]), format_instant(now), created_by, expires),
            )  # fmt: skip
            self._log(c, created_by, "create", name, role, {**scope, "expires_at": expires})
        return token

    def revoke(self, name: str, revoked_by: str = "cli") -> None:
        row = self.store.query_one("SELECT role FROM ledger_tokens WHERE name=?", (name,))
        if row is None:
            raise TokenNotFoundError(f"There is no token named '{name}'.")
        with self.store.writing() as c:
            self.store.run(
                c,
                "UPDATE ledger_tokens SET revoked_at=? WHERE name=? AND revoked_at IS NULL",
                (_now(), name),
            )
            self._log(c, revoked_by, "revoke", name, row["role"], {})

    def _log(self, c: Any, actor: str, action: str, name: str, role: str, scope: Any) -> None:
        self.store.run(
            c,
            "INSERT INTO ledger_token_log VALUES (?,?,?,?,?,?)",
            (_now(), actor, action, name, role, json.dumps(scope, sort_keys=True)),
        )

    def authenticate(self, token: str) -> Principal | None:
        """The principal of a valid, unrevoked, unexpired token; None otherwise."""
        digest = _hash(token)
        row = self.store.query_one(
            "SELECT * FROM ledger_tokens WHERE token_hash=? AND revoked_at IS NULL", (digest,)
        )
        if row is None or not hmac.compare_digest(row["token_hash"], digest):
            return None
        if row["expires_at"] is not None and row["expires_at"] <= _now():
            return None
        return Principal(
            name=row["name"],
            role=row["role"],
            collaborations=frozenset(json.loads(row["collaborations"])),
            event_types=frozenset(json.loads(row["event_types"])),
        )

    def all(self) -> list[dict[str, Any]]:
        """Every token's name, role, scope and dates; never the token or its hash."""
        rows = self.store.query(
            "SELECT name, role, collaborations, event_types, created_at, created_by,"
            " expires_at, revoked_at FROM ledger_tokens ORDER BY created_at, name"
        )
        for row in rows:
            row["collaborations"] = json.loads(row["collaborations"])
            row["event_types"] = json.loads(row["event_types"])
        return rows

    def log(self) -> list[dict[str, Any]]:
        rows = self.store.query("SELECT * FROM ledger_token_log ORDER BY at")
        return [{**row, "scope": json.loads(row["scope"])} for row in rows]

    def count(self) -> int:
        row = self.store.query_one("SELECT COUNT(*) AS n FROM ledger_tokens")
        return int(row["n"]) if row else 0


def _check_scope(role: str, collaborations: Sequence[str], event_types: Sequence[str]) -> None:
    if role not in set(Role):
        raise TokenError(f"Role must be one of: {', '.join(Role)}.")
    if role in GLOBAL_ROLES and collaborations:
        raise TokenError(f"A {role} token sees every collaboration; leave out --collaboration.")
    if role not in GLOBAL_ROLES and not collaborations:
        raise TokenError(f"A {role} token needs at least one --collaboration in its scope.")
    if role == Role.SYSTEM and not event_types:
        raise TokenError("A system token needs at least one --event-type it may post.")
    if role != Role.SYSTEM and event_types:
        raise TokenError("Only system tokens are limited to event types.")
