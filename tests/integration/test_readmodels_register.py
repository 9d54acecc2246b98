"""The agreement register for funders over HTTP, and its projection: a funder's questions about a
corrected, amended, reviewed and ended agreement, and rebuilds that give identical tables, even
after the runner was killed halfway."""

from __future__ import annotations

import csv
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from ledger.api import create_app
from ledger.demo import seed_demo
from ledger.domain.timefmt import format_instant
from ledger.service import LedgerService
from ledger.settings import Settings
from projections.register import AGREEMENT_TOPICS, BATCH, AgreementRegister
from tests import pg
from tests.conftest import database_url
from tests.integration.helpers import FOUNDED_AT, LedgerApi, day, partner

AGREEMENT_TYPES = tuple(topic.removeprefix("ledger:") for topic in AGREEMENT_TOPICS)
MAY_DAY = "2024-05-01T12:00:00Z"  # after the amendment, before the review
JULY = "2024-07-01T12:00:00Z"  # after the review date, before the end
SEPTEMBER = "2024-09-10T12:00:00Z"  # after the end
BEFORE_CORRECTION_TOOK_EFFECT = "2024-01-20T12:00:00Z"
BEFORE_MADE = "2024-01-05T12:00:00Z"


def eur(amount: str) -> list[dict[str, str]]:
    return [{"partner_id": "agency", "amount": amount, "currency": "EUR"}]


def grant(**changes: Any) -> dict[str, Any]:
    return {
        "agreement_id": "grant",
        "title": "Reading grant",
        "formality": "contract",
        "topics": ["budget", "goals"],
        "parties": [
            {"partner_id": "agency", "capacity": "funder"},
            {"partner_id": "school", "capacity": "implementing"},
        ],
        "terms": "The agency funds a reading club in one class.",
        "budget_commitments": eur("20000.00"),
        "review_on": "2024-06-01",
        "valid_until": "2024-03-31",  # wrong: copied from the draft; the contract runs all year
        **changes,
    }


def founded_with_partners(api: LedgerApi, name: str) -> str:
    cid = api.found_id(name, effective_at=day(0))
    api.record(cid, "PartnerJoined", partner("agency", "funder", kind="government"),
               effective_at=day(1))  # fmt: skip
    api.record(cid, "PartnerJoined", partner("school", "implementing"), effective_at=day(1))
    return cid


class Funder:
    """What a funder asks: the register and its summary, as JSON or CSV."""

    def __init__(self, api: LedgerApi) -> None:
        self.api = api

    def get(self, path: str, **query: Any) -> Any:
        response = self.api.client.get(path, query_string=query, headers=self.api.auth)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def agreements(self, **query: Any) -> dict[tuple[str, str], dict[str, Any]]:
        page = self.get("/agreements", **query)
        assert page["next_cursor"] is None
        return {(i["collaboration_id"], i["agreement_id"]): i for i in page["items"]}

    def summary(self, **query: Any) -> dict[str, Any]:
        return dict(self.get("/agreements/summary", **query))


