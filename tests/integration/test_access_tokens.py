"""Tokens: issued and revoked with `ledger token ...` and the admin endpoints, refused at once
when revoked or expired, logged for good, and stored only as hashes, as a dump of the database
shows. A few tests run the command as a process; the others invoke it in-process (same code,
without a second of interpreter start-up each)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from ledger.cli import main
from ledger.domain.timefmt import parse_instant
from ledger.logs import JsonFormatter
from ledger.persistence import LedgerStore
from ledger.settings import Settings
from ledger.tokens import TokenStore
from tests import pg
from tests.integration.helpers import LedgerApi, assert_problem

TOKEN = re.compile(r"glt_[A-Za-z0-9_-]{43}")


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "LEDGER_DATABASE_URL": settings.database_url, "LEDGER_LOG_LEVEL": "WARNING"}  # fmt: skip


def ledger(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "ledger", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def run(env: dict[str, str], *args: str, check: bool = True) -> Any:
    """`ledger ...` invoked in-process; the result has exit_code, stdout and stderr."""
    result = CliRunner().invoke(main, list(args), env=env)
    if check:
        assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


@pytest.fixture
def store(app: Flask) -> LedgerStore:
    """The ledger's own tables, queried with plain SQL on either backend."""
    tokens: TokenStore = app.extensions["ledger.tokens"]
    return tokens.store


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def listed(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    output = ledger(env, "token", "list").stdout
    assert "glt_" not in output
    rows = [json.loads(line) for line in output.splitlines()]
    return {row["name"]: row for row in rows}


def test_the_command_line_issues_lists_and_revokes_tokens(
    api: LedgerApi, client: FlaskClient, env: dict[str, str], store: LedgerStore
) -> None:
    cid = api.found_id()
    created = ledger(env, "token", "create", "--name", "meetings", "--role", "recorder",
                     "--collaboration", cid)  # fmt: skip
    assert TOKEN.fullmatch(created.stdout.strip()), "prints the token and nothing else"
    assert created.stdout.count("\n") == 1
    token = created.stdout.strip()
    assert client.get(f"/collaborations/{cid}", headers=bearer(token)).status_code == 200

    row = listed(env)["meetings"]
    assert row["role"] == "recorder"
    assert row["collaborations"] == [cid]
    assert row["event_types"] == []
    assert row["created_by"] == "cli"
    assert row["expires_at"] is None and row["revoked_at"] is None
    assert "token_hash" not in row
    assert hashlib.sha256(token.encode()).hexdigest() not in json.dumps(row)

    ledger(env, "token", "revoke", "meetings")
    # The running app refuses it at once: nothing is cached.
    refused = client.get(f"/collaborations/{cid}", headers=bearer(token))
    assert_problem(refused, 401)
    revoked = store.query_one("SELECT revoked_at FROM ledger_tokens WHERE name=?", ("meetings",))
    assert revoked is not None and revoked["revoked_at"] is not None


def test_the_command_line_limits_system_tokens_to_their_event_types(
    api: LedgerApi, client: FlaskClient, env: dict[str, str]
) -> None:
    cid = api.found_id()
    token = run(env, "token", "create", "--name", "forms", "--role", "system",
                "--collaboration", cid, "--event-type", "PhaseStarted").stdout.strip()  # fmt: skip
    system = LedgerApi(client, bearer(token))
    assert system.post_event(cid, "PhaseStarted", {"name": "Pilot"}).status_code == 201
    refused = system.post_event(cid, "MissionRevised", {"mission": "Other"})
    assert_problem(refused, 403)
    assert api.version(cid) == 2


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--role", "funder"), "--collaboration"),
        (("--role", "admin", "--collaboration", "x"), "--collaboration"),
        (("--role", "recorder", "--collaboration", "x", "--event-type", "PhaseStarted"), "system"),
        (("--role", "system", "--collaboration", "x"), "--event-type"),
    ],
)
def test_the_command_line_refuses_a_scope_that_does_not_fit_the_role(
    app: Flask, env: dict[str, str], args: tuple[str, ...], says: str
) -> None:
    result = run(env, "token", "create", "--name", "misfit", *args, check=False)
    assert result.exit_code != 0
    assert result.stdout == ""
    assert says in result.stderr


