"""Deployment windows: local hours in an IANA zone, DST-safe, deny calendars, and the next open instant."""

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.gating.policy import WindowCheck
from functions.gating.windows import (
    HORIZON_DAYS,
    denied_by,
    in_allow_window,
    is_open,
    local_label,
    next_open,
)

from .strategies import instants, window_checks

WEEKDAYS = ["MON", "TUE", "WED", "THU", "FRI"]


def window(zone: str, *allow: tuple[list[str], str, str], deny: list[dict[str, Any]] | None = None) -> WindowCheck:
    return WindowCheck.model_validate(
        {
            "timezone": zone,
            "allow": [{"days": days, "start": start, "end": end} for days, start, end in allow],
            "deny": deny or [],
        }
    )


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


OFFICE_PARIS = window("Europe/Paris", (WEEKDAYS, "09:00", "17:00"))


@pytest.mark.parametrize(
    ("instant", "inside"),
    [
        pytest.param(utc(2026, 11, 23, 8, 0), True, id="Monday 09:00 Paris opens"),
        pytest.param(utc(2026, 11, 23, 7, 59), False, id="Monday 08:59 Paris"),
        pytest.param(utc(2026, 11, 23, 15, 59), True, id="Monday 16:59 Paris"),
        pytest.param(utc(2026, 11, 23, 16, 0), False, id="Monday 17:00 Paris: end is exclusive"),
        pytest.param(utc(2026, 11, 21, 12, 0), False, id="Saturday"),
        pytest.param(utc(2026, 7, 6, 7, 0), True, id="summer Monday 09:00 CEST"),
        pytest.param(utc(2026, 7, 6, 15, 0), False, id="summer Monday 17:00 CEST"),
    ],
)
def test_an_allow_window_is_in_local_hours(instant: datetime, inside: bool) -> None:
    assert in_allow_window(OFFICE_PARIS, instant) is inside
    assert is_open(OFFICE_PARIS, instant) is inside


def test_a_window_whose_end_is_before_its_start_crosses_midnight() -> None:
    night = window("America/New_York", (["FRI"], "22:00", "02:00"))

    assert in_allow_window(night, utc(2026, 11, 14, 3, 0))  # Fri 22:00 EST
    assert in_allow_window(night, utc(2026, 11, 14, 6, 59))  # Sat 01:59
    assert not in_allow_window(night, utc(2026, 11, 14, 7, 0))  # Sat 02:00
    assert not in_allow_window(night, utc(2026, 11, 15, 6, 0))  # Sun 01:00: the window opens on Fridays only


def test_paris_spring_forward_keeps_local_hours_and_shortens_the_night() -> None:
    # 2026-03-29: Paris clocks go from 02:00 CET to 03:00 CEST at 01:00 UTC.
    early = window("Europe/Paris", (["SUN"], "01:00", "04:00"))

    assert in_allow_window(early, utc(2026, 3, 29, 0, 0))  # 01:00 CET
    assert in_allow_window(early, utc(2026, 3, 29, 1, 59))  # 03:59 CEST
    assert not in_allow_window(early, utc(2026, 3, 29, 2, 0))  # 04:00 CEST: two real hours in all
    assert next_open(early, utc(2026, 3, 28, 12, 0)) == utc(2026, 3, 29, 0, 0)


def test_a_window_edge_in_the_spring_gap_moves_forward_by_the_gap() -> None:
    starts_in_gap = window("Europe/Paris", (["SUN"], "02:30", "05:00"))
    inside_gap = window("Europe/Paris", (["SUN"], "02:00", "03:00"))

    # 02:30 does not exist that night: it reads with the winter offset, i.e. 03:30 CEST.
    assert next_open(starts_in_gap, utc(2026, 3, 28, 12, 0)) == utc(2026, 3, 29, 1, 30)
    # An hour that does not exist that night is no window; the next Sunday has it.
    assert next_open(inside_gap, utc(2026, 3, 28, 12, 0)) == utc(2026, 4, 5, 0, 0)