def record_story(api: LedgerApi) -> dict[str, Any]:
    """Two collaborations the agency funds. In the first, the grant is made on 11 January with a
    wrong end date, corrected three weeks later, amended on 1 March (more budget), reviewed on
    1 June and ended on 7 September; a hosting agreement does not involve the agency. The second
    has a club agreement the agency funds. Events are recorded in that order."""
    club_cid = founded_with_partners(api, "Leesnetwerk Zuid")
    club = {key: value for key, value in grant().items() if key not in ("review_on", "valid_until")}
    club.update(agreement_id="club", title="Summer club", budget_commitments=eur("5000.00"),
                parties=[{"partner_id": "agency", "capacity": "funder"}])  # fmt: skip
    api.record(club_cid, "AgreementMade", club, effective_at=day(20))
    cid = founded_with_partners(api, "Leesnetwerk Noord")
    hosting = {"agreement_id": "hosting", "title": "Hosting", "formality": "oral",
               "topics": ["tasks"], "parties": [{"partner_id": "school", "capacity": "host"}],
               "terms": "The school hosts the meetings."}  # fmt: skip
    api.record(cid, "AgreementMade", hosting, effective_at=day(5))
    recorded = {
        "made": api.record(cid, "AgreementMade", grant(), effective_at=day(10)),
        "corrected": api.record(
            cid, "AgreementCorrected",
            {"agreement_id": "grant", "valid_until": "2024-12-31",
             "reason": "The end date was copied from the draft."},
            effective_at=day(31),
        ),
        "amended": api.record(
            cid, "AgreementAmended",
            {"agreement_id": "grant", "terms": "The agency funds reading clubs in two classes.",
             "budget_commitments": eur("25000.00"), "reason": "A second class joins."},
            effective_at=day(60),
        ),
        "reviewed": api.record(
            cid, "AgreementReviewed",
            {"agreement_id": "grant", "outcome": "keep", "next_review_on": "2024-10-01"},
            effective_at=day(152),
        ),
        "ended": api.record(cid, "AgreementEnded",
                            {"agreement_id": "grant", "reason": "The funding round closed."},
                            effective_at=day(250)),
    }  # fmt: skip
    assert format_instant(FOUNDED_AT) < recorded["made"]["effective_at"]
    return {"cid": cid, "club_cid": club_cid, **recorded}


@pytest.fixture(scope="module")
def funded(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[Funder, dict[str, Any]]]:
    """The story, recorded once per backend for every question of this module: asking does not
    change the record."""
    settings = Settings(
        database_url=database_url(backend, tmp_path_factory.mktemp("register"), request)
    )
    app = create_app(settings)
    token = app.extensions["ledger.tokens"].create("funder")
    api = LedgerApi(app.test_client(), {"Authorization": f"Bearer {token}"})
    try:
        yield Funder(api), record_story(api)
    finally:
        app.extensions["ledger.service"].close()


def test_in_force_on_a_date_as_known_today_shows_the_amended_and_corrected_grant(
    funded: tuple[Funder, dict[str, Any]],
) -> None:
    funder, story = funded
    cid, club_cid = story["cid"], story["club_cid"]
    found = funder.agreements(party="agency", capacity="funder", status="in_force", at=MAY_DAY)
    assert set(found) == {(cid, "grant"), (club_cid, "club")}
    grant_now = found[(cid, "grant")]["agreement"]
    assert grant_now["version"] == 2
    assert grant_now["valid_until"] == "2024-12-31"
    assert grant_now["budget_commitments"] == eur("25000.00")
    assert grant_now["corrections"] == 1
    summary = funder.summary(party="agency", at=MAY_DAY)
    assert summary["basis"]["party"] == "agency"
    assert summary["basis"]["at"] == "2024-05-01T12:00:00.000000Z"
    assert summary["agreements_in_force"] == 2
    assert summary["totals"] == {"EUR": "30000.00"}
    assert summary["per_collaboration"] == {cid: {"EUR": "25000.00"}, club_cid: {"EUR": "5000.00"}}


def test_as_known_before_the_correction_the_grant_had_expired_by_then(
    funded: tuple[Funder, dict[str, Any]],
) -> None:
    funder, story = funded
    cid, club_cid = story["cid"], story["club_cid"]
    known_at = story["made"]["recorded_at"]
    assert known_at < story["corrected"]["recorded_at"]
    page = funder.get("/agreements", party="agency", at=MAY_DAY, known_at=known_at)
    assert page["basis"] == {"at": "2024-05-01T12:00:00.000000Z", "known_at": known_at}
    found = {(i["collaboration_id"], i["agreement_id"]): i for i in page["items"]}
    assert set(found) == {(cid, "grant"), (club_cid, "club")}
    assert found[(cid, "grant")]["status"] == "expired"
    assert found[(cid, "grant")]["agreement"]["valid_until"] == "2024-03-31"
    assert found[(cid, "grant")]["agreement"]["budget_commitments"] == eur("20000.00")
    assert found[(cid, "grant")]["recorded_to"] == story["corrected"]["recorded_at"]
    in_force = funder.agreements(party="agency", status="in_force", at=MAY_DAY, known_at=known_at)
    assert set(in_force) == {(club_cid, "club")}
    summary = funder.summary(party="agency", at=MAY_DAY, known_at=known_at)
    assert summary["totals"] == {"EUR": "5000.00"}
    assert summary["per_collaboration"] == {club_cid: {"EUR": "5000.00"}}


