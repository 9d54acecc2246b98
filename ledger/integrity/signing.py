"""Ed25519 keys for checkpoints: written by `ledger keys create PATH` (PATH private, mode 0600;
PATH.pub public), read by the service from LEDGER_SIGNING_KEY_FILE and by verifiers from a
public key file they trust."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "Ed25519"


class KeyFileError(Exception):
    """A key file is missing, unreadable or not an Ed25519 key; the message says which."""


@dataclass(frozen=True)
class PublicKey:
    key: Ed25519PublicKey

    @property
    def raw(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        """SHA-256 of the raw 32-byte public key, in hex: names the key in checkpoints."""
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def pem(self) -> str:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def as_dict(self) -> dict[str, str]:
        return {
            "key_id": self.key_id,
            "algorithm": ALGORITHM,
            "public_key": base64.b64encode(self.raw).decode(),
            "pem": self.pem,
        }

    def verifies(self, signature_hex: str, message: bytes) -> bool:
        try:
            self.key.verify(bytes.fromhex(signature_hex), message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    key: Ed25519PrivateKey

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.key.public_key())

    def sign(self, message: bytes) -> str:
        return self.key.sign(message).hex()


def create_key_files(path: Path) -> Path:
    """Write a new private key to `path` (owner-only) and its public key to `path`.pub."""
    public_path = path.with_name(path.name + ".pub")
    for existing in (path, public_path):
        if existing.exists():
            raise KeyFileError(f"{existing} exists; choose another path or remove it first.")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(private_pem)
    public_path.write_text(SigningKey(key).public.pem)
    return public_path


def load_signing_key(path: Path) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as error:
        raise KeyFileError(f"cannot read the signing key {path}: {error.strerror}") from None
    except (ValueError, TypeError):
        raise KeyFileError(
            f"{path} is not an unencrypted PEM private key; make one with 'ledger keys create'"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 key; make one with 'ledger keys create'")
    return SigningKey(key)


def load_public_key(path: Path) -> PublicKey:
    try:
        return parse_public_key(path.read_bytes())
    except OSError as error:
        raise KeyFileError(f"cannot read the public key {path}: {error.strerror}") from None
    except KeyFileError as error:
        raise KeyFileError(f"{path}: {error}") from None


def parse_public_key(pem: bytes) -> PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise KeyFileError("not a PEM public key (the PATH.pub of 'ledger keys create')") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError("not an Ed25519 public key")
    return PublicKey(key)
