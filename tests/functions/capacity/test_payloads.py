"""Every payload gets an answer: malformed alarm events are ignored, bad console and schedule payloads rejected,
and neither raises nor makes a mutating AWS call."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from functions.capacity.model import Levels
from functions.shared.refusal import ECHO_LIMIT
from tests.functions.capacity.world import ALARM_SAMPLE, World
from tests.support.payloads import JSON_VALUES, mutated
from tests.support.recorders import MutatingCalls

ANSWERS = {"ok", "planned", "changed", "unchanged", "refused", "skipped", "paused", "failed", "rejected", "ignored"}


@pytest.fixture
def mutating(world: World) -> Any:
    recorder = MutatingCalls()
    yield recorder
    recorder.close()


def ours(state: str = "ALARM") -> dict[str, Any]:
    """The AWS sample as an alarm state change of the web target's scale-out alarm."""
    event = copy.deepcopy(ALARM_SAMPLE)
    event["detail"].pop("muteDetail")
    event["detail"]["alarmName"] = "web-cpu-high"
    event["detail"]["state"]["value"] = state
    return event


def with_detail(**changes: Any) -> dict[str, Any]:
    event = ours()
    event["detail"].update(changes)
    return event


def without(event: dict[str, Any], *path: str) -> dict[str, Any]:
    holder = event
    for key in path[:-1]:
        holder = holder[key]
    del holder[path[-1]]
    return event


@pytest.mark.parametrize(
    "event",
    [
        without(ours(), "detail"),
        {**ours(), "detail": None},
        {**ours(), "detail": {}},
        {**ours(), "detail": "web-cpu-high ALARM"},
        without(ours(), "detail", "state"),
        without(without(ours(), "detail", "state", "timestamp"), "time"),
        with_detail(muteDetail=["muted"]),
        with_detail(muteDetail="muted"),
        with_detail(muteDetail={"muteWindowEnd": 5}),
        with_detail(muteDetail={"muteWindowStart": "soon", "muteWindowEnd": "later"}),
        with_detail(state={"value": "ALARM", "timestamp": "0001-01-01T00:00:00.000+1400"}),
        {**ours(), "source": "aws.ec2" + "x" * 5000},
        {**ours(), "detail-type": "EC2 Instance State-change Notification"},
    ],
    ids=[
        "no-detail",
        "null-detail",
        "empty-detail",
        "string-detail",
        "no-state",
        "no-timestamps",
        "list-mute",
        "string-mute",
        "number-mute-end",
        "unreadable-mute-window",
        "year-1-timestamp",
        "other-source",
        "other-detail-type",
    ],
)
def test_an_alarm_event_that_cannot_be_read_is_ignored_and_changes_nothing(
    world: World, mutating: MutatingCalls, event: dict[str, Any]
) -> None:
    result = world.run(event)

    assert (result["status"], result["changed"]) == ("ignored", False), result
    assert len(result["reason"]) <= ECHO_LIMIT
    assert mutating.made == []
    assert world.live() == Levels(4, 20)


def test_a_readable_alarm_event_without_its_state_timestamp_falls_back_to_the_event_time(world: World) -> None:
    result = world.run(without(ours(), "detail", "state", "timestamp"))
    assert result["status"] == "changed"


UNTIL = {"action": "apply", "target": "web", "min": 6}


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({**UNTIL, "until": "0001-01-01T00:00:00+14:00"}, "until: got '0001-01-01T00:00:00+14:00'"),
        ({**UNTIL, "until": "9999-12-31T23:59:59-14:00"}, "until: got '9999-12-31T23:59:59-14:00'"),
        ({"action": "pause", "target": "web", "until": "0001-01-01T00:00:00+14:00"}, "until: got"),
        ({**UNTIL, "for": "999999999d"}, "for: unknown key"),
        ({**UNTIL, "dry_run": "false"}, "dry_run: got 'false'"),
        ({**UNTIL, "dry_run": 0}, "dry_run: got 0"),
        ({"trigger": "override-revert", "target": "web", "override_set_at": "0001-01-01T00:00:00+14:00"}, "override"),
        ({"trigger": "override-revert", "target": "web", "override_set_at": "x", "dry_run": "no"}, "dry_run: got 'no'"),
        ({"trigger": "schedule", "target": "web", "profile": "day", "schedule": True}, "schedule: got True"),
        ({"trigger": ["schedule"], "target": "web"}, "trigger: got ['schedule']"),
    ],
)
def test_a_bad_payload_is_rejected_not_raised(world: World, mutating: MutatingCalls, payload: Any, error: str) -> None:
    result = world.run(payload)

    assert (result["status"], result["changed"]) == ("rejected", False), result
    assert any(error in e for e in result["errors"]), result["errors"]
    assert mutating.made == []


@pytest.mark.parametrize("key", ["actor", "reason", "target", "profile", "until"])
def test_a_huge_string_is_rejected_and_echoed_capped(world: World, mutating: MutatingCalls, key: str) -> None:
    result = world.run({"action": "apply", "target": "web", "profile": "day", key: "x" * 1_000_000})

    assert result["status"] == "rejected"
    assert all(len(error) <= ECHO_LIMIT for error in result["errors"])
    assert world.audit() == []
    assert mutating.made == []


# --- property: generated JSON values and mutated real samples ---------------------------------------------

SAMPLES: list[Any] = [
    ours("ALARM"),
    ours("OK"),
    *(json.loads(path.read_text()) for path in sorted(Path("tests/events").glob("*.json"))),
    *(json.loads(path.read_text()) for path in sorted(Path("tests/events/variants").glob("cloudwatch-alarm-state-*"))),
    *(json.loads(path.read_text()) for path in sorted(Path("events/capacity").glob("*.json"))),
    {"trigger": "schedule", "target": "web", "profile": "zero", "schedule": 1},
    {"trigger": "override-revert", "target": "web", "override_set_at": "2026-11-20T08:00:00+00:00", "dry_run": True},
]
TRICKY = ["false", "off", 0, "999999999d", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "x" * 2000]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=JSON_VALUES | mutated(SAMPLES, tricky=TRICKY))
def test_no_event_raises_or_changes_aws_when_refused(world: World, event: Any) -> None:
    recorder = MutatingCalls()
    try:
        result = world.run(event)
    finally:
        recorder.close()

    assert result["status"] in ANSWERS, result
    if result["status"] in {"rejected", "ignored"}:
        assert result["changed"] is False
        assert recorder.made == []


def test_the_recorder_sees_the_writes_of_a_real_change(world: World, mutating: MutatingCalls) -> None:
    world.run({"action": "apply", "target": "web", "min": 6, "dry_run": False})
    assert "application-autoscaling:RegisterScalableTarget" in mutating.made
