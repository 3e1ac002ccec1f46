"""Time as mem writes it: ISO 8601 in UTC with milliseconds, from whatever a caller passes."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from memcli.errors import InvalidInputError

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, e.g. 2026-11-28T20:16:01.123Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def moment(timestamp: datetime | str | float | None, clock: Clock, end_of_day: bool = False) -> str:
    """An ISO 8601 UTC time from a datetime, ISO text or Unix seconds (None: the clock's now); a
    bare date means its start (or with `end_of_day`, its last moment: "as of 2026-03-01" includes
    that day)."""
    given = timestamp
    if isinstance(timestamp, str) and end_of_day and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", timestamp):
        timestamp = timestamp.strip() + "T23:59:59.999+00:00"
    if timestamp is None:
        return iso(clock())
    if isinstance(timestamp, bool):
        raise InvalidInputError("timestamp must be a datetime, an ISO 8601 text or Unix seconds")
    shown = str(given)[:40]
    try:
        if isinstance(timestamp, (int, float)):
            return iso(datetime.fromtimestamp(timestamp, UTC))
        if isinstance(timestamp, str):
            timestamp = datetime.fromisoformat(timestamp.strip().replace("Z", "+00:00"))
        if isinstance(timestamp, datetime):
            return iso(timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC))
    except (ValueError, OverflowError, OSError):
        raise InvalidInputError(
            f"{shown!r} is not an ISO 8601 date or time (like 2026-03-01 or 2026-03-01T09:30Z) in years 1-9999"
        ) from None
    raise InvalidInputError("timestamp must be a datetime, an ISO 8601 text or Unix seconds")
