"""The gate's Invoke action and console bindings: jobs against the sandbox's CodePipeline (their idempotency
needs DynamoDB), the console on the adapters' twins."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from benchmarks.calls import counted_aws_calls
from functions.gating import observe
from functions.gating.gate import bindings
from functions.gating.gate import handler as gate_handler
from functions.gating.gate.handler import run
from functions.gating.policy import Gating
from functions.shared.settings import SettingsError
from tests.functions.gating.world import TwinEstate
from tests.support.gating import (
    PIPELINE,
    GatingSandbox,
    captured_logs,
    fake_context,
    gating,
    secrets_of,
    web_app_gate,
)

SAMPLE = json.loads(Path("tests/events/codepipeline-lambda-invoke-job-event.json").read_text())
WEB_APP = gating(web_app_gate())


def invoke(sandbox: GatingSandbox, event: dict[str, Any], policy: Gating = WEB_APP) -> dict[str, Any]:
    return run(event, lambda: sandbox.runtime, lambda: policy, fake_context())


def job_id(event: dict[str, Any]) -> str:
    return str(event["CodePipeline.job"]["id"])


def ready(sandbox: GatingSandbox, state: str = "OK", reason: str = "") -> tuple[str, dict[str, Any]]:
    sandbox.create_pipeline()
    sandbox.metric_alarm("web-app-5xx", state, reason)
    return sandbox.at_gate()


# --- answers ------------------------------------------------------------------------------------


def test_a_green_gate_succeeds_with_output_variables_and_the_pipeline_moves_on(sandbox: GatingSandbox) -> None:
    _, event = ready(sandbox)
    result = invoke(sandbox, event)
    assert (result["status"], result["answer"], result["outcome"]) == ("answered", "success", "proceed")
    job = sandbox.job(job_id(event))
    assert job["status"] == "Succeeded"
    [answer] = job["history"]
    assert answer["outputVariables"] == {
        "decision": "proceed",
        "reasons": "all checks passed",
        "decision_id": result["decision_id"],
    }
    assert "continuationToken" not in answer
    assert answer["executionDetails"]["summary"].startswith("Deckhand gate: proceed for web-app/Deploy")
    assert sandbox.stages()["Approve"]["latestExecution"]["status"] == "InProgress"
    [record] = sandbox.audit_items()
    assert (record["id"]["S"], record["action"]["S"], record["outcome"]["S"]) == (
        result["decision_id"],
        "gate",
        "proceed",
    )
    assert record["pk"]["S"] == "audit/gating/pipeline/web-app/Deploy"
    assert record["correlation_id"]["S"] == job_id(event)
    inputs = json.loads(record["inputs"]["S"])
    assert [a["name"] for a in inputs["alarms"]] == ["web-app-5xx"]
    assert inputs["alarms"][0]["state"] == "OK"


def test_an_alarm_waits_with_a_continuation_then_succeeds_once_it_clears(sandbox: GatingSandbox) -> None:
    _, event = ready(sandbox, "ALARM", "5xx above 10 for 1 minute")
    first = invoke(sandbox, event)
    assert (first["answer"], first["outcome"]) == ("continue", "wait")
    job = sandbox.job(job_id(event))
    assert job["continued_by"] is not None  # the action goes on in a new job that carries the token
    [waiting] = job["history"]
    assert "outputVariables" not in waiting
    token = json.loads(waiting["continuationToken"])
    assert token["attempt"] == 2
    assert token["first_seen"] == sandbox.clock.now.isoformat()
    assert "web-app-5xx in ALARM: 5xx above 10" in waiting["executionDetails"]["summary"]

    sandbox.clock.advance(minutes=5)
    sandbox.client("cloudwatch").set_alarm_state(AlarmName="web-app-5xx", StateValue="OK", StateReason="recovered")
    again = sandbox.redeliver(job_id(event))
    assert again["CodePipeline.job"]["data"]["continuationToken"] == waiting["continuationToken"]
    second = invoke(sandbox, again)
    assert (second["answer"], second["outcome"]) == ("success", "proceed")
    job = sandbox.job(job_id(again))
    assert job["status"] == "Succeeded"
    assert job["history"][-1]["outputVariables"]["decision"] == "proceed"
    assert [r["outcome"]["S"] for r in sorted(sandbox.audit_items(), key=lambda r: r["sk"]["S"])] == ["wait", "proceed"]


def test_a_wait_past_the_timeout_fails_naming_the_alarm_and_what_to_do(sandbox: GatingSandbox) -> None:
    _, event = ready(sandbox, "ALARM", "5xx above 10 for 1 minute")
    invoke(sandbox, event)
    sandbox.clock.advance(minutes=61)
    again = sandbox.redeliver(job_id(event))
    result = invoke(sandbox, again)
    assert (result["answer"], result["outcome"]) == ("failure", "timed-out")
    job = sandbox.job(job_id(again))
    assert job["status"] == "Failed"
    failure = job["history"][-1]["failureDetails"]
    assert failure["type"] == "JobFailed"
    assert "still not clear after 61 min (timeout_minutes=60)" in failure["message"]
    assert "web-app-5xx in ALARM: 5xx above 10 for 1 minute" in failure["message"]
    assert "Retry the stage" in failure["message"]
    assert sandbox.stages()["Gate"]["latestExecution"]["status"] == "Failed"


def test_a_freeze_blocks_at_once_and_says_how_to_lift_it(sandbox: GatingSandbox) -> None:
    _, event = ready(sandbox)
    sandbox.switch("freeze", reason="end of quarter", set_by="alice")
    result = invoke(sandbox, event)
    assert (result["answer"], result["outcome"]) == ("failure", "block")
    message = sandbox.job(job_id(event))["history"][-1]["failureDetails"]["message"]
    assert "frozen by alice" in message
    assert "end of quarter" in message
    assert '"switch": "freeze"' in message


def test_a_freeze_set_after_a_warm_gate_read_the_switches_blocks_the_next_deploy(sandbox: GatingSandbox) -> None:
    """The switches' cache (switches.cache_seconds) never delays a deploy decision: the gate reads them afresh."""
    _, event = ready(sandbox)
    assert sandbox.runtime.switches.read().freeze(sandbox.clock.now) is None  # the cache now holds "no freeze"
    sandbox.switch("freeze", reason="incident", refresh=False)

    result = invoke(sandbox, event)

    assert (result["answer"], result["outcome"]) == ("failure", "block")


