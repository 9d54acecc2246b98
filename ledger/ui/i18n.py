"""The pages' words in English and Dutch (design.md §5), and the language of a request."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from flask import request

from ledger.domain.timefmt import parse_instant
from projections.summaries import FORMALITY_NL, LANGUAGES, LOOP_NL, OUTCOME_NL

LANG_COOKIE = "ledger_lang"

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "app": "Governance Ledger",
        "skip": "Skip to content",
        "language": "Language",
        "signed_in_as": "Signed in as",
        "log_out": "Log out",
        "log_in": "Log in",
        "login_title": "Log in with a token",
        "login_intro": "Paste the token you were given. It is kept in a cookie that scripts "
        "cannot read and that is only sent to these pages.",
        "token": "Token",
        "token_help": "Starts with glt_. Ask an administrator for one ('ledger token create').",
        "login_failed": "This token is not valid (or revoked or expired); check it and try again.",
        "login_expired": "The login form expired; please try again.",
        "collaborations": "Collaborations",
        "no_collaborations": "This token sees no collaborations.",
        "founded": "Founded",
        "events": "Events",
        "overview": "Overview",
        "timeline": "Timeline",
        "charts": "Charts",
        "diff": "Compare",
        "register": "Agreement register",
        "moment": "Moment",
        "in_force_on": "In force on",
        "as_known_on": "As known on",
        "known_now": "everything known now",
        "show": "Show",
        "slider_label": "Move through time",
        "showing": "Showing the collaboration as in force on",
        "basis": "Basis",
        "version": "version",
        "mission": "Mission",
        "drivers": "Drivers",
        "values": "Values",
        "mission_version": "Compass version",
        "phase": "Phase",
        "phase_since": "since",
        "no_phase": "No phase started yet.",
        "attention": "Attention list",
        "attention_none": "Nothing needs attention at this moment.",
        "partners": "Partners",
        "former_partners": "Former partners",
        "partner": "Partner",
        "kind": "Kind",
        "capacities": "Capacities",
        "since": "Since",
        "left": "Left",
        "members": "Members",
        "roles": "Roles",
        "role": "Role",
        "holder": "Holder",
        "method": "Method",
        "status": "Status",
        "term_ends_on": "Term ends",
        "mandates": "Mandates",
        "mandate": "Mandate",
        "scope": "Scope",
        "decision_rights": "Decision rights",
        "budget_limit": "Budget limit",
        "review_on": "Review on",
        "valid_until": "Valid until",
        "agreements": "Agreements",
        "agreement": "Agreement",
        "formality": "Formality",
        "parties": "Parties",
        "budget": "Budget",
        "decisions": "Decisions",
        "decision": "decision",
        "reflection": "reflection",
        "reflections": "Reflections",
        "compass": "Compass and phases",
        "none": "None.",
        "effects": "Changes it caused",
        "effects_none": "No recorded change cites it as its cause.",
        "caused_by": "Caused by",
        "see_effects": "Changes it caused",
        "outcome": "Outcome",
        "findings": "Findings",
        "actions": "Actions",
        "participants": "Participants",
        "objections": "Objections",
        "resolution": "Resolution",
        "minority_views": "Minority views",
        "loop": "Loop",
        "kinds": "Show only",
        "all_kinds": "all kinds when none is ticked",
        "filter": "Filter",
        "effective": "Effective",
        "recorded": "Recorded",
        "backdated": "entered later",
        "backdated_title": "Recorded more than a day after it took effect",
        "planned": "planned",
        "by": "by",
        "acting_for": "acting for",
        "as": "as",
        "note": "Note",
        "changes": "Changes",
        "no_changes": "No change to the state.",
        "page_of": "Events {first}–{last} of {total}",
        "previous": "Previous",
        "next": "Next",
        "first_page": "First",
        "last_page": "Last",
        "go_to_page": "Page",
        "go": "Go",
        "in_timeline": "in the timeline",
        "diff_title": "Compare two moments",
        "diff_intro": "What was added, removed and changed between two moments in force.",
        "from": "From",
        "to": "To",
        "before": "Before",
        "after": "After",
        "compare": "Compare",
        "no_difference": "Nothing changed between these moments.",
        "all_fields": "All fields",
        "added": "added",
        "removed": "removed",
        "changed": "changed",
        "collaboration": "Collaboration",
        "chart_roles": "Role holders over time",
        "chart_roles_desc": "One row per role; each bar is one holder's tenure.",
        "chart_partners": "Partners across phases",
        "chart_partners_desc": "Phases as columns; each bar is a partner's participation.",
        "chart_agreements": "Agreements' lifetimes",
        "chart_agreements_desc": "Each bar is an agreement from when it was made until it "
        "ended; marks show amendments, corrections, reviews and review dates.",
        "legend": "Legend",
        "amended": "amendment",
        "corrected": "correction",
        "reviewed": "review",
        "review_date": "review date",
        "today": "today",
        "vacant": "vacant",
        "tenures": "{n} short tenures",
        "more_rows": "… and {n} more: see the timeline.",
        "as_table": "As a table",
        "register_intro": "Agreements across the collaborations this token sees, in force (or "
        "with a status) on a date, as known on a date.",
        "party": "Party (partner id)",
        "capacity": "Capacity",
        "any": "any",
        "review_due_before": "Review due before",
        "limit": "Rows per page",
        "results": "Agreements",
        "no_results": "No agreement matches these filters.",
        "download_csv": "Download as CSV",
        "in_force_count": "Agreements in force",
        "committed": "Budget committed",
        "valid_from": "Valid from",
        "error": "Something went wrong",
        "back": "Back to the overview",
        "forbidden": "Your token may not see this page.",
        "not_found": "There is no such page, or this token cannot see it.",
    },
    "nl": {
        "app": "Governance Ledger",
        "skip": "Naar de inhoud",
        "language": "Taal",
        "signed_in_as": "Aangemeld als",
        "log_out": "Afmelden",
        "log_in": "Aanmelden",
        "login_title": "Aanmelden met een token",
        "login_intro": "Plak het token dat je kreeg. Het wordt bewaard in een cookie die "
        "scripts niet kunnen lezen en die alleen naar deze pagina's gaat.",
        "token": "Token",
        "token_help": "Begint met glt_. Vraag er een aan een beheerder ('ledger token create').",
        "login_failed": "Dit token is niet geldig (of ingetrokken of verlopen); kijk het na en "
        "probeer opnieuw.",
        "login_expired": "Het aanmeldformulier is verlopen; probeer opnieuw.",
        "collaborations": "Samenwerkingsverbanden",
        "no_collaborations": "Dit token ziet geen samenwerkingsverbanden.",
        "founded": "Opgericht",
        "events": "Gebeurtenissen",
        "overview": "Overzicht",
        "timeline": "Tijdlijn",
        "charts": "Grafieken",
        "diff": "Vergelijken",
        "register": "Register van afspraken",
        "moment": "Moment",
        "in_force_on": "Van kracht op",
        "as_known_on": "Zoals bekend op",
        "known_now": "alles wat nu bekend is",
        "show": "Toon",
        "slider_label": "Door de tijd bewegen",
        "showing": "Het samenwerkingsverband zoals van kracht op",
        "basis": "Basis",
        "version": "versie",
        "mission": "Missie",
        "drivers": "Drijfveren",
        "values": "Waarden",
        "mission_version": "Versie van het kompas",
        "phase": "Fase",
        "phase_since": "sinds",
        "no_phase": "Nog geen fase gestart.",
        "attention": "Aandachtspunten",
        "attention_none": "Op dit moment vraagt niets aandacht.",
        "partners": "Partners",
        "former_partners": "Vroegere partners",
        "partner": "Partner",
        "kind": "Soort",
        "capacities": "Rol van de organisatie",
        "since": "Sinds",
        "left": "Vertrokken",
        "members": "Leden",
        "roles": "Rollen",
        "role": "Rol",
        "holder": "Rolhouder",
        "method": "Werkwijze",
        "status": "Status",
        "term_ends_on": "Termijn loopt af",
        "mandates": "Mandaten",
        "mandate": "Mandaat",
        "scope": "Reikwijdte",
        "decision_rights": "Beslissingsrechten",
        "budget_limit": "Budgetlimiet",
        "review_on": "Evaluatiemoment",
        "valid_until": "Geldig tot",
        "agreements": "Afspraken",
        "agreement": "Afspraak",
        "formality": "Vorm",
        "parties": "Partijen",
        "budget": "Budget",
        "decisions": "Beslissingen",
        "decision": "beslissing",
        "reflection": "reflectiemoment",
        "reflections": "Reflectiemomenten",
        "compass": "Kompas en fasen",
        "none": "Geen.",
        "effects": "Wijzigingen die eruit volgden",
        "effects_none": "Geen enkele vastgelegde wijziging noemt dit als oorzaak.",
        "caused_by": "Volgt uit",
        "see_effects": "Wijzigingen die eruit volgden",
        "outcome": "Uitkomst",
        "findings": "Bevindingen",
        "actions": "Acties",
        "participants": "Deelnemers",
        "objections": "Bezwaren",
        "resolution": "Oplossing",
        "minority_views": "Minderheidsstandpunten",
        "loop": "Leren",
        "kinds": "Toon alleen",
        "all_kinds": "alle soorten als niets aangevinkt is",
        "filter": "Filteren",
        "effective": "Van kracht",
        "recorded": "Vastgelegd",
        "backdated": "later ingevoerd",
        "backdated_title": "Meer dan een dag nadat het van kracht werd vastgelegd",
        "planned": "gepland",
        "by": "door",
        "acting_for": "namens",
        "as": "als",
        "note": "Notitie",
        "changes": "Wijzigingen",
        "no_changes": "Geen wijziging aan de toestand.",
        "page_of": "Gebeurtenissen {first}–{last} van {total}",
        "previous": "Vorige",
        "next": "Volgende",
        "first_page": "Eerste",
        "last_page": "Laatste",
        "go_to_page": "Pagina",
        "go": "Ga",
        "in_timeline": "in de tijdlijn",
        "diff_title": "Twee momenten vergelijken",
        "diff_intro": "Wat toegevoegd, verwijderd en gewijzigd werd tussen twee momenten.",
        "from": "Van",
        "to": "Tot",
        "before": "Ervoor",
        "after": "Erna",
        "compare": "Vergelijk",
        "no_difference": "Tussen deze momenten veranderde niets.",
        "all_fields": "Alle velden",
        "added": "toegevoegd",
        "removed": "verwijderd",
        "changed": "gewijzigd",
        "collaboration": "Samenwerkingsverband",
        "chart_roles": "Rolhouders door de tijd",
        "chart_roles_desc": "Eén rij per rol; elke balk is de termijn van één rolhouder.",
        "chart_partners": "Partners doorheen de fasen",
        "chart_partners_desc": "Fasen als kolommen; elke balk is de deelname van een partner.",
        "chart_agreements": "Looptijd van de afspraken",
        "chart_agreements_desc": "Elke balk is een afspraak van wanneer ze gemaakt werd tot ze "
        "beëindigd werd; tekens tonen wijzigingen, correcties, evaluaties en evaluatiemomenten.",
        "legend": "Legende",
        "amended": "wijziging",
        "corrected": "correctie",
        "reviewed": "evaluatie",
        "review_date": "evaluatiemoment",
        "today": "vandaag",
        "vacant": "vacant",
        "tenures": "{n} korte termijnen",
        "more_rows": "… en nog {n}: zie de tijdlijn.",
        "as_table": "Als tabel",
        "register_intro": "Afspraken van de samenwerkingsverbanden die dit token ziet, van kracht "
        "(of met een status) op een datum, zoals bekend op een datum.",
        "party": "Partij (partner-id)",
        "capacity": "Rol van de organisatie",
        "any": "alle",
        "review_due_before": "Evaluatie vóór",
        "limit": "Rijen per pagina",
        "results": "Afspraken",
        "no_results": "Geen afspraak voldoet aan deze filters.",
        "download_csv": "Downloaden als CSV",
        "in_force_count": "Afspraken van kracht",
        "committed": "Toegezegd budget",
        "valid_from": "Geldig vanaf",
        "error": "Er liep iets mis",
        "back": "Terug naar het overzicht",
        "forbidden": "Je token mag deze pagina niet zien.",
        "not_found": "Deze pagina bestaat niet, of dit token kan ze niet zien.",
    },
}

# Words of the closed vocabularies; English shows the value itself, made readable.
VOCABULARY_NL: dict[str, dict[str, str]] = {
    "capacity": {"funder": "financier", "accountable": "eindverantwoordelijke",
                 "managing": "coördinerend", "implementing": "uitvoerend",
                 "host": "gastorganisatie", "knowledge": "kennispartner",
                 "participant": "deelnemer"},
    "partner_kind": {"school": "school", "company": "bedrijf", "government": "overheid",
                     "library": "bibliotheek", "social_organisation": "sociale organisatie",
                     "neighbourhood": "buurt", "knowledge_institution": "kennisinstelling",
                     "other": "andere"},
    "formality": dict(FORMALITY_NL),
    "agreement_status": {"in_force": "van kracht", "review_due": "evaluatie nodig",
                         "expired": "verlopen", "ended": "beëindigd"},
    "mandate_status": {"active": "actief", "review_due": "evaluatie nodig",
                       "expired": "verlopen", "revoked": "ingetrokken"},
    "role_status": {"held": "ingevuld", "vacant": "vacant", "retired": "afgeschaft",
                    "term_ended": "termijn verstreken"},
    "partner_status": {"current": "huidig", "left": "vertrokken"},
    "assignment": {"appointed": "aangesteld", "elected": "verkozen", "consent": "consent",
                   "rotation": "rotatie", "volunteered": "vrijwillig", "handover": "overdracht"},
    "decision_method": {"consent": "consent", "consensus": "consensus",
                        "majority": "meerderheid", "advice": "advies",
                        "mandate_holder": "mandaathouder", "deep_democracy": "deep democracy",
                        "other": "andere"},
    "reflection_method": {"timeline": "tijdlijn", "eye_opener": "eye-opener",
                          "learning_history": "leergeschiedenis",
                          "retrospective": "retrospectieve", "other": "andere"},
    "loop": {key: f"{value} leren" for key, value in LOOP_NL.items()},
    "outcome": dict(OUTCOME_NL),
    "attention": {"agreement_expired": "afspraak verlopen",
                  "agreement_review_due": "evaluatiemoment van afspraak verstreken",
                  "mandate_expired": "mandaat verlopen",
                  "mandate_review_due": "evaluatiemoment van mandaat verstreken",
                  "role_term_ended": "termijn van rolhouder verstreken"},
    "holder_kind": {"role": "rol", "person": "persoon", "partner": "partner"},
    "section": {"collaboration": "kompas", "phase": "fase", "partners": "partners",
                "members": "leden", "roles": "rollen", "mandates": "mandaten",
                "agreements": "afspraken", "decisions": "beslissingen",
                "reflections": "reflectiemomenten"},
}  # fmt: skip
VOCABULARY_EN: dict[str, dict[str, str]] = {
    "loop": {"single": "single-loop learning", "double": "double-loop learning",
             "triple": "triple-loop learning"},
    "attention": {"agreement_expired": "agreement expired",
                  "agreement_review_due": "agreement review due",
                  "mandate_expired": "mandate expired",
                  "mandate_review_due": "mandate review due",
                  "role_term_ended": "role holder's term ended"},
    "role_status": {"held": "held", "term_ended": "term ended"},
    "section": {"collaboration": "compass"},
}  # fmt: skip

MONTHS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "nl": ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"),
}


def language() -> str:
    """?lang= (the switch), else the remembered choice, else Accept-Language, else English."""
    for choice in (request.args.get("lang"), request.cookies.get(LANG_COOKIE)):
        if choice in LANGUAGES:
            return str(choice)
    return request.accept_languages.best_match(LANGUAGES, default="en") or "en"


def text(lang: str, key: str, **values: object) -> str:
    phrase = TEXT[lang].get(key) or TEXT["en"][key]
    return phrase.format(**values) if values else phrase


def word(lang: str, group: str, value: object) -> str:
    """A vocabulary value in the page's language."""
    raw = str(value)
    table = VOCABULARY_NL if lang == "nl" else VOCABULARY_EN
    return table.get(group, {}).get(raw) or raw.replace("_", " ")


