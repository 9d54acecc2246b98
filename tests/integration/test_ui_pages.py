"""The evaluator's pages (/ui) over the Flask test client: a session opened with a token, the
same access rules as the API, and pages that render the demo collaboration in Dutch and
English without inline scripts or styles."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ledger.demo import demo_events
from ledger.service import LedgerService
from ledger.tokens import TokenStore

SESSION_COOKIE = "ledger_session"
REFLECTION = "Leergeschiedenis van ons eerste jaar"


@pytest.fixture
def demo(app: Flask) -> str:
    """The demo collaboration, recorded in one transaction (quicker than one post per event)."""
    service: LedgerService = app.extensions["ledger.service"]
    (_, founding, envelope), *story = demo_events()
    cid = service.found_collaboration(founding, {**envelope, "actor": "demo"}).collaboration_id
    service.import_events(cid, [(t, data, {**e, "actor": "demo"}) for t, data, e in story])
    return cid


def issue(app: Flask, name: str, role: str, *collaborations: str) -> str:
    tokens: TokenStore = app.extensions["ledger.tokens"]
    return tokens.create(name, role, collaborations=collaborations)


@pytest.fixture
def evaluator(app: Flask, demo: str) -> str:
    return issue(app, "evaluator", "evaluator", demo)


def csrf_of(client: FlaskClient) -> str:
    form = client.get("/ui/login").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert found is not None
    return found.group(1)


def log_in(client: FlaskClient, token: str, next_page: str = "") -> TestResponse:
    return client.post(
        "/ui/login", data={"csrf_token": csrf_of(client), "token": token, "next": next_page}
    )


@pytest.fixture
def pages(client: FlaskClient, evaluator: str) -> FlaskClient:
    """A browser logged in as the evaluator."""
    assert log_in(client, evaluator).status_code == 303
    return client


def html(response: TestResponse) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def visible_text(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


# The session


def test_a_page_without_a_session_redirects_to_the_login_form(
    client: FlaskClient, demo: str
) -> None:
    response = client.get(f"/ui/c/{demo}/timeline?kind=roles")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/ui/login?next=/ui/c/{demo}/timeline?kind%3Droles"


def test_logging_in_keeps_the_token_in_an_httponly_strict_cookie_for_the_pages_only(
    client: FlaskClient, evaluator: str
) -> None:
    response = log_in(client, evaluator, "/ui/register")
    assert response.status_code == 303
    assert response.headers["Location"] == "/ui/register"
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(SESSION_COOKIE))
    assert {"HttpOnly", "SameSite=Strict", "Path=/ui"} <= {p.strip() for p in cookie.split(";")}
    assert evaluator not in response.headers["Location"]


def test_a_login_without_its_csrf_token_is_refused(client: FlaskClient, evaluator: str) -> None:
    response = client.post("/ui/login", data={"token": evaluator})
    assert response.status_code == 403
    assert not any(c.startswith(SESSION_COOKIE) for c in response.headers.getlist("Set-Cookie"))


def test_a_wrong_token_shows_the_login_form_again_without_echoing_it(client: FlaskClient) -> None:
    response = log_in(client, "glt_not-a-token")
    assert response.status_code == 401
    assert "glt_not-a-token" not in response.get_data(as_text=True)
    assert 'role="alert"' in response.get_data(as_text=True)


def test_login_sends_only_to_pages_of_the_ledger(client: FlaskClient, evaluator: str) -> None:
    response = log_in(client, evaluator, "//evil.example/ui/")
    assert response.headers["Location"] == "/ui/"


def test_the_session_cookie_does_not_open_the_api(pages: FlaskClient, evaluator: str) -> None:
    response = pages.get("/collaborations", headers={"Cookie": f"{SESSION_COOKIE}={evaluator}"})
    assert response.status_code == 401


def test_logging_out_ends_the_session(pages: FlaskClient) -> None:
    response = pages.post("/ui/logout", data={"csrf_token": csrf_of(pages)})
    assert response.status_code == 303
    assert pages.get("/ui/").status_code == 303


def test_the_token_never_appears_in_the_logs(
    client: FlaskClient, evaluator: str, demo: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    log_in(client, evaluator, f"/ui/c/{demo}/")
    client.get(f"/ui/c/{demo}/")
    client.post("/ui/logout", data={"csrf_token": csrf_of(client)})
    assert caplog.records  # the access log did speak
    assert evaluator not in caplog.text


def test_static_files_need_no_session(client: FlaskClient) -> None:
    response = client.get("/ui/static/ui.js")
    assert response.status_code == 200
    assert "javascript" in response.mimetype


# The pages


PAGES = (
    "c/{cid}/",
    "c/{cid}/?at=2026-01-01",
    "c/{cid}/timeline",
    "c/{cid}/timeline?kind=agreements&kind=roles&page=1",
    "c/{cid}/reflections/reflectie-wie-beslist",
    "c/{cid}/decisions/besluit-kompas",
    "c/{cid}/charts",
    "c/{cid}/diff",
    "register",
    "",
)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_without_inline_scripts_or_styles(
    pages: FlaskClient, demo: str, path: str
) -> None:
    response = pages.get("/ui/" + path.format(cid=demo))
    page = html(response)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []
    assert " style=" not in page and "<style" not in page
    fields = re.findall(r'<(?:input|select)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', page)
    assert [field for field in fields if f'for="{field}"' not in page] == []  # all labelled


def test_the_overview_shows_the_state_in_force_on_the_chosen_day(
    pages: FlaskClient, demo: str
) -> None:
    founded_on = demo_events()[0][2]["effective_at"][:10]
    then = visible_text(html(pages.get(f"/ui/c/{demo}/?at={founded_on}")))
    now = visible_text(html(pages.get(f"/ui/c/{demo}/")))
    assert "verkenning" in then and "verankering" not in then
    assert "verankering" in now
    assert "Van Damme Techniek" in now and "Van Damme Techniek" not in then


def test_the_overview_as_known_before_anything_was_recorded_says_so(
    pages: FlaskClient, demo: str
) -> None:
    response = pages.get(f"/ui/c/{demo}/?known_at=2000-01-01")
    assert response.status_code == 404
    assert "known_at" in response.get_data(as_text=True)


def test_a_malformed_date_is_explained_on_a_page(pages: FlaskClient, demo: str) -> None:
    response = pages.get(f"/ui/c/{demo}/?at=yesterday")
    assert response.status_code == 400
    assert "2025-03-01" in response.get_data(as_text=True)


def test_the_timeline_filters_by_kind(pages: FlaskClient, demo: str) -> None:
    page = html(pages.get(f"/ui/c/{demo}/timeline?kind=reflections"))
    assert page.count('class="event kind-ReflectionHeld"') == 5
    assert page.count('class="event kind-') == 5


def test_the_timeline_pages_through_a_long_history(pages: FlaskClient, demo: str) -> None:
    page = visible_text(html(pages.get(f"/ui/c/{demo}/timeline?page=2&lang=en")))
    assert "Events 51–71 of 71" in page
    assert "#51 " in page and "#50 " not in page


def test_backdated_entries_are_marked_and_planned_ones_too(pages: FlaskClient, demo: str) -> None:
    page = html(pages.get(f"/ui/c/{demo}/timeline?page=2&lang=en"))
    last = page[page.index('id="event-71"') :]
    assert "badge-planned" in last and "badge-backdated" not in last.split("</li>")[0]
    assert "badge-backdated" in page[: page.index('id="event-71"')]


def test_a_reflection_page_lists_the_changes_it_caused(pages: FlaskClient, demo: str) -> None:
    page = visible_text(html(pages.get(f"/ui/c/{demo}/reflections/reflectie-wie-beslist?lang=en")))
    assert "Changes it caused (3)" in page
    assert "Mandate mandaat-coordinatie amended" in page
    assert "Rotatie van de coördinatorrol" in page


def test_the_language_follows_accept_language_and_the_switch_is_remembered(
    pages: FlaskClient, demo: str
) -> None:
    dutch = html(pages.get(f"/ui/c/{demo}/", headers={"Accept-Language": "nl-BE,nl;q=0.9"}))
    assert '<html lang="nl">' in dutch and "Aandachtspunten" in dutch
    english = html(pages.get(f"/ui/c/{demo}/?lang=en", headers={"Accept-Language": "nl"}))
    assert '<html lang="en">' in english and "Attention list" in english
    remembered = html(pages.get(f"/ui/c/{demo}/timeline", headers={"Accept-Language": "nl"}))
    assert '<html lang="en">' in remembered


def test_charts_are_svg_in_the_page(pages: FlaskClient, demo: str) -> None:
    page = html(pages.get(f"/ui/c/{demo}/charts"))
    assert page.count('<svg class="chart-svg"') == 3
    assert page.count('role="img"') == 3
    assert "Els Vermeulen" in page and "verankering" in page


def test_the_diff_shows_two_moments_side_by_side(pages: FlaskClient, demo: str) -> None:
    founded_on = demo_events()[0][2]["effective_at"][:10]
    page = html(pages.get(f"/ui/c/{demo}/diff?from={founded_on}&lang=en"))
    assert 'class="change-added"' in page and 'class="change-changed"' in page
    assert "Before – " in page and "After – " in page


def test_the_register_csv_is_the_apis_csv(
    pages: FlaskClient, app: Flask, demo: str, evaluator: str
) -> None:
    ui_csv = pages.get("/ui/register.csv?formality=contract")
    api_csv = pages.get(
        "/agreements?formality=contract",
        headers={"Authorization": f"Bearer {evaluator}", "Accept": "text/csv"},
    )
    assert ui_csv.mimetype == "text/csv"
    assert ui_csv.get_data(as_text=True) == api_csv.get_data(as_text=True)
    assert ui_csv.get_data(as_text=True).count("\n") == 3


def test_the_register_explains_a_malformed_filter(pages: FlaskClient) -> None:
    response = pages.get("/ui/register?capacity=sponsor")
    assert response.status_code == 400
    assert "capacity" in response.get_data(as_text=True)


# The same access rules as the API


def test_a_funder_sees_the_overview_but_not_the_timeline(
    client: FlaskClient, app: Flask, demo: str
) -> None:
    log_in(client, issue(app, "funder", "funder", demo))
    overview = html(client.get(f"/ui/c/{demo}/"))
    assert f"/ui/c/{demo}/timeline" not in overview
    assert client.get(f"/ui/c/{demo}/timeline").status_code == 403
    assert client.get(f"/ui/c/{demo}/reflections/reflectie-wie-beslist").status_code == 403


def test_a_collaboration_outside_the_tokens_scope_is_not_found(
    client: FlaskClient, app: Flask, demo: str
) -> None:
    log_in(client, issue(app, "other", "evaluator", "00000000-0000-4000-8000-000000000000"))
    assert client.get(f"/ui/c/{demo}/").status_code == 404
    assert demo not in html(client.get("/ui/"))


def test_the_register_shows_only_collaborations_in_scope(
    client: FlaskClient, app: Flask, demo: str
) -> None:
    log_in(client, issue(app, "other", "funder", "00000000-0000-4000-8000-000000000000"))
    page = html(client.get("/ui/register"))
    assert "Samen verkennen" not in page and "Subsidieovereenkomst" not in page


def test_an_auditor_may_not_read_the_pages(client: FlaskClient, app: Flask, demo: str) -> None:
    log_in(client, issue(app, "auditor", "auditor"))
    assert client.get(f"/ui/c/{demo}/").status_code == 403


def test_a_day_in_the_future_shows_what_is_planned(pages: FlaskClient, demo: str) -> None:
    later = (datetime.now(UTC) + timedelta(days=40)).date().isoformat()
    page = visible_text(html(pages.get(f"/ui/c/{demo}/?at={later}")))
    coordinator = page[page.index("Coördinator") :][:80]
    assert "Jonas Maes" in coordinator


def test_a_funder_sees_who_held_a_role_by_id_not_by_name(
    client: FlaskClient, app: Flask, demo: str
) -> None:
    log_in(client, issue(app, "funder", "funder", demo))
    overview = html(client.get(f"/ui/c/{demo}/"))
    charts = html(client.get(f"/ui/c/{demo}/charts"))
    roles = overview[overview.index('id="roles"') : overview.index('id="mandates-title"')]
    tenures = charts[charts.index('id="roles-chart"') : charts.index('id="partners-chart-title"')]
    for shown in (roles, tenures):
        assert "sofie-claes" in shown and "Sofie Claes" not in shown