def test_a_fix_forward_variable_waives_the_alarm_and_is_recorded(sandbox: GatingSandbox) -> None:
    sandbox.create_pipeline()
    sandbox.metric_alarm("web-app-5xx", "ALARM", "5xx")
    execution, event = sandbox.at_gate(variables={"deckhand_exempt": "fix-forward"})
    result = invoke(sandbox, event)
    assert result["outcome"] == "proceed"
    [record] = sandbox.audit_items()
    assert (
        f"variable deckhand_exempt=fix-forward on execution {execution}"
        in json.loads(record["after"]["S"])["exemption"]
    )


def test_the_job_details_say_which_gated_stage_the_job_stands_before(sandbox: GatingSandbox) -> None:
    """The job's stage Gate is not gated: the first gated stage after it (Deploy) answers, whatever the
    UserParameters say."""
    sandbox.create_pipeline(user_parameters='{"pipeline": "payments", "stage": "Prod"}')
    sandbox.metric_alarm("web-app-5xx")
    _, event = sandbox.at_gate()
    result = invoke(sandbox, event)
    assert (result["answer"], result["outcome"]) == ("success", "proceed")
    assert "for web-app/Deploy" in sandbox.job(job_id(event))["history"][-1]["executionDetails"]["summary"]
    own_stage = gating({"pipeline": PIPELINE, "stage": "Gate", "alarms": {"names": ["web-app-5xx"]}}, web_app_gate())
    _, again = sandbox.at_gate()
    invoke(sandbox, again, own_stage)
    summary = sandbox.job(job_id(again))["history"][-1]["executionDetails"]["summary"]
    assert summary.startswith("Deckhand gate: proceed for web-app/Gate")


# --- jobs that are not the gate's to pass -----------------------------------------------------------


