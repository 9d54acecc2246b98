"""Integrity: Merkle proofs, signed checkpoints, the signing key, and verification of the log.
Who may call these is decided with every other route, in ledger/api/access.py."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from ledger.api.problems import problem
from ledger.api.requests import Blueprint
from ledger.integrity.errors import IntegrityProblem
from ledger.integrity.service import IntegrityService

blp = Blueprint(
    "integrity",
    __name__,
    description="Receipts' proofs: Merkle inclusion and consistency proofs (RFC 9162), "
    "signed checkpoints, the public key, and verification of the whole log",
)
MAX_SIZE = 2**53
HASH = {"description": "SHA-256, lowercase hex"}


def integrity() -> IntegrityService:
    service: IntegrityService = current_app.extensions["ledger.service"].integrity
    return service


@blp.errorhandler(IntegrityProblem)
def integrity_problem(error: IntegrityProblem) -> Response:
    return problem(error.status, error.rule, error.detail, rule=error.rule)


# Schemas


class InclusionQuerySchema(Schema):
    position = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_SIZE))
    tree_size = fields.Integer(
        validate=validate.Range(min=1, max=MAX_SIZE),
        metadata={"description": "Default: the current tree size"},
    )


class ConsistencyQuerySchema(Schema):
    from_ = fields.Integer(
        data_key="from", required=True, validate=validate.Range(min=1, max=MAX_SIZE)
    )
    to = fields.Integer(
        validate=validate.Range(min=1, max=MAX_SIZE),
        metadata={"description": "Default: the current tree size"},
    )


class CheckpointPageQuerySchema(Schema):
    after = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_SIZE),
        metadata={"description": "Only checkpoints of a larger tree size"},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class CheckpointRequestSchema(Schema):
    """POST /checkpoints takes an empty JSON object: the checkpoint covers the whole log."""


class CheckpointBodySchema(Schema):
    format = fields.String()
    tree_size = fields.Integer()
    position = fields.Integer(metadata={"description": "Position of the last record signed"})
    root = fields.String(metadata={"description": "RFC 9162 Merkle tree head, hex"})
    chain_head = fields.String(metadata=HASH)
    issued_at = fields.String(metadata={"format": "date-time"})
    previous = fields.String(allow_none=True, metadata=HASH)
    key_id = fields.String(metadata={"description": "SHA-256 of the raw public key, hex"})


class CheckpointSchema(Schema):
    body = fields.Nested(
        CheckpointBodySchema, metadata={"description": "Signed in its RFC 8785 form"}
    )
    hash = fields.String(metadata={"description": "SHA-256 of the RFC 8785 body, hex"})
    signature = fields.String(metadata={"description": "Ed25519 over the RFC 8785 body, hex"})


class CheckpointPageSchema(Schema):
    items = fields.List(fields.Nested(CheckpointSchema))
    next_after = fields.Integer(allow_none=True)


class InclusionProofSchema(Schema):
    position = fields.Integer()
    leaf_index = fields.Integer()
    record_hash = fields.String(metadata=HASH)
    leaf_hash = fields.String(metadata={"description": "SHA-256(0x00 || record hash), hex"})
    tree_size = fields.Integer()
    root = fields.String(metadata=HASH)
    audit_path = fields.List(fields.String(), metadata={"description": "Bottom-up, hex"})
    checkpoint = fields.Nested(CheckpointSchema, allow_none=True)


class ConsistencyProofSchema(Schema):
    from_ = fields.Integer(attribute="from", data_key="from")
    to = fields.Integer()
    from_root = fields.String(metadata=HASH)
    to_root = fields.String(metadata=HASH)
    proof = fields.List(fields.String())
    from_checkpoint = fields.Nested(CheckpointSchema, allow_none=True)
    to_checkpoint = fields.Nested(CheckpointSchema, allow_none=True)


class PublicKeySchema(Schema):
    key_id = fields.String()
    algorithm = fields.String()
    public_key = fields.String(metadata={"description": "The raw 32-byte key, base64"})
    pem = fields.String(metadata={"description": "SubjectPublicKeyInfo PEM, for ledger verify"})


class KeysSchema(Schema):
    keys = fields.List(fields.Nested(PublicKeySchema))


class FindingSchema(Schema):
    kind = fields.String(metadata={"enum": ["manipulation", "notice"]})
    check = fields.String()
    position = fields.Integer(allow_none=True)
    through = fields.Integer()
    detail = fields.String()


class VerificationSchema(Schema):
    ok = fields.Boolean(metadata={"description": "No manipulation found"})
    source = fields.String()
    basis = fields.Dict()
    checked = fields.Dict()
    counts = fields.Dict()
    manipulated_at = fields.List(
        fields.Integer(), metadata={"description": "Where each manipulation found starts"}
    )
    gaps = fields.List(
        fields.Dict(),
        metadata={"description": "Runs {from, through} of positions without an event"},
    )
    findings = fields.List(fields.Nested(FindingSchema))
    seconds = fields.Float()


# Routes


@blp.route("/proofs/inclusion")
class InclusionProof(MethodView):
    @blp.arguments(InclusionQuerySchema, location="query", error_status_code=400)
    @blp.response(200, InclusionProofSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Proof that the record at `position` is in the tree of `tree_size` records."""
        return integrity().inclusion_proof(query["position"], query.get("tree_size"))


@blp.route("/proofs/consistency")
class ConsistencyProof(MethodView):
    @blp.arguments(ConsistencyQuerySchema, location="query", error_status_code=400)
    @blp.response(200, ConsistencyProofSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Proof that the tree of `from` records is a prefix of the tree of `to` records."""
        return integrity().consistency_proof(query["from_"], query.get("to"))


@blp.route("/checkpoints")
class Checkpoints(MethodView):
    @blp.arguments(CheckpointPageQuerySchema, location="query", error_status_code=400)
    @blp.response(200, CheckpointPageSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Signed checkpoints by tree size, those after tree size `after`."""
        items = integrity().checkpoints(query["after"], query["limit"])
        next_after = items[-1].tree_size if len(items) == query["limit"] else None
        return {"items": [c.as_dict() for c in items], "next_after": next_after}

    @blp.arguments(CheckpointRequestSchema)
    @blp.response(201, CheckpointSchema)
    @blp.alt_response(200, schema=CheckpointSchema, description="The latest already covers all")
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Sign a checkpoint of the whole log now (admin); the latest one if it covers all."""
        before = integrity().log.latest_checkpoint()
        checkpoint = integrity().issue_checkpoint()
        fresh = before is None or before.hash != checkpoint.hash
        return checkpoint.as_dict(), 201 if fresh else 200


@blp.route("/checkpoints/latest")
class LatestCheckpoint(MethodView):
    @blp.response(200, CheckpointSchema)
    def get(self) -> dict[str, Any]:
        """The most recent signed checkpoint."""
        return integrity().latest_checkpoint().as_dict()


@blp.route("/keys")
class Keys(MethodView):
    @blp.response(200, KeysSchema)
    def get(self) -> dict[str, Any]:
        """The public key that checkpoints are signed with."""
        return {"keys": [integrity().public_key().as_dict()]}


@blp.route("/verify")
class Verify(MethodView):
    @blp.response(200, VerificationSchema)
    def get(self) -> dict[str, Any]:
        """Verify the whole live log: events, records, chain, tree and checkpoints."""
        return integrity().verify().as_dict()
