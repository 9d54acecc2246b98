"""The agreement register for funders: a bitemporal projection of every agreement version.

Each row says: as the ledger knew it from `recorded_from` until `recorded_to`, this agreement
was like this in the world from `valid_from` until `valid_to`. A funder's "in force on D, as
known on K" is then a lookup on two intervals, not a refold. The projection is built from the
event log, tracks the position it reached in the same transaction as its rows, and can be
dropped and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import IntegrityError

from ledger.domain.model import Collaboration
from ledger.domain.moments import Recorded, fold_recorded_at
from ledger.domain.state import Stamp, empty_state
from ledger.persistence import Cursorlike, LedgerStore, rows_changed
from ledger.service import LedgerService

NAME = "agreement_register"
OPEN = "9999-12-31T23:59:59.999999Z"
BATCH = 500
AGREEMENT_TYPES = ("AgreementMade", "AgreementAmended", "AgreementCorrected",
                   "AgreementReviewed", "AgreementEnded")  # fmt: skip
AGREEMENT_TOPICS = [f"ledger:{name}" for name in AGREEMENT_TYPES]

TABLES = (
    "CREATE TABLE IF NOT EXISTS projection_positions ("
    " name TEXT PRIMARY KEY, notification_id BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS register_events ("
    " collaboration_id TEXT NOT NULL, agreement_id TEXT NOT NULL, version BIGINT NOT NULL,"
    " type TEXT NOT NULL, effective_at TEXT NOT NULL, recorded_at TEXT NOT NULL,"
    " data TEXT NOT NULL, corrects_version BIGINT,"
    " PRIMARY KEY (collaboration_id, version))",
    "CREATE INDEX IF NOT EXISTS register_events_agreement"
    " ON register_events (collaboration_id, agreement_id)",
    "CREATE TABLE IF NOT EXISTS register_rows ("
    " collaboration_id TEXT NOT NULL, agreement_id TEXT NOT NULL, known_version BIGINT NOT NULL,"
    " valid_from TEXT NOT NULL, valid_to TEXT NOT NULL,"
    " recorded_from TEXT NOT NULL, recorded_to TEXT NOT NULL,"
    " agreement_version BIGINT NOT NULL, title TEXT NOT NULL, formality TEXT NOT NULL,"
    " ended INTEGER NOT NULL, valid_until TEXT, review_on TEXT, body TEXT NOT NULL,"
    " PRIMARY KEY (collaboration_id, agreement_id, known_version, valid_from))",
    "CREATE INDEX IF NOT EXISTS register_rows_moment ON register_rows (recorded_to, valid_from)",
    "CREATE TABLE IF NOT EXISTS register_parties ("
    " collaboration_id TEXT NOT NULL, agreement_id TEXT NOT NULL, known_version BIGINT NOT NULL,"
    " valid_from TEXT NOT NULL, partner_id TEXT NOT NULL, capacity TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS register_parties_partner"
    " ON register_parties (partner_id, capacity)",
    "CREATE INDEX IF NOT EXISTS register_parties_row"
    " ON register_parties (collaboration_id, agreement_id, known_version, valid_from)",
)
DROP = ("DROP TABLE IF EXISTS register_parties", "DROP TABLE IF EXISTS register_rows",
        "DROP TABLE IF EXISTS register_events")  # fmt: skip

STATUS_SQL = (
    "CASE WHEN r.ended = 1 THEN 'ended'"
    " WHEN r.valid_until IS NOT NULL AND r.valid_until < ? THEN 'expired'"
    " WHEN r.review_on IS NOT NULL AND r.review_on <= ? THEN 'review_due'"
    " ELSE 'in_force' END"
)


@dataclass(frozen=True)
class RegisterQuery:
    at: str
    known_at: str
    party: str | None = None
    capacity: str | None = None
    formality: str | None = None
    status: str | None = None
    review_due_before: str | None = None
    collaborations: Sequence[str] | None = None  # None: every collaboration
    limit: int = 100
    cursor: tuple[str, str] | None = None


class AgreementRegister:
    def __init__(self, service: LedgerService, *, create: bool = True) -> None:
        self.service = service
        self.store: LedgerStore = service.store
        if create:  # never in gunicorn workers: `ledger db init` creates the tables first
            self.create_tables()

    def create_tables(self) -> None:
        with self.store.creating() as c:
            for statement in TABLES:
                self.store.run(c, statement)

    # Keeping it current

    def position(self) -> int:
        row = self.store.query_one(
            "SELECT notification_id FROM projection_positions WHERE name=?", (NAME,)
        )
        return int(row["notification_id"]) if row else 0

    def lag(self) -> int:
        """How many agreement events are stored that the projection has not processed yet."""
        marks = ",".join("?" * len(AGREEMENT_TYPES))
        row = self.store.query_one(
            f"SELECT COUNT(*) AS behind FROM ledger_event_index"
            f" WHERE notification_id > ? AND type IN ({marks})",
            (self.position(), *AGREEMENT_TYPES),
        )
        return int(row["behind"]) if row else 0

    def catch_up(self) -> int:
        """Process every agreement event stored since the tracked position; how many."""
        processed = 0
        while True:
            start = self.position()
            notifications = self.service.app.recorder.select_notifications(
                start=start, limit=BATCH, topics=AGREEMENT_TOPICS, inclusive_of_start=False
            )
            if not notifications:
                return processed
            try:
                with self.store.writing() as c:
                    self._advance(c, start, notifications[-1].id)
                    for notification in notifications:
                        event = self.service.app.mapper.to_domain_event(notification)
                        assert isinstance(event, Collaboration.Event)
                        self._apply(c, event)
            except (RacedError, IntegrityError):
                continue  # another process got there first: start again from its position
            processed += len(notifications)

    def _advance(self, c: Cursorlike, start: int, end: int) -> None:
        """Move the tracked position from `start` to `end`; raise (and so roll the batch
        back) when another process moved it first."""
        if start == 0:
            # A concurrent first insert fails on the primary key: an IntegrityError.
            self.store.run(c, "INSERT INTO projection_positions VALUES (?,?)", (NAME, end))
            return
        self.store.run(
            c,
            "UPDATE projection_positions SET notification_id=? WHERE name=? AND notification_id=?",
            (end, NAME, start),
        )
        if rows_changed(c) != 1:
            raise RacedError(f"{NAME} moved past {start} in another process")

    def _apply(self, c: Cursorlike, event: Collaboration.Event) -> None:
        cid, aid = str(event.originator_id), str(event.data["agreement_id"])
        stamp = event.stamp
        self.store.run(
            c,
            "INSERT INTO register_events VALUES (?,?,?,?,?,?,?,?)",
            (cid, aid, stamp.version, event.type, stamp.effective_at, stamp.recorded_at,
             json.dumps(event.data, sort_keys=True), getattr(event, "corrects_version", None)),
        )  # fmt: skip
        self.store.run(
            c,
            "SELECT type, data, version, effective_at, recorded_at, corrects_version"
            " FROM register_events WHERE collaboration_id=? AND agreement_id=? ORDER BY version",
            (cid, aid),
        )
        history = [
            Recorded(row["type"], json.loads(row["data"]),
                     Stamp(row["version"], row["effective_at"], row["recorded_at"]),
                     row["corrects_version"])
            for row in c.fetchall()
        ]  # fmt: skip
        self.store.run(
            c,
            "UPDATE register_rows SET recorded_to=? WHERE collaboration_id=? AND agreement_id=?"
            " AND recorded_to=?",
            (stamp.recorded_at, cid, aid, OPEN),
        )
        for valid_from, valid_to, agreement in segments(history, aid):
            self._insert_row(c, cid, aid, stamp, valid_from, valid_to, agreement)

    def _insert_row(self, c: Cursorlike, cid: str, aid: str, stamp: Stamp, valid_from: str,
                    valid_to: str, agreement: dict[str, Any]) -> None:  # fmt: skip
        self.store.run(
            c,
            "INSERT INTO register_rows VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (cid, aid, stamp.version, valid_from, valid_to, stamp.recorded_at, OPEN,
             agreement["version"], agreement["title"], agreement["formality"],
             1 if agreement["ended"] else 0, agreement["valid_until"], agreement["review_on"],
             json.dumps(agreement, sort_keys=True)),
        )  # fmt: skip
        for party in agreement["parties"] or []:
            self.store.run(
                c,
                "INSERT INTO register_parties VALUES (?,?,?,?,?,?)",
                (cid, aid, stamp.version, valid_from, party["partner_id"], party["capacity"]),
            )

    def rebuild(self) -> int:
        """Drop the projection and build it again from the whole event log."""
        with self.store.writing() as c:
            for statement in DROP:
                self.store.run(c, statement)
            self.store.run(c, "DELETE FROM projection_positions WHERE name=?", (NAME,))
        self.create_tables()
        return self.catch_up()

    def checksum(self) -> str:
        """A hash of every row, in a fixed order: equal for equal projections."""
        digest = hashlib.sha256()
        for table, order in (("register_events", "collaboration_id, version"),
                             ("register_rows", "collaboration_id, agreement_id, known_version, valid_from"),
                             ("register_parties", "collaboration_id, agreement_id, known_version, valid_from, partner_id, capacity")):  # fmt: skip
            for row in self.store.query(f"SELECT * FROM {table} ORDER BY {order}"):
                digest.update(json.dumps(row, sort_keys=True, default=str).encode())
        return digest.hexdigest()

    # Asking it

    def query(self, q: RegisterQuery) -> list[dict[str, Any]]:
        self.catch_up()
        day = q.at[:10]
        conditions = ["r.recorded_from <= ?", "r.recorded_to > ?", "r.valid_from <= ?",
                      "r.valid_to > ?"]  # fmt: skip
        params: list[Any] = [day, day, q.known_at, q.known_at, q.at, q.at]
        if q.formality:
            conditions.append("r.formality = ?")
            params.append(q.formality)
        if q.party or q.capacity:
            party_conditions = ["p.collaboration_id = r.collaboration_id",
                                "p.agreement_id = r.agreement_id",
                                "p.known_version = r.known_version", "p.valid_from = r.valid_from"]  # fmt: skip
            for column, value in (("partner_id", q.party), ("capacity", q.capacity)):
                if value:
                    party_conditions.append(f"p.{column} = ?")
                    params.append(value)
            conditions.append(
                f"EXISTS (SELECT 1 FROM register_parties p WHERE {' AND '.join(party_conditions)})"
            )
        if q.collaborations is not None:
            if not q.collaborations:
                return []
            conditions.append(f"r.collaboration_id IN ({','.join('?' * len(q.collaborations))})")
            params.extend(q.collaborations)
        if q.cursor:
            conditions.append(
                "(r.collaboration_id > ? OR (r.collaboration_id = ? AND r.agreement_id > ?))"
            )
            params.extend([q.cursor[0], q.cursor[0], q.cursor[1]])
        outer, outer_params = [], []
        if q.status:
            outer.append("status = ?")
            outer_params.append(q.status)
        if q.review_due_before:
            outer.append("status <> 'ended' AND review_on IS NOT NULL AND review_on < ?")
            outer_params.append(q.review_due_before)
        sql = (
            f"SELECT * FROM (SELECT r.*, {STATUS_SQL} AS status FROM register_rows r"
            f" WHERE {' AND '.join(conditions)}) AS x"
            + (f" WHERE {' AND '.join(outer)}" if outer else "")
            + " ORDER BY collaboration_id, agreement_id LIMIT ?"
        )
        rows = self.store.query(sql, (*params, *outer_params, q.limit))
        return [_item(row, q) for row in rows]

    def summary(self, q: RegisterQuery) -> dict[str, Any]:
        """Budget committed per currency and per collaboration by agreements in force."""
        totals: dict[str, Decimal] = {}
        per_collaboration: dict[str, dict[str, Decimal]] = {}
        count = 0
        cursor = None
        while True:
            page = self.query(RegisterQuery(**{**q.__dict__, "limit": 1000, "cursor": cursor,
                                               "status": None}))  # fmt: skip
            for item in page:
                if item["status"] not in ("in_force", "review_due"):
                    continue
                count += 1
                for commitment in item["agreement"]["budget_commitments"] or []:
                    if q.party and commitment["partner_id"] != q.party:
                        continue
                    amount = Decimal(commitment["amount"])
                    currency = commitment["currency"]
                    totals[currency] = totals.get(currency, Decimal(0)) + amount
                    mine = per_collaboration.setdefault(item["collaboration_id"], {})
                    mine[currency] = mine.get(currency, Decimal(0)) + amount
            if len(page) < 1000:
                break
            cursor = (page[-1]["collaboration_id"], page[-1]["agreement_id"])
        return {
            "basis": {"at": q.at, "known_at": q.known_at, "party": q.party},
            "agreements_in_force": count,
            "totals": {c: str(a) for c, a in sorted(totals.items())},
            "per_collaboration": {cid: {c: str(a) for c, a in sorted(m.items())}
                                  for cid, m in sorted(per_collaboration.items())},
        }  # fmt: skip


class RacedError(Exception):
    """Another process advanced the projection first."""


def segments(
    history: Sequence[Recorded], agreement_id: str
) -> list[tuple[str, str, dict[str, Any]]]:
    """The agreement's valid-time segments as these events tell it: between two consecutive
    moments at which one of its events takes effect, the same events count."""
    moments = sorted({e.stamp.effective_at for e in history if e.type != "AgreementCorrected"})
    result = []
    for index, start in enumerate(moments):
        state = fold_recorded_at(empty_state(), history, start)
        agreement = state["agreements"].get(agreement_id)
        if agreement is None:
            continue
        end = moments[index + 1] if index + 1 < len(moments) else OPEN
        result.append((start, end, agreement))
    return result


def _item(row: dict[str, Any], q: RegisterQuery) -> dict[str, Any]:
    agreement = json.loads(row["body"])
    return {
        "collaboration_id": row["collaboration_id"],
        "agreement_id": row["agreement_id"],
        "status": row["status"],
        "valid_from": row["valid_from"],
        "valid_to": None if row["valid_to"] == OPEN else row["valid_to"],
        "recorded_from": row["recorded_from"],
        "recorded_to": None if row["recorded_to"] == OPEN else row["recorded_to"],
        "agreement": agreement,
    }