def test_new_york_spring_forward_edge_in_the_gap() -> None:
    # 2026-03-08: New York goes from 02:00 EST to 03:00 EDT at 07:00 UTC.
    check = window("America/New_York", (["SUN"], "02:15", "03:30"))

    assert next_open(check, utc(2026, 3, 8, 0, 0)) == utc(2026, 3, 8, 7, 15)  # 03:15 EDT
    assert in_allow_window(check, utc(2026, 3, 8, 7, 29))
    assert not in_allow_window(check, utc(2026, 3, 8, 7, 30))


def test_new_york_fall_back_counts_the_repeated_hour_once() -> None:
    # 2026-11-01: New York goes from 02:00 EDT back to 01:00 EST at 06:00 UTC; 01:30 happens twice.
    short = window("America/New_York", (["SUN"], "01:30", "01:45"))
    hour = window("America/New_York", (["SUN"], "01:00", "02:00"))

    assert in_allow_window(short, utc(2026, 11, 1, 5, 35))  # the first 01:35 (EDT)
    assert not in_allow_window(short, utc(2026, 11, 1, 6, 35))  # the second 01:35 (EST)
    assert next_open(short, utc(2026, 11, 1, 5, 50)) == utc(2026, 11, 8, 6, 30)
    # 01:00 EDT to 02:00 EST lasts two real hours, and both 01:30s are inside.
    assert in_allow_window(hour, utc(2026, 11, 1, 5, 30))
    assert in_allow_window(hour, utc(2026, 11, 1, 6, 30))
    assert not in_allow_window(hour, utc(2026, 11, 1, 7, 0))


def test_lord_howe_half_hour_shift() -> None:
    # 2026-10-04: Lord Howe goes from 02:00 (+10:30) to 02:30 (+11:00) at 15:30 UTC on the 3rd.
    check = window("Australia/Lord_Howe", (["SUN"], "02:00", "03:00"))

    opens = next_open(check, utc(2026, 10, 3, 0, 0))

    assert opens == utc(2026, 10, 3, 15, 30)
    assert local_label(opens, "Australia/Lord_Howe") == "Sun 2026-10-04 02:30 Australia/Lord_Howe"


def test_a_date_deny_period_covers_whole_local_days_end_included() -> None:
    check = window("Europe/Paris", deny=[{"name": "Christmas", "start": date(2026, 12, 24), "end": date(2026, 12, 26)}])

    assert denied_by(check, utc(2026, 12, 23, 22, 59)) is None  # 23:59 on the 23rd in Paris
    period = denied_by(check, utc(2026, 12, 23, 23, 0))  # midnight on the 24th in Paris
    assert period is not None
    assert period.name == "Christmas"
    assert denied_by(check, utc(2026, 12, 26, 22, 59)) is not None  # 23:59 on the 26th
    assert denied_by(check, utc(2026, 12, 26, 23, 0)) is None
    assert next_open(check, utc(2026, 12, 24, 12, 0)) == utc(2026, 12, 26, 23, 0)


def test_a_date_time_deny_period_ends_at_its_end() -> None:
    plus_one = timezone(timedelta(hours=1))
    launch = {
        "name": "Launch",
        "start": datetime(2026, 12, 1, 18, 0, tzinfo=plus_one),
        "end": datetime(2026, 12, 2, 9, 30, tzinfo=plus_one),
    }
    check = window("UTC", deny=[launch])

    assert denied_by(check, utc(2026, 12, 1, 16, 59)) is None
    assert denied_by(check, utc(2026, 12, 1, 17, 0)) is not None
    assert denied_by(check, utc(2026, 12, 2, 8, 30)) is None
    assert next_open(check, utc(2026, 12, 1, 20, 0)) == utc(2026, 12, 2, 8, 30)


