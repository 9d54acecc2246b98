"""One-line summaries of governance events that a person can read, in English and Dutch."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

LANGUAGES = ("en", "nl")

Summary = Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, str]]


def _person(state: Mapping[str, Any], person_id: str | None) -> str:
    member = state.get("members", {}).get(person_id) if person_id else None
    return str(member["name"]) if member else str(person_id)


def _partner(state: Mapping[str, Any], partner_id: str | None) -> str:
    partner = state.get("partners", {}).get(partner_id) if partner_id else None
    return str(partner["name"]) if partner else str(partner_id)


def _role(state: Mapping[str, Any], role_id: str) -> str:
    role = state.get("roles", {}).get(role_id)
    return str(role["name"]) if role else role_id


def _agreement(state: Mapping[str, Any], agreement_id: str) -> str:
    agreement = state.get("agreements", {}).get(agreement_id)
    return str(agreement["title"]) if agreement else agreement_id


def _holder(state: Mapping[str, Any], holder: Mapping[str, str]) -> str:
    if holder["kind"] == "role":
        return _role(state, holder["id"])
    if holder["kind"] == "partner":
        return _partner(state, holder["id"])
    return _person(state, holder["id"])


def _pair(en: str, nl: str) -> dict[str, str]:
    return {"en": en, "nl": nl}


FORMALITY_NL = {"oral": "mondeling akkoord", "minutes": "verslag",
                "letter_of_intent": "intentieverklaring", "covenant": "convenant",
                "contract": "contract"}  # fmt: skip
LOOP_NL = {"single": "enkelvoudig", "double": "dubbel", "triple": "drievoudig"}
OUTCOME_NL = {"keep": "behouden", "adjust": "bijsturen", "end": "beëindigen"}


def _summaries() -> dict[str, Summary]:
    s: dict[str, Summary] = {
        "CollaborationFounded": lambda d, st: _pair(
            f"Collaboration “{d['name']}” founded", f"Samenwerkingsverband “{d['name']}” opgericht"),
        "MissionRevised": lambda d, st: _pair(
            "Mission revised: " + d["mission"], "Missie herzien: " + d["mission"]),
        "PhaseStarted": lambda d, st: _pair(
            f"Phase “{d['name']}” started", f"Fase “{d['name']}” gestart"),
        "PartnerJoined": lambda d, st: _pair(
            f"{d['name']} joined as partner", f"{d['name']} trad toe als partner"),
        "PartnerCapacitiesChanged": lambda d, st: _pair(
            f"{_partner(st, d['partner_id'])} now acts as {', '.join(d['capacities']) or 'nothing'}",
            f"{_partner(st, d['partner_id'])} heeft nu als rol: {', '.join(d['capacities']) or 'geen'}"),
        "PartnerLeft": lambda d, st: _pair(
            f"{_partner(st, d['partner_id'])} left: {d['reason']}",
            f"{_partner(st, d['partner_id'])} stapte uit: {d['reason']}"),
        "MemberJoined": lambda d, st: _pair(
            f"{d['name']} joined" + (f" for {_partner(st, d.get('partner_id'))}" if d.get("partner_id") else ""),
            f"{d['name']} werd lid" + (f" namens {_partner(st, d.get('partner_id'))}" if d.get("partner_id") else "")),
        "MemberLeft": lambda d, st: _pair(
            f"{_person(st, d['person_id'])} left: {d['reason']}",
            f"{_person(st, d['person_id'])} vertrok: {d['reason']}"),
        "RoleDefined": lambda d, st: _pair(
            f"Role “{d['name']}” defined", f"Rol “{d['name']}” vastgelegd"),
        "RoleRedefined": lambda d, st: _pair(
            f"Role “{_role(st, d['role_id'])}” redefined", f"Rol “{_role(st, d['role_id'])}” herzien"),
        "RoleAssigned": lambda d, st: _pair(
            f"{_person(st, d['person_id'])} took up the role “{_role(st, d['role_id'])}” ({d['method']})",
            f"{_person(st, d['person_id'])} werd rolhouder van “{_role(st, d['role_id'])}” ({d['method']})"),
        "RoleHandedOver": lambda d, st: _pair(
            f"{_person(st, d['from_person_id'])} handed “{_role(st, d['role_id'])}” over to {_person(st, d['to_person_id'])}",
            f"Overdracht van “{_role(st, d['role_id'])}” van {_person(st, d['from_person_id'])} aan {_person(st, d['to_person_id'])}"),
        "RoleVacated": lambda d, st: _pair(
            f"Role “{_role(st, d['role_id'])}” became vacant", f"Rol “{_role(st, d['role_id'])}” kwam vrij"),
        "RoleRetired": lambda d, st: _pair(
            f"Role “{_role(st, d['role_id'])}” retired", f"Rol “{_role(st, d['role_id'])}” afgeschaft"),
        "MandateGranted": lambda d, st: _pair(
            f"Mandate “{d['scope']}” granted to {_holder(st, d['holder'])}",
            f"Mandaat “{d['scope']}” toegekend aan {_holder(st, d['holder'])}"),
        "MandateAmended": lambda d, st: _pair(
            f"Mandate {d['mandate_id']} amended: {d['reason']}",
            f"Mandaat {d['mandate_id']} gewijzigd: {d['reason']}"),
        "MandateRevoked": lambda d, st: _pair(
            f"Mandate {d['mandate_id']} revoked: {d['reason']}",
            f"Mandaat {d['mandate_id']} ingetrokken: {d['reason']}"),
        "AgreementMade": lambda d, st: _pair(
            f"Agreement “{d['title']}” made ({d['formality'].replace('_', ' ')})",
            f"Afspraak “{d['title']}” gemaakt ({FORMALITY_NL[d['formality']]})"),
        "AgreementAmended": lambda d, st: _pair(
            f"Agreement “{_agreement(st, d['agreement_id'])}” amended: {d['reason']}",
            f"Wijziging van afspraak “{_agreement(st, d['agreement_id'])}”: {d['reason']}"),
        "AgreementCorrected": lambda d, st: _pair(
            f"Record of agreement “{_agreement(st, d['agreement_id'])}” corrected: {d['reason']}",
            f"Correctie van afspraak “{_agreement(st, d['agreement_id'])}”: {d['reason']}"),
        "AgreementReviewed": lambda d, st: _pair(
            f"Agreement “{_agreement(st, d['agreement_id'])}” reviewed: {d['outcome']}",
            f"Evaluatiemoment van afspraak “{_agreement(st, d['agreement_id'])}”: {OUTCOME_NL[d['outcome']]}"),
        "AgreementEnded": lambda d, st: _pair(
            f"Agreement “{_agreement(st, d['agreement_id'])}” ended: {d['reason']}",
            f"Afspraak “{_agreement(st, d['agreement_id'])}” beëindigd: {d['reason']}"),
        "DecisionRecorded": lambda d, st: _pair(
            f"Decision on “{d['subject']}” ({d['method'].replace('_', ' ')}): {d['outcome']}",
            f"Beslissing over “{d['subject']}” ({d['method'].replace('_', ' ')}): {d['outcome']}"),
        "ReflectionHeld": lambda d, st: _pair(
            f"Reflection “{d['title']}” ({d['loop']}-loop learning): {d['outcome']}",
            f"Reflectiemoment “{d['title']}” ({LOOP_NL[d['loop']]} leren): {OUTCOME_NL[d['outcome']]}"),
    }  # fmt: skip
    return s


SUMMARIES = _summaries()


def summarize(
    event_type: str, data: Mapping[str, Any], state_before: Mapping[str, Any]
) -> dict[str, str]:
    """The event in one line, in every language; names are looked up in the state before it."""
    return SUMMARIES[event_type](data, state_before)
