"""The deployed app in a running sandbox: what a tick finds due, and the times it takes."""

from datetime import UTC, datetime

import pytest

from sandbox import clients, deployed, output

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:deckhand-switches"


def test_tick_finds_due_rules_and_schedules_in_time_order(endpoint: str) -> None:
    events = clients.sandbox_client("events", endpoint)
    for name, state in (("sweep", "ENABLED"), ("disabled", "DISABLED")):
        events.put_rule(Name=name, ScheduleExpression="rate(30 minutes)", State=state)
        target = {"Id": "fn", "Arn": FUNCTION_ARN, "Input": '{"action": "sweep"}'}
        events.put_targets(Rule=name, Targets=[target])
    scheduler = clients.sandbox_client("scheduler", endpoint)
    target = {"Arn": FUNCTION_ARN, "RoleArn": "arn:aws:iam::123456789012:role/scheduler"}
    scheduler.create_schedule(
        Name="night",
        ScheduleExpression="cron(0 22 * * ? *)",
        ScheduleExpressionTimezone="Europe/Paris",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={**target, "Input": '{"profile": "night", "at": "<aws.scheduler.scheduled-time>"}'},
    )
    scheduler.create_schedule(
        Name="revert",
        ScheduleExpression="at(2026-11-22T23:00:00)",
        ScheduleExpressionTimezone="Europe/Paris",
        ActionAfterCompletion="DELETE",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={**target, "Input": '{"profile": "day"}'},
    )
    start, end = datetime(2026, 11, 22, 20, 50, tzinfo=UTC), datetime(2026, 11, 22, 22, 0, tzinfo=UTC)

    dues = sorted(
        [*deployed.due_rule_targets(start, end, endpoint), *deployed.due_schedule_targets(start, end, endpoint)]
    )
    deployed.finish_one_time_schedules(dues, endpoint)

    night = {"profile": "night", "at": "2026-11-22T21:00:00Z"}
    assert [(deployed.iso_z(d.at), d.source, d.payload) for d in dues] == [
        ("2026-11-22T21:00:00Z", "rule sweep", {"action": "sweep"}),
        ("2026-11-22T21:00:00Z", "schedule default/night", night),
        ("2026-11-22T21:30:00Z", "rule sweep", {"action": "sweep"}),
        ("2026-11-22T22:00:00Z", "rule sweep", {"action": "sweep"}),
        ("2026-11-22T22:00:00Z", "schedule default/revert", {"profile": "day"}),
    ]
    assert {d.function for d in dues} == {"deckhand-switches"}
    assert [s["Name"] for s in scheduler.list_schedules()["Schedules"]] == ["night"]  # the one-time one is done


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-11-22T10:05:00Z", "2026-11-22T10:05:00Z"), ("2026-11-22T11:05:00+01:00", "2026-11-22T10:05:00Z")],
)
def test_tick_times_need_an_offset(text: str, expected: str) -> None:
    assert deployed.iso_z(deployed.parse_at(text)) == expected
    with pytest.raises(output.SandboxError, match="no offset"):
        deployed.parse_at("2026-11-22T10:05:00")
