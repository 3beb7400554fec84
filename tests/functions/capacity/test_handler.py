"""The capacity function end to end: its AWS calls against moto, then alarms, schedules and overrides on the
adapters' twins (the contract tests keep the twins true to the boto3 adapters)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3

from functions.capacity.declared import ScalableId
from functions.capacity.model import Levels, Suspension
from tests.functions.capacity.twins import Service
from tests.functions.capacity.world import NOW, WEB, WEB_ID, TwinWorld, World, policy_of

# --- alarms ---------------------------------------------------------------------------------------------


def test_an_alarm_scales_the_service_out_by_its_bounds_in_four_calls_and_ok_steps_back(world: World) -> None:
    world.recorded.clear()
    out = world.alarm("web-cpu-high", "ALARM")

    assert out["status"] == "changed"
    [change] = out["changes"]
    assert (change["before"]["min"], change["after"]["min"], change["after"]["max"]) == (4, 6, 20)
    assert [c["call"] for c in change["calls"]] == ["application-autoscaling.register_scalable_target"]
    assert world.live() == Levels(6, 20)
    desired = boto3.client("ecs").describe_services(cluster="main", services=["web"])["services"][0]["desiredCount"]
    assert desired == 0  # the autoscaler's raw count is left to it
    bookkeeping = ("ssm.GetParametersByPath", "sns.Publish")
    change_path = [name for name in world.recorded.names() if name not in bookkeeping]
    assert Counter(change_path) == Counter(
        {
            "dynamodb.GetItem": 1,
            "application-auto-scaling.DescribeScalableTargets": 1,
            "application-auto-scaling.RegisterScalableTarget": 1,
            "dynamodb.PutItem": 2,  # the saved state, and the audit record beside it
        }
    )
    [record] = world.audit()
    assert (record["action"]["S"], record["outcome"]["S"], record["dry_run"]["BOOL"]) == ("alarm-out", "changed", False)
    assert json.loads(record["after"]["S"])["min"] == 6
    [notice] = world.deployed.notifications()
    assert notice["Subject"] == "Deckhand capacity: web: 4..20 -> 6..20 (alarm-out)"

    world.clock.advance(minutes=10)
    back = world.alarm("web-cpu-high", "OK")
    assert back["status"] == "changed"
    assert world.live() == Levels(4, 20)
    assert "step in toward the level before the alarm" in back["changes"][0]["reason"]


def test_ok_does_not_step_in_while_another_scale_out_alarm_is_in_alarm(twin: TwinWorld) -> None:
    twin.alarm("web-cpu-high", "ALARM")
    twin.clock.advance(minutes=10)
    twin.alarm("web-latency-high", "ALARM")
    twin.clock.advance(minutes=10)

    back = twin.alarm("web-cpu-high", "OK")

    assert back["status"] == "refused"
    assert "still in ALARM" in back["changes"][0]["refused"]
    assert twin.live() == Levels(8, 20)


def test_a_lowering_waits_for_a_deployment_which_is_checked_only_then(twin: TwinWorld) -> None:
    twin.targets.services[("main", "api")] = Service(desired=2, deploying="ECS deployment d-1 is IN_PROGRESS")
    twin.targets.register(ScalableId("ecs", "service/main/api", "ecs:service:DesiredCount"), 4, 20)
    twin.policy = policy_of({**WEB, "name": "api", "service": "api"})

    assert twin.alarm("web-cpu-high", "ALARM")["status"] == "changed"
    assert "check_deployment" not in twin.targets.asked  # raising never waits
    twin.clock.advance(minutes=10)
    back = twin.alarm("web-cpu-high", "OK")

    assert back["status"] == "refused"
    assert back["changes"][0]["refused"] == "ECS deployment d-1 is IN_PROGRESS; lowering capacity waits until it ends"
    assert "check_deployment" in twin.targets.asked
    assert twin.stored("api").last_changes == (NOW,)  # only the step out
    assert twin.notices()[-1].subject == "api: alarm web-cpu-high OK refused"


def test_a_flap_storm_is_stopped_by_the_budget(twin: TwinWorld) -> None:
    twin.policy = twin.policy.model_copy(
        update={"targets": [twin.policy.targets[0].model_copy(update={"cooldown_minutes": 0})]}
    )
    statuses = []
    for _ in range(3):
        for state in ("ALARM", "OK"):
            twin.clock.advance(minutes=1)
            statuses.append(twin.alarm("web-cpu-high", state)["status"])

    assert statuses == ["changed"] * 4 + ["refused"] * 2
    assert twin.live() == Levels(4, 20)
    refusal = twin.notices()[-2]
    assert refusal.subject == "web: alarm web-cpu-high ALARM refused"
    assert "flap budget spent: 4 changes in the last 60 min (at most 4)" in refusal.body()


def test_a_muted_or_unknown_alarm_does_nothing(twin: TwinWorld) -> None:
    muted = twin.alarm(
        "web-cpu-high",
        "ALARM",
        muteDetail={
            "mutedByArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm-mute-rule:release",
            "muteWindowStart": "2026-11-20T08:00:00.000+0000",
            "muteWindowEnd": "2026-11-20T10:00:00.000+0000",
        },
    )
    assert muted["status"] == "ignored"
    assert "muted by arn:aws:cloudwatch" in muted["reason"]
    assert twin.alarm("web-unhealthy", "ALARM")["status"] == "ignored"
    assert twin.live() == Levels(4, 20)
    assert twin.audit() == []


# --- schedules: zero and restore ------------------------------------------------------------------------


def test_the_zero_profile_saves_the_live_capacity_mutes_and_the_day_profile_restores_it_exactly(
    twin: TwinWorld,
) -> None:
    twin.targets.register(WEB_ID, 3, 12)  # not the day profile: the restore must return these, not a default

    night = twin.schedule(1)
    assert night["status"] == "changed"
    assert twin.live() == Levels(0, 0)
    assert twin.stored().saved_before_zero is not None
    assert twin.stored().saved_before_zero.levels == Levels(3, 12)
    assert not twin.targets.actions_enabled["web-unhealthy"]
    calls = [c["call"] for c in night["changes"][0]["calls"]]
    assert calls == ["application-autoscaling.register_scalable_target", "cloudwatch.disable_alarm_actions"]

    twin.clock.advance(hours=11)
    morning = twin.schedule(0)
    assert morning["status"] == "changed"
    assert twin.live() == Levels(3, 12)
    assert twin.targets.actions_enabled["web-unhealthy"]
    assert twin.stored().saved_before_zero is None
    assert twin.stored().profile == "day"


def test_the_zero_profile_saves_each_suspended_flag_and_the_restore_puts_back_exactly_those(twin: TwinWorld) -> None:
    only_scale_in = Suspension(dynamic_in=True)
    twin.targets.registered[WEB_ID].suspended = only_scale_in

    assert twin.schedule(1)["status"] == "changed"
    saved = twin.stored().saved_before_zero
    assert saved is not None
    assert saved.suspended == only_scale_in

    # While web sleeps, someone resumes every kind of scaling: the morning puts back the one flag saved.
    twin.targets.registered[WEB_ID].suspended = Suspension()
    twin.clock.advance(hours=11)
    morning = twin.schedule(0)

    assert morning["status"] == "changed"
    assert morning["changes"][0]["after"]["suspended"] == {
        "dynamic_in": True,
        "dynamic_out": False,
        "scheduled": False,
    }
    assert twin.targets.registered[WEB_ID].suspended == only_scale_in


def test_a_schedule_on_one_of_its_except_dates_is_skipped_and_audited(twin: TwinWorld) -> None:
    result = twin.schedule(2)  # night, except 2026-11-20 in Paris

    assert result["status"] == "skipped"
    assert "2026-11-20 is one of schedules[2].except_dates" in result["changes"][0]["reason"]
    assert twin.live() == Levels(4, 20)
    [record] = twin.audit()
    assert record.outcome == "skipped"


def test_a_schedule_never_takes_a_target_in_alarm_down(twin: TwinWorld) -> None:
    twin.alarm("web-cpu-high", "ALARM")
    twin.clock.advance(minutes=10)

    result = twin.schedule(1)

    assert result["status"] == "refused"
    assert twin.live() == Levels(6, 20)


def test_a_schedule_payload_that_does_not_match_the_policy_is_rejected(twin: TwinWorld) -> None:
    result = twin.run({"trigger": "schedule", "target": "web", "profile": "night", "schedule": 0})
    assert result["status"] == "rejected"
    assert result["errors"] == ["profile: got 'night': schedules[0] of 'web' applies 'day'; redeploy the stack"]
    assert twin.run({"trigger": "schedule", "target": "web", "profile": "day", "schedule": 7})["errors"] == [
        "schedule: got 7: expected 0..2 for 'web'"
    ]


# --- manual overrides -----------------------------------------------------------------------------------


def apply_until(twin: TwinWorld, **more: Any) -> dict[str, Any]:
    return twin.run(
        {"action": "apply", "target": "web", "min": 10, "until": "23:00 Europe/Paris", "dry_run": False, **more}
    )


def test_an_apply_with_until_creates_its_one_time_revert_which_restores_the_level(twin: TwinWorld) -> None:
    applied = apply_until(twin, reason="launch")

    assert applied["status"] == "changed"
    assert twin.live() == Levels(10, 20)
    [schedule] = twin.schedules()
    assert schedule["Name"] == "web-revert-20261120090000"
    assert schedule["ScheduleExpression"] == "at(2026-11-20T22:00:00)"  # 23:00 in Paris
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["Target"]["Arn"].endswith(":function:deckhand-capacity")
    assert schedule["Target"]["RoleArn"].endswith(":role/deckhand-capacity-scheduler")
    payload = json.loads(schedule["Target"]["Input"])
    assert payload == {
        "trigger": "override-revert",
        "target": "web",
        "override_set_at": "2026-11-20T09:00:00+00:00",
        "dry_run": False,
    }

    twin.clock.advance(hours=2)
    assert twin.schedule(1)["status"] == "refused"  # the override outranks the zero schedule
    twin.clock.advance(hours=11)
    reverted = twin.run(payload)
    assert reverted["status"] == "changed"
    assert twin.live() == Levels(4, 20)
    assert twin.stored().override is None
    assert twin.run(payload)["status"] == "refused"  # safe to run twice


def test_a_replaced_override_and_a_resume_delete_the_revert_schedule(twin: TwinWorld) -> None:
    apply_until(twin)
    twin.clock.advance(minutes=1)
    apply_until(twin, min=12)
    assert [s["Name"] for s in twin.schedules()] == ["web-revert-20261120090100"]

    resumed = twin.run({"action": "resume", "target": "web", "dry_run": False})
    assert resumed["status"] == "changed"
    assert twin.schedules() == []
    assert twin.stored().override is None


def test_pause_holds_off_automatic_triggers_until_resumed_and_status_shows_it(twin: TwinWorld) -> None:
    paused = twin.run({"action": "pause", "target": "web", "dry_run": False, "reason": "load test"})
    assert paused["status"] == "changed"

    refused = twin.alarm("web-cpu-high", "ALARM")
    assert refused["changes"][0]["refused"] == "a manual pause outranks this alarm-out until it is resumed"
    shown = twin.run({"action": "status", "target": "web"})
    assert shown["status"] == "ok"
    [web] = shown["targets"]
    assert (web["owner"], web["live"]["min"], web["override"]["action"], web["override"]["active"]) == (
        "application-autoscaling",
        4,
        "pause",
        True,
    )

    assert twin.run({"action": "resume", "target": "web", "dry_run": False})["status"] == "changed"
    twin.clock.advance(minutes=10)
    assert twin.alarm("web-cpu-high", "ALARM")["status"] == "changed"


def test_status_of_every_target_reads_and_changes_nothing(twin: TwinWorld) -> None:
    shown = twin.run({"action": "status"})
    assert [t["target"] for t in shown["targets"]] == ["web"]
    assert twin.targets.made == []
    assert twin.store.items == {}
    assert twin.audit() == []


def test_a_target_that_opts_in_by_tag_moves_only_while_it_carries_the_tag(twin: TwinWorld) -> None:
    twin.policy = policy_of({**WEB, "opt_in": "tag"})

    untagged = twin.alarm("web-cpu-high", "ALARM")
    assert untagged["changes"][0]["refused"] == "the target opts in by tag and does not carry it"

    twin.targets.services[("main", "web")].tags["deckhand:capacity"] = "on"
    twin.clock.advance(minutes=1)
    assert twin.alarm("web-cpu-high", "ALARM")["status"] == "changed"
    assert twin.live() == Levels(6, 20)
