"""`ledger keys create`, `ledger export bundle` and `ledger verify` (offline)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ledger.integrity.bundle import BundleError, verify_bundle
from ledger.integrity.signing import KeyFileError, create_key_files, load_public_key


@click.group()
def keys() -> None:
    """Ed25519 keys that sign checkpoints."""


@keys.command("create")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def keys_create(path: Path) -> None:
    """Write a private key to PATH (mode 0600) and its public key to PATH.pub."""
    try:
        public_path = create_key_files(path)
    except KeyFileError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"private key: {path} (set LEDGER_SIGNING_KEY_FILE={path})", err=True)
    click.echo(f"public key:  {public_path} (give it to auditors)", err=True)


@click.group()
def export() -> None:
    """Export what auditors need."""


@export.command("bundle")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--collaboration", "collaboration_id", help="Only this collaboration's events.")
@click.option("--to-position", type=click.IntRange(min=1), help="Only events up to here.")
def export_bundle(directory: Path, collaboration_id: str | None, to_position: int | None) -> None:
    """Write an audit bundle to DIRECTORY: records, events, proofs, checkpoints, public key."""
    from ledger.cli import _service
    from ledger.integrity.export import export_bundle as write_bundle

    service = _service()
    try:
        manifest = write_bundle(
            service.integrity,
            directory,
            collaboration_id=collaboration_id,
            to_position=to_position,
        )
    except BundleError as error:
        raise click.ClickException(str(error)) from None
    finally:
        service.close()
    basis, counts = manifest["basis"], manifest["counts"]
    click.echo(
        f"bundle written to {directory}: {counts['events']} events, {counts['records']} records, "
        f"{counts['checkpoints']} checkpoints, up to position {basis['position']}",
        err=True,
    )


@click.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--public-key",
    "public_key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The ledger's public key as you received it (PATH.pub), not the bundle's copy.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(directory: Path, public_key_file: Path, as_json: bool) -> None:
    """Verify an audit bundle offline; exit 1 if anything was manipulated."""
    try:
        key = load_public_key(public_key_file)
        report = verify_bundle(directory, key)
    except (KeyFileError, BundleError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else report.text())
    sys.exit(0 if report.ok else 1)
