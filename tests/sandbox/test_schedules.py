from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox import schedules
from sandbox.schedules import EPOCH, due, validate


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:  # noqa: PLR0917
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- rate -------------------------------------------------------------------------------------


def test_rate_five_minutes_over_an_hour_fires_twelve_times() -> None:
    fired = due("rate(5 minutes)", None, utc(2026, 1, 1, 10), utc(2026, 1, 1, 11))
    assert len(fired) == 12
    assert fired[0] == utc(2026, 1, 1, 10, 5)
    assert fired[-1] == utc(2026, 1, 1, 11)


def test_rate_is_anchored_at_creation_and_never_fires_before_it() -> None:
    anchor = utc(2026, 1, 1, 10, 2, 30)
    fired = due("rate(1 hour)", None, utc(2026, 1, 1), utc(2026, 1, 1, 13), anchor=anchor)
    assert fired == [anchor, anchor + timedelta(hours=1), anchor + timedelta(hours=2)]


def test_rate_days_are_24_hours_even_across_dst() -> None:
    fired = due("rate(1 day)", "Europe/Paris", utc(2026, 3, 27), utc(2026, 3, 31))
    assert fired == [utc(2026, 3, 28), utc(2026, 3, 29), utc(2026, 3, 30), utc(2026, 3, 31)]


@pytest.mark.parametrize("expression", ["rate(1 minute)", "rate(1 minutes)", "RATE(2 Hours)", " rate( 3 days ) "])
def test_rate_units_singular_and_plural(expression: str) -> None:
    validate(expression)


# --- cron -------------------------------------------------------------------------------------


def test_weekday_mornings_in_paris_follow_the_march_2026_dst_change() -> None:
    # Paris moves from UTC+1 to UTC+2 on Sunday 29 March 2026.
    fired = due("cron(0 8 ? * MON-FRI *)", "Europe/Paris", utc(2026, 3, 23), utc(2026, 4, 4))
    assert fired == [
        *(utc(2026, 3, day, 7) for day in range(23, 28)),
        *(utc(2026, 3, day, 6) for day in (30, 31)),
        *(utc(2026, 4, day, 6) for day in (1, 2, 3)),
    ]


def test_nonexistent_local_time_on_spring_forward_day_is_skipped() -> None:
    # New York skips 02:00-02:59 on Sunday 8 March 2026.
    fired = due("cron(0 2 * * ? *)", "America/New_York", utc(2026, 3, 7), utc(2026, 3, 10))
    assert fired == [utc(2026, 3, 7, 7), utc(2026, 3, 9, 6)]


def test_repeated_local_time_on_fall_back_day_fires_once_at_first_occurrence() -> None:
    # New York repeats 01:00-01:59 on Sunday 1 November 2026 (EDT then EST).
    fired = due("cron(30 1 * * ? *)", "America/New_York", utc(2026, 10, 31), utc(2026, 11, 3))
    assert fired == [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]


def test_every_minute_on_fall_back_day_fires_once_per_local_minute() -> None:
    start = utc(2026, 11, 1, 4)  # 00:00 EDT
    end = utc(2026, 11, 2, 5)  # 00:00 EST the next day: 25 real hours
    assert len(due("cron(* * * * ? *)", "America/New_York", start, end)) == 24 * 60


def test_rules_without_timezone_are_utc() -> None:
    assert due("cron(15 10 * * ? *)", None, utc(2026, 6, 1), utc(2026, 6, 2)) == [utc(2026, 6, 1, 10, 15)]
    assert due("cron(15 10 * * ? *)", "UTC", utc(2026, 6, 1), utc(2026, 6, 2)) == [utc(2026, 6, 1, 10, 15)]


