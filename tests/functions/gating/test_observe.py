"""Observations for one gate: pure conversions, one GetMetricData's arithmetic, and the AWS call budget; what
every CloudWatch adapter answers, the twin too, is in test_cloudwatch_contract.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.calls import counted_aws_calls
from functions.gating import core, observe
from functions.gating.observe import (
    AwsCloudWatch,
    MetricPlan,
    MetricRequest,
    alarm_name,
    fold,
    from_describe,
    observe_alarms,
    observe_metrics,
    plan_metrics,
    to_alarm,
)
from functions.gating.policy import AlarmCheck, Gate
from functions.shared.switches import SwitchBoard, SwitchState
from tests.support.gating import GatingSandbox, put_5xx_alarm

NOW = datetime(2026, 11, 21, 12, 0, 30, tzinfo=UTC)
AWS = AwsCloudWatch()
ELB = {"namespace": "AWS/ApplicationELB", "dimensions": {"LoadBalancer": "app/web/1"}}
BUDGET = {
    "objective_percent": 99.9,
    "errors": {**ELB, "name": "HTTPCode_Target_5XX_Count"},
    "requests": {**ELB, "name": "RequestCount"},
}


def gate(**checks: Any) -> Gate:
    return Gate.model_validate({"pipeline": "web-app", "stage": "Deploy", **checks})


# --- alarms, pure ---------------------------------------------------------------------------------


def test_an_alarm_name_may_hold_colons() -> None:
    assert alarm_name("arn:aws:cloudwatch:us-east-1:123456789012:alarm:web:5xx") == "web:5xx"


def describe(**alarm: Any) -> dict[str, Any]:
    return {"AlarmName": "web-5xx", "StateValue": "OK", "StateReason": "fine", "StateUpdatedTimestamp": NOW, **alarm}


def test_describe_alarms_gives_metric_and_composite_observations() -> None:
    seen = from_describe({"MetricAlarms": [describe()], "CompositeAlarms": [describe(AlarmName="svc")]}, NOW)
    assert [(a.name, a.kind, a.state, a.reason, a.updated) for a in seen] == [
        ("web-5xx", "metric", "OK", "fine", NOW),
        ("svc", "composite", "OK", "fine", NOW),
    ]
    assert all(a.muted_until is None for a in seen)


def test_a_mute_detail_on_describe_alarms_is_not_read() -> None:
    """DescribeAlarms has no such field (botocore's MetricAlarm): mutes come from the mute rules."""
    mute = {"mutedByArn": "arn:...:alarm-mute-rule:x", "muteWindowStart": "2026-11-21T11:00:00.000+0000"}
    covering = to_alarm(describe(MuteDetail={**mute, "muteWindowEnd": "2026-11-21T13:00:30.000+0000"}), "metric", NOW)
    assert covering.muted_until is None


def test_suppressed_actions_count_as_muted_for_at_least_the_extension_period() -> None:
    raw = describe(ActionsSuppressedBy="Alarm", ActionsSuppressorExtensionPeriod=180)
    [suppressed] = from_describe({"CompositeAlarms": [raw]}, NOW)
    assert suppressed.muted_until == NOW + timedelta(seconds=240)
    [waiting] = from_describe({"CompositeAlarms": [describe(ActionsSuppressedBy="WaitPeriod")]}, NOW)
    assert waiting.muted_until is None


# --- metrics, pure ---------------------------------------------------------------------------------


windows = st.lists(
    st.tuples(st.integers(5, 7 * 24 * 60), st.integers(1, 24 * 60), st.floats(0.5, 20)).filter(lambda w: w[1] < w[0]),
    min_size=1,
    max_size=3,
)


@given(windows, st.integers(1, 90), st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_every_window_is_a_whole_number_of_buckets_ending_at_end(
    burn: list[tuple[int, int, float]], days: int, now: datetime
) -> None:
    check = {
        **BUDGET,
        "budget_days": days,
        "windows": [{"long_minutes": a, "short_minutes": b, "burn_rate": r} for a, b, r in burn],
    }
    made = plan_metrics(gate(error_budget=check), now, None)
    assert made.recent is not None
    # Issue 11 item 17: the burn windows end at the current minute, whatever budget_days.
    assert made.recent.end == now.replace(second=0, microsecond=0)
    periods = {q["Id"]: q["MetricStat"]["Period"] for q in made.queries}
    for request in made.requests:
        span = int((request.end - request.start).total_seconds())
        assert request.end <= now
        assert now - request.end < timedelta(hours=1)
        assert all(span % periods[q["Id"]] == 0 for q in request.queries)
        assert request.start == observe._floor(request.start, observe._start_rounding(span))  # no shifted bucket
    assert all(60 * minutes % periods["errors"] == 0 for minutes in made.burn_windows)
    assert (60 * days * 1440) % periods["budget_errors"] == 0
    assert made.recent.end - made.recent.start >= timedelta(minutes=max(made.burn_windows))
    budget = made.budget or made.recent
    assert budget.end - budget.start >= timedelta(days=days)
    assert len(made.queries) == 4


def test_the_default_burn_windows_share_a_five_minute_period() -> None:
    made = plan_metrics(gate(error_budget=BUDGET), NOW, None)
    assert made.burn_windows == (5, 30, 60, 360)
    assert {q["Id"]: q["MetricStat"]["Period"] for q in made.queries} == {
        "errors": 300,
        "requests": 300,
        "budget_errors": 3600,
        "budget_requests": 3600,
    }
    assert made.recent is not None
    # 12:00 is a whole 5 minutes, the rounding of a StartTime 30 days back: one call ends at the current minute.
    assert made.budget is None
    assert made.recent.end == datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert made.recent.end - made.recent.start == timedelta(days=30)
    later = plan_metrics(gate(error_budget=BUDGET), NOW + timedelta(minutes=2), None)
    assert later.recent is not None
    assert later.budget is not None
    assert later.recent.end == datetime(2026, 11, 21, 12, 2, tzinfo=UTC)
    assert later.budget.end == datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_a_90_day_budget_still_ends_the_burn_windows_at_the_current_minute() -> None:
    """Beyond 63 days CloudWatch rounds StartTime to the hour: the 5-minute window used to be up to an hour old."""
    now = datetime(2026, 11, 21, 12, 47, 30, tzinfo=UTC)
    made = plan_metrics(gate(error_budget={**BUDGET, "budget_days": 90}), now, None)
    assert made.recent is not None
    assert made.budget is not None
    assert made.recent.end == datetime(2026, 11, 21, 12, 47, tzinfo=UTC)
    assert made.budget.end == datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert {q["Id"] for q in made.recent.queries} == {"errors", "requests"}


def test_fold_sums_the_buckets_inside_each_window_and_reports_missing_data() -> None:
    end = NOW.replace(second=0)
    made = MetricPlan(
        recent=MetricRequest(start=end - timedelta(days=1), end=end, queries=()),
        burn_windows=(5, 60),
        budget_minutes=1440,
    )
    series = {
        "errors": [(end - timedelta(minutes=m), 1.0) for m in (5, 10, 55)],
        "requests": [(end - timedelta(minutes=m), 100.0) for m in range(5, 61, 5)],
        "budget_requests": [(end - timedelta(hours=h), 1000.0) for h in range(1, 25)],
    }
    sums = fold(made, series)
    assert sums.errors_by_window == {5: 1.0, 60: 3.0}
    assert sums.requests_by_window == {5: 100.0, 60: 1200.0}
    assert (sums.budget_errors, sums.budget_requests) == (None, 24000.0)
    assert sums.bake_count is None


def test_nothing_to_measure_makes_no_call() -> None:
    made = plan_metrics(gate(alarms={"names": ["a"]}), NOW, None)
    assert made.empty
    assert observe_metrics(made, AWS).errors_by_window == {}


def test_a_bake_count_is_summed_by_the_minute_since_the_previous_stage() -> None:
    bake = {"after_stage": "Build", "minutes": 10, "min_count": 100, "count_metric": {**ELB, "name": "RequestCount"}}
    made = plan_metrics(gate(bake=bake), NOW, NOW - timedelta(minutes=42))
    [query] = made.queries
    assert (query["Id"], query["MetricStat"]["Period"]) == ("bake", 60)
    assert made.bake_since == NOW - timedelta(minutes=42)
    assert plan_metrics(gate(bake=bake), NOW, None).empty


# --- against moto --------------------------------------------------------------------------------


def alarms(*names: str, tags: dict[str, str] | None = None) -> None:
    for name in names:
        put_5xx_alarm(boto3.client("cloudwatch"), name, tags)


def test_alarms_by_name_prefix_and_tag(sandbox: GatingSandbox) -> None:
    alarms("web-5xx", "web-latency", "db-cpu")
    alarms("canary", tags={"deckhand:gate": "web-app"})
    boto3.client("cloudwatch").set_alarm_state(AlarmName="db-cpu", StateValue="ALARM", StateReason="hot")
    check = AlarmCheck(names=["web-5xx", "gone"], prefixes=["db-"], tags={"deckhand:gate": "web-app"})
    seen = {a.name: a for a in observe_alarms(check, NOW, AWS)}
    assert set(seen) == {"web-5xx", "gone", "db-cpu", "canary"}
    assert (seen["db-cpu"].state, seen["db-cpu"].reason) == ("ALARM", "hot")
    assert (seen["gone"].state, seen["gone"].reason) == ("INSUFFICIENT_DATA", observe.missing_alarm("gone", NOW).reason)


def test_a_gate_with_ten_alarms_a_window_the_freeze_and_an_error_budget_costs_five_calls(
    sandbox: GatingSandbox,
) -> None:
    names = [f"web-{i}" for i in range(10)]
    alarms(*names)
    checks = {
        "alarms": {"names": names},
        "window": {
            "timezone": "Europe/Paris",
            "allow": [{"days": ["MON", "TUE", "WED", "THU", "FRI"], "start": "09:00", "end": "17:00"}],
        },
        "error_budget": BUDGET,
    }
    rt = sandbox.runtime
    with counted_aws_calls() as calls:
        board = rt.switches.read()
        decided = core.decide(gate(**checks), board, NOW, observe.Adapters.of_aws())
        core.record(decided, rt, action="gate", outcome=decided.decision.verdict)
    assert sum(calls.values()) <= 5, calls
    assert set(calls) == {
        "ssm.GetParametersByPath",
        "cloudwatch.DescribeAlarms",
        "cloudwatch.ListAlarmMuteRules",  # no rule is active, so no GetAlarmMuteRule
        "cloudwatch.GetMetricData",
        "dynamodb.PutItem",
    }
    assert len(decided.observations.alarms) == 10


def test_the_freeze_comes_from_the_switch_board() -> None:
    frozen = SwitchState(name="freeze", on=True, reason="quarter end", expires_at=NOW + timedelta(hours=1), set_by="al")
    seen = observe.freeze_observation(SwitchBoard({"freeze": frozen}), NOW)
    assert seen is not None
    assert (seen.reason, seen.set_by, seen.expires_at) == ("quarter end", "al", frozen.expires_at)
    assert observe.freeze_observation(SwitchBoard({}), NOW) is None