def test_a_correction_counts_before_its_own_date_once_it_is_known(
    funded: tuple[Funder, dict[str, Any]],
) -> None:
    funder, story = funded
    key = (story["cid"], "grant")
    today = funder.agreements(party="agency", at=BEFORE_CORRECTION_TOOK_EFFECT)[key]
    assert (today["status"], today["agreement"]["version"]) == ("in_force", 1)
    assert today["agreement"]["valid_until"] == "2024-12-31"
    assert today["agreement"]["budget_commitments"] == eur("20000.00")
    then = funder.agreements(party="agency", at=BEFORE_CORRECTION_TOOK_EFFECT,
                             known_at=story["made"]["recorded_at"])[key]  # fmt: skip
    assert then["agreement"]["valid_until"] == "2024-03-31"
    assert key not in funder.agreements(party="agency", at=BEFORE_MADE)


@pytest.mark.parametrize(
    ("at", "known", "status", "in_summary"),
    [
        (JULY, "today", "in_force", True),  # reviewed: next review in October
        (JULY, "amended", "review_due", True),  # before the review was recorded
        (SEPTEMBER, "today", "ended", False),
        (SEPTEMBER, "reviewed", "in_force", True),  # before the end was recorded
    ],
)
def test_review_and_end_as_known_at_each_recording(
    funded: tuple[Funder, dict[str, Any]], at: str, known: str, status: str, in_summary: bool
) -> None:
    funder, story = funded
    moment = {"at": at} if known == "today" else {"at": at, "known_at": story[known]["recorded_at"]}
    key = (story["cid"], "grant")
    assert funder.agreements(party="agency", **moment)[key]["status"] == status
    assert key in funder.agreements(party="agency", status=status, **moment)
    per_collaboration = funder.summary(party="agency", **moment)["per_collaboration"]
    expected = {"EUR": "25000.00"} if in_summary else None
    assert per_collaboration.get(story["cid"]) == expected


def test_parties_are_filtered_by_partner_and_capacity_together(
    funded: tuple[Funder, dict[str, Any]],
) -> None:
    funder, story = funded
    cid = story["cid"]
    assert set(funder.agreements(party="school", at=MAY_DAY)) == {(cid, "grant"), (cid, "hosting")}
    assert funder.agreements(party="school", capacity="funder", at=MAY_DAY) == {}
    assert set(funder.agreements(capacity="host", at=MAY_DAY)) == {(cid, "hosting")}
    assert set(funder.agreements(formality="oral", at=MAY_DAY)) == {(cid, "hosting")}
    only_club = funder.agreements(party="agency", at=MAY_DAY, collaboration=story["club_cid"])
    assert set(only_club) == {(story["club_cid"], "club")}