def test_lists_ranges_steps_and_names() -> None:
    fired = due("cron(0/20 9-10,22 ? JAN,FEB SUN *)", None, utc(2026, 1, 3), utc(2026, 1, 5))
    assert fired == [
        utc(2026, 1, 4, 9, 0),
        utc(2026, 1, 4, 9, 20),
        utc(2026, 1, 4, 9, 40),
        utc(2026, 1, 4, 10, 0),
        utc(2026, 1, 4, 10, 20),
        utc(2026, 1, 4, 10, 40),
        utc(2026, 1, 4, 22, 0),
        utc(2026, 1, 4, 22, 20),
        utc(2026, 1, 4, 22, 40),
    ]


def test_day_of_week_numbering_is_one_for_sunday() -> None:
    # 4 January 2026 is a Sunday, 10 January a Saturday.
    assert due("cron(0 12 ? * 1 *)", None, utc(2026, 1, 1), utc(2026, 1, 8)) == [utc(2026, 1, 4, 12)]
    assert due("cron(0 12 ? * 7 *)", None, utc(2026, 1, 4), utc(2026, 1, 11)) == [utc(2026, 1, 10, 12)]


def test_wrapping_day_of_week_range() -> None:
    # 5 January 2026 is a Monday.
    fired = due("cron(0 12 ? * FRI-MON *)", None, utc(2026, 1, 5, 12), utc(2026, 1, 12))
    assert [d.day for d in fired] == [9, 10, 11]
    fired = due("cron(0 12 ? * FRI-MON *)", None, utc(2026, 1, 5), utc(2026, 1, 13))
    assert [d.day for d in fired] == [5, 9, 10, 11, 12]


def test_last_day_of_month() -> None:
    fired = due("cron(0 12 L * ? *)", None, utc(2026, 1, 1), utc(2026, 5, 1))
    assert [d.date().isoformat() for d in fired] == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]
    leap = due("cron(0 12 L 2 ? *)", None, utc(2028, 1, 1), utc(2028, 12, 31))
    assert leap == [utc(2028, 2, 29, 12)]


def test_last_weekday_of_month_and_offset_from_last_day() -> None:
    # 31 January 2026 is a Saturday; 31 May 2026 a Sunday.
    fired = due("cron(0 12 LW * ? *)", None, utc(2026, 1, 1), utc(2026, 6, 1))
    assert [d.date().isoformat() for d in fired] == [
        "2026-01-30",
        "2026-02-27",
        "2026-03-31",
        "2026-04-30",
        "2026-05-29",
    ]
    assert due("cron(0 12 L-2 * ? *)", None, utc(2026, 2, 1), utc(2026, 3, 1)) == [utc(2026, 2, 26, 12)]


def test_last_given_weekday_of_month() -> None:
    # 6L: the last Friday.
    fired = due("cron(0 12 ? * 6L *)", None, utc(2026, 1, 1), utc(2026, 4, 1))
    assert [d.date().isoformat() for d in fired] == ["2026-01-30", "2026-02-27", "2026-03-27"]
    assert due("cron(0 12 ? * FRIL *)", None, utc(2026, 1, 1), utc(2026, 4, 1)) == fired


def test_nearest_weekday() -> None:
    # 1 Feb 2026 is a Sunday -> Monday 2; 1 Aug 2026 is a Saturday -> Monday 3 (not July 31);
    # 15 Aug 2026 is a Saturday -> Friday 14; 15 Nov 2026 is a Sunday -> Monday 16.
    assert due("cron(0 12 1W * ? *)", None, utc(2026, 2, 1), utc(2026, 2, 28)) == [utc(2026, 2, 2, 12)]
    assert due("cron(0 12 1W * ? *)", None, utc(2026, 7, 31), utc(2026, 8, 31)) == [utc(2026, 8, 3, 12)]
    assert due("cron(0 12 15W * ? *)", None, utc(2026, 8, 1), utc(2026, 8, 31)) == [utc(2026, 8, 14, 12)]
    assert due("cron(0 12 15W * ? *)", None, utc(2026, 11, 1), utc(2026, 11, 30)) == [utc(2026, 11, 16, 12)]
    # 31W never fires in a 30-day month.
    assert due("cron(0 12 31W * ? *)", None, utc(2026, 4, 1), utc(2026, 4, 30, 23)) == []


