"""The watchdog: an alarm soon after a deploy stops or rolls back the stage, once, and says so."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.gating.pipeline import AwsPipelines, StageRun
from functions.gating.policy import Gate, Gating
from functions.gating.watchdog.flow import run
from functions.gating.watchdog.plan import alarm_change_of, plan, rollback_target, stop_reason
from tests.support.gating import PIPELINE, GatingSandbox, gating, web_app_gate

EVENTS = Path("tests/events")
METRIC_SAMPLE = json.loads((EVENTS / "cloudwatch-alarm-state-change-metric.json").read_text())
COMPOSITE_SAMPLE = json.loads((EVENTS / "cloudwatch-alarm-state-change-composite.json").read_text())


def watching(action: str = "rollback", **watchdog: Any) -> Gating:
    return gating(web_app_gate(watchdog={"alarms": ["web-app-5xx"], "action": action, **watchdog}))


def deployed(sandbox: GatingSandbox, minutes_ago: float) -> str:
    """An execution that succeeded in Deploy `minutes_ago` minutes ago."""
    execution = sandbox.start()
    sandbox.advance(execution, "Deploy", "Succeeded", at=sandbox.clock.now - timedelta(minutes=minutes_ago))
    return execution


def executions(sandbox: GatingSandbox) -> list[dict[str, Any]]:
    """This account's executions of web-app, newest first."""
    listed = sandbox.client("codepipeline").list_pipeline_executions(pipelineName=PIPELINE)
    return list(listed["pipelineExecutionSummaries"])


@pytest.fixture
def estate(sandbox: GatingSandbox) -> GatingSandbox:
    sandbox.create_pipeline()
    sandbox.metric_alarm("web-app-5xx")
    return sandbox.live()


def test_an_alarm_after_a_deploy_rolls_the_stage_back_once(estate: GatingSandbox) -> None:
    good = deployed(estate, 120)
    bad = deployed(estate, 10)
    result = run(estate.alarm_event("web-app-5xx", "ALARM"), estate.runtime, watching())
    [stage] = result["stages"]
    assert (stage["outcome"], stage["target"]) == ("rolled-back", good)
    rollback = next(e for e in executions(estate) if e["executionType"] == "ROLLBACK")
    assert rollback["rollbackMetadata"] == {"rollbackTargetPipelineExecutionId": good}
    [notice] = estate.notifications()
    assert "rolled back web-app/Deploy" in notice["Subject"]
    assert bad in notice["Message"]
    assert "web-app-5xx" in notice["Message"]

    again = run(estate.alarm_event("web-app-5xx", "ALARM"), estate.runtime, watching())
    assert again["stages"][0]["outcome"] == "skipped"
    assert "already a rollback" in again["stages"][0]["reason"]
    assert sum(e["executionType"] == "ROLLBACK" for e in executions(estate)) == 1
    outcomes = sorted(r["outcome"]["S"] for r in estate.audit_items() if r.get("action", {}).get("S") == "watchdog")
    assert outcomes == ["rolled-back", "skipped"]


def test_the_rate_limit_holds_a_second_action_in_the_same_hour(estate: GatingSandbox) -> None:
    good = deployed(estate, 120)
    deployed(estate, 10)
    run(estate.alarm_event("web-app-5xx", "ALARM"), estate.runtime, watching())
    rollback = next(e for e in executions(estate) if e["executionType"] == "ROLLBACK")
    estate.advance(rollback["pipelineExecutionId"], "Deploy", "Succeeded", at=estate.clock.now - timedelta(minutes=8))
    deployed(estate, 5)  # a fix-forward, deployed and hurting again
    result = run(estate.alarm_event("web-app-5xx", "ALARM"), estate.runtime, watching())
    assert result["stages"][0]["outcome"] == "rate-limited"
    assert sum(e["executionType"] == "ROLLBACK" for e in executions(estate)) == 1
    assert "rate limit" in estate.notifications()[-1]["Subject"]

    estate.clock.advance(hours=1)
    later = run(estate.alarm_event("web-app-5xx", "ALARM"), estate.runtime, watching(horizon_minutes=120))
    # Back to what the first rollback re-deployed: a rollback execution is never a target itself.
    assert (later["stages"][0]["outcome"], later["stages"][0]["target"]) == ("rolled-back", good)


