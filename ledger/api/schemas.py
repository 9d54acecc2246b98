"""Marshmallow schemas: what each request carries and each response returns."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import (
    INCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from ledger.api.fields import (
    Amount,
    Choice,
    Currency,
    Id,
    Instant,
    IsoDate,
    MoneySchema,
    PageLimit,
    Pattern,
    ServerOwned,
    StrictBoolean,
    Text,
)
from ledger.cloudevents import SPECVERSION, TYPE_PREFIX
from ledger.domain import vocabulary as v

SHORT = 200
MAX_VERSION = 2**53
LIST_MAX = 200


def _list(item: fields.Field[Any], *, min_items: int = 0, **kwargs: Any) -> fields.List[Any]:
    return fields.List(item, validate=validate.Length(min=min_items, max=LIST_MAX), **kwargs)


def _unique(values: list[Any]) -> None:
    if len(values) != len({repr(value) for value in values}):
        raise ValidationError("List the same value only once.")


def _unique_list(item: fields.Field[Any], **kwargs: Any) -> fields.List[Any]:
    return fields.List(
        item,
        validate=[validate.Length(max=LIST_MAX), _unique],
        metadata={"uniqueItems": True},
        **kwargs,
    )


# Data of each event type (design.md §2).


class CollaborationFoundedData(Schema):
    name = Text(SHORT, required=True)
    mission = Text(required=True)
    languages = _unique_list(
        fields.String(
            validate=Pattern(
                r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", error="Use a language tag like nl or en."
            )
        )
    )


class MissionRevisedData(Schema):
    mission = Text(required=True)
    drivers = _list(Text(1000))
    values = _list(Text(1000))


class PhaseStartedData(Schema):
    name = Text(SHORT, required=True)
    description = Text()


class PartnerJoinedData(Schema):
    partner_id = Id(required=True)
    name = Text(SHORT, required=True)
    kind = Choice(v.PartnerKind, required=True)
    capacities = _unique_list(Choice(v.Capacity), required=True)


class PartnerCapacitiesChangedData(Schema):
    partner_id = Id(required=True)
    capacities = _unique_list(Choice(v.Capacity), required=True)


class PartnerLeftData(Schema):
    partner_id = Id(required=True)
    reason = Text(required=True)


class MemberJoinedData(Schema):
    person_id = Id(required=True)
    name = Text(SHORT, required=True)
    partner_id = Id()


class MemberLeftData(Schema):
    person_id = Id(required=True)
    reason = Text(required=True)


class RoleDefinedData(Schema):
    role_id = Id(required=True)
    name = Text(SHORT, required=True)
    purpose = Text(required=True)
    accountabilities = _list(Text(1000), required=True)
    term_months = fields.Integer(strict=True, validate=validate.Range(min=1, max=600))


class RoleRedefinedData(Schema):
    role_id = Id(required=True)
    purpose = Text()
    accountabilities = _list(Text(1000))
    term_months = fields.Integer(strict=True, validate=validate.Range(min=1, max=600))


class RoleAssignedData(Schema):
    role_id = Id(required=True)
    person_id = Id(required=True)
    method = Choice(v.AssignmentMethod, required=True)
    term_ends_on = IsoDate()


class RoleHandedOverData(Schema):
    role_id = Id(required=True)
    from_person_id = Id(required=True)
    to_person_id = Id(required=True)
    notes = Text()
    term_ends_on = IsoDate()


class RoleVacatedData(Schema):
    role_id = Id(required=True)
    reason = Text(required=True)


class RoleRetiredData(Schema):
    role_id = Id(required=True)
    reason = Text(required=True)


class HolderSchema(Schema):
    kind = Choice(v.HolderKind, required=True)
    id = Id(required=True)


class MandateGrantedData(Schema):
    mandate_id = Id(required=True)
    holder = fields.Nested(HolderSchema, required=True)
    scope = Text(required=True)
    decision_rights = _list(Text(1000), required=True)
    budget_limit = fields.Nested(MoneySchema)
    valid_until = IsoDate()
    review_on = IsoDate()


class MandateAmendedData(Schema):
    mandate_id = Id(required=True)
    scope = Text()
    decision_rights = _list(Text(1000))
    budget_limit = fields.Nested(MoneySchema)
    valid_until = IsoDate()
    review_on = IsoDate()
    reason = Text(required=True)


class MandateRevokedData(Schema):
    mandate_id = Id(required=True)
    reason = Text(required=True)


class PartySchema(Schema):
    partner_id = Id(required=True)
    capacity = Choice(v.Capacity, required=True)


class BudgetCommitmentSchema(Schema):
    partner_id = Id(required=True)
    amount = Amount(required=True)
    currency = Currency(required=True)
    period = Text(SHORT)


class AgreementFieldsMixin(Schema):
    title = Text(SHORT)
    formality = Choice(v.Formality)
    topics = _unique_list(Choice(v.Topic))
    parties = _list(fields.Nested(PartySchema))
    terms = Text(50_000)
    budget_commitments = _list(fields.Nested(BudgetCommitmentSchema))
    evaluation_criteria = Text()
    review_on = IsoDate()
    valid_until = IsoDate()


class AgreementMadeData(AgreementFieldsMixin):
    agreement_id = Id(required=True)
    title = Text(SHORT, required=True)
    formality = Choice(v.Formality, required=True)
    topics = _unique_list(Choice(v.Topic), required=True)
    parties = _list(fields.Nested(PartySchema), min_items=1, required=True)
    terms = Text(50_000, required=True)


class AgreementAmendedData(AgreementFieldsMixin):
    agreement_id = Id(required=True)
    reason = Text(required=True)

    class Meta:
        # For the OpenAPI document: agreement_id, reason and a change (changes_something).
        json_schema: ClassVar[dict[str, Any]] = {"minProperties": 3}

    @validates_schema
    def changes_something(self, data: dict[str, Any], **kwargs: Any) -> None:
        changed = set(data) - {"agreement_id", "reason"}
        if not changed:
            raise ValidationError("Name at least one field that changes, e.g. terms.")


class AgreementCorrectedData(AgreementAmendedData):
    pass


class AgreementReviewedData(Schema):
    agreement_id = Id(required=True)
    outcome = Choice(v.ReviewOutcome, required=True)
    next_review_on = IsoDate()
    notes = Text()


class AgreementEndedData(Schema):
    agreement_id = Id(required=True)
    reason = Text(required=True)


class ParticipantSchema(Schema):
    person_id = Id(required=True)
    capacity = Text(SHORT)


class ObjectionSchema(Schema):
    person_id = Id(required=True)
    text = Text(required=True)
    resolution = Text()


class DecisionRecordedData(Schema):
    decision_id = Id(required=True)
    subject = Text(required=True)
    method = Choice(v.DecisionMethod, required=True)
    outcome = Text(required=True)
    participants = _list(fields.Nested(ParticipantSchema), min_items=1, required=True)
    objections = _list(fields.Nested(ObjectionSchema))
    minority_views = _list(Text())


class ReflectionHeldData(Schema):
    reflection_id = Id(required=True)
    title = Text(SHORT, required=True)
    method = Choice(v.ReflectionMethod, required=True)
    loop = Choice(v.LearningLoop, required=True)
    participants = _unique_list(Id(), required=True)
    findings = _list(Text(), min_items=1, required=True)
    outcome = Choice(v.ReflectionOutcome, required=True)
    actions = _list(Text())


DATA_SCHEMAS: dict[str, type[Schema]] = {name: globals()[f"{name}Data"] for name in v.EVENT_TYPES}

EVENT_DESCRIPTIONS: dict[str, str] = {
    "CollaborationFounded": "A collaboration is founded with its name and mission (POST /collaborations).",
    "MissionRevised": "The shared compass is revised: mission, drivers, values.",
    "PhaseStarted": "A new phase starts; the previous one ends.",
    "PartnerJoined": "An organisation joins, with its kind and capacities.",
    "PartnerCapacitiesChanged": "A partner's capacities (funder, host, …) change.",
    "PartnerLeft": "A partner leaves the collaboration.",
    "MemberJoined": "A person joins, acting for a partner or on their own.",
    "MemberLeft": "A person leaves; the roles they held become vacant.",
    "RoleDefined": "A role is defined apart from whoever will hold it.",
    "RoleRedefined": "A role's purpose, accountabilities or term change.",
    "RoleAssigned": "A vacant role goes to a current member.",
    "RoleHandedOver": "The current holder hands a role over to another member.",
    "RoleVacated": "A role's holder steps down and the role becomes vacant.",
    "RoleRetired": "A role is no longer used.",
    "MandateGranted": "Authority is delegated to a role, person or partner.",
    "MandateAmended": "A mandate's scope, rights, budget or dates change.",
    "MandateRevoked": "A mandate is withdrawn.",
    "AgreementMade": "An agreement is made, from an oral agreement to a contract.",
    "AgreementAmended": "An agreement changes meaning: a new version.",
    "AgreementCorrected": "A clerical fix of the record of the current agreement version.",
    "AgreementReviewed": "An agreement is reviewed: keep, adjust or end.",
    "AgreementEnded": "An agreement ends.",
    "DecisionRecorded": "A decision with its method, participants, objections and minority views.",
    "ReflectionHeld": "A reflection moment with its learning loop, findings and outcome.",
}

# The envelope (design.md §2), as clients send it.


class AgentRefSchema(Schema):
    partner_id = Id(required=True)


class CauseSchema(Schema):
    decision_id = Id()
    reflection_id = Id()

    class Meta:
        json_schema: ClassVar[dict[str, Any]] = {"minProperties": 1, "maxProperties": 1}

    @validates_schema
    def exactly_one(self, data: dict[str, Any], **kwargs: Any) -> None:
        if len(data) != 1:
            raise ValidationError("Name exactly one cause: decision_id or reflection_id.")


class SourceSchema(Schema):
    system = Text(SHORT, required=True)
    id = Text(SHORT, required=True)


class EnvelopeFields(Schema):
    effective_at = Instant()
    acting_for = fields.Nested(AgentRefSchema)
    capacity = Text(SHORT)
    cause = fields.Nested(CauseSchema)
    source = fields.Nested(SourceSchema)
    note = Text()
    shared_with_funders = StrictBoolean()
    recorded_at = ServerOwned()
    actor = ServerOwned()
    version = ServerOwned()
    position = ServerOwned()
    collaboration_id = ServerOwned()


class EventSubmissionSchema(EnvelopeFields):
    type = fields.String(
        required=True,
        validate=validate.OneOf(
            v.EVENT_TYPES[1:],
            error="Unknown event type; GET /event-types lists them: {choices}.",
        ),
    )
    data = fields.Dict(required=True)

    @validates_schema(skip_on_field_errors=False)
    def data_matches_type(self, item: dict[str, Any], **kwargs: Any) -> None:
        # Runs even when envelope fields failed, so that every offending field is reported.
        schema = DATA_SCHEMAS.get(item.get("type", ""))
        if schema is not None and isinstance(item.get("data"), dict):
            errors = schema().validate(item["data"])
            if errors:
                raise ValidationError({"data": errors})

    @post_load
    def load_data(self, item: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        item["data"] = DATA_SCHEMAS[item["type"]]().load(item["data"])
        return item


class CloudEventFields(Schema):
    """A CloudEvent as the ledger takes it (ledger.cloudevents.to_submission), for the OpenAPI
    document; what it carries is then loaded as a submission."""

    specversion = fields.String(required=True, metadata={"enum": [SPECVERSION]})
    id = Text(SHORT, required=True, metadata={"description": "Your system's id of the event"})
    source = Text(SHORT, required=True, metadata={"description": "Your system"})
    subject = fields.String(
        allow_none=True, metadata={"format": "uuid", "description": "This collaboration's id"}
    )
    time = Instant(allow_none=True)
    datacontenttype = fields.String(
        allow_none=True, metadata={"pattern": r"^\s*application/json\s*(;.*)?$"}
    )
    data_base64 = fields.Raw(metadata={"not": {}, "description": "Send data as JSON instead."})
    actingfor = Id()
    capacity = Text(SHORT)
    causedecision = Id()
    causereflection = Id()
    note = Text()
    sharedwithfunders = fields.Raw(
        metadata={"anyOf": [{"type": "boolean"}, {"type": "string"}],
                  "description": 'true or false, or as a string: "true" or anything else'}
    )  # fmt: skip

    class Meta:
        unknown = INCLUDE  # other extension attributes are left aside


def _typed(envelope: type[Schema], name: str, types: list[str], kind: str) -> type[Schema]:
    """How an event of one type is documented: its `type` and the data of that type."""
    documented = {
        "type": fields.String(required=True, metadata={"enum": types}),
        "data": fields.Nested(DATA_SCHEMAS[name], required=True),
    }
    return envelope.from_dict(documented, name=f"{name}{kind}")


# EventSubmissionSchema loads submissions (with an error per offending field); the OpenAPI
# document states them, and CloudEvents, as the oneOf of these, keyed by `type`
# (catalogue.register_data_schemas).
SUBMISSION_SCHEMAS = {
    name: _typed(EnvelopeFields, name, [name], "Submission") for name in v.EVENT_TYPES[1:]
}
CLOUDEVENT_SCHEMAS = {
    name: _typed(CloudEventFields, name, [name, TYPE_PREFIX + name], "CloudEvent")
    for name in v.EVENT_TYPES[1:]
}


class FoundingSchema(CollaborationFoundedData):
    effective_at = Instant()
    capacity = Text(SHORT)
    source = fields.Nested(SourceSchema)
    note = Text()
    recorded_at = ServerOwned()
    actor = ServerOwned()
    version = ServerOwned()
    position = ServerOwned()
    collaboration_id = ServerOwned()


# Responses.


class ProblemEntrySchema(Schema):
    field = fields.String(metadata={"description": "The offending field, dotted (data.partner_id)"})
    pointer = fields.String(metadata={"description": "RFC 6901 pointer into the body"})
    detail = fields.String(metadata={"description": "What is wrong and how to fix it"})

    class Meta:
        # "in" is a Python keyword: declared here instead of as an attribute.
        include: ClassVar[dict[str, fields.Field[Any]]] = {
            "in": fields.String(metadata={"enum": ["body", "query", "header"]})
        }


class ProblemSchema(Schema):
    """RFC 9457 problem details, the body of every error."""

    type = fields.String(metadata={"description": "Stable URI naming the problem"})
    title = fields.String()
    status = fields.Integer()
    detail = fields.String(metadata={"description": "What went wrong, in one sentence"})
    rule = fields.String(metadata={"description": "The governance rule broken (409)"})
    errors = fields.List(fields.Nested(ProblemEntrySchema))
    current_version = fields.Integer(metadata={"description": "The stream version (412)"})


class ReceiptSchema(Schema):
    """Proof of storage: the event's position and the SHA-256 of its canonical record."""

    position = fields.Integer()
    hash = fields.String(metadata={"description": "SHA-256 of the RFC 8785 record, hex"})