def day_label(lang: str, value: str | date | datetime | None) -> str:
    """A day as people write it: `12 Mar 2025` / `12 mrt 2025`."""
    if value is None or value == "":
        return "–"
    day = _as_date(value)
    return f"{day.day} {MONTHS[lang][day.month - 1]} {day.year}"


def moment_label(lang: str, value: str | None) -> str:
    """An instant as a day and a UTC time."""
    if not value:
        return "–"
    moment = parse_instant(value)
    return f"{day_label(lang, moment)} {moment:%H:%M} UTC"


def _as_date(value: str | date | datetime) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value[:10])


FIELD_NL = {
    "name": "naam", "title": "titel", "mission": "missie", "drivers": "drijfveren",
    "values": "waarden", "languages": "talen", "kind": "soort", "capacities": "rol van de organisatie",
    "status": "status", "since": "sinds", "left_at": "vertrokken op", "left_reason": "reden",
    "partner_id": "partner", "purpose": "doel", "accountabilities": "verantwoordelijkheden",
    "term_months": "termijn (maanden)", "holder": "rolhouder", "method": "werkwijze",
    "held_since": "rolhouder sinds", "term_ends_on": "termijn loopt af", "scope": "reikwijdte",
    "decision_rights": "beslissingsrechten", "budget_limit": "budgetlimiet",
    "valid_until": "geldig tot", "review_on": "evaluatiemoment", "version": "versie",
    "revoked": "ingetrokken", "formality": "vorm", "topics": "thema's", "parties": "partijen",
    "terms": "inhoud", "budget_commitments": "budgettoezeggingen",
    "evaluation_criteria": "evaluatiecriteria", "ended": "beëindigd", "ended_at": "beëindigd op",
    "ended_reason": "reden van beëindiging", "last_review": "laatste evaluatie",
    "corrections": "correcties", "description": "beschrijving", "subject": "onderwerp",
    "outcome": "uitkomst", "participants": "deelnemers", "objections": "bezwaren",
    "minority_views": "minderheidsstandpunten", "findings": "bevindingen", "actions": "acties",
    "loop": "leren", "mission_version": "versie van het kompas", "vacated_at": "vrijgekomen op",
    "decided_at": "beslist op", "held_at": "gehouden op", "decision_id": "beslissing",
    "reflection_id": "reflectiemoment", "agreement_id": "afspraak", "mandate_id": "mandaat",
    "role_id": "rol", "person_id": "persoon", "revoked_at": "ingetrokken op",
    "revoked_reason": "reden van intrekking", "amended_at": "gewijzigd op",
    "retired_at": "afgeschaft op", "retired_reason": "reden van afschaffing",
}  # fmt: skip
# Bookkeeping fields a person does not need to read in a diff or an item's details.
HIDDEN_FIELDS = frozenset({"version_since", "shared_with_funders", "founded_at"})