def test_the_register_as_csv_has_one_row_per_agreement(
    funded: tuple[Funder, dict[str, Any]],
) -> None:
    funder, _ = funded
    response = funder.api.client.get(
        "/agreements",
        query_string={"party": "agency", "at": MAY_DAY},
        headers={**funder.api.auth, "Accept": "text/csv"},
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    by_id = {row["agreement_id"]: row for row in rows}
    assert set(by_id) == {"grant", "club"}
    assert by_id["grant"]["status"] == "in_force"
    assert by_id["grant"]["agreement_version"] == "2"
    assert by_id["grant"]["budget_commitments"] == "agency:25000.00 EUR"
    assert by_id["grant"]["parties"] == "agency:funder;school:implementing"
    assert by_id["grant"]["valid_until"] == "2024-12-31"


def test_a_funder_who_asked_before_sees_what_was_recorded_since(api: LedgerApi) -> None:
    funder = Funder(api)
    cid = founded_with_partners(api, "Leesnetwerk Oost")
    api.record(cid, "AgreementMade", grant(valid_until="2024-12-31"), effective_at=day(10))
    assert funder.summary(party="agency", at=MAY_DAY)["totals"] == {"EUR": "20000.00"}
    amendment = {"agreement_id": "grant", "budget_commitments": eur("25000.00"), "reason": "more"}
    api.record(cid, "AgreementAmended", amendment, effective_at=day(60))
    assert funder.summary(party="agency", at=MAY_DAY)["totals"] == {"EUR": "25000.00"}


# The projection itself: rebuilt from scratch, and resumed after its runner was killed.


def agreement_items(count: int) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """`count` agreements of the agency, each made, amended and corrected (three events)."""

    def on(days: int) -> dict[str, Any]:
        return {"actor": "importer", "effective_at": day(days)}

    items = []
    for n in range(count):
        agreement_id = f"g{n:05}"
        made = grant(agreement_id=agreement_id, valid_until="2024-12-31")
        amended = {"agreement_id": agreement_id, "budget_commitments": eur(f"{n}.00"),
                   "reason": "indexed"}  # fmt: skip
        corrected = {"agreement_id": agreement_id, "title": f"Grant {n}", "reason": "typo"}
        items += [("AgreementMade", made, on(2)), ("AgreementAmended", amended, on(40)),
                  ("AgreementCorrected", corrected, on(41))]  # fmt: skip
    return items


def import_agreements(service: LedgerService, count: int) -> str:
    envelope = {"actor": "importer", "effective_at": day(0)}
    cid = service.found_collaboration({"name": "Groot netwerk", "mission": "m"}, envelope)
    partners = [("PartnerJoined", partner(p, "funder"), {**envelope, "effective_at": day(1)})
                for p in ("agency", "school")]  # fmt: skip
    service.import_events(cid.collaboration_id, partners)
    items = agreement_items(count)
    for start in range(0, len(items), 999):
        service.import_events(cid.collaboration_id, items[start : start + 999])
    return cid.collaboration_id


def processed_events(service: LedgerService) -> list[tuple[str, int]]:
    rows = service.store.query("SELECT collaboration_id, version FROM register_events")
    return sorted((row["collaboration_id"], int(row["version"])) for row in rows)


def agreement_events(service: LedgerService) -> list[tuple[str, int]]:
    placeholders = ",".join("?" * len(AGREEMENT_TYPES))
    rows = service.store.query(
        f"SELECT collaboration_id, version FROM ledger_event_index WHERE type IN ({placeholders})",
        AGREEMENT_TYPES,
    )
    return sorted((row["collaboration_id"], int(row["version"])) for row in rows)


def test_rebuilding_from_scratch_gives_byte_identical_tables(service: LedgerService) -> None:
    register = AgreementRegister(service)
    seed_demo(service)
    assert register.catch_up() > 0
    import_agreements(service, BATCH // 3 + 10)  # more than one batch of agreement events
    register.catch_up()
    before = register.checksum()
    register.rebuild()
    assert register.checksum() == before
    assert processed_events(service) == agreement_events(service)


# A projection runner as deployed (`ledger projections run` with LEDGER_CREATE_TABLES=n): the
# schema exists already, since processes that start together must not race to create it.
RUNNER = """
import sys
from ledger.service import LedgerService
from ledger.settings import Settings
from projections.register import AgreementRegister

service = LedgerService(Settings(database_url=sys.argv[1], create_tables=False))
register = AgreementRegister(service, create=False)
print(register.rebuild() if sys.argv[2] == "rebuild" else register.catch_up())
"""
LOGGED_AGREEMENTS = 1000  # 3,000 agreement events: six batches
SQLITE = "sqlite:///"


def copy_database(source: str, directory: Path, cluster: pg.Cluster | None) -> str:
    """A database of its own with the contents of `source`; its URL."""
    if cluster is None:
        target = directory / "ledger.sqlite"
        with (
            closing(sqlite3.connect(source.removeprefix(SQLITE))) as original,
            closing(sqlite3.connect(target)) as copy,
        ):
            original.backup(copy)
        return f"{SQLITE}{target}"
    base, template = source.rsplit("/", 1)
    name = f"t_{uuid.uuid4().hex[:16]}"
    statement = SQL("CREATE DATABASE {} TEMPLATE {}")
    with psycopg.connect(cluster.admin_url, autocommit=True) as admin:
        admin.execute(statement.format(Identifier(name), Identifier(template)))
    return f"{base}/{name}"


@dataclass(frozen=True)
class Logged:
    """A ledger with many agreement events and the register's (empty) tables, to be copied, and
    the checksum of a register built from it in one go."""

    template: str  # its database URL; nothing stays connected to it
    cluster: pg.Cluster | None  # the PostgreSQL cluster that holds it, if any
    checksum: str
    last_notification_id: int

    def copy(self, directory: Path) -> str:
        return copy_database(self.template, directory, self.cluster)


@pytest.fixture(scope="module")
def logged(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Logged:
    template = database_url(backend, tmp_path_factory.mktemp("logged"), request)
    cluster = request.getfixturevalue("postgres_cluster") if backend == "postgres" else None
    with opened(template) as service:
        import_agreements(service, LOGGED_AGREEMENTS)
        AgreementRegister(service).create_tables()
        last = service.store.query_one("SELECT MAX(notification_id) AS n FROM ledger_event_index")
        assert last is not None
    with opened(copy_database(template, tmp_path_factory.mktemp("fresh"), cluster)) as fresh:
        register = AgreementRegister(fresh)
        assert register.rebuild() == 3 * LOGGED_AGREEMENTS
        checksum = register.checksum()
    return Logged(template, cluster, checksum, int(last["n"]))


@contextmanager
def opened(url: str, create_tables: bool = True) -> Iterator[LedgerService]:
    service = LedgerService(Settings(database_url=url, create_tables=create_tables))
    try:
        yield service
    finally:
        service.close()


def runner(url: str, command: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", RUNNER, url, command],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip


def kill_once_it_progressed(url: str) -> int:
    """Run a rebuild in another process, SIGKILL it once its position moved; the position."""
    rebuilding = runner(url, "rebuild")
    with opened(url, create_tables=False) as watching:
        watcher = AgreementRegister(watching, create=False)
        try:
            deadline = time.monotonic() + 60
            while watcher.position() == 0 and rebuilding.poll() is None:
                assert time.monotonic() < deadline, "the rebuild made no progress in 60 s"
                time.sleep(0.001)
            os.kill(rebuilding.pid, signal.SIGKILL)
            code = rebuilding.wait(timeout=30)
            assert code == -signal.SIGKILL, f"the rebuild ended with {code} before the kill"
            return watcher.position()
        finally:
            if rebuilding.poll() is None:
                os.kill(rebuilding.pid, signal.SIGKILL)
                rebuilding.wait(timeout=30)


def test_a_rebuild_killed_halfway_resumes_without_processing_an_event_twice_or_skipping_one(
    logged: Logged, tmp_path: Path
) -> None:
    url = logged.copy(tmp_path)
    reached = kill_once_it_progressed(url)
    assert 0 < reached < logged.last_notification_id, "killed before the first batch or after"
    with opened(url) as service:
        register = AgreementRegister(service)
        register.catch_up()
        assert register.checksum() == logged.checksum
        assert processed_events(service) == agreement_events(service)
        assert len(processed_events(service)) == 3 * LOGGED_AGREEMENTS


def test_two_runners_catching_up_at_once_process_every_event_exactly_once(
    logged: Logged, tmp_path: Path
) -> None:
    url = logged.copy(tmp_path)
    runners = [runner(url, "catch_up") for _ in range(2)]
    counts = [int(r.communicate(timeout=120)[0]) for r in runners]
    assert [r.returncode for r in runners] == [0, 0]
    assert sum(counts) == 3 * LOGGED_AGREEMENTS
    with opened(url) as service:
        assert AgreementRegister(service).checksum() == logged.checksum
        assert processed_events(service) == agreement_events(service)
