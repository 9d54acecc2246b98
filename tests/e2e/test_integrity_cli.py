"""Keys, bundles and offline verification through the `ledger` command, against a real server
that signs checkpoints. (The key files themselves: tests/unit/test_keys_command.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import database_url
from tests.e2e.conftest import Server, ledger_command, running_server


def ledger(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the `ledger` command, whatever its exit status."""
    return subprocess.run(
        [sys.executable, "-m", "ledger", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "ledger.key"
    ledger_command("keys", "create", str(path), env=dict(os.environ))
    return path


@pytest.fixture(scope="module")
def signing_server(
    backend: str,
    key: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("e2e-integrity")
    signing = {"LEDGER_SIGNING_KEY_FILE": str(key), "LEDGER_CHECKPOINT_INTERVAL": "4"}
    with running_server(directory, database_url(backend, directory, request), signing) as running:
        yield running


@pytest.fixture(scope="module")
def collaboration(signing_server: Server) -> str:
    """A collaboration with 10 events, posted over HTTP."""
    server = signing_server
    founded = requests.post(
        f"{server.url}/collaborations",
        json={"name": "Leerecosysteem Noord", "mission": "Ieder kind leest 📚"},
        headers=server.auth,
        timeout=10,
    )
    assert founded.status_code == 201
    cid = str(founded.json()["collaboration_id"])
    for i in range(9):
        posted = requests.post(
            f"{server.url}/collaborations/{cid}/events",
            json={"type": "MissionRevised", "data": {"mission": f"Missie {i}"}},
            headers=server.auth,
            timeout=10,
        )
        assert posted.status_code == 201
        assert set(posted.json()["receipt"]) == {"position", "hash"}
    return cid


def offline_env() -> dict[str, str]:
    """An environment whose database cannot be reached: verifying must not need one."""
    return {**os.environ, "LEDGER_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"}


def test_an_exported_bundle_verifies_offline(
    signing_server: Server, collaboration: str, key: Path, tmp_path: Path
) -> None:
    ledger_command("export", "bundle", str(tmp_path / "bundle"), env=signing_server.env)

    result = ledger(
        "verify", str(tmp_path / "bundle"), "--public-key", f"{key}.pub", env=offline_env()
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK")


def test_an_edited_bundle_fails_verification_naming_the_position(
    signing_server: Server, collaboration: str, key: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    ledger_command("export", "bundle", str(bundle), env=signing_server.env)
    lines = (bundle / "events.jsonl").read_text().splitlines()
    event = json.loads(lines[4])
    event["data"]["mission"] = "Vervalst"
    lines[4] = json.dumps(event, ensure_ascii=False)
    (bundle / "events.jsonl").write_text("\n".join(lines) + "\n")

    result = ledger(
        "verify", str(bundle), "--public-key", f"{key}.pub", "--json", env=offline_env()
    )

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["manipulated_at"] == [event["position"]]


def test_a_bundle_of_one_collaboration_up_to_a_position_verifies(
    signing_server: Server, collaboration: str, key: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "one"
    ledger_command(
        "export", "bundle", str(bundle), "--collaboration", collaboration, "--to-position", "6",
        env=signing_server.env,
    )  # fmt: skip

    result = ledger(
        "verify", str(bundle), "--public-key", f"{key}.pub", "--json", env=offline_env()
    )

    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["checked"]["records"] >= 1


def test_a_bundle_checked_against_another_key_fails(
    signing_server: Server, collaboration: str, tmp_path: Path
) -> None:
    ledger_command("export", "bundle", str(tmp_path / "bundle"), env=signing_server.env)
    ledger_command("keys", "create", str(tmp_path / "other.key"), env=dict(os.environ))

    result = ledger(
        "verify", str(tmp_path / "bundle"), "--public-key", str(tmp_path / "other.key.pub"),
        env=offline_env(),
    )  # fmt: skip

    assert result.returncode == 1
    assert "checkpoint-signature" in result.stdout


def test_exporting_into_a_directory_that_is_not_empty_is_refused(
    signing_server: Server, tmp_path: Path
) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")

    result = ledger("export", "bundle", str(tmp_path / "taken"), env=signing_server.env)

    assert result.returncode != 0
    assert "not empty" in result.stderr


def test_the_server_verifies_its_own_log_and_serves_its_checkpoints(
    signing_server: Server, collaboration: str
) -> None:
    report = requests.get(f"{signing_server.url}/verify", headers=signing_server.auth, timeout=60)
    listed = requests.get(
        f"{signing_server.url}/checkpoints", headers=signing_server.auth, timeout=10
    )

    assert report.status_code == 200 and report.json()["ok"] is True
    sizes = [c["body"]["tree_size"] for c in listed.json()["items"]]
    assert {4, 8} <= set(sizes)  # every 4 events, whichever worker stored them
