"""Window phrases: what "yesterday" or "6h" means, including across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.digests.windows import WINDOW_USAGE, day_window, parse_window
from core.errors import UserFacingError

NOW = datetime(2024, 5, 2, 15, 30, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def elapsed(window: tuple[datetime, datetime]) -> timedelta:
    start, end = window
    return end.astimezone(UTC) - start.astimezone(UTC)


def test_empty_means_last_24_hours() -> None:
    start, end = parse_window("", now=NOW)
    assert end == NOW
    assert start == NOW - timedelta(hours=24)


@pytest.mark.parametrize(
    ("phrase", "span"),
    [("6h", timedelta(hours=6)), ("3d", timedelta(days=3)), ("90m", timedelta(minutes=90)), (" 12H ", timedelta(hours=12))],
)
def test_spans_end_now(phrase: str, span: timedelta) -> None:
    start, end = parse_window(phrase, now=NOW)
    assert end == NOW
    assert end - start == span


def test_today_starts_at_local_midnight() -> None:
    start, end = parse_window("today", now=NOW, tz=BERLIN)
    assert start == datetime(2024, 5, 2, 0, 0, tzinfo=BERLIN)
    assert start.astimezone(UTC) == datetime(2024, 5, 1, 22, 0, tzinfo=UTC)
    assert end.astimezone(UTC) == NOW


def test_yesterday_is_the_whole_previous_local_day() -> None:
    start, end = parse_window("yesterday", now=NOW, tz=BERLIN)
    assert (start, end) == (datetime(2024, 5, 1, tzinfo=BERLIN), datetime(2024, 5, 2, tzinfo=BERLIN))


def test_yesterday_just_after_midnight_local_but_before_in_utc() -> None:
    # 23:30 UTC on 1 May is already 01:30 on 2 May in Berlin: "yesterday" is 1 May there.
    start, _ = parse_window("yesterday", now=datetime(2024, 5, 1, 23, 30, tzinfo=UTC), tz=BERLIN)
    assert start == datetime(2024, 5, 1, tzinfo=BERLIN)


def test_iso_date_is_that_local_day() -> None:
    start, end = parse_window("2024-04-30", now=NOW, tz=BERLIN)
    assert (start, end) == day_window(datetime(2024, 4, 30).date(), BERLIN)
    assert elapsed((start, end)) == timedelta(hours=24)


def test_days_across_daylight_saving_changes_have_23_and_25_hours() -> None:
    spring = parse_window("2024-03-31", now=NOW, tz=BERLIN)
    autumn = parse_window("2024-10-27", now=NOW, tz=BERLIN)
    assert elapsed(spring) == timedelta(hours=23)
    assert elapsed(autumn) == timedelta(hours=25)
    assert spring[1] == datetime(2024, 4, 1, tzinfo=BERLIN)


def test_spans_are_elapsed_time_across_daylight_saving() -> None:
    now = datetime(2024, 3, 31, 12, 0, tzinfo=UTC)  # the day Berlin skips 02:00-03:00
    assert elapsed(parse_window("", now=now, tz=BERLIN)) == timedelta(hours=24)
    assert elapsed(parse_window("2d", now=now, tz=BERLIN)) == timedelta(days=2)


def test_naive_now_is_utc() -> None:
    start, end = parse_window("1h", now=datetime(2024, 5, 2, 10, 0))
    assert end == datetime(2024, 5, 2, 10, 0, tzinfo=UTC)
    assert start.tzinfo is not None


@pytest.mark.parametrize("phrase", ["last week", "tomorrow", "0h", "5y", "2024-13-01", "2024-5-1", "h", "-3h"])
def test_anything_else_is_a_polite_usage_hint(phrase: str) -> None:
    with pytest.raises(UserFacingError) as raised:
        parse_window(phrase, now=NOW)
    assert raised.value.user_message == WINDOW_USAGE
    assert WINDOW_USAGE.count(".") == 1  # one sentence
