"""Settings read once from the environment into a frozen object, failing fast on bad values."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit
from uuid import uuid4

DEFAULT_DATABASE_URL = "sqlite:///./var/ledger.sqlite"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    max_body_bytes: int = 256 * 1024
    snapshot_interval: int = 50
    page_limit_default: int = 100
    page_limit_max: int = 1000
    log_level: str = "INFO"
    sqlite_lock_timeout: int = 10
    create_tables: bool = True
    rate_limit: str = "3000 per minute"
    rate_limit_storage: str = ""  # a `limits` storage URI (redis://…); "": the database
    signing_key_file: str | None = None  # Ed25519 key for checkpoints (`ledger keys create`)
    checkpoint_interval: int = 1000
    webhook_allow_private: bool = False  # deliver webhooks to loopback/private addresses (tests)
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        settings = cls(
            database_url=env.get("LEDGER_DATABASE_URL", DEFAULT_DATABASE_URL),
            max_body_bytes=_int(env, "LEDGER_MAX_BODY_BYTES", cls.max_body_bytes),
            snapshot_interval=_int(env, "LEDGER_SNAPSHOT_INTERVAL", cls.snapshot_interval),
            page_limit_max=_int(env, "LEDGER_PAGE_LIMIT_MAX", cls.page_limit_max),
            log_level=env.get("LEDGER_LOG_LEVEL", cls.log_level).upper(),
            sqlite_lock_timeout=_int(env, "LEDGER_SQLITE_LOCK_TIMEOUT", cls.sqlite_lock_timeout),
            rate_limit=env.get("LEDGER_RATE_LIMIT", cls.rate_limit),
            rate_limit_storage=env.get("LEDGER_RATE_LIMIT_STORAGE", "").strip(),
            signing_key_file=env.get("LEDGER_SIGNING_KEY_FILE") or None,
            checkpoint_interval=_int(env, "LEDGER_CHECKPOINT_INTERVAL", cls.checkpoint_interval),
            webhook_allow_private=env.get("LEDGER_WEBHOOK_ALLOW_PRIVATE", "n").lower()
            in ("y", "yes", "1", "true"),
            create_tables=env.get("LEDGER_CREATE_TABLES", "y").lower()
            not in ("n", "no", "0", "false"),
        )
        settings.persistence_env()  # fail fast on a bad database URL
        return settings

    def persistence_env(self) -> dict[str, str]:
        """The eventsourcing library's environment for the chosen database."""
        url = self.database_url
        create = "y" if self.create_tables else "n"
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            if not path:
                raise ConfigError(
                    "LEDGER_DATABASE_URL needs a file path, e.g. sqlite:///./var/ledger.sqlite"
                )
            if path == ":memory:":
                db_name = f"file:ledger-{uuid4().hex}?mode=memory&cache=shared"
            else:
                db_name = str(Path(path))
            return {
                "PERSISTENCE_MODULE": "ledger.persistence:LedgerSQLiteFactory",
                "APPLICATION_RECORDER_TOPIC": "ledger.persistence:LedgerSQLiteRecorder",
                "SQLITE_DBNAME": db_name,
                "SQLITE_LOCK_TIMEOUT": str(self.sqlite_lock_timeout),
                "CREATE_TABLE": create,
            }
        if url.startswith(("postgresql://", "postgres://")):
            return {**_postgres_env(url), "CREATE_TABLE": create}
        raise ConfigError(
            "LEDGER_DATABASE_URL must start with sqlite:/// or postgresql:// "
            f"(got {url!r}), e.g. sqlite:///./var/ledger.sqlite"
        )


def _postgres_env(url: str) -> dict[str, str]:
    """The library's PostgreSQL settings from postgresql://user:password@host:port/database."""
    parts = urlsplit(url)
    database = parts.path.lstrip("/")
    if not (parts.hostname and parts.username and database):
        raise ConfigError(
            "LEDGER_DATABASE_URL for PostgreSQL needs user, host and database, "
            "e.g. postgresql://ledger:secret@127.0.0.1:5432/ledger"
        )
    try:
        port = parts.port or 5432
    except ValueError:
        raise ConfigError("LEDGER_DATABASE_URL has a malformed port") from None
    return {
        "PERSISTENCE_MODULE": "ledger.persistence:LedgerPostgresFactory",
        "APPLICATION_RECORDER_TOPIC": "ledger.persistence:LedgerPostgresRecorder",
        "POSTGRES_DBNAME": unquote(database),
        "POSTGRES_HOST": parts.hostname,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": unquote(parts.username),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_POOL_SIZE": "5",
        "POSTGRES_MAX_OVERFLOW": "5",
        "POSTGRES_PRE_PING": "y",
    }


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value}")
    return value
