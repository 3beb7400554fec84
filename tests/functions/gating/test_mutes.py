"""When an active alarm mute rule's window ends, from GetAlarmMuteRule's schedule (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.gating.mutes import duration_of, rule_name, window_end

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def rule(expression: str, duration: str, **more: Any) -> Any:
    schedule = {"Expression": expression, "Duration": duration, **more.pop("schedule", {})}
    return {"Rule": {"Schedule": schedule}, **more}


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("PT4H", timedelta(hours=4)),
        ("P2DT12H", timedelta(days=2, hours=12)),
        ("PT1M", timedelta(minutes=1)),
        ("P7D", timedelta(days=7)),
        ("P", None),
        ("4h", None),
    ],
)
def test_iso_durations(text: str, length: timedelta | None) -> None:
    assert duration_of(text) == length


def test_a_one_time_window_ends_at_its_start_plus_its_duration_in_its_time_zone() -> None:
    paris = rule("at(2026-11-21T12:30)", "PT2H", schedule={"Timezone": "Europe/Paris"})
    assert window_end(paris, NOW) == datetime(2026, 11, 21, 13, 30, tzinfo=UTC)  # 12:30 Paris is 11:30 UTC


def test_a_recurring_window_ends_within_its_duration_and_never_after_the_rule_expires() -> None:
    assert window_end(rule("cron(0 2 * * *)", "PT4H"), NOW) == NOW + timedelta(hours=4)
    expiring = rule("cron(0 2 * * *)", "PT4H", ExpireDate=NOW + timedelta(hours=1))
    assert window_end(expiring, NOW) == NOW + timedelta(hours=1)


def test_an_unreadable_duration_counts_as_the_longest_mute() -> None:
    assert window_end(rule("cron(0 2 * * *)", "soon"), NOW) == NOW + timedelta(days=15)


def test_the_rule_name_is_the_arn_tail() -> None:
    assert rule_name("arn:aws:cloudwatch:us-east-1:123456789012:alarm-mute-rule:release:night") == "release:night"


def test_an_unreadable_one_time_window_falls_back_to_its_duration() -> None:
    assert window_end(rule("at(2026-13-40T99:00)", "PT1H"), NOW) == NOW + timedelta(hours=1)
    assert window_end(rule("at(2026-11-21T12:30)", "PT1H", schedule={"Timezone": "Mars/Base"}), NOW) == NOW + timedelta(
        hours=1
    )