def test_an_expired_token_is_refused(
    api: LedgerApi, client: FlaskClient, env: dict[str, str], store: LedgerStore
) -> None:
    token = ledger(env, "token", "create", "--name", "visitor", "--expires-in", "1").stdout.strip()
    assert client.get("/collaborations", headers=bearer(token)).status_code == 200
    row = store.query_one("SELECT expires_at FROM ledger_tokens WHERE name=?", ("visitor",))
    assert row is not None
    expires = parse_instant(row["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=1))) < timedelta(minutes=5)

    # A day goes by.
    past = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with store.writing() as cursor:
        store.run(cursor, "UPDATE ledger_tokens SET expires_at=? WHERE name=?", (past, "visitor"))
    assert_problem(client.get("/collaborations", headers=bearer(token)), 401)


def test_the_admin_endpoints_issue_list_and_revoke_tokens(
    api: LedgerApi, client: FlaskClient, auth: dict[str, str]
) -> None:
    cid = api.found_id()
    issued = client.post(
        "/tokens",
        json={"name": "evaluator-1", "role": "evaluator", "collaborations": [cid],
              "expires_in_days": 30},
        headers=auth,
    )  # fmt: skip
    assert issued.status_code == 201, issued.get_data(as_text=True)
    token = issued.get_json()["token"]
    assert TOKEN.fullmatch(token)
    assert client.get(f"/collaborations/{cid}/timeline", headers=bearer(token)).status_code == 200

    listing = client.get("/tokens", headers=auth)
    assert listing.status_code == 200
    assert "glt_" not in listing.get_data(as_text=True)
    row = {r["name"]: r for r in listing.get_json()["items"]}["evaluator-1"]
    assert row["created_by"] == "tester"
    assert row["collaborations"] == [cid]
    assert row["expires_at"] is not None
    assert "token_hash" not in row

    assert client.delete("/tokens/evaluator-1", headers=auth).status_code == 204
    assert_problem(client.get(f"/collaborations/{cid}", headers=bearer(token)), 401)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "tester", "role": "admin"}, 409),  # the name of the fixture's own token
        ({"name": "lonely", "role": "funder"}, 422),  # a funder of nothing
        ({"name": "bad role", "role": "admin"}, 422),
        ({"name": "nobody", "role": "superuser"}, 422),
    ],
)
def test_the_admin_endpoints_refuse_tokens_that_cannot_be(
    client: FlaskClient, auth: dict[str, str], body: dict[str, Any], status: int
) -> None:
    assert_problem(client.post("/tokens", json=body, headers=auth), status)


