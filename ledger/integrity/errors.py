"""Errors of the integrity endpoints, each with the HTTP status it is reported with."""

from __future__ import annotations

from ledger.domain.errors import LedgerError


class IntegrityProblem(LedgerError):
    status = 400


class NoSigningKeyError(IntegrityProblem):
    rule = "no-signing-key"
    status = 503


class NoCheckpointError(IntegrityProblem):
    rule = "no-checkpoint"
    status = 404


class NotInLogError(IntegrityProblem):
    rule = "not-in-log"
    status = 404


class TreeSizeError(IntegrityProblem):
    rule = "tree-size-out-of-range"
    status = 422


class TreeDamagedError(IntegrityProblem):
    rule = "tree-damaged"
    status = 500
