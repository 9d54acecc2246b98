"""The closed vocabularies of the governance domain (design.md §2), shared by rules and schemas."""

from __future__ import annotations

from enum import StrEnum


class PartnerKind(StrEnum):
    SCHOOL = "school"
    COMPANY = "company"
    GOVERNMENT = "government"
    LIBRARY = "library"
    SOCIAL_ORGANISATION = "social_organisation"
    NEIGHBOURHOOD = "neighbourhood"
    KNOWLEDGE_INSTITUTION = "knowledge_institution"
    OTHER = "other"


class Capacity(StrEnum):
    FUNDER = "funder"
    ACCOUNTABLE = "accountable"
    MANAGING = "managing"
    IMPLEMENTING = "implementing"
    HOST = "host"
    KNOWLEDGE = "knowledge"
    PARTICIPANT = "participant"


class AssignmentMethod(StrEnum):
    APPOINTED = "appointed"
    ELECTED = "elected"
    CONSENT = "consent"
    ROTATION = "rotation"
    VOLUNTEERED = "volunteered"


class HolderKind(StrEnum):
    ROLE = "role"
    PERSON = "person"
    PARTNER = "partner"


class Formality(StrEnum):
    ORAL = "oral"
    MINUTES = "minutes"
    LETTER_OF_INTENT = "letter_of_intent"
    COVENANT = "covenant"
    CONTRACT = "contract"


class Topic(StrEnum):
    MISSION = "mission"
    GOALS = "goals"
    ROLES = "roles"
    MANDATES = "mandates"
    DECISION_RIGHTS = "decision_rights"
    TASKS = "tasks"
    BUDGET = "budget"
    INTERESTS = "interests"
    PROCESS = "process"
    OTHER = "other"


class ReviewOutcome(StrEnum):
    KEEP = "keep"
    ADJUST = "adjust"
    END = "end"


class DecisionMethod(StrEnum):
    CONSENT = "consent"
    CONSENSUS = "consensus"
    MAJORITY = "majority"
    ADVICE = "advice"
    MANDATE_HOLDER = "mandate_holder"
    DEEP_DEMOCRACY = "deep_democracy"
    OTHER = "other"


class ReflectionMethod(StrEnum):
    TIMELINE = "timeline"
    EYE_OPENER = "eye_opener"
    LEARNING_HISTORY = "learning_history"
    RETROSPECTIVE = "retrospective"
    OTHER = "other"


class LearningLoop(StrEnum):
    SINGLE = "single"
    DOUBLE = "double"
    TRIPLE = "triple"


class ReflectionOutcome(StrEnum):
    KEEP = "keep"
    ADJUST = "adjust"


EVENT_TYPES: tuple[str, ...] = (
    "CollaborationFounded",
    "MissionRevised",
    "PhaseStarted",
    "PartnerJoined",
    "PartnerCapacitiesChanged",
    "PartnerLeft",
    "MemberJoined",
    "MemberLeft",
    "RoleDefined",
    "RoleRedefined",
    "RoleAssigned",
    "RoleHandedOver",
    "RoleVacated",
    "RoleRetired",
    "MandateGranted",
    "MandateAmended",
    "MandateRevoked",
    "AgreementMade",
    "AgreementAmended",
    "AgreementCorrected",
    "AgreementReviewed",
    "AgreementEnded",
    "DecisionRecorded",
    "ReflectionHeld",
)