def test_a_job_of_another_pipeline_is_refused_whatever_its_user_parameters_say(sandbox: GatingSandbox) -> None:
    """Issue 11 item 7: UserParameters naming a gated stage no longer let another pipeline's job pass."""
    sandbox.metric_alarm("web-app-5xx")
    sandbox.create_pipeline()
    sandbox.create_pipeline("payments", user_parameters='{"pipeline": "web-app", "stage": "Deploy"}')
    _, event = sandbox.at_gate("payments")
    result = invoke(sandbox, event)
    assert result["status"] == "configuration-error"
    job = sandbox.job(job_id(event))
    assert [answer.get("failureDetails", {}).get("type") for answer in job["history"]] == ["ConfigurationError"]
    message = job["history"][-1]["failureDetails"]["message"]
    assert "payments/Gate/Check: pipeline payments is not gated by the Deckhand policy" in message


def test_a_job_after_every_gated_stage_fails_saying_why(sandbox: GatingSandbox) -> None:
    sandbox.create_pipeline()
    _, event = sandbox.at_gate()
    result = invoke(sandbox, event, gating(web_app_gate(stage="Source")))
    assert result["status"] == "configuration-error"
    message = sandbox.job(job_id(event))["history"][-1]["failureDetails"]["message"]
    assert "no gated stage of web-app (Source) stands at or after stage Gate" in message


def test_a_job_of_an_action_invoking_another_function_is_left_alone(sandbox: GatingSandbox) -> None:
    sandbox.create_pipeline()
    _, event = sandbox.at_gate()
    other = fake_context()
    object.__setattr__(other, "function_name", "someone-elses-function")
    result = run(event, lambda: sandbox.runtime, lambda: WEB_APP, other)
    assert result["status"] == "ignored"
    assert "not this function" in result["reason"]
    assert sandbox.job(job_id(event))["history"] == []


def test_a_broken_policy_setting_still_answers_the_job(sandbox: GatingSandbox) -> None:
    _, event = ready(sandbox)

    def broken() -> Gating:
        raise SettingsError("DECKHAND_GATING is not set")

    result = run(event, lambda: sandbox.runtime, broken, fake_context())
    assert result["status"] == "configuration-error"
    failure = sandbox.job(job_id(event))["history"][-1]["failureDetails"]
    assert (failure["type"], failure["message"]) == ("ConfigurationError", "Deckhand gate: DECKHAND_GATING is not set")