def test_nth_weekday_of_month() -> None:
    fired = due("cron(0 9 ? * MON#1 *)", "Europe/Paris", utc(2026, 1, 1), utc(2026, 4, 1))
    assert fired == [utc(2026, 1, 5, 8), utc(2026, 2, 2, 8), utc(2026, 3, 2, 8)]
    # There is no fifth Tuesday in February 2026.
    assert due("cron(0 9 ? * 3#5 *)", None, utc(2026, 2, 1), utc(2026, 3, 1)) == []
    assert due("cron(0 9 ? * 3#5 *)", None, utc(2026, 3, 1), utc(2026, 4, 1)) == [utc(2026, 3, 31, 9)]


def test_year_field_limits_the_schedule() -> None:
    assert due("cron(0 0 1 1 ? 2027)", None, utc(2026, 1, 1), utc(2028, 1, 2)) == [utc(2027, 1, 1)]
    assert due("cron(0 0 1 1 ? 2030-2031)", None, utc(2026, 1, 1), utc(2028, 1, 2)) == []


def test_month_long_every_minute_window_converts_minute_by_minute_only_on_the_day_the_clocks_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What keeps a long window fast, counted rather than timed: a day without a DST change shifts by one offset,
    # only 29 March 2026 (Paris springs forward) converts each local minute on its own.
    converted: list[datetime] = []

    def to_utc(local: datetime, zone: tzinfo) -> datetime | None:
        converted.append(local)
        return convert(local, zone)

    convert = schedules._to_utc
    monkeypatch.setattr(schedules, "_to_utc", to_utc)
    fired = due("cron(* * * * ? *)", "Europe/Paris", utc(2026, 3, 1), utc(2026, 4, 1))
    assert len(fired) == 31 * 24 * 60  # each real minute is one existing local minute
    assert {local.date() for local in converted} == {date(2026, 3, 29)}
    assert len(converted) == 24 * 60


# --- at ---------------------------------------------------------------------------------------


def test_at_fires_once_in_its_time_zone() -> None:
    expression = "at(2026-05-01T09:00:00)"
    assert due(expression, "Europe/Paris", utc(2026, 1, 1), utc(2027, 1, 1)) == [utc(2026, 5, 1, 7)]
    assert due(expression, None, utc(2026, 1, 1), utc(2027, 1, 1)) == [utc(2026, 5, 1, 9)]
    assert due(expression, "Europe/Paris", utc(2026, 5, 1, 7), utc(2027, 1, 1)) == []  # start is excluded
    assert due(expression, "Europe/Paris", utc(2026, 1, 1), utc(2026, 5, 1, 7)) == [utc(2026, 5, 1, 7)]


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("every(5 minutes)", "rate(...), cron(...) or at(...)"),
        ("rate(0 minutes)", "rate value 0"),
        ("rate(5 weeks)", "'weeks'"),
        ("rate(five minutes)", "rate(<positive number> <unit>)"),
        ("cron(0 8 * * ?)", "6 fields"),
        ("cron(0 8 * * * *)", "day-of-month ('*') and day-of-week ('*')"),
        ("cron(0 8 ? * ? *)", "exactly one of day-of-month"),
        ("cron(60 8 * * ? *)", "minutes field part '60'"),
        ("cron(0 24 * * ? *)", "hours field part '24'"),
        ("cron(0 8 32 * ? *)", "day-of-month field part '32'"),
        ("cron(0 8 * FOO ? *)", "month field part 'FOO'"),
        ("cron(0 8 ? * MON#6 *)", "'MON#6'"),
        ("cron(0 8 ? * XYZL *)", "'XYZL'"),
        ("cron(0/0 8 * * ? *)", "step '0'"),
        ("cron(0 8 * * ? 2031-2030)", "runs backwards"),
        ("cron(0 8 * * ? 1969)", "year field part '1969'"),
        ("at(2026-05-01 09:00)", "at(yyyy-mm-ddThh:mm:ss)"),
        ("at(2026-02-30T09:00:00)", "'2026-02-30T09:00:00'"),
    ],
)
def test_bad_expressions_name_the_bad_part(expression: str, names: str) -> None:
    with pytest.raises(ValueError, match="bad") as raised:
        due(expression, None, utc(2026, 1, 1), utc(2026, 1, 2))
    assert names in str(raised.value)


