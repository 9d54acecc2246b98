"""Bearer tokens: random secrets stored only as SHA-256 hashes, looked up in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.domain.errors import LedgerError
from ledger.domain.timefmt import format_instant
from ledger.persistence import LedgerStore

TOKEN_PREFIX = "glt_"


class TokenNameTakenError(LedgerError):
    rule = "token-name-taken"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name (the events' actor) and its role."""

    name: str
    role: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, store: LedgerStore) -> None:
        self.store = store

    def create(self, name: str, role: str = "admin") -> str:
        """Issue a new token; only its hash is stored, so it is shown once."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        if self.store.query_one("SELECT 1 AS taken FROM ledger_tokens WHERE name=?", (name,)):
            raise TokenNameTakenError(f"A token named '{name}' exists; choose another name.")
        with self.store.writing() as c:
            self.store.run(
                c,
                "INSERT INTO ledger_tokens VALUES (?,?,?,?,NULL)",
                (name, _hash(token), role, format_instant(datetime.now(UTC))),
            )
        return token

    def authenticate(self, token: str) -> Principal | None:
        digest = _hash(token)
        row = self.store.query_one(
            "SELECT name, role, token_hash FROM ledger_tokens"
            " WHERE token_hash=? AND revoked_at IS NULL",
            (digest,),
        )
        if row is None or not hmac.compare_digest(row["token_hash"], digest):
            return None
        return Principal(name=row["name"], role=row["role"])

    def count(self) -> int:
        row = self.store.query_one("SELECT COUNT(*) AS n FROM ledger_tokens")
        return int(row["n"]) if row else 0