def test_an_unexpected_error_still_answers_the_job(sandbox: GatingSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    _, event = ready(sandbox)

    def boom(*_: Any) -> None:
        raise RuntimeError("CloudWatch fell over")

    monkeypatch.setattr(observe, "gather", boom)
    result = invoke(sandbox, event)
    assert result["status"] == "error"
    failure = sandbox.job(job_id(event))["history"][-1]["failureDetails"]
    assert failure["type"] == "JobFailed"
    assert "RuntimeError: CloudWatch fell over" in failure["message"]
    assert job_id(event) in failure["message"]


def test_a_missing_idempotency_table_setting_answers_the_job(
    sandbox: GatingSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, event = ready(sandbox)
    monkeypatch.delenv("DECKHAND_IDEMPOTENCY_TABLE")
    assert invoke(sandbox, event)["status"] == "configuration-error"
    assert "DECKHAND_IDEMPOTENCY_TABLE" in sandbox.job(job_id(event))["history"][-1]["failureDetails"]["message"]


# --- deliveries, pause, secrets -------------------------------------------------------------------


def test_a_job_delivered_twice_is_decided_and_answered_once(sandbox: GatingSandbox) -> None:
    _, event = ready(sandbox)
    first = invoke(sandbox, event)
    second = invoke(sandbox, json.loads(json.dumps(event)))
    assert second == first
    assert len(sandbox.job(job_id(event))["history"]) == 1
    assert len(sandbox.audit_items()) == 1


def test_a_continuation_delivered_twice_continues_once(sandbox: GatingSandbox) -> None:
    _, event = ready(sandbox, "ALARM", "5xx")
    invoke(sandbox, event)
    again = sandbox.redeliver(job_id(event))
    sandbox.clock.advance(minutes=1)
    answered = invoke(sandbox, again)
    assert invoke(sandbox, again) == answered
    assert len(sandbox.job(job_id(again))["history"]) == 1


def test_paused_gating_lets_the_deploy_through_and_says_so(sandbox: GatingSandbox) -> None:
    _, event = ready(sandbox, "ALARM", "5xx")
    sandbox.switch("pause-gating", reason="gate misbehaves", set_by="bob")
    result = invoke(sandbox, event)
    assert (result["answer"], result["outcome"]) == ("success", "paused")
    answer = sandbox.job(job_id(event))["history"][-1]
    assert answer["outputVariables"]["decision"] == "paused"
    assert answer["outputVariables"]["decision_id"] == result["decision_id"]
    assert "PAUSED (pause-gating) by bob" in answer["executionDetails"]["summary"]
    assert "was NOT checked" in answer["executionDetails"]["summary"]
    [record] = sandbox.audit_items()
    assert (record["outcome"]["S"], record["id"]["S"]) == ("paused", result["decision_id"])
    [notice] = sandbox.notifications()
    assert "WITHOUT gating" in notice["Subject"]
    assert "gate misbehaves" in notice["Message"]


def test_the_job_credentials_never_reach_the_logs(sandbox: GatingSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")  # the handler must refuse even when told to
    sandbox.environment(monkeypatch, WEB_APP)
    _, event = ready(sandbox, "ALARM", "5xx")
    _, failing = sandbox.at_gate()
    with captured_logs() as logs:
        gate_handler.handler(event, fake_context())
        monkeypatch.setattr(observe, "gather", lambda *_: (_ for _ in ()).throw(RuntimeError("boom")))
        gate_handler.handler(failing, fake_context())
    logged = logs.getvalue()
    assert job_id(event) in logged
    assert "RuntimeError: boom" in logged
    for secret in [*secrets_of(event), *secrets_of(failing)]:
        assert secret not in logged


def test_the_aws_sample_job_event_is_decided_from_the_job_details(sandbox: GatingSandbox) -> None:
    """The documented sample (UserParameters "input_parameter", a continuation token, fake credentials), with
    a real job's id: where it stands comes from GetJobDetails, and its credentials never reach the logs."""
    sandbox.create_pipeline()
    sandbox.metric_alarm("web-app-5xx")
    _, created = sandbox.at_gate(user_parameters="input_parameter")
    sample = json.loads(json.dumps(SAMPLE))
    sample["CodePipeline.job"]["id"] = job_id(created)
    with captured_logs() as logs:
        result = invoke(sandbox, sample)
    assert (result["status"], result["outcome"]) == ("answered", "proceed")
    assert job_id(created) in logs.getvalue()
    for secret in ("secret_key", "session_token", "access_key_ID"):
        assert secret not in logs.getvalue()


def test_the_aws_sample_for_an_unknown_job_is_not_a_traceback(sandbox: GatingSandbox) -> None:
    assert invoke(sandbox, SAMPLE)["status"] == "already-answered"


# --- console -----------------------------------------------------------------------------------


@pytest.fixture
def estate() -> TwinEstate:
    return TwinEstate()


def evaluate(estate: TwinEstate, payload: Any, policy: Gating = WEB_APP) -> dict[str, Any]:
    """The console binding on the adapters' twins (tests/functions/gating/world.py)."""
    return bindings.route(payload, lambda: estate.memory.runtime, lambda: policy, fake_context(), estate.aws)


def test_the_console_event_decides_records_and_acts_on_nothing(estate: TwinEstate) -> None:
    estate.alarm("web-app-5xx", "ALARM", "5xx above 10")
    execution = estate.pipelines.start(PIPELINE)
    estate.pipelines.advance(execution, "Gate", "InProgress")
    job = estate.pipelines.new_job(execution)
    payload = json.loads(Path("events/gate/evaluate.json").read_text())
    result = evaluate(estate, payload)
    assert (result["status"], result["acted"]) == ("ok", False)
    assert result["decision"]["verdict"] == "wait"
    assert any("web-app-5xx in ALARM" in reason for reason in result["decision"]["reasons"])
    assert result["next_steps"]
    assert estate.pipelines.jobs[job].answers == []
    assert estate.pipelines.made == []
    [record] = estate.records()
    assert (record.action, record.actor) == ("evaluate", "console")


def test_every_console_event_shipped_in_events_gate_is_accepted(estate: TwinEstate) -> None:
    execution = estate.pipelines.start(PIPELINE)
    shipped = sorted(Path("events/gate").glob("*.json"))
    assert shipped
    for path in shipped:
        payload = json.loads(path.read_text().replace("EXECUTION_ID", execution))
        assert evaluate(estate, payload)["status"] == "ok", path.name


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ([], "expected a JSON object"),
        (
            {"action": "approve", "pipeline": "web-app", "stage": "Deploy"},
            "action: got 'approve': Input should be 'evaluate'",
        ),
        ({"action": "evaluate", "pipeline": "web-app"}, "stage: required key is missing"),
        ({"action": "evaluate", "pipeline": "web-app", "stage": "Deploy", "dry_run": "false"}, "dry_run: got 'false'"),
        ({"action": "evaluate", "pipeline": "web-app", "stage": "Deploy", "force": True}, "force: unknown key"),
        ({"action": "evaluate", "pipeline": "web-app", "stage": "Build"}, "is not gated by the policy"),
    ],
)
def test_a_bad_console_payload_is_rejected_with_a_clear_error(estate: TwinEstate, payload: Any, says: str) -> None:
    result = evaluate(estate, payload)
    assert result["status"] == "rejected"
    assert any(says in error for error in result["errors"]), result["errors"]
    assert estate.records() == []


def test_a_shadow_check_counts_would_have_blocked(sandbox: GatingSandbox, capsys: pytest.CaptureFixture[str]) -> None:
    _, event = ready(sandbox, "ALARM", "5xx")
    policy = gating(web_app_gate(alarms={"names": ["web-app-5xx"], "mode": "shadow"}))
    with captured_logs() as logs:
        result = invoke(sandbox, event, policy)
    assert result["outcome"] == "proceed"
    variables = sandbox.job(job_id(event))["history"][-1]["outputVariables"]
    assert "would have blocked" in variables["reasons"]
    assert '"verdict":"proceed"' in capsys.readouterr().out  # the Decision metric, in EMF
    assert "shadow checks would have blocked" in logs.getvalue()


def test_observation_costs_no_codepipeline_call_on_a_green_gate(sandbox: GatingSandbox) -> None:
    _, event = ready(sandbox)
    with counted_aws_calls() as calls:
        invoke(sandbox, event)
    codepipeline = sorted(call for call in calls if call.startswith("codepipeline."))
    # Where the job stands (GetJobDetails, and GetPipeline: its stage Gate is not the gated one) and the
    # answer; no GetPipelineExecution: a green gate waives nothing.
    assert codepipeline == [
        "codepipeline.GetJobDetails",
        "codepipeline.GetPipeline",
        "codepipeline.PutJobSuccessResult",
    ]


def test_the_wait_can_end_early_when_the_window_opens_after_the_timeout(sandbox: GatingSandbox) -> None:
    _, event = ready(sandbox)
    now = sandbox.clock.now
    opens = now + timedelta(minutes=50)
    window = {
        "timezone": "UTC",
        "allow": [
            {
                "days": ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"],
                "start": f"{opens:%H:%M}",
                "end": f"{opens + timedelta(hours=1):%H:%M}",
            }
        ],
    }
    policy = gating(web_app_gate(window=window, timeout_minutes=30))
    result = invoke(sandbox, event, policy)
    assert result["answer"] == "failure"
    assert "next open window" in sandbox.job(job_id(event))["history"][-1]["failureDetails"]["message"]


def test_an_unknown_execution_is_rejected_not_raised(estate: TwinEstate) -> None:
    estate.alarm("web-app-5xx", "ALARM", "5xx")
    payload = json.loads(Path("events/gate/evaluate-execution.json").read_text())
    result = evaluate(estate, payload)
    assert result["status"] == "rejected"
    assert "execution_id: 'EXECUTION_ID'" in result["errors"][0]


def test_the_console_sees_a_rollback_execution_as_exempt(estate: TwinEstate) -> None:
    estate.alarm("web-app-5xx", "ALARM", "5xx")
    good = estate.deployed(120)
    rollback = estate.pipelines.rollback_stage(PIPELINE, "Deploy", good)
    result = evaluate(estate, {"action": "evaluate", "pipeline": PIPELINE, "stage": "Deploy", "execution_id": rollback})
    assert result["decision"]["verdict"] == "proceed"
    assert result["decision"]["exemption"].startswith(f"rollback execution {rollback}")