class StoredEventSchema(Schema):
    collaboration_id = fields.String()
    type = fields.String()
    data = fields.Dict()
    effective_at = fields.String(metadata={"format": "date-time"})
    recorded_at = fields.String(metadata={"format": "date-time"})
    actor = fields.String()
    acting_for = fields.Dict(allow_none=True)
    capacity = fields.String(allow_none=True)
    cause = fields.Dict(allow_none=True)
    source = fields.Dict(allow_none=True)
    note = fields.String(allow_none=True)
    shared_with_funders = fields.Boolean()
    version = fields.Integer()
    position = fields.Integer()
    receipt = fields.Nested(ReceiptSchema, allow_none=True)


class StoredEventBatchSchema(Schema):
    """The events of a batch of CloudEvents, stored all or nothing."""

    items = fields.List(fields.Nested(StoredEventSchema), required=True)


class EventPageSchema(Schema):
    items = fields.List(fields.Nested(StoredEventSchema))
    next_after = fields.Integer(allow_none=True)


class CollaborationSummarySchema(Schema):
    collaboration_id = fields.String()
    name = fields.String()
    founded_at = fields.String()
    recorded_at = fields.String()
    version = fields.Integer()


class CollaborationPageSchema(Schema):
    items = fields.List(fields.Nested(CollaborationSummarySchema))
    next_cursor = fields.String(allow_none=True)


