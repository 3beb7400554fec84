"""The watchdog: an alarm soon after a deploy stops or rolls back the stage, once, and says so. Its flow runs on
the adapters' twins (tests/functions/gating/world.py); test_sns.py runs it through the sandbox's AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.gating.pipeline import StageRun
from functions.gating.policy import Gate, Gating
from functions.gating.watchdog.flow import run
from functions.gating.watchdog.plan import alarm_change_of, plan, rollback_target, stop_reason
from tests.functions.gating.world import PIPELINE, TwinEstate
from tests.support.gating import gating, web_app_gate

EVENTS = Path("tests/events")
METRIC_SAMPLE = json.loads((EVENTS / "cloudwatch-alarm-state-change-metric.json").read_text())
COMPOSITE_SAMPLE = json.loads((EVENTS / "cloudwatch-alarm-state-change-composite.json").read_text())


def watching(action: str = "rollback", **watchdog: Any) -> Gating:
    return gating(web_app_gate(watchdog={"alarms": ["web-app-5xx"], "action": action, **watchdog}))


@pytest.fixture
def estate() -> TwinEstate:
    return TwinEstate()


def watch(estate: TwinEstate, event: Any, policy: Gating | None = None) -> dict[str, Any]:
    return run(event, estate.memory.runtime, policy or watching(), slots=estate.slots, aws=estate.aws)


def alarmed(estate: TwinEstate, policy: Gating | None = None) -> dict[str, Any]:
    return watch(estate, estate.alarm_event("web-app-5xx", "ALARM"), policy)


def test_an_alarm_after_a_deploy_rolls_the_stage_back_once(estate: TwinEstate) -> None:
    good = estate.deployed(120)
    bad = estate.deployed(10)
    result = alarmed(estate)
    [stage] = result["stages"]
    assert (stage["outcome"], stage["target"]) == ("rolled-back", good)
    [rollback] = estate.rollbacks()
    assert estate.pipelines.execution(PIPELINE, rollback).rollback
    [notice] = estate.notices()
    assert "rolled back web-app/Deploy" in notice.subject
    assert bad in notice.body()
    assert "web-app-5xx" in notice.body()

    again = alarmed(estate)
    assert again["stages"][0]["outcome"] == "skipped"
    assert "already a rollback" in again["stages"][0]["reason"]
    assert len(estate.rollbacks()) == 1
    assert sorted(r.outcome for r in estate.records() if r.action == "watchdog") == ["rolled-back", "skipped"]


def test_the_rate_limit_holds_a_second_action_in_the_same_hour(estate: TwinEstate) -> None:
    good = estate.deployed(120)
    estate.deployed(10)
    alarmed(estate)
    [rollback] = estate.rollbacks()
    estate.pipelines.advance(rollback, "Deploy", "Succeeded", at=estate.clock.now - timedelta(minutes=8))
    estate.deployed(5)  # a fix-forward, deployed and hurting again
    result = alarmed(estate)
    assert result["stages"][0]["outcome"] == "rate-limited"
    assert len(estate.rollbacks()) == 1
    assert "rate limit" in estate.notices()[-1].subject

    estate.clock.advance(hours=1)
    later = alarmed(estate, watching(horizon_minutes=120))
    # Back to what the first rollback re-deployed: a rollback execution is never a target itself.
    assert (later["stages"][0]["outcome"], later["stages"][0]["target"]) == ("rolled-back", good)


def test_a_deploy_older_than_the_horizon_is_left_alone(estate: TwinEstate) -> None:
    estate.deployed(180)
    estate.deployed(90)
    result = alarmed(estate, watching(horizon_minutes=60))
    assert result["stages"][0]["outcome"] == "skipped"
    assert "before the 60-minute horizon" in result["stages"][0]["reason"]
    assert estate.notices() == []


def test_stop_stops_and_abandons_the_execution_in_flight_with_a_short_reason(estate: TwinEstate) -> None:
    execution = estate.pipelines.start(PIPELINE)
    estate.pipelines.advance(execution, "Deploy", "InProgress")
    result = alarmed(estate, watching("stop"))
    assert result["stages"][0]["outcome"] == "stopped"
    # Abandoned, not stop-and-wait: the deploy action does not go on shipping the change the alarm blames.
    stopped = next(r for r in estate.pipelines.runs if r.id == execution)
    assert stopped.status == "Stopped"
    assert stopped.stages[-1].actions[0].status == "Abandoned"
    reason = estate.pipelines.stop_trigger_reason(PIPELINE, execution)
    assert reason.startswith("Deckhand watchdog: alarm web-app-5xx")
    assert len(reason) <= 200


def test_a_rollback_policy_stops_a_stage_still_deploying(estate: TwinEstate) -> None:
    estate.deployed(120)
    execution = estate.pipelines.start(PIPELINE)
    estate.pipelines.advance(execution, "Deploy", "InProgress")
    result = alarmed(estate, watching("rollback"))
    assert result["stages"][0]["outcome"] == "stopped"
    assert "still deploying" in result["stages"][0]["reason"]


def test_dry_run_says_what_it_would_do_and_does_nothing(estate: TwinEstate) -> None:
    estate.memory.default_dry_run = True
    estate.deployed(120)
    estate.deployed(10)
    result = alarmed(estate)
    assert result["stages"][0]["outcome"] == "would-rollback"
    assert estate.rollbacks() == []
    assert estate.pipelines.made == []
    [notice] = estate.notices()
    assert "dry run" in notice.subject


def test_paused_gating_does_not_act(estate: TwinEstate) -> None:
    estate.deployed(120)
    estate.deployed(10)
    estate.memory.switches.set("pause-gating", until=estate.clock.now + timedelta(hours=2), set_by="dave")
    result = alarmed(estate)
    assert result["stages"][0]["outcome"] == "paused"
    assert estate.rollbacks() == []
    assert "gating paused" in estate.notices()[0].subject


def test_a_muted_alarm_is_left_alone_and_the_record_says_why(estate: TwinEstate) -> None:
    estate.deployed(120)
    estate.deployed(10)
    estate.mute("web-app-5xx")
    result = alarmed(estate)
    assert result["stages"][0]["outcome"] == "muted"
    assert "alarm-mute-rule:release" in result["stages"][0]["reason"]
    assert estate.rollbacks() == []


def test_a_mute_is_read_from_the_mute_rules_never_from_the_event(estate: TwinEstate) -> None:
    """An event's muteDetail is the sender's word: a forged one neither mutes nor breaks the watchdog."""
    estate.deployed(120)
    estate.deployed(10)
    estate.mute("web-app-5xx", name="ended", minutes_ago=180)  # its window ended two hours ago
    event = estate.alarm_event("web-app-5xx", "ALARM")
    event["detail"]["muteDetail"] = {"mutedByArn": "forged", "muteWindowStart": 1, "muteWindowEnd": ["x"]}
    result = watch(estate, event)
    assert result["stages"][0]["outcome"] == "rolled-back"


def test_a_forged_alarm_event_is_not_acted_on(estate: TwinEstate) -> None:
    """DescribeAlarms, not the event, says whether the alarm is in ALARM."""
    estate.deployed(120)
    estate.deployed(10)
    event = estate.alarm_event("web-app-5xx", "OK")
    event["detail"]["state"]["value"] = "ALARM"
    result = watch(estate, event)
    assert result["status"] == "ignored"
    assert "DescribeAlarms says it is OK" in result["reason"]
    assert estate.rollbacks() == []
    assert estate.notices() == []


def test_a_refused_rollback_is_audited_notified_and_gives_its_slot_back(
    estate: TwinEstate, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate.deployed(120)
    estate.deployed(10)

    def denied(*_: Any) -> str:
        message = "User: arn:aws:sts::1:assumed-role/deckhand-watchdog/x is not authorized to perform: RollbackStage"
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": message}}, "RollbackStage")

    with monkeypatch.context() as patched:
        patched.setattr(estate.pipelines, "rollback_stage", denied)
        result = alarmed(estate)
    assert (result["stages"][0]["outcome"], result["stages"][0]["code"]) == ("action-failed", "AccessDeniedException")
    [notice] = estate.notices()
    assert "FAILED to rollback web-app/Deploy" in notice.subject
    assert "not authorized" in notice.body()
    assert [r.outcome for r in estate.records() if r.action == "watchdog"] == ["action-failed"]
    assert estate.slots.taken == set()

    # The role is fixed; the alarm fires again, same hour.
    again = alarmed(estate)
    assert again["stages"][0]["outcome"] == "rolled-back"


def test_an_alarm_back_to_ok_or_not_watched_is_ignored(estate: TwinEstate) -> None:
    assert watch(estate, estate.alarm_event("web-app-5xx", "OK"))["status"] == "ignored"
    result = watch(estate, estate.alarm_event("other", "ALARM"))
    assert result == {"status": "ignored", "reason": "no gate's watchdog watches other", "changed": False}


@pytest.mark.parametrize("sample", [METRIC_SAMPLE, COMPOSITE_SAMPLE], ids=["metric", "composite"])
def test_the_aws_samples_go_through(estate: TwinEstate, sample: dict[str, Any]) -> None:
    assert watch(estate, sample)["status"] == "ignored"
    name = sample["detail"]["alarmName"]
    policy = gating(web_app_gate(watchdog={"alarms": [name]}))
    assert "DescribeAlarms says it does not exist" in watch(estate, sample, policy)["reason"]
    estate.alarm(name, "ALARM")
    result = watch(estate, sample, policy)
    assert result["status"] == "handled"
    # Their muteDetail is not a mute rule; Deploy has not run.
    assert result["stages"][0]["outcome"] == "skipped"


def test_the_lambda_alarm_action_event_shape_is_read_too() -> None:
    event = {
        "source": "aws.cloudwatch",
        "alarmArn": "arn:aws:cloudwatch:us-east-1:444455556666:alarm:web-app-5xx",
        "accountId": "444455556666",
        "time": "2026-11-21T12:00:00.000+0000",
        "region": "us-east-1",
        "alarmData": {
            "alarmName": "web-app-5xx",
            "state": {"value": "ALARM", "reason": "threshold", "timestamp": "2026-11-21T12:00:00.000+0000"},
            "previousState": {"value": "OK", "reason": "", "timestamp": "2026-11-21T11:00:00.000+0000"},
            "configuration": {"metrics": []},
        },
    }
    change = alarm_change_of(event)
    assert change is not None
    assert (change.name, change.state, change.at) == ("web-app-5xx", "ALARM", datetime(2026, 11, 21, 12, tzinfo=UTC))


NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
GATE = Gate.model_validate({"pipeline": "p", "stage": "Deploy", "watchdog": {"alarms": ["a"], "horizon_minutes": 60}})


@pytest.mark.parametrize(
    ("run_", "act"),
    [
        (None, None),
        (StageRun("e1", "Succeeded", True, NOW - timedelta(minutes=5)), None),
        (StageRun("e1", "Succeeded", False, NOW - timedelta(minutes=5)), "rollback"),
        (StageRun("e1", "Succeeded", False, NOW - timedelta(minutes=61)), None),
        (StageRun("e1", "Succeeded", False, None), None),
        (StageRun("e1", "InProgress", False, NOW), "stop"),
        (StageRun("e1", "Failed", False, NOW), None),
    ],
)
def test_plan(run_: StageRun | None, act: str | None) -> None:
    assert plan(GATE, run_, NOW).act == act


def test_the_stop_reason_fits_codepipeline() -> None:
    change = alarm_change_of(METRIC_SAMPLE)
    assert change is not None
    long_name = Gate.model_validate({"pipeline": "p", "stage": "S" * 100, "watchdog": {"alarms": ["a"]}})
    assert len(stop_reason(change, long_name)) <= 300  # clipped to 200 by the adapter


def test_the_rollback_target_is_never_a_rollback_execution() -> None:
    successes = [
        {"pipelineExecutionId": "fix", "executionType": "STANDARD"},
        {
            "pipelineExecutionId": "rb",
            "executionType": "ROLLBACK",
            "rollbackMetadata": {"rollbackTargetPipelineExecutionId": "good"},
        },
        {"pipelineExecutionId": "bad", "executionType": "STANDARD"},
        {"pipelineExecutionId": "good", "executionType": "STANDARD"},
    ]
    assert rollback_target(successes, "fix") == "good"
    assert rollback_target(successes, "bad") == "fix"
    assert rollback_target(successes[:1], "fix") is None


def test_a_rollback_codepipeline_refuses_is_reported_not_raised(
    estate: TwinEstate, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate.deployed(120)
    estate.deployed(10)

    def refuse(*_: Any) -> str:
        error = {"Error": {"Code": "UnableToRollbackStageException", "Message": "structure version changed"}}
        raise ClientError(error, "RollbackStage")

    monkeypatch.setattr(estate.pipelines, "rollback_stage", refuse)
    result = alarmed(estate)
    assert result["stages"][0]["outcome"] == "rollback-refused"
    assert "structure version changed" in estate.notices()[0].body()