def test_next_open_skips_deny_periods_inside_allow_windows() -> None:
    check = window(
        "Europe/Paris",
        (WEEKDAYS, "09:00", "17:00"),
        deny=[
            {"name": "Christmas freeze", "start": date(2026, 12, 24), "end": date(2026, 12, 27)},
            {"name": "New Year's Day", "start": date(2027, 1, 1), "end": date(2027, 1, 1)},
        ],
    )

    opens = next_open(check, utc(2026, 12, 23, 16, 30))  # Wed 17:30 in Paris

    assert opens == utc(2026, 12, 28, 8, 0)
    assert local_label(opens, "Europe/Paris") == "Mon 2026-12-28 09:00 Europe/Paris"
    assert next_open(check, utc(2026, 12, 31, 16, 0)) == utc(2027, 1, 4, 8, 0)


def test_next_open_is_now_when_open() -> None:
    now = datetime(2026, 11, 23, 10, 17, 42, 5, tzinfo=UTC)
    assert next_open(OFFICE_PARIS, now) == now


def test_next_open_from_another_zone_comes_back_in_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    opens = next_open(OFFICE_PARIS, datetime(2026, 11, 21, 21, 0, tzinfo=tokyo))
    assert opens == utc(2026, 11, 23, 8, 0)
    assert opens is not None
    assert opens.tzinfo is UTC


def test_no_allow_windows_means_open_outside_deny_periods() -> None:
    check = window("Asia/Kolkata", deny=[{"name": "Diwali", "start": date(2026, 11, 8), "end": date(2026, 11, 9)}])

    assert is_open(check, utc(2026, 11, 7, 18, 29))
    assert not is_open(check, utc(2026, 11, 7, 18, 30))  # midnight on the 8th in Kolkata (+05:30)
    assert next_open(check, utc(2026, 11, 8, 12, 0)) == utc(2026, 11, 9, 18, 30)


def test_next_open_is_none_when_nothing_opens_within_the_horizon() -> None:
    forever = {"name": "Moratorium", "start": date(2026, 1, 1), "end": date(2028, 12, 31)}
    check = window("UTC", (WEEKDAYS, "09:00", "17:00"), deny=[forever])

    assert next_open(check, utc(2026, 6, 1, 12, 0)) is None
    assert next_open(window("UTC", deny=[forever]), utc(2026, 6, 1, 12, 0)) is None


def test_a_window_opening_just_inside_the_horizon_is_found() -> None:
    now = utc(2026, 1, 5, 12, 0)  # a Monday
    until = (now + timedelta(days=HORIZON_DAYS - 3)).date()
    check = window(
        "UTC",
        (["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"], "09:00", "17:00"),
        deny=[{"name": "Long", "start": now.date(), "end": until}],
    )

    assert next_open(check, now) == datetime.combine(until + timedelta(days=1), datetime.min.time(), UTC).replace(
        hour=9
    )


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_open(OFFICE_PARIS, datetime(2026, 11, 23, 9, 0))


@settings(max_examples=300, deadline=None)
@given(check=window_checks(), now=instants)
def test_next_open_is_open_not_before_now_and_the_first(check: WindowCheck, now: datetime) -> None:
    opens = next_open(check, now)
    now = now.astimezone(UTC)  # == between zones is always False for a time in a DST fold (PEP 495)

    assert (opens == now) is is_open(check, now)
    if opens is None:
        return
    assert opens >= now
    assert in_allow_window(check, opens)
    assert denied_by(check, opens) is None
    just_before = opens - timedelta(seconds=1)
    if just_before >= now:
        assert not is_open(check, just_before)


@settings(max_examples=100, deadline=None)
@given(check=window_checks(), now=instants, fraction=st.floats(0, 1, exclude_max=True))
def test_nothing_between_now_and_next_open_is_open(check: WindowCheck, now: datetime, fraction: float) -> None:
    opens = next_open(check, now)
    now = now.astimezone(UTC)
    if opens is None or opens == now:
        return
    between = min(now + (opens - now) * fraction, opens - timedelta(microseconds=1))  # timedelta * float rounds
    assert not is_open(check, between)