def test_a_deploy_older_than_the_horizon_is_left_alone(estate: GatingSandbox) -> None:
    deployed(estate, 180)
    deployed(estate, 90)
    result = run(estate.alarm_event("web-app-5xx", "ALARM"), estate.runtime, watching(horizon_minutes=60))
    assert result["stages"][0]["outcome"] == "skipped"
    assert "before the 60-minute horizon" in result["stages"][0]["reason"]
    assert estate.notifications() == []


def test_stop_stops_and_abandons_the_execution_in_flight_with_a_short_reason(estate: GatingSandbox) -> None:
    execution = estate.start()
    estate.advance(execution, "Deploy", "InProgress")
    result = run(estate.alarm_event("web-app-5xx", "ALARM"), estate.runtime, watching("stop"))
    assert result["stages"][0]["outcome"] == "stopped"
    stopped = next(e for e in executions(estate) if e["pipelineExecutionId"] == execution)
    # Abandoned, not stop-and-wait: the deploy action does not go on shipping the change the alarm blames.
    assert stopped["status"] == "Stopped"
    assert estate.stages()["Deploy"]["actionStates"][0]["latestExecution"]["status"] == "Abandoned"
    assert stopped["stopTrigger"]["reason"].startswith("Deckhand watchdog: alarm web-app-5xx")
    assert len(stopped["stopTrigger"]["reason"]) <= 200


def test_a_rollback_policy_stops_a_stage_still_deploying(estate: GatingSandbox) -> None:
    deployed(estate, 120)
    execution = estate.start()
    estate.advance(execution, "Deploy", "InProgress")
    result = run(estate.alarm_event("web-app-5xx", "ALARM"), estate.runtime, watching("rollback"))
    assert result["stages"][0]["outcome"] == "stopped"
    assert "still deploying" in result["stages"][0]["reason"]


def test_dry_run_says_what_it_would_do_and_does_nothing(estate: GatingSandbox) -> None:
    estate.deployed.runtime = replace(estate.runtime, settings=replace(estate.runtime.settings, default_dry_run=True))
    deployed(estate, 120)
    deployed(estate, 10)
    result = run(estate.alarm_event("web-app-5xx", "ALARM"), estate.runtime, watching())
    assert result["stages"][0]["outcome"] == "would-rollback"
    assert not any(e["executionType"] == "ROLLBACK" for e in executions(estate))
    [notice] = estate.notifications()
    assert "dry run" in notice["Subject"]


def test_paused_gating_does_not_act(estate: GatingSandbox) -> None:
    deployed(estate, 120)
    deployed(estate, 10)
    estate.switch("pause-gating", reason="maintenance", set_by="dave")
    result = run(estate.alarm_event("web-app-5xx", "ALARM"), estate.runtime, watching())
    assert result["stages"][0]["outcome"] == "paused"
    assert not any(e["executionType"] == "ROLLBACK" for e in executions(estate))
    assert "gating paused" in estate.notifications()[0]["Subject"]


def mute(sandbox: GatingSandbox, alarm: str, name: str = "release", minutes_ago: int = 30, hours: int = 1) -> None:
    """A one-time alarm mute rule whose window began `minutes_ago` and lasts `hours`."""
    began = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    sandbox.client("cloudwatch").put_alarm_mute_rule(
        Name=name,
        Rule={"Schedule": {"Expression": f"at({began:%Y-%m-%dT%H:%M})", "Duration": f"PT{hours}H"}},
        MuteTargets={"AlarmNames": [alarm]},
    )


def test_a_muted_alarm_is_left_alone_and_the_record_says_why(estate: GatingSandbox) -> None:
    deployed(estate, 120)
    deployed(estate, 10)
    mute(estate, "web-app-5xx")
    result = run(estate.alarm_event("web-app-5xx", "ALARM"), estate.runtime, watching())
    assert result["stages"][0]["outcome"] == "muted"
    assert "alarm-mute-rule:release" in result["stages"][0]["reason"]
    assert not any(e["executionType"] == "ROLLBACK" for e in executions(estate))


