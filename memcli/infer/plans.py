"""Plans whose date has passed: "Planning a trip to Kyoto in April", read in June, is no longer
what is true now. Search ranks such a memory lower (memory/reading.py) and `mem consolidate`
proposes to expire it (infer/consolidate.py). Kept apart from the rest of consolidation so that
a search does not import the pair rules it never uses."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta

from memcli.text import lexicon
from memcli.text.english import MONTHS

STALE_GRACE_DAYS = 1  # a plan's date is past once this many days have gone by after it


def phrases(name: str) -> re.Pattern[str]:
    """One pattern for the lexicon's word list `name`, longest first, as whole words."""
    words = sorted(lexicon.word_list(name), key=len, reverse=True)
    return re.compile(r"(?<![\w'])(?:" + "|".join(re.escape(w) for w in words) + r")(?![\w'])", re.IGNORECASE)


_PLAN, _RECURRING = phrases("plan_words"), phrases("recurring_words")
_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.lower(): number for number, name in enumerate(calendar.month_abbr) if name} | {"sept": 9}
_MONTH = f"({MONTHS})"
_ISO_DAY = re.compile(r"\b(20\d\d)-(\d\d)-(\d\d)\b")
_MONTH_DAY = re.compile(rf"\b{_MONTH}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(20\d\d))?", re.IGNORECASE)
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b(?:\s+(20\d\d))?", re.IGNORECASE)
_IN_MONTH = re.compile(
    rf"\b(?:in|this|next|by|until|till|during|for)\s+(?:early\s+|mid-?\s*|late\s+)?{_MONTH}\b(?:\s+(20\d\d))?",
    re.IGNORECASE,
)
_RELATIVE = re.compile(
    r"\b(tomorrow|tonight|this weekend|next week|next month|in (\d{1,2}) (days?|weeks?|months?))\b", re.IGNORECASE
)


def _end_of_day(year: int, month: int, day: int) -> datetime | None:
    try:
        return datetime(year, month, day, tzinfo=UTC) + timedelta(days=1)
    except ValueError:
        return None


def _end_of_month(year: int, month: int) -> datetime:
    return datetime(year, month, calendar.monthrange(year, month)[1], tzinfo=UTC) + timedelta(days=1)


def _next(year: int | None, month: int, day: int, said: datetime) -> int:
    """The year of a date given without one: the first such date on or after it was said."""
    if year is not None:
        return year
    return said.year if (month, day) >= (said.month, said.day) else said.year + 1


def plan_ends(text: str, said: datetime) -> tuple[datetime, str] | None:
    """When a dated plan is over ("Planning a trip to Kyoto in April", said in March: the end of
    April), with the words that dated it; None for anything else (no plan word, no date, or a
    date that recurs: "every April"). A date without a year is the first one after it was said."""
    if not _PLAN.search(text) or _RECURRING.search(text):
        return None
    if match := _ISO_DAY.search(text):
        ends = _end_of_day(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        return (ends, match.group(0)) if ends else None
    for pattern, month_group, day_group in ((_MONTH_DAY, 1, 2), (_DAY_MONTH, 2, 1)):
        if match := pattern.search(text):
            month = _MONTHS.get(match.group(month_group).lower().rstrip("."))
            day = int(match.group(day_group))
            if month:
                year = _next(int(match.group(3)) if match.group(3) else None, month, day, said)
                ends = _end_of_day(year, month, day)
                return (ends, match.group(0)) if ends else None
    if match := _IN_MONTH.search(text):
        month = _MONTHS.get(match.group(1).lower())
        if month:
            year = int(match.group(2)) if match.group(2) else (said.year if month >= said.month else said.year + 1)
            return _end_of_month(year, month), match.group(0)
    if match := _RELATIVE.search(text):
        words = match.group(1).lower()
        start = datetime(said.year, said.month, said.day, tzinfo=UTC)
        if words in ("tomorrow", "tonight"):
            return start + timedelta(days=2 if words == "tomorrow" else 1), match.group(0)
        if words in ("this weekend", "next week"):
            return start + timedelta(days=7 if words == "this weekend" else 14), match.group(0)
        if words == "next month":
            year, month = (said.year + 1, 1) if said.month == 12 else (said.year, said.month + 1)
            return _end_of_month(year, month), match.group(0)
        count, unit = int(match.group(2)), match.group(3).lower()
        days = count * (1 if unit.startswith("day") else 7 if unit.startswith("week") else 31)
        return start + timedelta(days=days + 1), match.group(0)
    return None


def stale_plan(
    text: str, said: datetime, now: datetime, grace_days: int = STALE_GRACE_DAYS
) -> tuple[datetime, str] | None:
    """A plan whose date has passed by `now` (with `grace_days` to spare)."""
    found = plan_ends(text, said)
    if found is None or found[0] <= said:
        return None
    return found if now >= found[0] + timedelta(days=grace_days) else None
