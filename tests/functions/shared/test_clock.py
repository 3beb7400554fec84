"""parse_instant: an instant must carry its offset, and comes back in UTC."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.shared.clock import parse_cloudwatch_time, parse_instant, utc_now


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-12-01T18:00:00+01:00", datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),
        ("2026-12-01T18:00:00Z", datetime(2026, 12, 1, 18, 0, tzinfo=UTC)),
        ("2026-12-01T18:00:00+00:00", datetime(2026, 12, 1, 18, 0, tzinfo=UTC)),
        ("2026-12-01T01:30:00-05:30", datetime(2026, 12, 1, 7, 0, tzinfo=UTC)),
        ("2026-12-31T23:30:00-01:00", datetime(2027, 1, 1, 0, 30, tzinfo=UTC)),
        ("2026-03-01T00:00:00.250000+02:00", datetime(2026, 2, 28, 22, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_parse_instant_converts_to_utc(text: str, instant: datetime) -> None:
    parsed = parse_instant(text)
    assert parsed == instant
    assert parsed.utcoffset() == timedelta(0)
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["2026-12-01T18:00:00", "2026-12-01", "2026-12-01 18:00"])
def test_parse_instant_requires_an_offset(text: str) -> None:
    with pytest.raises(ValueError, match=r"has no UTC offset; write it like 2026-12-01T18:00:00\+01:00 or \.\.\.Z"):
        parse_instant(text)


@pytest.mark.parametrize("text", ["", "tomorrow", "2026-13-01T00:00:00Z"])
def test_parse_instant_refuses_what_is_not_an_instant(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is the standard library's
        parse_instant(text)


@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1)),
    st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes))),
)
def test_any_aware_instant_round_trips_through_isoformat(moment: datetime, zone: timezone) -> None:
    aware = moment.replace(tzinfo=zone)
    parsed = parse_instant(aware.isoformat())
    assert parsed == aware
    assert parsed.tzinfo is UTC


def test_utc_now_is_aware_utc() -> None:
    before = datetime.now(UTC)
    now = utc_now()
    assert now.tzinfo is UTC
    assert before <= now <= datetime.now(UTC)


def test_cloudwatch_times_parse_with_their_compact_offset() -> None:
    assert parse_cloudwatch_time("2026-01-01T10:00:00.000+0000") == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert parse_cloudwatch_time("2026-01-01T11:00:00.000+0100") == datetime(2026, 1, 1, 10, tzinfo=UTC)
