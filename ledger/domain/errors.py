"""Ledger errors: one class per broken rule, each naming the rule it enforces."""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error the ledger reports to its callers."""

    rule = "ledger-error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class RuleViolation(LedgerError):
    """A governance rule of design.md §2 was broken; nothing was stored."""

    rule = "rule-violated"


class UnknownReferenceError(RuleViolation):
    rule = "unknown-reference"


class UnknownPartnerError(UnknownReferenceError):
    rule = "unknown-partner"


class UnknownPersonError(UnknownReferenceError):
    rule = "unknown-person"


class UnknownRoleError(UnknownReferenceError):
    rule = "unknown-role"


class UnknownMandateError(UnknownReferenceError):
    rule = "unknown-mandate"


class UnknownAgreementError(UnknownReferenceError):
    rule = "unknown-agreement"


class UnknownDecisionError(UnknownReferenceError):
    rule = "unknown-decision"


class UnknownReflectionError(UnknownReferenceError):
    rule = "unknown-reflection"


class PartnerNotCurrentError(RuleViolation):
    rule = "partner-not-current"


class MemberNotCurrentError(RuleViolation):
    rule = "member-not-current"


class RoleNotVacantError(RuleViolation):
    rule = "role-not-vacant"


class RoleNotHeldError(RuleViolation):
    rule = "role-not-held"


class NotCurrentHolderError(RuleViolation):
    rule = "not-current-holder"


class HandoverToSelfError(RuleViolation):
    rule = "handover-to-self"


class AlreadyEndedError(RuleViolation):
    rule = "already-ended"


class DuplicateIdError(RuleViolation):
    rule = "duplicate-id"


class EffectiveBeforeReferenceError(RuleViolation):
    rule = "effective-before-reference"


class UnknownEventTypeError(LedgerError):
    rule = "unknown-event-type"


class CollaborationNotFoundError(LedgerError):
    rule = "collaboration-not-found"


class VersionMismatchError(LedgerError):
    """The stream moved on since the version the client saw (If-Match)."""

    rule = "version-mismatch"

    def __init__(self, detail: str, current_version: int) -> None:
        super().__init__(detail)
        self.current_version = current_version


class ConcurrentWriteError(LedgerError):
    """Another writer appended to the stream at the same moment; retrying is safe."""

    rule = "concurrent-write"


class IdempotencyKeyReusedError(LedgerError):
    rule = "idempotency-key-reused"


class SourceIdReusedError(LedgerError):
    rule = "source-id-reused"


class MomentOutOfRangeError(LedgerError):
    rule = "moment-out-of-range"


class NotYetRecordedError(LedgerError):
    rule = "not-yet-recorded"


class NotYetInForceError(LedgerError):
    rule = "not-yet-in-force"


class ItemNotFoundError(LedgerError):
    """A role, mandate, agreement, decision or reflection asked for does not exist."""

    rule = "item-not-found"
