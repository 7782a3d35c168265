"""Time windows in the words people type: "yesterday", "6h", "2024-05-01".

Used by ``tidings summarize --day``, ``tidings digest run --since`` and the on-demand
"summarize" commands of the adapters, so every entry point understands the same phrases.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from core.errors import UserFacingError

WINDOW_USAGE = (
    'Say which messages to summarize as "today", "yesterday", a span like "6h", "3d" or "90m", '
    'or a date like "2024-05-01" (nothing means the last 24 hours).'
)

_SPAN = re.compile(r"^(\d{1,5})\s*([hdm])$")
_UNITS = {"h": "hours", "d": "days", "m": "minutes"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _midnight(day: date, tz: tzinfo) -> datetime:
    # Built from the calendar date (not now - N hours) so a day that has 23 or 25 hours
    # across a daylight-saving change still starts and ends at local midnight.
    return datetime.combine(day, time(0), tzinfo=tz)


def day_window(day: date, tz: tzinfo = UTC) -> tuple[datetime, datetime]:
    """From local midnight of ``day`` to local midnight of the next day."""
    return _midnight(day, tz), _midnight(day + timedelta(days=1), tz)


def parse_window(text: str, *, now: datetime, tz: tzinfo = UTC) -> tuple[datetime, datetime]:
    """The (start, end) a phrase means, as aware datetimes in ``tz``; end is exclusive.

    ``now`` without a time zone is taken as UTC. Anything not understood raises
    ``UserFacingError`` with a one-sentence usage hint.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    local_now = now.astimezone(tz)

    def back(delta: timedelta) -> datetime:
        # Spans are elapsed time: subtract in UTC, since aware arithmetic in a local zone
        # is wall-clock arithmetic and "24h" across a DST change would be 23 or 25 hours.
        return (now.astimezone(UTC) - delta).astimezone(tz)

    phrase = text.strip().lower()
    if not phrase:
        return back(timedelta(hours=24)), local_now
    if phrase == "today":
        return _midnight(local_now.date(), tz), local_now
    if phrase == "yesterday":
        return day_window(local_now.date() - timedelta(days=1), tz)
    span = _SPAN.match(phrase)
    if span:
        amount = int(span.group(1))
        if amount == 0:
            raise UserFacingError(WINDOW_USAGE)
        return back(timedelta(**{_UNITS[span.group(2)]: amount})), local_now
    if _DATE.match(phrase):
        try:
            day = date.fromisoformat(phrase)
        except ValueError:
            raise UserFacingError(WINDOW_USAGE) from None
        return day_window(day, tz)
    raise UserFacingError(WINDOW_USAGE)
