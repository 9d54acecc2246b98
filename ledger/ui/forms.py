"""The pages' query parameters: days from date pickers, instants, versions, page numbers.

A day means its end (23:59:59.999999 UTC): "in force on 1 March" includes what took effect
that day.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from flask import request
from werkzeug.exceptions import BadRequest

from ledger.domain.timefmt import parse_instant
from projections.timeline import Moment

DAY = re.compile(r"^\d{4}-\d\d-\d\d$")
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$")
VERSION = re.compile(r"^\d{1,15}$")


def _invalid(name: str, expected: str) -> BadRequest:
    return BadRequest(f"Fix the field '{name}': use {expected}.")


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, time.max, UTC)


def instant_arg(name: str) -> datetime | None:
    """A day (2025-03-01) or an RFC 3339 date-time from the query; None when empty."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        if DAY.match(raw):
            return end_of_day(date.fromisoformat(raw))
        if INSTANT.match(raw):
            return parse_instant(raw)
    except ValueError:
        pass
    raise _invalid(name, "a date like 2025-03-01")


def moment_arg(name: str) -> Moment | None:
    """A version (an integer) or a day or date-time (valid time); None when empty."""
    raw = request.args.get(name, "").strip()
    if VERSION.match(raw):
        return Moment(version=int(raw))
    at = instant_arg(name)
    return Moment(at=at) if at else None


def page_arg(name: str = "page") -> int:
    raw = request.args.get(name, "").strip() or "1"
    if not VERSION.match(raw) or int(raw) < 1:
        raise _invalid(name, "a page number from 1")
    return int(raw)


def day_of(moment: datetime | None) -> str:
    """The day a date picker shows for an instant ('' for none)."""
    return moment.astimezone(UTC).date().isoformat() if moment else ""