def test_revoking_a_token_that_does_not_exist_is_404(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    assert_problem(client.delete("/tokens/nobody", headers=auth), 404)


def test_the_token_log_records_who_issued_and_revoked_what_when_with_which_scope(
    api: LedgerApi, client: FlaskClient, auth: dict[str, str], env: dict[str, str],
    store: LedgerStore,
) -> None:  # fmt: skip
    started = datetime.now(UTC) - timedelta(seconds=1)
    cid = api.found_id()
    run(env, "token", "create", "--name", "forms", "--role", "system",
        "--collaboration", cid, "--event-type", "PhaseStarted", "--expires-in", "7")  # fmt: skip
    body = {"name": "board", "role": "funder", "collaborations": [cid]}
    assert client.post("/tokens", json=body, headers=auth).status_code == 201
    assert client.delete("/tokens/board", headers=auth).status_code == 204
    run(env, "token", "revoke", "forms")

    rows = store.query("SELECT * FROM ledger_token_log ORDER BY at")
    seen = [(r["actor"], r["action"], r["name"], r["role"]) for r in rows]
    assert seen == [
        ("cli", "create", "tester", "admin"),  # the fixture's token (TokenStore.create default)
        ("cli", "create", "forms", "system"),
        ("tester", "create", "board", "funder"),
        ("tester", "revoke", "board", "funder"),
        ("cli", "revoke", "forms", "system"),
    ]
    for row in rows:
        assert started <= parse_instant(row["at"]) <= datetime.now(UTC)
    forms = json.loads(rows[1]["scope"])
    assert forms["collaborations"] == [cid]
    assert forms["event_types"] == ["PhaseStarted"]
    assert forms["expires_at"] is not None
    assert json.loads(rows[2]["scope"])["collaborations"] == [cid]
    assert "glt_" not in json.dumps(rows)


@dataclass(frozen=True)
class Dump:
    """What an operator's backup holds: the database as SQL text, and the raw bytes of the files
    that the database wrote."""

    text: str
    files: dict[str, bytes]


def sqlite_dump(url: str) -> Dump:
    """`.dump` of the SQLite file, and the file itself with its write-ahead log."""
    database = Path(url.removeprefix("sqlite:///"))
    with closing(sqlite3.connect(database)) as connection:
        text = "\n".join(connection.iterdump())
    files = {path.name: path.read_bytes() for path in database.parent.glob(database.name + "*")}
    return Dump(text, files)


def postgres_dump(cluster: pg.Cluster, url: str, since: float) -> Dump:
    """`pg_dump` of the database, and the files of its tables (after a checkpoint wrote them)
    together with the write-ahead log the cluster wrote since `since` (an epoch second)."""
    text = subprocess.run(
        [str(cluster.bin_dir / "pg_dump"), "--dbname", url],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CHECKPOINT")
        row = connection.execute(
            "SELECT oid FROM pg_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    data = cluster.directory / "data"
    tables = [path for path in (data / "base" / str(row[0])).iterdir() if path.is_file()]
    log = [path for path in (data / "pg_wal").iterdir()
           if path.is_file() and path.stat().st_mtime >= since]  # fmt: skip
    assert log, "no write-ahead log was written during the test"
    return Dump(text, {str(path.relative_to(data)): path.read_bytes() for path in tables + log})


def test_a_dump_of_the_database_holds_no_usable_token(
    client: FlaskClient, auth: dict[str, str], env: dict[str, str], settings: Settings,
    backend: str, request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    started = time.time() - 1
    from_cli = run(env, "token", "create", "--name", "operator").stdout.strip()
    issued = client.post("/tokens", json={"name": "auditor", "role": "auditor"}, headers=auth)
    secrets = [from_cli, issued.get_json()["token"], auth["Authorization"].split()[1]]

    if backend == "postgres":
        cluster: pg.Cluster = request.getfixturevalue("postgres_cluster")
        dump = postgres_dump(cluster, settings.database_url, started)
    else:
        dump = sqlite_dump(settings.database_url)
    assert "glt_" not in dump.text
    for secret in secrets:
        assert secret not in dump.text
        assert hashlib.sha256(secret.encode()).hexdigest() in dump.text  # hashes only
    # Nor in the raw files, write-ahead log included.
    for name, raw in dump.files.items():
        for secret in secrets:
            assert secret.encode() not in raw, name
        if not name.startswith("pg_wal"):  # the cluster's log holds other tests' databases too
            assert b"glt_" not in raw, name


def test_tokens_never_appear_in_the_logs(
    app: Flask, client: FlaskClient, auth: dict[str, str], caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    caplog.set_level("DEBUG")
    secret = auth["Authorization"].split()[1]
    issued = client.post("/tokens", json={"name": "logged", "role": "admin"}, headers=auth)
    client.get("/collaborations", headers=auth)
    client.get("/collaborations", headers={"Authorization": "Bearer glt_wrong"})
    client.delete("/tokens/logged", headers=auth)
    client.get("/collaborations", headers={"Authorization": f"Bearer {issued.get_json()['token']}"})
    monkeypatch.setattr(app.extensions["ledger.service"], "collaborations", _broken)
    client.get("/collaborations", headers=auth)  # a 500, logged with its traceback
    formatter = JsonFormatter()
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    assert '"status": 500' in logged, "no request was logged: this test would prove nothing"
    assert secret not in logged
    assert "glt_" not in logged


def _broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("boom")