def field_label(lang: str, key: str) -> str:
    return (FIELD_NL.get(key) if lang == "nl" else None) or key.replace("_", " ")


def show_value(lang: str, value: object) -> str:
    """Any value of the state, in a few words."""
    if value is None or value == "" or value == []:
        return "–"
    if isinstance(value, bool):
        return {"en": ("no", "yes"), "nl": ("nee", "ja")}[lang][value]
    if isinstance(value, list):
        return ", ".join(show_value(lang, item) for item in value)
    if isinstance(value, dict):
        return _show_mapping(lang, value)
    if isinstance(value, str) and INSTANT_TEXT.match(value):
        return day_label(lang, value)
    return str(value)


INSTANT_TEXT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def _show_mapping(lang: str, value: dict[Any, Any]) -> str:
    if "amount" in value and "currency" in value:
        money = f"{value['currency']} {value['amount']}"
        return f"{value['partner_id']}: {money}" if value.get("partner_id") else money
    if set(value) == {"kind", "id"}:
        return f"{word(lang, 'holder_kind', value['kind'])} {value['id']}"
    for who in ("partner_id", "person_id"):
        if who in value and "capacity" in value:
            return f"{value[who]} ({word(lang, 'capacity', value['capacity'])})"
    return "; ".join(f"{field_label(lang, str(k))}: {show_value(lang, v)}"
                     for k, v in value.items() if k not in HIDDEN_FIELDS)  # fmt: skip


# Fields whose values are words of a vocabulary, per section of the state.
FIELD_WORDS = {
    ("agreements", "status"): "agreement_status", ("mandates", "status"): "mandate_status",
    ("roles", "status"): "role_status", ("partners", "status"): "partner_status",
    ("members", "status"): "partner_status", ("partners", "kind"): "partner_kind",
    ("partners", "capacities"): "capacity", ("agreements", "formality"): "formality",
    ("roles", "method"): "assignment", ("decisions", "method"): "decision_method",
    ("reflections", "method"): "reflection_method", ("reflections", "loop"): "loop",
    ("reflections", "outcome"): "outcome",
}  # fmt: skip


def field_value(lang: str, section: str, name: str, value: object) -> str:
    """A field's value in a few words, vocabulary words in the page's language."""
    group = FIELD_WORDS.get((section, name))
    if group is not None and isinstance(value, str):
        return word(lang, group, value)
    if group is not None and isinstance(value, list):
        return ", ".join(word(lang, group, item) for item in value)
    return show_value(lang, value)