def test_bad_time_zone_and_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="'Mars/Olympus'"):
        due("rate(1 hour)", "Mars/Olympus", utc(2026, 1, 1), utc(2026, 1, 2))
    with pytest.raises(ValueError, match="start must be a timezone-aware"):
        due("rate(1 hour)", None, datetime(2026, 1, 1), utc(2026, 1, 2))


def test_empty_or_reversed_window_is_empty() -> None:
    assert due("rate(1 minute)", None, utc(2026, 1, 2), utc(2026, 1, 1)) == []
    assert due("rate(1 minute)", None, utc(2026, 1, 1), utc(2026, 1, 1)) == []


# --- properties -------------------------------------------------------------------------------

EXPRESSIONS = [
    "rate(1 minute)",
    "rate(7 minutes)",
    "rate(3 hours)",
    "rate(1 day)",
    "cron(0 8 ? * MON-FRI *)",
    "cron(*/15 1-3 * * ? *)",
    "cron(30 2 * * ? *)",
    "cron(0 12 L * ? *)",
    "cron(0 9 ? * 2#1 *)",
    "cron(0 9 ? * 6L *)",
    "cron(45 23 15W * ? *)",
    "cron(0,30 0-23/6 ? * SAT,SUN *)",
    "at(2026-03-29T02:30:00)",
    "at(2026-10-25T02:30:00)",
]
ZONES = [None, "Europe/Paris", "America/New_York", "America/Santiago", "Australia/Lord_Howe", "Asia/Kolkata"]
instants = st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2027, 2, 1), timezones=st.just(UTC))
spans = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=31))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(EXPRESSIONS), st.sampled_from(ZONES), instants, spans)
def test_results_are_inside_the_window_sorted_and_unique(
    expression: str, zone: str | None, start: datetime, span: timedelta
) -> None:
    fired = due(expression, zone, start, start + span)
    assert all(start < instant <= start + span for instant in fired)
    assert fired == sorted(set(fired))
    assert all(instant.tzinfo is UTC for instant in fired)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(EXPRESSIONS), st.sampled_from(ZONES), instants, spans, st.floats(0, 1))
def test_adjacent_windows_give_the_same_union(
    expression: str, zone: str | None, start: datetime, span: timedelta, cut: float
) -> None:
    end = start + span
    middle = start + span * cut
    assert due(expression, zone, start, middle) + due(expression, zone, middle, end) == due(
        expression, zone, start, end
    )


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 120), st.integers(0, 200), st.integers(-5000, 5000), st.sampled_from(ZONES))
def test_rate_over_k_aligned_periods_fires_k_times(n: int, k: int, offset: int, zone: str | None) -> None:
    anchor = utc(2026, 1, 1, 0, 0, 17)
    period = timedelta(minutes=n)
    start = anchor + abs(offset) * period
    assert len(due(f"rate({n} minutes)", zone, start, start + k * period, anchor=anchor)) == k
    # Before its anchor a rate never fires; the anchor itself is the first firing.
    before = due(f"rate({n} minutes)", zone, EPOCH + offset * period, EPOCH + (offset + k) * period)
    assert len(before) == min(k, max(0, offset + k + 1))