def test_a_mute_is_read_from_the_mute_rules_never_from_the_event(estate: GatingSandbox) -> None:
    """An event's muteDetail is the sender's word: a forged one neither mutes nor breaks the watchdog."""
    deployed(estate, 120)
    deployed(estate, 10)
    mute(estate, "web-app-5xx", name="ended", minutes_ago=180)  # its window ended two hours ago
    event = estate.alarm_event("web-app-5xx", "ALARM")
    event["detail"]["muteDetail"] = {"mutedByArn": "forged", "muteWindowStart": 1, "muteWindowEnd": ["x"]}
    result = run(event, estate.runtime, watching())
    assert result["stages"][0]["outcome"] == "rolled-back"


def test_a_forged_alarm_event_is_not_acted_on(estate: GatingSandbox) -> None:
    """DescribeAlarms, not the event, says whether the alarm is in ALARM."""
    deployed(estate, 120)
    deployed(estate, 10)
    event = estate.alarm_event("web-app-5xx", "OK")
    event["detail"]["state"]["value"] = "ALARM"
    result = run(event, estate.runtime, watching())
    assert result["status"] == "ignored"
    assert "DescribeAlarms says it is OK" in result["reason"]
    assert not any(e["executionType"] == "ROLLBACK" for e in executions(estate))
    assert estate.notifications() == []


def test_a_refused_rollback_is_audited_notified_and_gives_its_slot_back(
    estate: GatingSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployed(estate, 120)
    deployed(estate, 10)
    real = AwsPipelines.rollback_stage

    def denied(*_: Any) -> str:
        message = "User: arn:aws:sts::1:assumed-role/deckhand-watchdog/x is not authorized to perform: RollbackStage"
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": message}}, "RollbackStage")

    monkeypatch.setattr(AwsPipelines, "rollback_stage", denied)
    result = run(estate.alarm_event("web-app-5xx", "ALARM"), estate.runtime, watching())
    assert (result["stages"][0]["outcome"], result["stages"][0]["code"]) == ("action-failed", "AccessDeniedException")
    [notice] = estate.notifications()
    assert "FAILED to rollback web-app/Deploy" in notice["Subject"]
    assert "not authorized" in notice["Message"]
    outcomes = [r["outcome"]["S"] for r in estate.audit_items() if r.get("action", {}).get("S") == "watchdog"]
    assert outcomes == ["action-failed"]

    monkeypatch.setattr(AwsPipelines, "rollback_stage", real)  # the role is fixed; the alarm fires again, same hour
    again = run(estate.alarm_event("web-app-5xx", "ALARM"), estate.runtime, watching())
    assert again["stages"][0]["outcome"] == "rolled-back"


def test_an_alarm_back_to_ok_or_not_watched_is_ignored(estate: GatingSandbox) -> None:
    assert run(estate.alarm_event("web-app-5xx", "OK"), estate.runtime, watching())["status"] == "ignored"
    estate.metric_alarm("other")
    result = run(estate.alarm_event("other", "ALARM"), estate.runtime, watching())
    assert result == {"status": "ignored", "reason": "no gate's watchdog watches other", "changed": False}


@pytest.mark.parametrize("sample", [METRIC_SAMPLE, COMPOSITE_SAMPLE], ids=["metric", "composite"])
def test_the_aws_samples_go_through(estate: GatingSandbox, sample: dict[str, Any]) -> None:
    assert run(sample, estate.runtime, watching())["status"] == "ignored"
    name = sample["detail"]["alarmName"]
    policy = gating(web_app_gate(watchdog={"alarms": [name]}))
    assert "DescribeAlarms says it does not exist" in run(sample, estate.runtime, policy)["reason"]
    estate.metric_alarm(name, "ALARM")
    result = run(sample, estate.runtime, policy)
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
    estate: GatingSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployed(estate, 120)
    deployed(estate, 10)

    def refuse(*_: Any) -> str:
        error = {"Error": {"Code": "UnableToRollbackStageException", "Message": "structure version changed"}}
        raise ClientError(error, "RollbackStage")

    monkeypatch.setattr(AwsPipelines, "rollback_stage", refuse)
    result = run(estate.alarm_event("web-app-5xx", "ALARM"), estate.runtime, watching())
    assert result["stages"][0]["outcome"] == "rollback-refused"
    assert "structure version changed" in estate.notifications()[0]["Message"]
