"""Pipeline notices: a gated pipeline that failed or was stopped is explained: what, why, next, where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.gating.gate.handler import run as gate
from functions.gating.pipeline import AwsPipelines
from functions.gating.pipeline_notices.flow import run
from tests.support.gating import PIPELINE, GatingSandbox, fake_context, gating, web_app_gate

EXECUTION_EVENT = "CodePipeline Pipeline Execution State Change"
SAMPLE = json.loads(Path("tests/events/codepipeline-pipeline-execution-state-change.json").read_text())
WEB_APP = gating(web_app_gate())
LINK = f"https://us-east-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/{PIPELINE}/view"


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


def test_a_failed_deploy_action_is_explained(sandbox: GatingSandbox) -> None:
    sandbox.create_pipeline()
    execution = sandbox.start()
    sandbox.advance(execution, "Deploy", "Failed")
    assert run(ended(sandbox, execution, "FAILED"), sandbox.runtime, WEB_APP)["status"] == "notified"
    [notice] = sandbox.notifications()
    assert "FAILED in stage Deploy" in notice["Subject"]
    assert "fix the cause, then Retry the stage" in notice["Message"]


def test_a_stop_by_the_watchdog_says_who_and_why(sandbox: GatingSandbox) -> None:
    sandbox.create_pipeline()
    execution = sandbox.start()
    sandbox.advance(execution, "Gate", "Succeeded")  # now waiting for the approval
    AwsPipelines().stop_execution(
        PIPELINE, execution, "Deckhand watchdog: alarm web-app-5xx went to ALARM after Deploy deployed", abandon=True
    )
    run(ended(sandbox, execution, "STOPPED"), sandbox.runtime, WEB_APP)
    [notice] = sandbox.notifications()
    assert notice["Subject"] == "Deckhand gating: web-app STOPPED by the Deckhand watchdog"
    assert "alarm web-app-5xx went to ALARM" in notice["Message"]


def test_a_stop_by_someone_else_points_to_cloudtrail(sandbox: GatingSandbox) -> None:
    """The reason comes from ListPipelineExecutions' stopTrigger: GetPipelineExecution does not return it."""
    sandbox.create_pipeline()
    execution = sandbox.start()
    sandbox.advance(execution, "Gate", "Succeeded")
    AwsPipelines().stop_execution(PIPELINE, execution, "wrong branch", abandon=True)
    run(ended(sandbox, execution, "STOPPED"), sandbox.runtime, WEB_APP)
    [notice] = sandbox.notifications()
    assert "CloudTrail" in notice["Message"]
    assert "wrong branch" in notice["Message"]


@pytest.mark.parametrize(
    "name", ["codepipeline-pipeline-execution-state-change.json", "codepipeline-action-execution-state-change.json"]
)
def test_the_aws_samples_are_ignored(sandbox: GatingSandbox, name: str) -> None:
    event = json.loads((Path("tests/events") / name).read_text())
    assert run(event, sandbox.runtime, WEB_APP)["status"] == "ignored"


def test_a_pipeline_the_policy_does_not_gate_is_ignored(sandbox: GatingSandbox) -> None:
    failed = json.loads(json.dumps(SAMPLE))
    failed["detail"]["state"] = "FAILED"
    result = run(failed, sandbox.runtime, WEB_APP)
    assert result == {"status": "ignored", "reason": "myPipeline is not gated by the policy", "changed": False}
    assert sandbox.notifications() == []


def test_an_execution_codepipeline_no_longer_knows_is_still_notified(sandbox: GatingSandbox) -> None:
    sandbox.create_pipeline()
    execution = sandbox.start()
    sandbox.advance(execution, "Deploy", "Failed")
    event = ended(sandbox, execution, "FAILED")
    late = {**event, "detail": {**event["detail"], "execution-id": "gone-0000"}}
    assert run(late, sandbox.runtime, WEB_APP)["status"] == "notified"
    [notice] = sandbox.notifications()
    assert "gone-0000" in notice["Message"]
