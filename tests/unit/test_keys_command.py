"""`ledger keys create`: a private key only its owner can read, its public key, and never an
existing key overwritten. (No database is involved; the e2e tests use the keys it makes.)"""

from __future__ import annotations

import stat
from pathlib import Path

from click.testing import CliRunner

from ledger.cli import main


def test_keys_create_writes_an_owner_only_private_key_and_a_public_key(tmp_path: Path) -> None:
    path = tmp_path / "new.key"

    result = CliRunner().invoke(main, ["keys", "create", str(path)])

    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Path(f"{path}.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    again = CliRunner().invoke(main, ["keys", "create", str(path)])
    assert again.exit_code != 0
    assert "exists" in again.stderr
