"""Pure parsing of the capacity function's events: expiry times, schedule exclusions, revert schedules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.capacity import scheduler, triggers
from functions.capacity.model import Override
from functions.capacity.policy import Capacity
from functions.shared.members import Home
from tests.functions.capacity.world import FUNCTION_ARN, WEB, policy_of

NOW = datetime(2026, 3, 28, 21, 30, tzinfo=UTC)  # Paris switches to summer time in the night that follows
HOME = Home.of(FUNCTION_ARN)
HERE = (HOME.account, HOME.region)


def test_a_local_time_is_the_next_such_time_in_its_zone() -> None:
    assert triggers.until_of("23:00 Europe/Paris", NOW) == datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
    assert triggers.until_of("08:00 Europe/Paris", NOW) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)  # CEST
    assert triggers.until_of("2026-03-29T12:00:00+02:00", NOW) == datetime(2026, 3, 29, 10, 0, tzinfo=UTC)


@given(st.integers(0, 23), st.integers(0, 59), st.sampled_from(["Europe/Paris", "America/New_York", "UTC"]))
def test_a_local_time_is_always_within_a_day_and_a_bit_ahead(hour: int, minute: int, zone: str) -> None:
    until = triggers.until_of(f"{hour:02}:{minute:02} {zone}", NOW)
    assert NOW < until <= NOW + timedelta(hours=25)


def test_an_alarm_of_no_target_is_ignored_and_one_alarm_may_move_several_targets() -> None:
    policy = policy_of(WEB, {**WEB, "name": "api", "service": "api", "alarms": {"scale_out": ["web-cpu-high"]}})
    assert triggers.scaled_by(policy, "web-cpu-high", HOME, *HERE) == ("web", "api")
    assert triggers.scaled_by(policy, "web-latency-high", HOME, *HERE) == ("web",)
    assert triggers.scaled_by(Capacity(), "web-cpu-high", HOME, *HERE) == ()


def test_a_schedule_is_excluded_on_its_dates_in_its_own_zone() -> None:
    web = policy_of().target("web")
    assert web is not None
    late_on_the_30th = datetime(2026, 12, 30, 23, 30, tzinfo=UTC)  # already the 31st in Paris
    assert triggers.excluded(web, 1, late_on_the_30th) == datetime(2026, 12, 31).date()
    assert triggers.excluded(web, 1, late_on_the_30th - timedelta(hours=1)) is None


def test_the_revert_schedule_runs_once_at_until_and_deletes_itself() -> None:
    held = Override("apply", set_at=NOW, until=NOW + timedelta(hours=2))
    call = scheduler.revert_schedule("a" * 40, held, group="g", function_arn="arn:f", role_arn="arn:r", dry_run=False)

    assert len(call.params["Name"]) <= 64
    assert call.params["ScheduleExpression"] == "at(2026-03-28T23:30:00)"
    assert call.params["ActionAfterCompletion"] == "DELETE"
    assert json.loads(call.params["Target"]["Input"])["override_set_at"] == NOW.isoformat()
    with pytest.raises(ValueError, match="has no revert"):
        scheduler.revert_schedule(
            "web", Override("pause", set_at=NOW), group="g", function_arn="f", role_arn="r", dry_run=False
        )
