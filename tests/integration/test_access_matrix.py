"""Who may call what: every route of the app × every kind of caller × collaboration A (in scope),
B (out of scope) and one that does not exist, against a table written from the role definitions
(not from ledger/api/access.py), then what funders and out-of-scope tokens get to read."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from werkzeug.test import TestResponse

from tests.conftest import database_url
from tests.integration.access_fixtures import (
    CALLERS,
    HOOK_URL,
    SCOPED_CALLERS,
    SECRET,
    SHARED,
    SYSTEM_EVENT_TYPE,
    UNKNOWN_SUBSCRIPTION,
    Caller,
    World,
    open_world,
    read_stream,
    subscribe,
    unique,
)

PROBLEM = "application/problem+json"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Public by design: static files, the API docs, the probes, and the pages' login and logout.
NOT_PART_OF_THE_MATRIX = ("static", "docs_static", "api-docs.", "health.", "ui.login", "ui.logout",
                          "ui.static")  # fmt: skip

# Routes by endpoint and method, as the role definitions speak of them.
LIST, FOUND = ("collaborations.Collaborations", "GET"), ("collaborations.Collaborations", "POST")
STATE = ("collaborations.Collaboration", "GET")
EVENTS, POST_EVENT = ("collaborations.Events", "GET"), ("collaborations.Events", "POST")
TIMELINE, DIFF = ("read-models.Timeline", "GET"), ("read-models.Diff", "GET")
ROLE_HISTORY, ITEM_HISTORY = ("read-models.RoleHistory", "GET"), ("read-models.ItemHistory", "GET")
CAUSE_AND_EFFECT = ("read-models.CauseAndEffect", "GET")
REGISTER, SUMMARY = ("register.Agreements", "GET"), ("register.AgreementSummary", "GET")
FEED, FEED_STREAM = ("register.Feed", "GET"), ("register.FeedStream", "GET")
CATALOGUE = ("event-types.EventTypes", "GET")
LIST_TOKENS, ISSUE_TOKEN = ("tokens.Tokens", "GET"), ("tokens.Tokens", "POST")
REVOKE_TOKEN = ("tokens.Token", "DELETE")
INTEGRITY_READS = {
    ("integrity.InclusionProof", "GET"),
    ("integrity.ConsistencyProof", "GET"),
    ("integrity.Checkpoints", "GET"),
    ("integrity.LatestCheckpoint", "GET"),
    ("integrity.Keys", "GET"),
    ("integrity.Verify", "GET"),
}
SIGN_CHECKPOINT = ("integrity.Checkpoints", "POST")
LIST_SUBSCRIPTIONS, SUBSCRIBE = (
    ("webhooks.Subscriptions", "GET"),
    ("webhooks.Subscriptions", "POST"),
)
READ_SUBSCRIPTION = ("webhooks.Subscription", "GET")
UNSUBSCRIBE = ("webhooks.Subscription", "DELETE")
WEBHOOKS = {LIST_SUBSCRIPTIONS, SUBSCRIBE, READ_SUBSCRIPTION, UNSUBSCRIBE}

# What each role may do (design: role definitions). Scope is applied separately: a scoped role
# sees only its collaborations, everything else is 404. The event-type catalogue is the API's
# documentation: every valid token may read it.
READS_OF_OWN = {
    LIST, STATE, EVENTS, ROLE_HISTORY, ITEM_HISTORY, REGISTER, SUMMARY, FEED, FEED_STREAM, CATALOGUE
}  # fmt: skip
EVERYTHING = {
    *READS_OF_OWN, FOUND, POST_EVENT, TIMELINE, DIFF, CAUSE_AND_EFFECT, LIST_TOKENS, ISSUE_TOKEN,
    REVOKE_TOKEN, *INTEGRITY_READS, SIGN_CHECKPOINT, *WEBHOOKS,
}  # fmt: skip
ALLOWED: dict[str, set[tuple[str, str]]] = {
    # admin: everything, including founding collaborations and tokens.
    "admin": EVERYTHING,
    # recorder: read and write its collaborations (founding a new one is the admin's), and
    # subscribe webhooks to them: those deliver events unredacted, so no other scoped role may.
    "recorder": {*READS_OF_OWN, POST_EVENT, TIMELINE, DIFF, CAUSE_AND_EFFECT, *WEBHOOKS},
    # evaluator: read everything of its collaborations, timeline and diffs included; no writes.
    "evaluator": {*READS_OF_OWN, TIMELINE, DIFF, CAUSE_AND_EFFECT},
    # funder: state, agreements, mandates, roles, partners, budget, the register, the events
    # (redacted); not the timeline, diffs or the reflective cause-and-effect view.
    "funder": set(READS_OF_OWN),
    # auditor: the integrity endpoints (signing a checkpoint is the admin's).
    "auditor": {CATALOGUE, *INTEGRITY_READS},
    # system: post events (of the types in its scope) to its collaborations.
    "system": {CATALOGUE, POST_EVENT},
}
# The pages (/ui) show what an API route returns: a role may open a page when it may call
# that route.
UI_PAGES = {
    ("ui.index", "GET"): LIST,
    ("ui.overview", "GET"): STATE,
    ("ui.timeline", "GET"): TIMELINE,
    ("ui.diff", "GET"): DIFF,
    ("ui.cause", "GET"): CAUSE_AND_EFFECT,
    ("ui.charts", "GET"): ROLE_HISTORY,
    ("ui.register", "GET"): REGISTER,
    ("ui.register_csv", "GET"): REGISTER,
}
EVERYTHING |= set(UI_PAGES)
for _role, _allowed in ALLOWED.items():
    _allowed |= {page for page, route in UI_PAGES.items() if route in _allowed}
assert all(ALLOWED[role] <= EVERYTHING for role in ALLOWED)


@dataclass(frozen=True)
class Call:
    """One concrete request to a route. `target` says where the collaboration it concerns is
    named: in the path ({cid}), in the body, or through a webhook subscription of it ({sub});
    None for routes about no collaboration in particular."""

    path: str
    query: dict[str, Any] | None = None
    body: Callable[[World, str], Any] | None = None
    target: str | None = None


def founding(world: World, cid: str) -> dict[str, Any]:
    return {"name": unique("Matrix"), "mission": "Every child reads"}


def phase(world: World, cid: str) -> dict[str, Any]:
    return {"type": SYSTEM_EVENT_TYPE, "data": {"name": unique("phase")}}


def token_request(world: World, cid: str) -> dict[str, Any]:
    return {"name": unique("issued"), "role": "auditor"}


def subscription_request(world: World, cid: str) -> dict[str, Any]:
    return {"url": HOOK_URL, "secret": "s" * 32, "collaboration": cid}


def empty(world: World, cid: str) -> dict[str, Any]:
    return {}


PATH, BODY, SUBSCRIPTION = "path", "body", "subscription"
CALLS: dict[tuple[str, str], list[Call]] = {
    LIST: [Call("/collaborations")],
    FOUND: [Call("/collaborations", body=founding)],
    STATE: [Call("/collaborations/{cid}", target=PATH)],
    EVENTS: [Call("/collaborations/{cid}/events", target=PATH)],
    POST_EVENT: [Call("/collaborations/{cid}/events", body=phase, target=PATH)],
    TIMELINE: [Call("/collaborations/{cid}/timeline", target=PATH)],
    DIFF: [Call("/collaborations/{cid}/diff", {"from": 1, "to": 2}, target=PATH)],
    ROLE_HISTORY: [Call("/collaborations/{cid}/roles/chair/history", target=PATH)],
    ITEM_HISTORY: [
        Call("/collaborations/{cid}/mandates/m1/history", target=PATH),
        Call("/collaborations/{cid}/agreements/a1/history", target=PATH),
    ],
    CAUSE_AND_EFFECT: [
        Call("/collaborations/{cid}/decisions/d1", target=PATH),
        Call("/collaborations/{cid}/reflections/r1", target=PATH),
    ],
    REGISTER: [Call("/agreements")],
    SUMMARY: [Call("/agreements/summary")],
    FEED: [Call("/feed")],
    FEED_STREAM: [Call("/feed/stream")],
    CATALOGUE: [Call("/event-types")],
    LIST_TOKENS: [Call("/tokens")],
    ISSUE_TOKEN: [Call("/tokens", body=token_request)],
    REVOKE_TOKEN: [Call("/tokens/{victim}")],
    ("integrity.InclusionProof", "GET"): [Call("/proofs/inclusion", {"position": 1})],
    ("integrity.ConsistencyProof", "GET"): [Call("/proofs/consistency", {"from": 1})],
    ("integrity.Checkpoints", "GET"): [Call("/checkpoints")],
    SIGN_CHECKPOINT: [Call("/checkpoints", body=empty)],
    ("integrity.LatestCheckpoint", "GET"): [Call("/checkpoints/latest")],
    ("integrity.Keys", "GET"): [Call("/keys")],
    ("integrity.Verify", "GET"): [Call("/verify")],
    LIST_SUBSCRIPTIONS: [Call("/subscriptions")],
    SUBSCRIBE: [Call("/subscriptions", body=subscription_request, target=BODY)],
    READ_SUBSCRIPTION: [Call("/subscriptions/{sub}", target=SUBSCRIPTION)],
    UNSUBSCRIBE: [Call("/subscriptions/{fresh_sub}", target=SUBSCRIPTION)],
    ("ui.index", "GET"): [Call("/ui/")],
    ("ui.overview", "GET"): [Call("/ui/c/{cid}/", target=PATH)],
    ("ui.timeline", "GET"): [Call("/ui/c/{cid}/timeline", target=PATH)],
    ("ui.diff", "GET"): [Call("/ui/c/{cid}/diff", target=PATH)],
    ("ui.cause", "GET"): [
        Call("/ui/c/{cid}/decisions/d1", target=PATH),
        Call("/ui/c/{cid}/reflections/r1", target=PATH),
    ],
    ("ui.charts", "GET"): [Call("/ui/c/{cid}/charts", target=PATH)],
    ("ui.register", "GET"): [Call("/ui/register")],
    ("ui.register_csv", "GET"): [Call("/ui/register.csv")],
}
TARGETS = ("A", "B", "unknown")


def expected(caller: Caller, route: tuple[str, str], call: Call, target: str | None) -> str:
    """The status class a caller must get: 2xx, 401, 403 or 404."""
    if caller.role is None:
        return "401"
    allowed = route in ALLOWED[caller.role]
    if target is None:
        return "2xx" if allowed else "403"
    if caller.sees_everything:
        if not allowed:
            return "403"
        return "2xx" if target in ("A", "B") else "404"
    if call.target == PATH and target not in caller.scope:
        # Out of scope is exactly as if it did not exist, whatever the action.
        return "404"
    if not allowed:
        # Where the collaboration is not in the path, refusing the role first reveals nothing.
        return "403"
    return "2xx" if target in caller.scope else "404"


def status_class(status: int) -> str:
    return "2xx" if 200 <= status < 300 else str(status)


@dataclass
class Cell:
    caller: str
    route: tuple[str, str]
    path: str
    target: str | None
    expected: str
    actual: str
    body: dict[str, Any] | None


@pytest.fixture(scope="module")
def world(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("access-world")
    yield from open_world(directory, database_url(backend, directory, request))


def matrix_routes(world: World) -> list[tuple[str, str]]:
    routes = []
    for rule in world.app.url_map.iter_rules():
        if rule.endpoint.startswith(NOT_PART_OF_THE_MATRIX):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method))
    return routes


def issue_victim(world: World) -> str:
    name = unique("victim")
    world.token_store().create(name, "auditor")
    return name


def subscription_of(world: World, target: str, fresh: bool) -> str:
    """A webhook subscription of collaboration `target`; an id never used for "unknown"."""
    if target == "unknown":
        return UNKNOWN_SUBSCRIPTION
    if fresh:
        return subscribe(world, world.ids[target])
    if target not in world.subscriptions:
        world.subscriptions[target] = subscribe(world, world.ids[target])
    return world.subscriptions[target]


def call(
    world: World, caller: Caller, route: tuple[str, str], c: Call, target: str | None
) -> TestResponse:
    cid = world.ids[target] if target else ""
    names = {"cid": cid, "victim": "", "sub": "", "fresh_sub": ""}
    if "{victim}" in c.path:
        names["victim"] = issue_victim(world)
    if "sub}" in c.path and target is not None:
        names["sub" if "{sub}" in c.path else "fresh_sub"] = subscription_of(
            world, target, fresh="{fresh_sub}" in c.path
        )
    return world.client.open(
        c.path.format(**names),
        method=route[1],
        query_string=c.query,
        json=c.body(world, cid) if c.body else None,
        headers=world.headers[caller.name],
    )


def run_cell(
    world: World, caller: Caller, route: tuple[str, str], c: Call, target: str | None
) -> Cell:
    response = call(world, caller, route, c, target)
    try:
        actual = status_class(response.status_code)
        body = None
        if route[0].startswith("ui."):
            # Pages answer in HTML, and send those without a session to the login form.
            if response.status_code == 303 and response.location.startswith("/ui/login"):
                actual = "401"
        elif actual != "2xx":
            assert response.mimetype == PROBLEM, (caller.name, route, response.status_code)
            body = json.loads(response.get_data(as_text=True))
            if actual == "401":
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
    finally:
        response.close()  # the feed stream never ends: do not read it
    return Cell(
        caller.name, route, c.path, target, expected(caller, route, c, target), actual, body
    )


@pytest.fixture(scope="module")
def cells(world: World) -> list[Cell]:
    routes = matrix_routes(world)
    unknown = [route for route in routes if route not in CALLS or route not in EVERYTHING]
    assert not unknown, f"routes without an access expectation; add them to this matrix: {unknown}"
    found: list[Cell] = []
    for caller in CALLERS:
        for route in routes:
            for c in CALLS[route]:
                targets = TARGETS if c.target else (None,)
                found.extend(run_cell(world, caller, route, c, target) for target in targets)
    return found


def describe(cell: Cell) -> str:
    return f"{cell.caller:20} {cell.route[1]:6} {cell.path:45} {cell.target or '-':8} expected {cell.expected}, got {cell.actual}"  # fmt: skip


def test_every_cell_of_the_access_matrix_answers_as_the_role_definitions_say(
    cells: list[Cell],
) -> None:
    wrong = [describe(cell) for cell in cells if cell.actual != cell.expected]
    allowed_wrongly = [cell for cell in cells if cell.actual == "2xx" != cell.expected]
    print(f"\naccess matrix: {len(cells)} cells, {len(wrong)} unexpected, "
          f"{len(allowed_wrongly)} unexpected 2xx")  # fmt: skip
    assert not allowed_wrongly, "\n".join(map(describe, allowed_wrongly))
    assert not wrong, "\n".join(wrong)
    assert len(cells) >= 16 * 40


def test_the_matrix_covers_every_kind_of_answer(cells: list[Cell]) -> None:
    """A matrix where nobody is refused (or nobody allowed) would test nothing."""
    assert {cell.actual for cell in cells} >= {"2xx", "401", "403", "404"}


def without_ids(body: dict[str, Any]) -> str:
    return UUID.sub("<id>", json.dumps(body, sort_keys=True))


def test_out_of_scope_answers_exactly_as_a_collaboration_that_does_not_exist(
    cells: list[Cell],
) -> None:
    by_key = {(c.caller, c.route, c.path, c.target): c for c in cells}
    compared = 0
    for cell in cells:
        if cell.target != "B" or cell.expected != "404" or cell.route[0].startswith("ui."):
            continue
        twin = by_key[(cell.caller, cell.route, cell.path, "unknown")]
        assert cell.body is not None
        assert twin.body is not None
        assert without_ids(cell.body) == without_ids(twin.body), describe(cell)
        compared += 1
    assert compared >= len(SCOPED_CALLERS) * 10


def test_a_system_token_posts_no_event_type_outside_its_scope(world: World) -> None:
    response = world.client.post(
        f"/collaborations/{world.a}/events",
        json={"type": "MissionRevised", "data": {"mission": "Another compass"}},
        headers=world.headers["system"],
    )
    assert response.status_code == 403
    assert response.mimetype == PROBLEM
    assert world.a not in response.get_data(as_text=True)


def cloudevent(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"specversion": "1.0", "id": unique("ce"), "source": "forms", "type": event_type,
            "data": data}  # fmt: skip


def test_a_system_token_posts_no_batch_holding_an_event_type_outside_its_scope(
    world: World,
) -> None:
    path = f"/collaborations/{world.a}/events"
    before = world.get("admin", path).headers["ETag"]
    batch = [cloudevent(SYSTEM_EVENT_TYPE, {"name": unique("phase")}),
             cloudevent("MissionRevised", {"mission": "Another compass"})]  # fmt: skip
    refused = world.client.post(
        path,
        data=json.dumps(batch),
        content_type="application/cloudevents-batch+json",
        headers=world.headers["system"],
    )
    assert refused.status_code == 403
    assert world.get("admin", path).headers["ETag"] == before  # all or nothing
    binary = world.client.post(
        path,
        json={"mission": "Another compass"},
        headers={**world.headers["system"], "ce-specversion": "1.0", "ce-id": unique("ce"),
                 "ce-source": "forms", "ce-type": "MissionRevised"},
    )  # fmt: skip
    assert binary.status_code == 403
    allowed = world.client.post(
        path,
        data=json.dumps(batch[:1]),
        content_type="application/cloudevents-batch+json",
        headers=world.headers["system"],
    )
    assert allowed.status_code == 201, allowed.get_data(as_text=True)


# What funders read: nothing marked SECRET-, everything marked SHARED-.

FUNDER_READS = {
    "state": "/collaborations/{a}",
    "state at version 12": "/collaborations/{a}?version=12",
    "state at a valid time": "/collaborations/{a}?at=2999-01-01T00:00:00Z",
    "events": "/collaborations/{a}/events?limit=1000",
    "feed": "/feed?limit=1000",
    "register": "/agreements",
    "register summary": "/agreements/summary",
    "mandate history": "/collaborations/{a}/mandates/m1/history",
    "agreement history": "/collaborations/{a}/agreements/a1/history",
    "role history": "/collaborations/{a}/roles/chair/history",
    "overview page": "/ui/c/{a}/",
    "charts page": "/ui/c/{a}/charts",
    "register page": "/ui/register",
    "register as CSV": "/ui/register.csv",
}
# Where the admin's answer holds confidential text, so the funder's must be redacted.
CONFIDENTIAL = {"state", "state at a valid time", "events", "feed", "role history",
                "mandate history", "overview page", "charts page"}  # fmt: skip
LEAKS: dict[str, str] = {}


def funder_read_params() -> list[Any]:
    return [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(strict=True, reason=LEAKS[name])] if name in LEAKS else [],
        )
        for name in FUNDER_READS
    ]


@pytest.mark.parametrize("name", funder_read_params())
def test_funders_read_nothing_confidential(world: World, name: str) -> None:
    path = FUNDER_READS[name].format(a=world.a)
    admin = world.get("admin", path)
    funder = world.get("funder", path)
    assert admin.status_code == funder.status_code == 200
    if name in CONFIDENTIAL:
        assert SECRET in admin.get_data(as_text=True)  # or this check would prove nothing
    leaked = sorted(set(re.findall(rf"{SECRET}[A-Za-z0-9-]+", funder.get_data(as_text=True))))
    assert not leaked, f"{name}: a funder reads {leaked}"


@pytest.mark.parametrize("name", ["state", "events", "feed"])
def test_funders_read_what_was_shared_with_funders(world: World, name: str) -> None:
    text = world.get("funder", FUNDER_READS[name].format(a=world.a)).get_data(as_text=True)
    for shared in ("objection", "minority", "finding", "action"):
        assert f"{SHARED}A-{shared}" in text, (name, shared)


def test_the_state_funders_read_has_no_members_and_no_confidential_parts(world: World) -> None:
    state = world.get("funder", f"/collaborations/{world.a}").get_json()
    assert "members" not in state
    decision, shared_decision = state["decisions"]["d1"], state["decisions"]["d2"]
    assert "objections" not in decision and "minority_views" not in decision
    assert shared_decision["minority_views"] == ["SHARED-A-minority"]
    reflection, shared_reflection = state["reflections"]["r1"], state["reflections"]["r2"]
    assert "findings" not in reflection and "actions" not in reflection
    assert shared_reflection["findings"] == ["SHARED-A-finding"]
    # What funders are for is all there.
    for section in ("partners", "roles", "mandates", "agreements"):
        assert state[section], section
    assert state["agreements"]["a1"]["budget_commitments"]


def test_the_events_funders_read_carry_no_member_names(world: World) -> None:
    events = world.get("funder", f"/collaborations/{world.a}/events?limit=1000").get_json()
    joined = [e for e in events["items"] if e["type"] == "MemberJoined"]
    assert len(joined) == 3
    assert all("name" not in e["data"] for e in joined)


def test_the_stream_funders_read_holds_nothing_confidential(world: World) -> None:
    visible = len(world.get("funder", "/feed?limit=1000").get_json()["items"])
    events = read_stream(world.get("funder", "/feed/stream"), visible)
    assert len(events) == visible
    assert all(world.a in event for event in events)
    assert not any(SECRET in event for event in events)
    assert any(f"{SHARED}A-finding" in event for event in events)


# What tokens read of collaborations outside their scope: not even the id.

SCOPE_WIDE_READS = {
    "listing": "/collaborations?limit=1000",
    "register": "/agreements",
    "register of B": "/agreements?collaboration={b}",
    "register summary": "/agreements/summary",
    "register summary of B": "/agreements/summary?collaboration={b}",
    "feed": "/feed?limit=1000",
    "collaborations page": "/ui/",
    "register page": "/ui/register",
    "register page of B": "/ui/register?collaboration={b}",
    "register as CSV": "/ui/register.csv",
}
READERS = [c.name for c in SCOPED_CALLERS if c.role != "system"]


@pytest.mark.parametrize("name", SCOPE_WIDE_READS)
def test_the_admin_reads_b_where_scoped_tokens_must_not(world: World, name: str) -> None:
    """The leak checks below would prove nothing if B did not appear at all."""
    response = world.get("admin", SCOPE_WIDE_READS[name].format(b=world.b))
    assert response.status_code == 200
    assert world.b in response.get_data(as_text=True)


@pytest.mark.parametrize("name", SCOPE_WIDE_READS)
@pytest.mark.parametrize("caller", READERS)
def test_tokens_read_nothing_of_collaborations_outside_their_scope(
    world: World, caller: str, name: str
) -> None:
    response = world.get(caller, SCOPE_WIDE_READS[name].format(b=world.b))
    assert response.status_code == 200
    # Pages repeat the query they were asked (in their links): that is not a leak.
    text = response.get_data(as_text=True).replace(f"collaboration={world.b}", "")
    assert world.b not in text
    if caller.endswith("-elsewhere"):
        assert world.a not in text


@pytest.mark.parametrize("caller", READERS)
def test_the_feed_stream_holds_only_the_tokens_collaborations(world: World, caller: str) -> None:
    feed = world.get(caller, "/feed?limit=1000").get_json()["items"]
    assert feed, "every scoped token sees at least its own collaboration"
    events = read_stream(world.get(caller, "/feed/stream"), len(feed))
    positions = [int(event.split("\n", 1)[0].removeprefix("id: ")) for event in events]
    assert positions == [e["position"] for e in feed]
    assert not any(world.b in event for event in events)
