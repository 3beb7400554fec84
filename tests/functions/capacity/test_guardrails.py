"""The capacity function's guardrails: switches, dry-run, bad input, and injected faults at every call (on the
adapters' twins, where a named operation fails with Throttling)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.capacity import config, handler, invocation
from functions.capacity.model import Levels
from functions.capacity.store import Stored
from functions.shared.switches import SwitchState, parameter_name
from tests.functions.capacity.world import FUNCTION_ARN, GROUP, NOW, ROLE_ARN, TwinWorld, World
from tests.support.deployed import PATH
from tests.support.gating import FakeContext

UNTIL = {"action": "apply", "target": "web", "min": 10, "until": "23:00 Europe/Paris", "dry_run": False}
ZERO = {"action": "apply", "target": "web", "profile": "zero", "dry_run": False}


def switch_on(name: str) -> None:
    state = SwitchState(name=name, on=True, reason="incident 42", expires_at=NOW + timedelta(hours=2), set_by="alice")
    boto3.client("ssm").put_parameter(
        Name=parameter_name(PATH, name), Value=json.dumps(state.document()), Type="String", Overwrite=True
    )


@pytest.mark.parametrize("switch", ["pause-all", "pause-capacity"])
def test_a_pause_switch_stops_every_trigger_but_status(world: World, switch: str) -> None:
    switch_on(switch)

    result = world.alarm("web-cpu-high", "ALARM")

    assert result["status"] == "paused"
    assert result["changes"][0]["reason"].startswith(f"{switch} is on until 2026-11-20T11:00:00+00:00 (set by alice")
    assert world.live() == Levels(4, 20)
    assert world.run(UNTIL)["status"] == "paused"
    assert world.live() == Levels(4, 20)
    assert [r["outcome"]["S"] for r in world.audit()] == ["paused", "paused"]
    [warning] = world.deployed.notifications()  # the alarm's scale-out did not happen: say so; the console sees it
    assert warning["Subject"] == "Deckhand capacity: web: not scaled out, capacity paused"
    assert world.run({"action": "status"})["paused"] == switch


def test_dry_run_by_default_plans_audits_and_changes_nothing(world: World) -> None:
    world.dry_run_default = True
    world.recorded.clear()

    result = world.alarm("web-cpu-high", "ALARM")

    assert (result["status"], result["dry_run"]) == ("planned", True)
    [planned] = result["changes"]
    assert planned["after"]["min"] == 6
    assert planned["calls"][0]["params"]["MinCapacity"] == 6
    assert world.live() == Levels(4, 20)
    assert world.recorded.mutating() == []
    assert world.stored() == Stored()
    [record] = world.audit()
    assert (record["outcome"]["S"], record["dry_run"]["BOOL"]) == ("planned", True)
    assert world.deployed.notifications() == []


def test_a_dry_run_apply_with_until_plans_its_schedule_without_creating_it(world: World) -> None:
    result = world.run({**UNTIL, "dry_run": True})

    assert result["status"] == "planned"
    calls = [c["call"] for c in result["changes"][0]["calls"]]
    assert calls == ["application-autoscaling.register_scalable_target", "scheduler.create_schedule"]
    assert world.schedules() == []
    assert world.live() == Levels(4, 20)


counts = st.none() | st.integers(-2, 60) | st.booleans() | st.text(max_size=3)
console = st.fixed_dictionaries(
    {"action": st.sampled_from(["apply", "pause", "resume", "status", "scale", None])},
    optional={
        "target": st.sampled_from(["web", "ghost", "", None]),
        "profile": st.sampled_from(["day", "night", "zero", "lunch"]),
        "min": counts,
        "max": counts,
        "desired": counts,
        "until": st.sampled_from(["23:00 Europe/Paris", "08:00 Mars/Base", "2026-11-20T08:00Z", "2027-01-01T00:00Z"]),
        "reason": st.text(max_size=5),
        "extra": st.integers(),
    },
)
scheduled = st.fixed_dictionaries(
    {
        "trigger": st.sampled_from(["schedule", "override-revert", "later"]),
        "target": st.sampled_from(["web", "ghost"]),
    },
    optional={
        "profile": st.sampled_from(["day", "night", "zero"]),
        "schedule": st.integers(-1, 3),
        "override_set_at": st.sampled_from(["2026-11-20T09:00:00+00:00", "yesterday"]),
    },
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=console | scheduled | st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA"]) | st.none() | st.integers())
def test_no_payload_in_dry_run_reaches_a_mutating_call(world: World, payload: Any) -> None:
    world.dry_run_default = True
    world.recorded.clear()
    if isinstance(payload, str):
        result = world.alarm("web-cpu-high", payload)
    else:
        if isinstance(payload, dict) and "action" in payload:
            payload = {**payload, "dry_run": True}
        result = world.run(payload)

    assert result["status"] in {"ok", "planned", "unchanged", "refused", "skipped", "ignored", "rejected"}, result
    assert world.recorded.mutating() == []
    assert world.live() == Levels(4, 20)
    assert world.stored() == Stored()
    if result["status"] == "rejected":
        assert result["errors"]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ("apply web", "expected a JSON object"),
        ({"hello": 1}, "not a capacity event"),
        ({"action": "scale", "target": "web"}, "action: got 'scale'"),
        ({"action": "apply", "target": "ghost", "min": 3}, "target: unknown capacity target 'ghost'; known: web"),
        ({"action": "apply", "target": "web", "profile": "lunch"}, "unknown profile 'lunch' of 'web'; known: day"),
        ({"action": "apply", "target": "web", "profile": "day", "min": 3}, "a 'profile' or bounds, not both"),
        ({"action": "apply", "target": "web"}, "'apply' needs a 'profile'"),
        ({"action": "apply", "target": "web", "min": True}, "min: got True"),
        ({"action": "apply", "target": "web", "min": 3, "colour": "red"}, "colour: unknown key"),
        ({**UNTIL, "until": "2026-11-20T08:00:00Z"}, "is already past"),
        ({**UNTIL, "until": "2026-12-01T08:00:00Z"}, "more than 7 days away"),
        ({**UNTIL, "until": "23:00 Mars/Base"}, "'Mars/Base' is not an IANA time zone"),
        ({**UNTIL, "until": "tomorrow"}, "expected an ISO instant with its offset"),
        ({"action": "resume", "target": "web", "until": "23:00 Europe/Paris"}, "'resume' takes no 'until'"),
        ({"trigger": "override-revert", "target": "web"}, "override_set_at: required key is missing"),
    ],
)
def test_a_bad_payload_is_rejected_naming_what_is_wrong_and_changes_nothing(
    world: World, payload: Any, error: str
) -> None:
    result = world.run(payload)

    assert result["status"] == "rejected"
    assert any(error in e for e in result["errors"]), result["errors"]
    assert world.live() == Levels(4, 20)
    assert world.audit() == []


def test_a_policy_target_whose_resource_is_gone_is_rejected(world: World) -> None:
    boto3.client("application-autoscaling").deregister_scalable_target(
        ServiceNamespace="ecs", ResourceId="service/main/web", ScalableDimension="ecs:service:DesiredCount"
    )
    boto3.client("ecs").delete_service(cluster="main", service="web", force=True)

    result = world.run({"action": "apply", "target": "web", "min": 5, "dry_run": False})

    assert result["status"] == "rejected"
    assert "no ECS service 'web' in cluster 'main'" in result["changes"][0]["errors"][0]


# --- faults -----------------------------------------------------------------------------------------------


def test_a_switch_that_cannot_be_read_fails_the_invocation_before_any_action(world: World) -> None:
    world.recorded.faults = {"ssm.GetParametersByPath": [1]}

    with pytest.raises(Exception, match="Throttling"):  # no switch read, no action: the invocation fails
        world.run(UNTIL)

    assert world.live() == Levels(4, 20)
    assert world.recorded.mutating() == []


@pytest.mark.parametrize(
    "operation",
    [
        "load",  # DynamoDB GetItem
        "read",  # Application Auto Scaling DescribeScalableTargets
        "create_schedule",
        "register_scalable_target",
    ],
)
def test_a_failure_before_or_at_the_apply_changes_nothing_and_leaves_no_schedule(
    twin: TwinWorld, operation: str
) -> None:
    faults = twin.store.faults if operation == "load" else twin.targets.faults
    faults.failing.add(operation)

    result = twin.run(UNTIL)

    assert result["status"] == "failed"
    assert "Throttling" in result["changes"][0]["errors"][0]
    assert twin.live() == Levels(4, 20)
    assert twin.stored() == Stored()
    assert twin.schedules() == []
    [record] = twin.audit()
    assert record.outcome == "failed"
    [notice] = twin.notices()
    assert notice.subject == "web: apply by console failed"
    assert "The saved state is as before" in notice.body()


def test_a_failed_save_after_the_apply_is_reported_for_reconciliation(twin: TwinWorld) -> None:
    twin.store.faults.failing.add("save")

    result = twin.run(UNTIL)

    [change] = result["changes"]
    assert change["status"] == "changed"
    assert "applied, but the saved state was not written" in change["warnings"][0]
    assert twin.live() == Levels(10, 20)  # the live levels are the truth the next run starts from
    assert twin.stored() == Stored()
    [notice] = twin.notices()
    assert notice.subject.startswith("web: 4..20 -> 10..20, with problems")
    # Its revert is refused when it runs (no override saved): the operator is told to reconcile by hand.
    assert "Reconcile by hand" in notice.body()


def test_a_failed_mute_is_reported_and_the_zero_stands(twin: TwinWorld) -> None:
    twin.targets.faults.failing.add("disable_alarm_actions")

    result = twin.run(ZERO)

    [change] = result["changes"]
    assert change["status"] == "changed"
    assert "cloudwatch.disable_alarm_actions ['web-unhealthy'] failed" in change["warnings"][0]
    assert twin.live() == Levels(0, 0)
    assert twin.targets.actions_enabled["web-unhealthy"]
    saved = twin.stored().saved_before_zero
    assert saved is not None
    assert saved.levels == Levels(4, 20)


def test_a_save_that_lost_a_race_reloads_and_plans_again(twin: TwinWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    twin.alarm("web-cpu-high", "ALARM")  # another run, at the same instant: saved version 1, changed at NOW
    real = twin.store.load
    stale = iter([Stored()])  # what a run that loaded before the other one saved would hold
    monkeypatch.setattr(twin.store, "load", lambda target: next(stale, None) or real(target))

    result = twin.alarm("web-latency-high", "ALARM")

    [change] = result["changes"]
    assert change["status"] == "changed"
    warning = change["warnings"][0]
    assert "another run saved the state of web first; planned again: refused: cooldown" in warning
    assert twin.live() == Levels(8, 20)  # this run's step was made before its save lost: it is remembered
    assert twin.stored().version == 2
    assert twin.stored().last_changes == (NOW, NOW)  # both changes count in the flap budget


# --- shipped events and the Lambda entry point -------------------------------------------------------------


def test_every_console_event_shipped_in_events_is_accepted(world: World) -> None:
    shipped = sorted(Path("events/capacity").glob("*.json"))
    assert len(shipped) >= 6
    for path in shipped:
        result = world.run(json.loads(path.read_text()))
        assert result["status"] in {"ok", "planned", "changed", "unchanged", "refused"}, (path.name, result)


def test_the_handler_runs_in_process_with_a_fake_context(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = world.deployed.runtime.settings
    for name, value in {
        "DECKHAND_NAME_PREFIX": settings.name_prefix,
        "DECKHAND_AUDIT_TABLE": settings.audit_table,
        "DECKHAND_TOPIC_ARN": settings.topic_arn,
        "DECKHAND_SWITCHES_PATH": settings.switches_path,
        "DECKHAND_DRY_RUN": "false",
        "DECKHAND_AUDIT_RETENTION_DAYS": "30",
        "DECKHAND_SWITCH_CACHE_SECONDS": "30",
        "DECKHAND_SWITCH_MAX_HOURS": "24",
        "DECKHAND_PROTECT_TAG": "deckhand:protect",
        config.CAPACITY_VARIABLE: world.policy.model_dump_json(),
        config.SCHEDULE_GROUP_VARIABLE: GROUP,
        config.SCHEDULER_ROLE_VARIABLE: ROLE_ARN,
    }.items():
        monkeypatch.setenv(name, value)
    for loader in (invocation.runtime, invocation.capacity):
        loader.cache_clear()
    try:
        context = FakeContext(function_name="deckhand-capacity", invoked_function_arn=FUNCTION_ARN)
        result = handler.handler({"action": "status", "target": "web"}, context)  # type: ignore[arg-type]
    finally:
        for loader in (invocation.runtime, invocation.capacity):
            loader.cache_clear()

    assert result["status"] == "ok"
    assert result["targets"][0]["live"]["min"] == 4


def test_a_missing_or_invalid_capacity_section_fails_fast_naming_the_variable() -> None:
    with pytest.raises(config.SettingsError, match="DECKHAND_CAPACITY is not set"):
        config.from_env({})
    with pytest.raises(config.SettingsError, match=r"targets\[0\]"):
        config.from_env({config.CAPACITY_VARIABLE: '{"targets": [{"name": "x"}]}'})
    with pytest.raises(config.SettingsError, match="DECKHAND_CAPACITY_SCHEDULE_GROUP"):
        config.from_env({config.CAPACITY_VARIABLE: "{}"})
    parsed = config.from_env(
        {
            config.CAPACITY_VARIABLE: "{}",
            config.SCHEDULE_GROUP_VARIABLE: GROUP,
            config.SCHEDULER_ROLE_VARIABLE: ROLE_ARN,
        }
    )
    assert replace(parsed, schedule_group="x").scheduler_role_arn == ROLE_ARN