class BasisSchema(Schema):
    version = fields.Integer()
    known_at = fields.String(allow_none=True)
    at = fields.String(allow_none=True)
    as_of = fields.String()


class GovernanceStateSchema(Schema):
    collaboration_id = fields.String()
    basis = fields.Nested(BasisSchema)
    stream_version = fields.Integer()
    collaboration = fields.Dict()
    phase = fields.Dict(allow_none=True)
    phases = fields.List(fields.Dict())
    partners = fields.Dict()
    members = fields.Dict()
    roles = fields.Dict()
    mandates = fields.Dict()
    agreements = fields.Dict()
    decisions = fields.Dict()
    reflections = fields.Dict()
    attention = fields.List(fields.Dict())


class EventTypeSchema(Schema):
    type = fields.String()
    description = fields.String()
    schema = fields.Dict()


class EventTypeCatalogueSchema(Schema):
    items = fields.List(fields.Nested(EventTypeSchema))


# Query strings.


class PageQuerySchema(Schema):
    limit = PageLimit()


class EventPageQuerySchema(PageQuerySchema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_VERSION))


class CollaborationPageQuerySchema(PageQuerySchema):
    cursor = fields.String(
        validate=Pattern(r"^\d{1,18}$", error="Use the next_cursor of a previous page.")
    )


class StateQuerySchema(Schema):
    version = fields.Integer(validate=validate.Range(min=1, max=MAX_VERSION))
    known_at = Instant(metadata={"description": "Not together with version"})
    at = Instant()

    @validates_schema
    def one_basis(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "version" in data and "known_at" in data:
            raise ValidationError(
                "Ask for either version or known_at (each may be combined with at).", "known_at"
            )
