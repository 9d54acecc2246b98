"""Signed checkpoints: an Ed25519 signature over the RFC 8785 form of the tree size, the last
position, the Merkle root, the chain head, the time and the previous checkpoint's hash."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger.integrity.canonical import canonical, sha256_hex
from ledger.integrity.signing import PublicKey, SigningKey

FORMAT = "governance-ledger/checkpoint/v1"
HEX64 = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Checkpoint:
    body: Mapping[str, Any]
    hash: str
    signature: str

    @property
    def tree_size(self) -> int:
        return int(self.body["tree_size"])

    @property
    def position(self) -> int:
        return int(self.body["position"])

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.body["root"])

    @property
    def previous(self) -> str | None:
        previous: str | None = self.body["previous"]
        return previous

    @property
    def message(self) -> bytes:
        """The signed bytes: the body in RFC 8785 form."""
        return canonical(dict(self.body))

    def is_signed_by(self, key: PublicKey) -> bool:
        return (
            self.body.get("key_id") == key.key_id
            and sha256_hex(self.message) == self.hash
            and key.verifies(self.signature, self.message)
        )

    def as_dict(self) -> dict[str, Any]:
        return {"body": dict(self.body), "hash": self.hash, "signature": self.signature}

    def line(self) -> bytes:
        return canonical(self.as_dict())

    @classmethod
    def from_dict(cls, value: Any) -> Checkpoint:
        """A checkpoint from its JSON form; ValueError when it is not shaped like one."""
        if not isinstance(value, Mapping) or not isinstance(value.get("body"), Mapping):
            raise ValueError("a checkpoint is an object with body, hash and signature")
        body = value["body"]
        numbers_ok = all(
            isinstance(body.get(name), int) and body[name] >= 0
            for name in ("tree_size", "position")
        )
        hashes_ok = all(_is_hex(body.get(name), 64) for name in ("root", "chain_head"))
        previous_ok = body.get("previous") is None or _is_hex(body.get("previous"), 64)
        if not (numbers_ok and hashes_ok and previous_ok and body.get("format") == FORMAT):
            raise ValueError("the checkpoint body lacks or garbles a field")
        if not (_is_hex(value.get("hash"), 64) and _is_hex(value.get("signature"), 128)):
            raise ValueError("the checkpoint's hash or signature is not hex of the right length")
        return cls(body=dict(body), hash=value["hash"], signature=value["signature"])

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Checkpoint:
        return cls(body=json.loads(row["body"]), hash=row["hash"], signature=row["signature"])


def _is_hex(value: Any, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and set(value) <= HEX64


def sign_checkpoint(
    key: SigningKey,
    *,
    tree_size: int,
    position: int,
    root: bytes,
    chain_head: str,
    issued_at: str,
    previous: str | None,
) -> Checkpoint:
    body = {
        "format": FORMAT,
        "tree_size": tree_size,
        "position": position,
        "root": root.hex(),
        "chain_head": chain_head,
        "issued_at": issued_at,
        "previous": previous,
        "key_id": key.public.key_id,
    }
    message = canonical(body)
    return Checkpoint(body=body, hash=sha256_hex(message), signature=key.sign(message))
