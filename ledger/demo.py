"""The demo collaboration: a year of a Flemish learning ecosystem that uses every event type.

Its dates are relative to `now`: the year ends a month ago, and a coordinator handover is planned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.client import LedgerClient
from ledger.domain.timefmt import format_instant
from ledger.service import LedgerService

DEMO_NAME = "Leerecosysteem Kanaalzone"
FOUNDED_DAY = -395  # about 13 months before now
MEETING_HOUR = 17  # UTC; network meetings are held late in the afternoon

Envelope = dict[str, Any]
OnDay = Callable[[int], str]  # days relative to now -> "YYYY-MM-DD"

# Partners
SCHOOL = "scholengroep-kanaalzone"
LIBRARY = "bib-de-sluis"
COMPANY = "van-damme-techniek"
YOUTH = "jeugddienst-kanaalzone"
AGENCY = "agentschap-levenslang-leren"
COLLEGE = "hogeschool-noordkanaal"

# People
ELS = "els-vermeulen"
PIETER = "pieter-de-smet"
SOFIE = "sofie-claes"
KARIM = "karim-el-amrani"
LOTTE = "lotte-peeters"
BRAM = "bram-wouters"
NELE = "nele-janssens"
JONAS = "jonas-maes"
YASMINE = "yasmine-bouzid"

FOUNDING = {
    "name": DEMO_NAME,
    "mission": "Elk kind en elke jongere in de Kanaalzone leert, binnen en buiten de school.",
    "languages": ["nl", "en"],
}


@dataclass(frozen=True)
class Step:
    """One governance event of the story, taking effect `day` days from now."""

    day: int
    type: str
    data: dict[str, Any]
    envelope: Envelope = field(default_factory=dict)


def demo_events(now: datetime | None = None) -> list[tuple[str, dict[str, Any], Envelope]]:
    """The story as (type, data, envelope without actor), founding first, as a client posts it."""
    now = (now or datetime.now(UTC)).astimezone(UTC)

    def envelope(day: int, extra: Envelope) -> Envelope:
        moment = (now + timedelta(days=day)).replace(
            hour=MEETING_HOUR, minute=0, second=0, microsecond=0
        )
        return {"effective_at": format_instant(moment), **extra}

    def on(day: int) -> str:
        return (now + timedelta(days=day)).date().isoformat()

    founding = ("CollaborationFounded", FOUNDING, envelope(FOUNDED_DAY, {}))
    return [founding, *((s.type, s.data, envelope(s.day, s.envelope)) for s in _story(on))]


def seed_demo(service: LedgerService, actor: str = "demo", now: datetime | None = None) -> str:
    """Found the demo collaboration, record its story and return its id."""
    (_, founding, founding_envelope), *story = demo_events(now)
    founded = service.found_collaboration(founding, {**founding_envelope, "actor": actor})
    collaboration_id = founded.collaboration_id
    for event_type, data, envelope in story:
        service.record_event(collaboration_id, event_type, data, {**envelope, "actor": actor})
    return collaboration_id


def seed_demo_over_http(client: LedgerClient, now: datetime | None = None) -> str:
    """Post the demo story to a running ledger with the Python client; its id."""
    (_, founding, founding_envelope), *story = demo_events(now)
    founded = client.found_collaboration(**founding, **founding_envelope)
    for event_type, data, envelope in story:
        client.post_event(founded.collaboration_id, event_type, data, **envelope)
    return founded.collaboration_id


def seed_demo_if_empty(
    service: LedgerService, actor: str = "demo", now: datetime | None = None
) -> str | None:
    """Seed the demo only into a ledger without collaborations; the new id, or None."""
    if service.collaborations(0, 1):
        return None
    return seed_demo(service, actor, now)


# Envelope parts


def _minutes(meeting_id: str, item: int) -> Envelope:
    """Posted from the meeting tool; its id for an agenda item makes a repeated post harmless."""
    return {"source": {"system": "vergadertool", "id": f"{meeting_id}:{item}"}}


def _acting(partner_id: str, capacity: str) -> Envelope:
    return {"acting_for": {"partner_id": partner_id}, "capacity": capacity}


def _decided(decision_id: str) -> Envelope:
    return {"cause": {"decision_id": decision_id}}


def _learned(reflection_id: str) -> Envelope:
    return {"cause": {"reflection_id": reflection_id}}


def _note(text: str) -> Envelope:
    return {"note": text}


# Data helpers


def _eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


def _partner(partner_id: str, name: str, kind: str, *capacities: str) -> dict[str, Any]:
    return {"partner_id": partner_id, "name": name, "kind": kind, "capacities": list(capacities)}


def _member(person_id: str, name: str, partner_id: str | None = None) -> dict[str, Any]:
    member = {"person_id": person_id, "name": name}
    return member if partner_id is None else {**member, "partner_id": partner_id}


def _parties(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"partner_id": partner_id, "capacity": capacity} for partner_id, capacity in pairs]


def _participants(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"person_id": person_id, "capacity": capacity} for person_id, capacity in pairs]


def _story(on: OnDay) -> list[Step]:
    """The events in the order the coordinator entered them; some are entered weeks late."""
    return [*_exploration(on), *_build_up(on), *_anchoring(on)]


def _exploration(on: OnDay) -> list[Step]:
    """Months 1-3: who is at the table, the first roles, an oral agreement put on paper."""
    return [
        Step(
            -395,
            "PhaseStarted",
            {
                "name": "verkenning",
                "description": "Verkennen wie mee aan tafel zit en wat we samen willen leren.",
            },
        ),
        Step(
            -395,
            "PartnerJoined",
            _partner(SCHOOL, "Scholengroep Kanaalzone", "school", "implementing", "host"),
        ),
        Step(
            -395,
            "PartnerJoined",
            _partner(LIBRARY, "Bibliotheek De Sluis", "library", "host", "implementing"),
        ),
        Step(
            -395,
            "PartnerJoined",
            _partner(
                YOUTH,
                "Stedelijke Jeugddienst Kanaalzone",
                "government",
                "implementing",
                "participant",
            ),
        ),
        Step(-395, "MemberJoined", _member(ELS, "Els Vermeulen", SCHOOL)),
        Step(-395, "MemberJoined", _member(PIETER, "Pieter De Smet", LIBRARY)),
        Step(-395, "MemberJoined", _member(SOFIE, "Sofie Claes", YOUTH)),
        Step(
            -395,
            "AgreementMade",
            {
                "agreement_id": "samenwerking",
                "title": "Samen verkennen",
                "formality": "oral",
                "topics": ["mission", "process"],
                "parties": _parties(
                    (SCHOOL, "implementing"), (LIBRARY, "implementing"), (YOUTH, "participant")
                ),
                "terms": "We verkennen drie maanden of een leerecosysteem haalbaar is; "
                "elke partner brengt één trekker mee.",
            },
            _minutes("vt-startoverleg", 1),
        ),
        Step(
            -388, "PartnerJoined", _partner(COMPANY, "Van Damme Techniek", "company", "participant")
        ),
        Step(-388, "MemberJoined", _member(KARIM, "Karim El Amrani", COMPANY)),
        Step(
            -381,
            "RoleDefined",
            {
                "role_id": "coordinator",
                "name": "Coördinator",
                "purpose": "Het netwerk samenhouden en het overleg in gang houden.",
                "accountabilities": [
                    "netwerkoverleg voorbereiden en leiden",
                    "afspraken en besluiten opvolgen",
                    "aanspreekpunt voor de financier",
                ],
                "term_months": 6,
            },
        ),
        Step(
            -381,
            "RoleDefined",
            {
                "role_id": "penningmeester",
                "name": "Penningmeester",
                "purpose": "Zicht houden op het gedeelde budget.",
                "accountabilities": ["uitgaven bijhouden", "financieel verslag aan de financier"],
            },
        ),
        Step(
            -381,
            "DecisionRecorded",
            {
                "decision_id": "besluit-eerste-coordinator",
                "subject": "Wie coördineert de verkenning?",
                "method": "majority",
                "outcome": "Els Vermeulen is verkozen tot coördinator, met vier stemmen op vier.",
                "participants": _participants(
                    (ELS, "implementing"),
                    (PIETER, "host"),
                    (SOFIE, "participant"),
                    (KARIM, "participant"),
                ),
            },
            _minutes("vt-overleg-02", 2),
        ),
        Step(
            -381,
            "RoleAssigned",
            {"role_id": "coordinator", "person_id": ELS, "method": "elected"},
            _decided("besluit-eerste-coordinator"),
        ),
        Step(
            -381,
            "RoleAssigned",
            {"role_id": "penningmeester", "person_id": PIETER, "method": "volunteered"},
        ),
        Step(
            -381,
            "MandateGranted",
            {
                "mandate_id": "mandaat-coordinatie",
                "holder": {"kind": "role", "id": "coordinator"},
                "scope": "Dagelijkse coördinatie: agenda, uitnodigingen en kleine uitgaven.",
                "decision_rights": [
                    "agenda van het netwerkoverleg vastleggen",
                    "uitgaven doen binnen de budgetlimiet",
                ],
                "budget_limit": _eur("1500.00"),
                "review_on": on(-200),
            },
            _minutes("vt-overleg-02", 3),
        ),
        Step(
            -374,
            "PartnerJoined",
            _partner(AGENCY, "Agentschap Levenslang Leren", "government", "funder"),
        ),
        Step(-374, "MemberJoined", _member(LOTTE, "Lotte Peeters", AGENCY)),
        Step(
            -374,
            "MandateGranted",
            {
                "mandate_id": "mandaat-subsidieaanvraag",
                "holder": {"kind": "person", "id": ELS},
                "scope": "De subsidieaanvraag 'Lerende netwerken' voorbereiden en indienen.",
                "decision_rights": [
                    "aanvraag indienen namens het netwerk",
                    "begroting voorstellen",
                ],
                "valid_until": on(-330),
            },
        ),
        Step(
            -367,
            "PartnerJoined",
            _partner(COLLEGE, "Hogeschool Noordkanaal", "knowledge_institution", "knowledge"),
        ),
        Step(-367, "MemberJoined", _member(BRAM, "Bram Wouters", COLLEGE)),
        Step(
            -367,
            "RoleDefined",
            {
                "role_id": "onderzoekslink",
                "name": "Onderzoekslink",
                "purpose": "Het praktijkonderzoek van de hogeschool verbinden met het netwerk.",
                "accountabilities": [
                    "onderzoeksvragen ophalen bij de partners",
                    "tussentijdse bevindingen terugkoppelen",
                ],
            },
        ),
        Step(
            -367,
            "RoleAssigned",
            {"role_id": "onderzoekslink", "person_id": BRAM, "method": "appointed"},
            _acting(COLLEGE, "knowledge"),
        ),
        Step(
            -360,
            "AgreementMade",
            {
                "agreement_id": "praktijkonderzoek",
                "title": "Praktijkonderzoek leren buiten de school",
                "formality": "minutes",
                "topics": ["goals", "tasks"],
                "parties": _parties((COLLEGE, "knowledge"), (SCHOOL, "implementing")),
                "terms": "De hogeschool volgt een schooljaar lang twee klassen in de leerpunten.",
                "evaluation_criteria": "Een eindrapport met aanbevelingen voor het netwerk.",
            },
            _minutes("vt-overleg-03", 2),
        ),
        Step(
            -360,
            "MandateGranted",
            {
                "mandate_id": "mandaat-onderzoek",
                "holder": {"kind": "partner", "id": COLLEGE},
                "scope": "Interviews en observaties bij de partners.",
                "decision_rights": ["onderzoeksopzet kiezen", "gegevens verzamelen bij partners"],
                "review_on": on(-180),
            },
        ),
        Step(
            -353,
            "AgreementAmended",
            {
                "agreement_id": "samenwerking",
                "formality": "minutes",
                "terms": "We verkennen tot eind dit trimester of een leerecosysteem haalbaar is; "
                "elke partner brengt één trekker mee en het overleg is maandelijks.",
                "reason": "Het mondeling akkoord is vastgelegd in het goedgekeurde verslag.",
            },
            _minutes("vt-overleg-04", 1),
        ),
        Step(-346, "MemberJoined", _member(NELE, "Nele Janssens", SCHOOL)),
        Step(
            -346,
            "RoleDefined",
            {
                "role_id": "leeragenda",
                "name": "Hoeder van de leeragenda",
                "purpose": "Bewaken wat het netwerk samen wil leren en of het dat ook doet.",
                "accountabilities": ["leeragenda bijhouden", "reflectiemomenten plannen"],
            },
        ),
        Step(
            -346,
            "DecisionRecorded",
            {
                "decision_id": "besluit-leeragenda",
                "subject": "Wie wordt hoeder van de leeragenda?",
                "method": "consent",
                "outcome": "Nele Janssens wordt hoeder van de leeragenda.",
                "participants": _participants(
                    (ELS, "implementing"),
                    (PIETER, "host"),
                    (SOFIE, "participant"),
                    (KARIM, "participant"),
                    (NELE, "implementing"),
                ),
            },
            _minutes("vt-overleg-05", 2),
        ),
        Step(
            -346,
            "RoleAssigned",
            {"role_id": "leeragenda", "person_id": NELE, "method": "consent"},
            _decided("besluit-leeragenda"),
        ),
        Step(
            -339,
            "PartnerCapacitiesChanged",
            {"partner_id": AGENCY, "capacities": ["funder", "participant"]},
            {
                **_acting(AGENCY, "funder"),
                **_note(
                    "Het agentschap wil ook zelf leren in het netwerk, niet alleen financieren."
                ),
            },
        ),
        Step(
            -339,
            "ReflectionHeld",
            {
                "reflection_id": "reflectie-startfase",
                "title": "Korte retrospectieve op de verkenning",
                "method": "retrospective",
                "loop": "single",
                "participants": [ELS, PIETER, SOFIE, KARIM, NELE],
                "findings": ["Het maandelijkse overleg werkt", "De agenda komt te laat"],
                "outcome": "keep",
                "actions": ["Agenda een week vooraf rondsturen"],
            },
        ),
    ]


def _build_up(on: OnDay) -> list[Step]:
    """Months 4-8: the contract and the letter of intent, a double-loop eye-opener, rotation."""
    year = f"{on(-300)}/{on(65)}"
    everyone = [ELS, PIETER, SOFIE, KARIM, LOTTE, NELE]
    return [
        Step(
            -300,
            "PhaseStarted",
            {
                "name": "opbouw",
                "description": "De eerste leerpunten opzetten en de samenwerking vastleggen.",
            },
        ),
        Step(
            -300,
            "AgreementMade",
            {
                "agreement_id": "subsidie",
                "title": "Subsidieovereenkomst Lerende netwerken",
                "formality": "contract",
                "topics": ["budget", "goals"],
                "parties": _parties((AGENCY, "funder"), (SCHOOL, "accountable")),
                "terms": "Het agentschap financiert een werkjaar; de scholengroep legt verantwoording "
                "af met een jaarverslag.",
                "budget_commitments": [
                    {"partner_id": AGENCY, "amount": "4000.00", "currency": "EUR", "period": year}
                ],
                "evaluation_criteria": "Minstens drie leerpunten buiten de school; een "
                "leergeschiedenis in het jaarverslag.",
                "review_on": on(-215),
                "valid_until": on(65),
            },
            _acting(AGENCY, "funder"),
        ),
        # The letter of intent was signed at the network day in month 3, entered a week later.
        Step(
            -305,
            "AgreementAmended",
            {
                "agreement_id": "samenwerking",
                "title": "Intentieverklaring Leerecosysteem Kanaalzone",
                "formality": "letter_of_intent",
                "topics": ["mission", "process", "roles"],
                "parties": _parties(
                    (SCHOOL, "implementing"),
                    (LIBRARY, "host"),
                    (YOUTH, "participant"),
                    (COMPANY, "participant"),
                    (AGENCY, "funder"),
                    (COLLEGE, "knowledge"),
                ),
                "terms": "De partners engageren zich voor een werkjaar om samen leerpunten op te "
                "zetten en twee keer per jaar te reflecteren.",
                "review_on": on(-120),
                "reason": "Alle partners ondertekenden de intentieverklaring op de netwerkdag.",
            },
            _note("Ingevoerd na de start van de opbouwfase."),
        ),
        Step(
            -298,
            "AgreementCorrected",
            {
                "agreement_id": "subsidie",
                "budget_commitments": [
                    {"partner_id": AGENCY, "amount": "40000.00", "currency": "EUR", "period": year}
                ],
                "reason": "Tikfout in het bedrag: de getekende overeenkomst vermeldt 40 000 euro.",
            },
        ),
        Step(-296, "MemberJoined", _member(JONAS, "Jonas Maes", LIBRARY)),
        Step(
            -290,
            "ReflectionHeld",
            {
                "reflection_id": "reflectie-leerpunten",
                "title": "Retrospectieve eerste leerpunten",
                "method": "retrospective",
                "loop": "single",
                "participants": [ELS, PIETER, NELE, JONAS],
                "findings": [
                    "Het leerpunt in de bib loopt vol op woensdag",
                    "Leerkrachten vinden de weg naar de bib nog niet",
                ],
                "outcome": "adjust",
                "actions": ["Een tweede moment op zaterdag", "Rondleiding voor leerkrachten"],
            },
            _minutes("vt-retro-01", 1),
        ),
        Step(
            -289,
            "AgreementMade",
            {
                "agreement_id": "leerpunt-bib",
                "title": "Leerpunt in de bibliotheek",
                "formality": "minutes",
                "topics": ["tasks", "process"],
                "parties": _parties(
                    (LIBRARY, "host"), (SCHOOL, "implementing"), (YOUTH, "implementing")
                ),
                "terms": "Leerpunt op woensdagnamiddag in de bib; de jeugddienst begeleidt.",
                "review_on": on(-200),
            },
            _learned("reflectie-leerpunten"),
        ),
        Step(
            -289,
            "MandateGranted",
            {
                "mandate_id": "mandaat-leerpunt",
                "holder": {"kind": "partner", "id": LIBRARY},
                "scope": "Het leerpunt in de bibliotheek inrichten en bemensen.",
                "decision_rights": ["openingsuren van het leerpunt bepalen", "materiaal aankopen"],
                "budget_limit": _eur("6000.00"),
                "review_on": on(30),
            },
            _learned("reflectie-leerpunten"),
        ),
        Step(
            -282,
            "DecisionRecorded",
            {
                "decision_id": "besluit-materiaal",
                "subject": "Aankoop materiaal voor het leerpunt",
                "method": "mandate_holder",
                "outcome": "De bib koopt robotkits en boeken voor 2 400 euro.",
                "participants": _participants((PIETER, "host"), (JONAS, "host")),
            },
            _acting(LIBRARY, "host"),
        ),
        Step(
            -275,
            "AgreementMade",
            {
                "agreement_id": "stages",
                "title": "Convenant snuffelstages",
                "formality": "covenant",
                "topics": ["tasks", "interests"],
                "parties": _parties((COMPANY, "implementing"), (SCHOOL, "implementing")),
                "terms": "Van Damme Techniek biedt twaalf snuffelstages per schooljaar.",
                "budget_commitments": [
                    {"partner_id": COMPANY, "amount": "3000.00", "currency": "EUR", "period": year}
                ],
                "review_on": on(100),
            },
            _acting(COMPANY, "implementing"),
        ),
        Step(
            -235,
            "ReflectionHeld",
            {
                "reflection_id": "reflectie-wie-beslist",
                "title": "Eye-opener: wie beslist hier eigenlijk?",
                "method": "eye_opener",
                "loop": "double",
                "participants": everyone,
                "findings": [
                    "Beslissingen over geld belanden bij de coördinator, ook buiten haar mandaat",
                    "Bedrijf en jeugddienst voelen zich gasten, geen eigenaars",
                    "De rotatie van de coördinator is gewild maar niet geregeld",
                ],
                "outcome": "adjust",
                "actions": [
                    "Mandaat van de coördinator verruimen en verduidelijken",
                    "Een rotatieregel voor de coördinator afspreken",
                    "Jongeren de leeragenda laten voeden",
                ],
            },
            _minutes("vt-overleg-09", 1),
        ),
        Step(
            -228,
            "MandateAmended",
            {
                "mandate_id": "mandaat-coordinatie",
                "decision_rights": [
                    "agenda van het netwerkoverleg vastleggen",
                    "uitgaven doen binnen de budgetlimiet",
                    "bestedingen van leerpunten afstemmen met de penningmeester",
                ],
                "budget_limit": _eur("5000.00"),
                "review_on": on(60),
                "reason": "Het mandaat paste niet bij wat de coördinator in de praktijk beslist.",
            },
            _learned("reflectie-wie-beslist"),
        ),
        Step(
            -228,
            "RoleRedefined",
            {
                "role_id": "leeragenda",
                "accountabilities": [
                    "leeragenda bijhouden",
                    "reflectiemomenten plannen",
                    "vragen van jongeren op de leeragenda zetten",
                ],
            },
            _learned("reflectie-wie-beslist"),
        ),
        Step(
            -221,
            "DecisionRecorded",
            {
                "decision_id": "besluit-rotatie",
                "subject": "Rotatie van de coördinatorrol",
                "method": "consent",
                "outcome": "De coördinatorrol roteert elk half jaar; Sofie Claes neemt als eerste "
                "over.",
                "participants": _participants(
                    (ELS, "implementing"),
                    (PIETER, "host"),
                    (SOFIE, "implementing"),
                    (KARIM, "participant"),
                    (LOTTE, "funder"),
                    (NELE, "implementing"),
                ),
                "objections": [
                    {
                        "person_id": KARIM,
                        "text": "Om de zes maanden wisselen is te snel; een bedrijf kan die rol zo "
                        "nooit opnemen.",
                        "resolution": "Een maand inwerken met de vorige coördinator; na een jaar "
                        "evalueren we de termijn.",
                    }
                ],
                "minority_views": [
                    "Het agentschap had liever één vaste coördinator gezien voor "
                    "de duur van de subsidie."
                ],
            },
            {**_minutes("vt-overleg-10", 2), **_learned("reflectie-wie-beslist")},
        ),
        Step(
            -215,
            "AgreementReviewed",
            {
                "agreement_id": "subsidie",
                "outcome": "keep",
                "next_review_on": on(-45),
                "notes": "Bestedingen volgens plan; volgende evaluatie bij het jaarverslag.",
            },
            _acting(AGENCY, "funder"),
        ),
        Step(
            -200,
            "AgreementReviewed",
            {
                "agreement_id": "leerpunt-bib",
                "outcome": "adjust",
                "next_review_on": on(45),
                "notes": "Zaterdagmoment toevoegen; leerkrachten komen nu wel langs.",
            },
            _minutes("vt-overleg-11", 1),
        ),
        Step(
            -200,
            "AgreementAmended",
            {
                "agreement_id": "leerpunt-bib",
                "terms": "Leerpunt op woensdag- en zaterdagnamiddag in de bib; de jeugddienst "
                "begeleidt, de scholengroep plant klasbezoeken.",
                "reason": "Bijsturing na het evaluatiemoment.",
            },
            _minutes("vt-overleg-11", 2),
        ),
        # The handover took effect after the inwerkmaand; it was entered after the next meeting.
        Step(
            -212,
            "RoleHandedOver",
            {
                "role_id": "coordinator",
                "from_person_id": ELS,
                "to_person_id": SOFIE,
                "notes": "Inwerkmaand afgerond; Els blijft trekker voor de scholengroep.",
            },
            _decided("besluit-rotatie"),
        ),
        Step(
            -175,
            "RoleVacated",
            {"role_id": "penningmeester", "reason": "Pieter De Smet gaat met ouderschapsverlof."},
        ),
        Step(
            -168,
            "RoleAssigned",
            {
                "role_id": "penningmeester",
                "person_id": KARIM,
                "method": "rotation",
                "term_ends_on": on(190),
            },
            _acting(COMPANY, "participant"),
        ),
        Step(
            -160,
            "AgreementEnded",
            {
                "agreement_id": "praktijkonderzoek",
                "reason": "Onderzoek afgerond; het eindrapport is gedeeld met alle partners.",
            },
        ),
        Step(
            -160,
            "MandateRevoked",
            {
                "mandate_id": "mandaat-onderzoek",
                "reason": "De hogeschool verzamelt geen gegevens meer.",
            },
        ),
        Step(
            -158,
            "MemberLeft",
            {"person_id": BRAM, "reason": "Zijn onderzoeksopdracht is afgelopen."},
        ),
        Step(
            -158,
            "PartnerLeft",
            {
                "partner_id": COLLEGE,
                "reason": "Het praktijkonderzoek is afgerond en de "
                "hogeschool heeft geen middelen om als partner "
                "verder te doen.",
            },
        ),
        Step(
            -150,
            "RoleRetired",
            {
                "role_id": "onderzoekslink",
                "reason": "Er is geen onderzoekspartner meer in het netwerk.",
            },
        ),
    ]


def _anchoring(on: OnDay) -> list[Step]:
    """Months 9-12: a triple-loop learning history revises the compass; the next rotation."""
    return [
        Step(
            -130,
            "ReflectionHeld",
            {
                "reflection_id": "reflectie-leergeschiedenis",
                "title": "Leergeschiedenis van ons eerste jaar",
                "method": "learning_history",
                "loop": "triple",
                "participants": [ELS, PIETER, SOFIE, KARIM, LOTTE, NELE, JONAS],
                "findings": [
                    "We bouwden rond de school; jongeren zaten zelf nooit aan tafel",
                    "Ons kompas sprak over leren, niet over wie bepaalt wat geleerd wordt",
                    "Het netwerk werkt omdat partners elkaar ruimte geven, niet door de subsidie",
                ],
                "outcome": "adjust",
                "actions": ["Missie herschrijven met jongeren", "Een jongere in het netwerk"],
            },
            {**_minutes("vt-leergeschiedenis", 1), "shared_with_funders": True},
        ),
        Step(
            -125,
            "DecisionRecorded",
            {
                "decision_id": "besluit-kompas",
                "subject": "Herziene missie en waarden",
                "method": "consensus",
                "outcome": "De herziene missie geldt vanaf de verankeringsfase.",
                "participants": _participants(
                    (SOFIE, "implementing"),
                    (ELS, "implementing"),
                    (PIETER, "host"),
                    (KARIM, "participant"),
                    (LOTTE, "participant"),
                    (NELE, "implementing"),
                ),
            },
            {**_minutes("vt-overleg-14", 1), **_learned("reflectie-leergeschiedenis")},
        ),
        Step(
            -125,
            "MissionRevised",
            {
                "mission": "Jongeren in de Kanaalzone bepalen mee wat, waar en met wie ze leren; "
                "school, bib, bedrijven en stad maken daar samen ruimte voor.",
                "drivers": [
                    "schooluitval in de Kanaalzone",
                    "tekort aan technische profielen",
                    "jongeren die hun buurt niet als leerplek zien",
                ],
                "values": ["jongeren aan tafel", "gedeeld eigenaarschap", "leren van elkaar"],
            },
            _decided("besluit-kompas"),
        ),
        Step(
            -120,
            "PhaseStarted",
            {
                "name": "verankering",
                "description": "Wat werkt verankeren in de werking van elke partner.",
            },
            _decided("besluit-kompas"),
        ),
        Step(
            -118,
            "MemberJoined",
            _member(YASMINE, "Yasmine Bouzid"),
            {
                **_decided("besluit-kompas"),
                **_note("Jongerenvertegenwoordiger, voorgedragen door de jeugdraad."),
            },
        ),
        Step(
            -115,
            "AgreementAmended",
            {
                "agreement_id": "samenwerking",
                "title": "Samenwerkingsovereenkomst Leerecosysteem Kanaalzone",
                "formality": "contract",
                "topics": ["mission", "process", "roles", "decision_rights"],
                "terms": "De partners engageren zich om samen leerpunten op te zetten, twee keer "
                "per jaar te reflecteren en jongeren mee te laten beslissen.",
                "review_on": on(120),
                "reason": "De intentieverklaring wordt een samenwerkingsovereenkomst, "
                "in lijn met de herziene missie.",
            },
            _decided("besluit-kompas"),
        ),
        Step(
            -100,
            "PartnerCapacitiesChanged",
            {
                "partner_id": YOUTH,
                "capacities": ["implementing", "participant", "managing"],
            },
            _acting(YOUTH, "implementing"),
        ),
        Step(
            -100,
            "MandateGranted",
            {
                "mandate_id": "mandaat-jongerenbudget",
                "holder": {"kind": "partner", "id": YOUTH},
                "scope": "Het jongerenbudget besteden aan initiatieven die jongeren zelf voorstellen.",
                "decision_rights": ["initiatieven van jongeren goedkeuren"],
                "budget_limit": _eur("2000.00"),
                "valid_until": on(200),
            },
            _decided("besluit-kompas"),
        ),
        Step(
            -75,
            "DecisionRecorded",
            {
                "decision_id": "besluit-zomerwerking",
                "subject": "Zomerwerking van de leerpunten",
                "method": "consent",
                "outcome": "De leerpunten blijven in juli open; de jeugddienst bemant ze.",
                "participants": _participants(
                    (SOFIE, "managing"),
                    (JONAS, "host"),
                    (YASMINE, "participant"),
                    (NELE, "implementing"),
                ),
            },
            _minutes("vt-overleg-16", 3),
        ),
        Step(
            -50,
            "ReflectionHeld",
            {
                "reflection_id": "reflectie-tijdlijn",
                "title": "Tijdlijn van het werkjaar",
                "method": "timeline",
                "loop": "single",
                "participants": [SOFIE, ELS, PIETER, KARIM, NELE, JONAS, YASMINE],
                "findings": [
                    "De rotatie van de coördinator verliep vlot dankzij de inwerkmaand",
                    "Zes maanden is kort, maar houdt de rol open voor elke partner",
                ],
                "outcome": "keep",
            },
            _minutes("vt-tijdlijn", 1),
        ),
        Step(
            -35,
            "DecisionRecorded",
            {
                "decision_id": "besluit-volgende-coordinator",
                "subject": "Volgende coördinator",
                "method": "consent",
                "outcome": "Jonas Maes (bib) neemt de coördinatie over; de termijn wordt een jaar.",
                "participants": _participants(
                    (SOFIE, "managing"),
                    (JONAS, "host"),
                    (KARIM, "participant"),
                    (NELE, "implementing"),
                    (YASMINE, "participant"),
                ),
            },
            {**_minutes("vt-overleg-17", 1), **_learned("reflectie-tijdlijn")},
        ),
        Step(
            -35,
            "RoleRedefined",
            {"role_id": "coordinator", "term_months": 12},
            _decided("besluit-volgende-coordinator"),
        ),
        Step(
            21,
            "RoleHandedOver",
            {
                "role_id": "coordinator",
                "from_person_id": SOFIE,
                "to_person_id": JONAS,
                "notes": "Geplande overdracht na de inwerkmaand.",
            },
            {**_decided("besluit-volgende-coordinator"), **_note("Gepland.")},
        ),
    ]
