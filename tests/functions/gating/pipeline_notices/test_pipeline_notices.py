"""Pipeline notices: a gated pipeline that failed or was stopped is explained: what, why, next, where. The flow
runs on the adapters' twins (tests/functions/gating/world.py); a job the gate failed is followed through the
sandbox's AWS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.gating.gate.handler import run as gate
from functions.gating.pipeline_notices.flow import run
from tests.functions.gating.world import TwinEstate
from tests.support.gating import PIPELINE, GatingSandbox, fake_context, gating, web_app_gate

EXECUTION_EVENT = "CodePipeline Pipeline Execution State Change"
SAMPLE = json.loads(Path("tests/events/codepipeline-pipeline-execution-state-change.json").read_text())
WEB_APP = gating(web_app_gate())
LINK = f"https://us-east-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/{PIPELINE}/view"


@pytest.fixture
def estate() -> TwinEstate:
    return TwinEstate()


def notify(estate: TwinEstate, event: Any, correlation_id: str = "") -> dict[str, Any]:
    return run(event, estate.memory.runtime, WEB_APP, correlation_id, estate.pipelines)


def ended(sandbox: GatingSandbox, execution: str, state: str) -> dict[str, Any]:
    [event] = sandbox.events(EXECUTION_EVENT, execution_id=execution, state=state)
    return event


def test_a_pipeline_the_gate_failed_is_explained_with_the_gates_message(sandbox: GatingSandbox) -> None:
    sandbox.create_pipeline()
    sandbox.metric_alarm("web-app-5xx")
    sandbox.switch("freeze", reason="end of quarter", set_by="alice")
    execution, job = sandbox.at_gate()
    gate(job, lambda: sandbox.runtime, lambda: WEB_APP, fake_context())
    result = run(ended(sandbox, execution, "FAILED"), sandbox.runtime, WEB_APP, "req-9")
    assert result["status"] == "notified"
    [notice] = sandbox.notifications()
    assert notice["Subject"] == "Deckhand gating: web-app FAILED in stage Gate, action Check"
    assert "[JobFailed] Deckhand gate blocked web-app/Deploy" in notice["Message"]
    assert "frozen by alice" in notice["Message"]
    assert "Do what the gate's message says" in notice["Message"]
    assert LINK in notice["Message"]
    [record] = [r for r in sandbox.audit_items() if r["action"]["S"] == "notice"]
    assert (record["outcome"]["S"], record["correlation_id"]["S"]) == ("notified", "req-9")


def test_a_failed_deploy_action_is_explained(estate: TwinEstate) -> None:
    execution = estate.pipelines.start(PIPELINE)
    estate.pipelines.advance(execution, "Deploy", "Failed")
    assert notify(estate, estate.ended(execution))["status"] == "notified"
    [notice] = estate.notices()
    assert "FAILED in stage Deploy" in notice.subject
    assert "fix the cause, then Retry the stage" in notice.body()


def test_a_stop_by_the_watchdog_says_who_and_why(estate: TwinEstate) -> None:
    execution = estate.pipelines.start(PIPELINE)
    estate.pipelines.advance(execution, "Gate", "Succeeded")  # now waiting for the approval
    estate.pipelines.stop_execution(
        PIPELINE, execution, "Deckhand watchdog: alarm web-app-5xx went to ALARM after Deploy deployed", abandon=True
    )
    notify(estate, estate.ended(execution))
    [notice] = estate.notices()
    assert notice.subject == "web-app STOPPED by the Deckhand watchdog"
    assert "alarm web-app-5xx went to ALARM" in notice.body()


def test_a_stop_by_someone_else_points_to_cloudtrail(estate: TwinEstate) -> None:
    """The reason comes from ListPipelineExecutions' stopTrigger: GetPipelineExecution does not return it."""
    execution = estate.pipelines.start(PIPELINE)
    estate.pipelines.advance(execution, "Gate", "Succeeded")
    estate.pipelines.stop_execution(PIPELINE, execution, "wrong branch", abandon=True)
    notify(estate, estate.ended(execution))
    [notice] = estate.notices()
    assert "CloudTrail" in notice.body()
    assert "wrong branch" in notice.body()


@pytest.mark.parametrize(
    "name", ["codepipeline-pipeline-execution-state-change.json", "codepipeline-action-execution-state-change.json"]
)
def test_the_aws_samples_are_ignored(estate: TwinEstate, name: str) -> None:
    event = json.loads((Path("tests/events") / name).read_text())
    assert notify(estate, event)["status"] == "ignored"


def test_a_pipeline_the_policy_does_not_gate_is_ignored(estate: TwinEstate) -> None:
    failed = json.loads(json.dumps(SAMPLE))
    failed["detail"]["state"] = "FAILED"
    result = notify(estate, failed)
    assert result == {"status": "ignored", "reason": "myPipeline is not gated by the policy", "changed": False}
    assert estate.notices() == []


def test_an_execution_codepipeline_no_longer_knows_is_still_notified(estate: TwinEstate) -> None:
    execution = estate.pipelines.start(PIPELINE)
    estate.pipelines.advance(execution, "Deploy", "Failed")
    event = estate.ended(execution)
    late = {**event, "detail": {**event["detail"], "execution-id": "gone-0000"}}
    assert notify(estate, late)["status"] == "notified"
    [notice] = estate.notices()
    assert "gone-0000" in notice.body()
