"""The approver: approve a Manual approval when the gate is green, else leave it to humans and say why. Its flow
runs on the adapters' twins (tests/functions/gating/world.py); the real handler and a second approval after the
gated stage run on the sandbox's AWS."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.gating import pipeline
from functions.gating.approver import handler as approver
from functions.gating.approver.flow import run
from functions.gating.approver.plan import approval_of
from functions.gating.policy import Gate, Gating, gate_after
from tests.functions.gating.world import TwinEstate
from tests.support.gating import PIPELINE, GatingSandbox, fake_context, gating, web_app_gate

ACTION_EVENT = "CodePipeline Action Execution State Change"
WEB_APP = gating(web_app_gate())


def at_approval(sandbox: GatingSandbox, alarm: str = "OK") -> tuple[str, dict[str, Any]]:
    """An execution waiting in the Approve stage, and the STARTED event EventBridge delivers for it."""
    sandbox.create_pipeline()
    sandbox.metric_alarm("web-app-5xx", alarm, "5xx above 10" if alarm == "ALARM" else "")
    execution = sandbox.start()
    sandbox.advance(execution, "Gate", "Succeeded")
    [event] = sandbox.events(ACTION_EVENT, execution_id=execution, stage="Approve", state="STARTED")
    return execution, event


@pytest.fixture
def estate() -> TwinEstate:
    return TwinEstate()


def approve(estate: TwinEstate, event: Any, policy: Gating = WEB_APP, correlation_id: str = "") -> dict[str, Any]:
    return run(event, estate.memory.runtime, policy, correlation_id, estate.aws)


def test_a_green_gate_approves_naming_the_decision(estate: TwinEstate) -> None:
    execution, event = estate.at_approval()
    result = approve(estate, event, correlation_id="req-1")
    assert (result["status"], result["dry_run"]) == ("approved", False)
    approval = estate.approval(execution)
    assert approval.status == "Succeeded"
    assert approval.summary is not None
    assert result["decision"]["id"] in approval.summary
    assert len(approval.summary) <= 512
    deploy = pipeline.latest_stage_run(estate.pipelines.pipeline_state(PIPELINE), "Deploy")
    assert deploy is not None
    assert deploy.status == "InProgress"
    [record] = estate.records()
    assert (record.action, record.outcome, record.id) == ("approve", "approved", result["decision"]["id"])
    assert estate.notices() == []


def test_a_red_gate_leaves_the_approval_to_humans_and_says_why(estate: TwinEstate) -> None:
    estate.alarm("web-app-5xx", "ALARM", "5xx above 10")
    execution, event = estate.at_approval()
    result = approve(estate, event)
    assert result["status"] == "left-to-humans"
    assert estate.approval(execution).status == "InProgress"
    [notice] = estate.notices()
    assert "left to you" in notice.subject
    assert "web-app-5xx in ALARM: 5xx above 10" in notice.body()
    assert f"https://us-east-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/{PIPELINE}/view" in notice.body()


def test_dry_run_decides_and_notifies_but_never_approves(estate: TwinEstate) -> None:
    estate.memory.default_dry_run = True
    execution, event = estate.at_approval()
    result = approve(estate, event)
    assert (result["status"], result["dry_run"]) == ("would-approve", True)
    assert estate.pipelines.made == []
    assert estate.approval(execution).status == "InProgress"
    [notice] = estate.notices()
    assert "would approve" in notice.subject
    [record] = estate.records()
    assert record.dry_run


def test_paused_gating_leaves_the_approval_to_humans(estate: TwinEstate) -> None:
    execution, event = estate.at_approval()
    estate.memory.switches.set(
        "pause-all", until=estate.clock.now + timedelta(hours=2), reason="incident", set_by="carol"
    )
    assert approve(estate, event)["status"] == "paused"
    assert estate.approval(execution).status == "InProgress"
    [notice] = estate.notices()
    assert "gating paused" in notice.subject
    assert "carol" in notice.body()


def test_an_approval_a_human_answered_first_is_left_alone(estate: TwinEstate) -> None:
    execution, event = estate.at_approval()
    token = estate.approval(execution).token
    assert token is not None
    estate.pipelines.approve(PIPELINE, "Approve", "Approval", token, "by hand")
    assert approve(estate, event)["status"] == "already-answered"


def test_with_several_gates_the_one_after_the_approval_answers(estate: TwinEstate) -> None:
    _, event = estate.at_approval()
    policy = gating(
        {"pipeline": PIPELINE, "stage": "Source", "alarms": {"names": ["missing-alarm"]}},
        web_app_gate(),
    )
    result = approve(estate, event, policy)
    assert result["status"] == "approved"
    assert result["decision"]["stage"] == "Deploy"


def test_gate_after_picks_the_first_gated_stage_following_the_approval() -> None:
    gates = [Gate(pipeline="p", stage=s) for s in ("Build", "Staging", "Prod")]
    stages = ["Source", "Build", "Approve", "Staging", "Prod"]
    assert gate_after(gates, stages, "Approve") == gates[1]
    assert gate_after(gates, stages, "Prod") is None
    assert gate_after(gates, stages, "Elsewhere") is None


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (json.loads(Path("tests/events/codepipeline-action-execution-state-change.json").read_text()), "not a Manual"),
        (
            json.loads(Path("tests/events/codepipeline-pipeline-execution-state-change.json").read_text()),
            "not a Manual",
        ),
        (json.loads(Path("tests/events/codepipeline-stage-execution-state-change.json").read_text()), "not a Manual"),
        ({"action": "evaluate"}, "not a Manual"),
    ],
)
def test_other_events_are_ignored(estate: TwinEstate, event: dict[str, Any], why: str) -> None:
    result = approve(estate, event)
    assert result["status"] == "ignored"
    assert why in result["reason"]


def test_an_approval_of_a_pipeline_the_policy_does_not_gate_is_ignored(estate: TwinEstate) -> None:
    sample = json.loads(Path("tests/events/codepipeline-action-execution-state-change.json").read_text())
    sample["detail"].update(
        state="STARTED", type={"owner": "AWS", "provider": "Manual", "category": "Approval", "version": "1"}
    )
    approval = approval_of(sample)
    assert approval is not None
    assert approval.pipeline == "myPipeline"
    result = approve(estate, sample)
    assert result == {
        "status": "ignored",
        "reason": "no gated stage with approvals stands after myPipeline/Deploy/Deploy: left to humans",
        "changed": False,
    }
    assert approve(estate, sample, gating(web_app_gate(approvals=False)))["status"] == "ignored"


def test_an_approval_after_the_only_gated_stage_is_left_to_humans(sandbox: GatingSandbox) -> None:
    """Issue 11 item 6: with one gate, an approval standing after the gated Deploy is not the gate's to answer,
    even when the policy lists it."""
    sandbox.live().create_pipeline(approval_after_deploy=True)
    sandbox.metric_alarm("web-app-5xx", "OK")
    execution = sandbox.start()
    sandbox.advance(execution, "Deploy", "Succeeded")
    [event] = sandbox.events(ACTION_EVENT, execution_id=execution, stage="ProdApproval", state="STARTED")
    policy = gating(web_app_gate(approvals=["Approve/Approval", "ProdApproval/Approval"]))
    result = run(event, sandbox.runtime, policy)
    assert result["status"] == "ignored"
    assert "no gated stage with approvals stands after web-app/ProdApproval/Approval" in result["reason"]
    [last] = [a for a in sandbox.approvals() if a["execution_id"] == execution and a["stage"] == "ProdApproval"]
    assert last["status"] == "InProgress"


def test_an_approval_the_policy_does_not_list_is_left_to_humans(estate: TwinEstate) -> None:
    _, event = estate.at_approval()
    result = approve(estate, event, gating(web_app_gate(approvals=["Approve/Other"])))
    assert result["status"] == "ignored"


def test_the_real_handler_runs_with_the_deployed_environment(
    sandbox: GatingSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, event = at_approval(sandbox)
    sandbox.environment(monkeypatch, WEB_APP)
    assert approver.handler(event, fake_context())["status"] == "would-approve"


def test_a_stale_started_event_never_approves_a_later_run_of_the_approval(estate: TwinEstate) -> None:
    execution, event = estate.at_approval()
    stale = {**event, "detail": {**event["detail"], "action-execution-id": "an-earlier-run"}}
    result = approve(estate, stale)
    assert result["status"] != "approved"
    assert estate.approval(execution).status == "InProgress"


def test_an_event_naming_an_unknown_execution_is_left_to_humans_not_raised(estate: TwinEstate) -> None:
    """A red gate looks for an exemption on the event's execution: one CodePipeline does not know exempts nothing."""
    estate.alarm("web-app-5xx", "ALARM", "5xx above 10")
    _, event = estate.at_approval()
    forged = {**event, "detail": {**event["detail"], "execution-id": "gone-0000"}}
    result = approve(estate, forged)
    assert result["status"] == "left-to-humans"


def test_a_freeze_set_after_a_warm_approver_read_the_switches_leaves_the_next_approval_to_humans(
    sandbox: GatingSandbox,
) -> None:
    """The switches' cache (switches.cache_seconds) never delays an approval: the approver reads them afresh."""
    _, event = at_approval(sandbox)
    assert sandbox.runtime.switches.read().freeze(sandbox.clock.now) is None  # the cache now holds "no freeze"
    sandbox.switch("freeze", reason="incident", refresh=False)

    result = run(event, sandbox.runtime, WEB_APP)

    assert (result["status"], result["decision"]["verdict"]) == ("left-to-humans", "block")
    assert "freeze" in json.dumps(result)
