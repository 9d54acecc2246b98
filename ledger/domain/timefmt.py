"""RFC 3339 instants in one fixed-precision UTC form, so they sort as strings and hash stably."""

from __future__ import annotations

from datetime import UTC, datetime


def format_instant(moment: datetime) -> str:
    """Render an aware datetime as `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC."""
    if moment.tzinfo is None:
        raise ValueError("instants must carry a timezone")
    # isoformat, unlike strftime("%Y"), pads years before 1000 to four digits.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_instant(text: str) -> datetime:
    """Parse an RFC 3339 date-time with offset into an aware UTC datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("date-time needs an offset, e.g. 2025-03-01T09:00:00Z")
    return moment.astimezone(UTC)
