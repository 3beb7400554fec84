"""Executions that run by themselves in the sandbox server: actions that finish after a delay or fail on request,
Lambda invoke jobs handed to the function and answered by it, approvals that wait, stop, rollback, the execution
modes, and every state change put on the bus as CodePipeline shapes it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox import REGION, cli
from sandbox.gaps.app import make_app
from sandbox.gaps.codepipeline import Pipelines, RunnerSettings
from sandbox.gaps.common import ApiError
from sandbox.gaps.invoke import Invoked
from tests.support.gating import serve
from tests.support.payloads import JSON_VALUES
from tests.support.sandbox_server import Client, assumed_client, control, error_code, pipeline_role, sample_event

ACCOUNT = "123456789012"
DELAY = 0.05  # seconds an action other than invoke or approval takes here
PIPELINE_EVENTS = {
    "CodePipeline Pipeline Execution State Change": "codepipeline-pipeline-execution-state-change.json",
    "CodePipeline Stage Execution State Change": "codepipeline-stage-execution-state-change.json",
    "CodePipeline Action Execution State Change": "codepipeline-action-execution-state-change.json",
}


@dataclass
class FakeLambda:
    """Stands for the server's Lambda runtime: each function answers its job from another thread, through the
    server's CodePipeline API, as a deployed function does after an asynchronous invocation."""

    endpoint: str = ""
    invocations: list[dict[str, Any]] = field(default_factory=list)
    published: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, *, account: str, region: str, function: str, payload: bytes, invocation_type: str = "") -> Invoked:
        event = json.loads(payload)
        self.invocations.append({"function": function, "type": invocation_type, "event": event, "at": time.monotonic()})
        threading.Thread(target=self.answer, args=(function, event["CodePipeline.job"])).start()
        return Invoked(status_code=202, payload=b"", function_error=None, log_tail="")

    def answer(self, function: str, job: dict[str, Any]) -> None:
        codepipeline = codepipeline_client(self.endpoint)
        if function == "answers-success":
            codepipeline.put_job_success_result(jobId=job["id"], outputVariables={"decision": "proceed"})
        elif function == "answers-failure":
            failure = {"type": "JobFailed", "message": "web-app-5xx in ALARM"}
            codepipeline.put_job_failure_result(jobId=job["id"], failureDetails=failure)
        elif function == "answers-later":
            rounds = int(job["data"].get("continuationToken", "0"))
            if rounds < 2:
                codepipeline.put_job_success_result(jobId=job["id"], continuationToken=str(rounds + 1))
            else:
                codepipeline.put_job_success_result(jobId=job["id"], executionDetails={"summary": "baked"})


def codepipeline_client(endpoint: str) -> Any:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    return session.client("codepipeline", endpoint_url=endpoint)


@pytest.fixture(scope="module")
def fake_lambda() -> FakeLambda:
    return FakeLambda()


@pytest.fixture(scope="module")
def endpoint(fake_lambda: FakeLambda) -> Iterator[str]:
    """The sandbox server with the fake Lambda runtime, a bus that keeps what it is given, and no IAM check of
    CodePipeline's invocations."""
    app = make_app()
    app.store.pipeline_runner.invoke = fake_lambda.invoke
    app.store.pipeline_runner.publish = fake_lambda.published.append
    app.store.pipeline_runner.authorize = None  # IAM on CodePipeline's invoke: test_gaps_pipeline_lambda
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MOTO_ACCOUNT_ID"):
            env.delenv(name, raising=False)
        for url in serve(app):
            fake_lambda.endpoint = url
            fast = {"self_running": True, "delay_seconds": DELAY, "continuation_seconds": DELAY}
            code, settings = control(url, "POST", "/_sandbox/codepipeline/runner", fast)
            assert code == 200, settings
            yield url


# --- helpers -------------------------------------------------------------------------------------------------


def action(name: str, category: str, provider: str, run_order: int = 1, **configuration: str) -> dict[str, Any]:
    return {
        "name": name,
        "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
        "runOrder": run_order,
        **({"configuration": configuration} if configuration else {}),
    }


SOURCE = {"name": "Source", "actions": [action("Fetch", "Source", "S3", S3Bucket="src", S3ObjectKey="app.zip")]}
BUILD = {
    "name": "Build",
    "actions": [
        action("Compile", "Build", "CodeBuild", ProjectName="web"),
        action("Test", "Test", "CodeBuild", run_order=2, ProjectName="web-tests"),
    ],
}
APPROVE = {"name": "Approve", "actions": [action("Approve", "Approval", "Manual")]}
DEPLOY = {"name": "Deploy", "actions": [action("Ship", "Deploy", "S3", BucketName="site", Extract="true")]}


def gate(function: str) -> dict[str, Any]:
    return {"name": "Gate", "actions": [action("Gate", "Invoke", "Lambda", FunctionName=function)]}


def new_pipeline(client: Client, *stages: dict[str, Any], **settings: Any) -> str:
    name = f"web-{uuid.uuid4().hex[:8]}"
    role = pipeline_role(client, name)
    definition = {
        "name": name,
        "roleArn": role,
        "artifactStore": {"type": "S3", "location": "artifact-bucket"},
        "stages": list(stages),
        **settings,
    }
    client("codepipeline").create_pipeline(pipeline=definition)
    return name


def start(client: Client, pipeline: str) -> str:
    return str(client("codepipeline").start_pipeline_execution(name=pipeline)["pipelineExecutionId"])


def status(client: Client, pipeline: str, execution: str) -> str:
    found = client("codepipeline").get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution)
    return str(found["pipelineExecution"]["status"])


def until(what: Callable[[], Any], seconds: float = 60.0) -> Any:
    # The deadline only stops a hang: how fast the runner gets there is no test's business (10 s tripped on a loaded
    # machine), the order and the intervals of what it did are.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := what():
            return found
        time.sleep(0.02)
    raise AssertionError(f"not within {seconds} s: {what}")


def finished(client: Client, pipeline: str, execution: str) -> str:
    return str(until(lambda: (s := status(client, pipeline, execution)) not in ("InProgress", "Stopping") and s))


def stage_states(client: Client, pipeline: str) -> dict[str, dict[str, Any]]:
    return {s["stageName"]: s for s in client("codepipeline").get_pipeline_state(name=pipeline)["stageStates"]}


def waiting_approval(endpoint: str, execution: str) -> str:
    """The approval token, once `execution` waits at its approval."""

    def token() -> str | None:
        approvals = control(endpoint, "GET", "/_sandbox/state")[1]["approvals"]
        pending = [a["token"] for a in approvals if a["execution_id"] == execution and a["status"] == "InProgress"]
        return pending[0] if pending else None

    return str(until(token))


def approve(client: Client, pipeline: str, token: str) -> None:
    client("codepipeline").put_approval_result(
        pipelineName=pipeline,
        stageName="Approve",
        actionName="Approve",
        result={"summary": "looks good", "status": "Approved"},
        token=token,
    )


def changes(endpoint: str, execution: str) -> list[tuple[str, ...]]:
    """(stage, action, state) of every event of `execution`, in the order recorded ("" where none)."""
    events = control(endpoint, "GET", "/_sandbox/events")[1]["events"]
    return [
        (e["detail"].get("stage", ""), e["detail"].get("action", ""), e["detail"]["state"])
        for e in events
        if e["detail"]["execution-id"] == execution
    ]


def published_for(fake_lambda: FakeLambda, execution: str) -> list[dict[str, Any]]:
    return [e for e in fake_lambda.published if e["detail"]["execution-id"] == execution]


# --- running by itself -----------------------------------------------------------------------------------------


def test_an_execution_runs_by_itself_stage_after_stage_and_action_after_action(
    endpoint: str, client: Client, fake_lambda: FakeLambda
) -> None:
    pipeline = new_pipeline(client, SOURCE, BUILD, DEPLOY)
    execution = start(client, pipeline)
    assert finished(client, pipeline, execution) == "Succeeded"
    assert changes(endpoint, execution) == [
        ("", "", "STARTED"),
        ("Source", "", "STARTED"),
        ("Source", "Fetch", "STARTED"),
        ("Source", "Fetch", "SUCCEEDED"),
        ("Source", "", "SUCCEEDED"),
        ("Build", "", "STARTED"),
        ("Build", "Compile", "STARTED"),
        ("Build", "Compile", "SUCCEEDED"),
        ("Build", "Test", "STARTED"),  # runOrder 2 after runOrder 1
        ("Build", "Test", "SUCCEEDED"),
        ("Build", "", "SUCCEEDED"),
        ("Deploy", "", "STARTED"),
        ("Deploy", "Ship", "STARTED"),
        ("Deploy", "Ship", "SUCCEEDED"),
        ("Deploy", "", "SUCCEEDED"),
        ("", "", "SUCCEEDED"),
    ]


def test_every_change_goes_on_the_bus_in_order_shaped_as_codepipeline_sends_it(
    endpoint: str, client: Client, fake_lambda: FakeLambda
) -> None:
    pipeline = new_pipeline(client, SOURCE, DEPLOY)
    execution = start(client, pipeline)
    finished(client, pipeline, execution)
    recorded = [
        e for e in control(endpoint, "GET", "/_sandbox/events")[1]["events"] if e["detail"]["execution-id"] == execution
    ]
    published = until(lambda: len(found := published_for(fake_lambda, execution)) == len(recorded) and found)
    assert [e["id"] for e in published] == [e["id"] for e in recorded]
    for event in published:
        sample = sample_event(PIPELINE_EVENTS[event["detail-type"]])
        assert set(event) == set(sample)
        assert (event["source"], event["account"], event["region"]) == ("aws.codepipeline", ACCOUNT, REGION)
        assert set(event["detail"]) <= set(sample["detail"]) | {"execution-result"}
    assert published[0]["detail"]["execution-trigger"]["trigger-type"] == "StartPipelineExecution"


def test_an_approval_names_the_session_that_answered_it(endpoint: str, client: Client) -> None:
    iam = client("iam")
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}
    role = f"approver-{uuid.uuid4().hex[:8]}"
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "codepipeline:*", "Resource": "*"}]}
    iam.put_role_policy(RoleName=role, PolicyName="approve", PolicyDocument=json.dumps(allow))
    codepipeline = assumed_client(client, arn, "my-user", "codepipeline")
    pipeline = new_pipeline(client, SOURCE, APPROVE, DEPLOY)
    execution = start(client, pipeline)

    approve(lambda _service: codepipeline, pipeline, waiting_approval(endpoint, execution))

    approval = stage_states(client, pipeline)["Approve"]["actionStates"][0]["latestExecution"]
    assert approval["lastUpdatedBy"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/my-user"
    # The admin keys stand for the account's root, whose ARN triggerDetail names for a start it made.
    found = client("codepipeline").get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution)
    assert found["pipelineExecution"]["trigger"]["triggerDetail"] == f"arn:aws:iam::{ACCOUNT}:root"


def test_an_action_asked_to_fail_fails_its_stage_and_the_execution_once(endpoint: str, client: Client) -> None:
    pipeline = new_pipeline(client, SOURCE, BUILD, DEPLOY)
    asked = {"action": "Compile", "pipeline": pipeline, "message": "npm ERR! missing script: build"}
    assert control(endpoint, "POST", "/_sandbox/codepipeline/fail", asked)[0] == 200
    execution = start(client, pipeline)
    assert finished(client, pipeline, execution) == "Failed"
    compile_run = stage_states(client, pipeline)["Build"]["actionStates"][0]["latestExecution"]
    assert compile_run["errorDetails"] == {"code": "JobFailed", "message": "npm ERR! missing script: build"}
    assert changes(endpoint, execution)[-4:] == [
        ("Build", "Compile", "STARTED"),
        ("Build", "Compile", "FAILED"),
        ("Build", "", "FAILED"),
        ("", "", "FAILED"),
    ]
    events = control(endpoint, "GET", "/_sandbox/events")[1]["events"]
    [failed] = [e for e in events if e["detail"]["execution-id"] == execution and e["detail"]["state"] == "FAILED"][:1]
    assert failed["detail"]["execution-result"]["error-code"] == "JobFailed"

    again = start(client, pipeline)
    assert finished(client, pipeline, again) == "Succeeded"


def test_a_failure_request_names_an_action(endpoint: str) -> None:
    code, body = control(endpoint, "POST", "/_sandbox/codepipeline/fail", {"message": "no action"})
    assert (code, body["error"]) == (400, "ValidationException")


# --- Lambda invoke actions ----------------------------------------------------------------------------------------


def jobs_of(endpoint: str, execution: str) -> list[dict[str, Any]]:
    return [j for j in control(endpoint, "GET", "/_sandbox/state")[1]["jobs"] if j["execution_id"] == execution]


def invocations_of(endpoint: str, fake_lambda: FakeLambda, execution: str) -> list[dict[str, Any]]:
    ids = {job["id"] for job in jobs_of(endpoint, execution)}
    return [i for i in fake_lambda.invocations if i["event"]["CodePipeline.job"]["id"] in ids]


def test_an_invoke_action_hands_a_job_to_its_function_asynchronously_and_goes_on_when_it_succeeds(
    endpoint: str, client: Client, fake_lambda: FakeLambda
) -> None:
    pipeline = new_pipeline(client, SOURCE, gate("answers-success"), DEPLOY)
    execution = start(client, pipeline)
    assert finished(client, pipeline, execution) == "Succeeded"
    [invoked] = invocations_of(endpoint, fake_lambda, execution)
    assert (invoked["function"], invoked["type"]) == ("answers-success", "Event")
    sample = sample_event("codepipeline-lambda-invoke-job-event.json")["CodePipeline.job"]
    job = invoked["event"]["CodePipeline.job"]
    assert set(job) == set(sample)
    assert job["data"]["actionConfiguration"] == {"configuration": {"FunctionName": "answers-success"}}
    context = client("codepipeline").get_job_details(jobId=job["id"])["jobDetails"]["data"]["pipelineContext"]
    assert (context["pipelineName"], context["stage"]["name"], context["pipelineExecutionId"]) == (
        pipeline,
        "Gate",
        execution,
    )
    [gate_run] = stage_states(client, pipeline)["Gate"]["actionStates"]
    assert gate_run["latestExecution"]["status"] == "Succeeded"


def test_a_function_failing_its_job_fails_the_execution_with_its_message(client: Client) -> None:
    pipeline = new_pipeline(client, SOURCE, gate("answers-failure"), DEPLOY)
    execution = start(client, pipeline)
    assert finished(client, pipeline, execution) == "Failed"
    run = stage_states(client, pipeline)["Gate"]["actionStates"][0]["latestExecution"]
    assert run["errorDetails"] == {"code": "JobFailed", "message": "web-app-5xx in ALARM"}
    assert "latestExecution" not in stage_states(client, pipeline)["Deploy"]


def test_a_continuation_token_brings_a_new_job_carrying_it_until_the_final_answer(
    endpoint: str, client: Client, fake_lambda: FakeLambda
) -> None:
    pipeline = new_pipeline(client, SOURCE, gate("answers-later"), DEPLOY)
    execution = start(client, pipeline)
    assert finished(client, pipeline, execution) == "Succeeded"
    invoked = [i["event"]["CodePipeline.job"] for i in invocations_of(endpoint, fake_lambda, execution)]
    assert [job["data"].get("continuationToken") for job in invoked] == [None, "1", "2"]
    assert len({job["id"] for job in invoked}) == 3
    jobs = {job["id"]: job for job in jobs_of(endpoint, execution)}
    assert [jobs[job["id"]]["status"] for job in invoked] == ["Succeeded"] * 3
    assert [jobs[job["id"]]["continued_by"] for job in invoked] == [invoked[1]["id"], invoked[2]["id"], None]
    run = stage_states(client, pipeline)["Gate"]["actionStates"][0]["latestExecution"]
    assert run["summary"] == "baked"


def test_a_continued_action_is_invoked_again_after_the_continuation_interval(
    endpoint: str, client: Client, fake_lambda: FakeLambda
) -> None:
    pipeline = new_pipeline(client, SOURCE, gate("answers-later"), DEPLOY)
    assert control(endpoint, "POST", "/_sandbox/codepipeline/runner", {"continuation_seconds": 0.3})[0] == 200
    try:
        execution = start(client, pipeline)
        assert finished(client, pipeline, execution) == "Succeeded"
    finally:
        control(endpoint, "POST", "/_sandbox/codepipeline/runner", {"continuation_seconds": DELAY})
    times = [i["at"] for i in invocations_of(endpoint, fake_lambda, execution)]
    assert len(times) == 3
    assert all(later - earlier >= 0.3 for earlier, later in pairwise(times))


def test_a_job_left_unanswered_times_out_and_fails_the_action(endpoint: str, client: Client) -> None:
    pipeline = new_pipeline(client, SOURCE, gate("never-answers"), DEPLOY)
    assert control(endpoint, "POST", "/_sandbox/codepipeline/runner", {"job_timeout_seconds": 0.3})[0] == 200
    try:
        execution = start(client, pipeline)
        assert finished(client, pipeline, execution) == "Failed"
    finally:
        control(endpoint, "POST", "/_sandbox/codepipeline/runner", {"job_timeout_seconds": 1200})
    [job] = jobs_of(endpoint, execution)
    assert job["status"] == "TimedOut"
    run = stage_states(client, pipeline)["Gate"]["actionStates"][0]["latestExecution"]
    assert run["errorDetails"]["message"].startswith("The action timed out: its function sent no answer within")


def test_the_runner_settings_default_to_codepipeline_s_documented_timeouts(endpoint: str) -> None:
    code, settings = control(endpoint, "GET", "/_sandbox/codepipeline/runner")
    assert code == 200
    assert (settings["job_timeout_seconds"], settings["action_timeout_seconds"]) == (20 * 60, 24 * 3600)
    assert settings["approval_timeout_seconds"] == 7 * 24 * 3600
    bad = control(endpoint, "POST", "/_sandbox/codepipeline/runner", {"delay_seconds": -1})
    assert (bad[0], bad[1]["error"]) == (400, "ValidationException")


# --- approvals, stop, rollback ------------------------------------------------------------------------------------


def test_an_approval_waits_for_its_answer_then_the_execution_goes_on(endpoint: str, client: Client) -> None:
    pipeline = new_pipeline(client, SOURCE, APPROVE, DEPLOY)
    execution = start(client, pipeline)
    token = waiting_approval(endpoint, execution)
    time.sleep(DELAY * 4)
    assert status(client, pipeline, execution) == "InProgress"
    approve(client, pipeline, token)
    assert finished(client, pipeline, execution) == "Succeeded"


def test_an_approval_left_unanswered_fails_after_its_timeout_unless_the_action_sets_its_own(
    endpoint: str, client: Client
) -> None:
    own = {**APPROVE, "actions": [{**APPROVE["actions"][0], "timeoutInMinutes": 5}]}
    pipeline, patient = new_pipeline(client, SOURCE, APPROVE, DEPLOY), new_pipeline(client, SOURCE, own, DEPLOY)
    assert control(endpoint, "POST", "/_sandbox/codepipeline/runner", {"approval_timeout_seconds": DELAY * 2})[0] == 200
    try:
        execution, waiting = start(client, pipeline), start(client, patient)
        assert finished(client, pipeline, execution) == "Failed"
    finally:
        control(endpoint, "POST", "/_sandbox/codepipeline/runner", {"approval_timeout_seconds": 7 * 24 * 3600})
    # "if no approval response is received within seven days ... the pipeline status changes to Failed" (User
    # Guide, "Approve or reject an approval action"); timeoutInMinutes overrides the default (ActionDeclaration).
    assert changes(endpoint, execution)[-3:] == [
        ("Approve", "Approve", "FAILED"),
        ("Approve", "", "FAILED"),
        ("", "", "FAILED"),
    ]
    assert status(client, patient, waiting) == "InProgress"
    approve(client, patient, waiting_approval(endpoint, waiting))
    assert finished(client, patient, waiting) == "Succeeded"


def test_stop_and_wait_lets_the_running_action_finish_then_stops(endpoint: str, client: Client) -> None:
    pipeline = new_pipeline(client, SOURCE, BUILD, DEPLOY)
    assert control(endpoint, "POST", "/_sandbox/codepipeline/runner", {"delay_seconds": 0.5})[0] == 200
    try:
        execution = start(client, pipeline)
        client("codepipeline").stop_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution)
        assert status(client, pipeline, execution) == "Stopping"
        assert finished(client, pipeline, execution) == "Stopped"
    finally:
        control(endpoint, "POST", "/_sandbox/codepipeline/runner", {"delay_seconds": DELAY})
    assert changes(endpoint, execution)[-5:] == [
        ("", "", "STOPPING"),
        ("Source", "", "STOPPING"),
        ("Source", "Fetch", "SUCCEEDED"),
        ("Source", "", "STOPPED"),
        ("", "", "STOPPED"),
    ]


def test_stop_and_abandon_stops_at_once_abandoning_the_running_action(endpoint: str, client: Client) -> None:
    pipeline = new_pipeline(client, SOURCE, BUILD, DEPLOY)
    execution = start(client, pipeline)
    client("codepipeline").stop_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution, abandon=True)
    assert status(client, pipeline, execution) == "Stopped"
    time.sleep(DELAY * 4)
    # "The execution is in a Stopping state for a very short time while the in-progress actions are abandoned"
    # (User Guide, "Stop a pipeline execution").
    assert changes(endpoint, execution)[-5:] == [
        ("", "", "STOPPING"),
        ("Source", "", "STOPPING"),
        ("Source", "Fetch", "ABANDONED"),
        ("Source", "", "STOPPED"),
        ("", "", "STOPPED"),
    ]


def test_stop_and_wait_at_an_approval_waits_for_its_answer_then_stops(endpoint: str, client: Client) -> None:
    pipeline = new_pipeline(client, SOURCE, APPROVE, DEPLOY)
    execution = start(client, pipeline)
    token = waiting_approval(endpoint, execution)
    codepipeline = client("codepipeline")
    codepipeline.stop_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution)
    time.sleep(DELAY * 4)
    # Stop and wait "waits to stop the execution until all in-progress actions are completed (that is, the actions
    # have a Succeeded or Failed status)" (User Guide, "Stop a pipeline execution"): an approval is one of them.
    assert status(client, pipeline, execution) == "Stopping"
    assert stage_states(client, pipeline)["Approve"]["actionStates"][0]["latestExecution"]["status"] == "InProgress"
    approve(client, pipeline, token)
    assert finished(client, pipeline, execution) == "Stopped"
    assert changes(endpoint, execution)[-3:] == [
        ("Approve", "Approve", "SUCCEEDED"),
        ("Approve", "", "STOPPED"),
        ("", "", "STOPPED"),
    ]
    assert ("Deploy", "", "STARTED") not in changes(endpoint, execution)


def test_a_stop_and_wait_in_progress_can_still_abandon(endpoint: str, client: Client) -> None:
    pipeline = new_pipeline(client, SOURCE, APPROVE, DEPLOY)
    execution = start(client, pipeline)
    waiting_approval(endpoint, execution)
    stop = client("codepipeline").stop_pipeline_execution
    stop(pipelineName=pipeline, pipelineExecutionId=execution)
    stop(pipelineName=pipeline, pipelineExecutionId=execution, abandon=True)
    assert status(client, pipeline, execution) == "Stopped"
    assert changes(endpoint, execution)[-5:] == [
        ("", "", "STOPPING"),
        ("Approve", "", "STOPPING"),
        ("Approve", "Approve", "ABANDONED"),
        ("Approve", "", "STOPPED"),
        ("", "", "STOPPED"),
    ]


def test_a_rollback_runs_the_stage_again_by_itself(client: Client) -> None:
    pipeline = new_pipeline(client, SOURCE, DEPLOY)
    good = start(client, pipeline)
    assert finished(client, pipeline, good) == "Succeeded"
    bad = start(client, pipeline)
    assert finished(client, pipeline, bad) == "Succeeded"
    codepipeline = client("codepipeline")
    rolled = codepipeline.rollback_stage(pipelineName=pipeline, stageName="Deploy", targetPipelineExecutionId=good)
    rollback = rolled["pipelineExecutionId"]
    assert finished(client, pipeline, rollback) == "Succeeded"
    detail = codepipeline.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=rollback)
    assert detail["pipelineExecution"]["executionType"] == "ROLLBACK"
    assert stage_states(client, pipeline)["Deploy"]["latestExecution"] == {
        "pipelineExecutionId": rollback,
        "status": "Succeeded",
        "type": "ROLLBACK",
    }


# --- stage transitions -------------------------------------------------------------------------------------------


def waiting_for(endpoint: str, execution: str) -> str | None:
    [found] = [
        e for e in control(endpoint, "GET", "/_sandbox/state")[1]["executions"] if e["pipelineExecutionId"] == execution
    ]
    return str(found["waiting_for"]) if found["waiting_for"] else None


def test_a_disabled_inbound_transition_holds_executions_before_the_stage_and_the_newest_goes_on(
    endpoint: str, client: Client
) -> None:
    pipeline = new_pipeline(client, SOURCE, DEPLOY)
    codepipeline = client("codepipeline")
    codepipeline.disable_stage_transition(
        pipelineName=pipeline, stageName="Deploy", transitionType="Inbound", reason="Release freeze (ticket 42)"
    )
    inbound = stage_states(client, pipeline)["Deploy"]["inboundTransitionState"]
    assert (inbound["enabled"], inbound["disabledReason"]) == (False, "Release freeze (ticket 42)")
    older = start(client, pipeline)
    until(lambda: waiting_for(endpoint, older) == "Deploy")
    newer = start(client, pipeline)
    until(lambda: waiting_for(endpoint, newer) == "Deploy")
    assert status(client, pipeline, older) == "Superseded"

    codepipeline.enable_stage_transition(pipelineName=pipeline, stageName="Deploy", transitionType="Inbound")
    assert finished(client, pipeline, newer) == "Succeeded"
    assert stage_states(client, pipeline)["Deploy"]["inboundTransitionState"] == {"enabled": True}


def test_a_disabled_outbound_transition_holds_executions_after_the_stage(endpoint: str, client: Client) -> None:
    pipeline = new_pipeline(client, SOURCE, BUILD, DEPLOY)
    codepipeline = client("codepipeline")
    codepipeline.disable_stage_transition(
        pipelineName=pipeline, stageName="Source", transitionType="Outbound", reason="hold"
    )
    execution = start(client, pipeline)
    until(lambda: waiting_for(endpoint, execution) == "Build")
    assert ("Source", "", "SUCCEEDED") in changes(endpoint, execution)
    assert ("Build", "", "STARTED") not in changes(endpoint, execution)
    codepipeline.enable_stage_transition(pipelineName=pipeline, stageName="Source", transitionType="Outbound")
    assert finished(client, pipeline, execution) == "Succeeded"


def test_a_transition_change_names_a_stage_of_the_pipeline_and_a_transition_type(client: Client) -> None:
    pipeline = new_pipeline(client, SOURCE, DEPLOY)
    codepipeline = client("codepipeline")
    disable = codepipeline.disable_stage_transition
    assert (
        error_code(lambda: disable(pipelineName=pipeline, stageName="Nope", transitionType="Inbound", reason="x"))
        == "StageNotFoundException"
    )
    assert (
        error_code(
            lambda: disable(pipelineName=pipeline, stageName="Deploy", transitionType="Inbound", reason="no: colons")
        )
        == "ValidationException"
    )


# --- a source change, the runner turned off -----------------------------------------------------------------------


def test_a_source_change_starts_an_execution_that_names_its_revision(endpoint: str, client: Client) -> None:
    pipeline = new_pipeline(client, SOURCE, DEPLOY)
    code, started = control(
        endpoint, "POST", "/_sandbox/codepipeline/source-change", {"pipeline": pipeline, "revision": "3f2a9c1"}
    )
    assert code == 200, started
    execution = started["pipelineExecutionId"]
    assert finished(client, pipeline, execution) == "Succeeded"
    [summary] = client("codepipeline").list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"]
    assert summary["trigger"]["triggerType"] == "CloudWatchEvent"
    assert summary["sourceRevisions"] == [{"actionName": "Fetch", "revisionId": "3f2a9c1"}]
    missing = control(endpoint, "POST", "/_sandbox/codepipeline/source-change", {"pipeline": "nope"})
    assert (missing[0], missing[1]["error"]) == (400, "PipelineNotFoundException")


def test_executions_started_with_the_runner_off_wait_to_be_driven(endpoint: str, client: Client) -> None:
    pipeline = new_pipeline(client, SOURCE, DEPLOY)
    assert control(endpoint, "POST", "/_sandbox/codepipeline/runner", {"self_running": False})[0] == 200
    try:
        driven = start(client, pipeline)
    finally:
        control(endpoint, "POST", "/_sandbox/codepipeline/runner", {"self_running": True})
    time.sleep(DELAY * 4)
    assert changes(endpoint, driven) == [("", "", "STARTED"), ("Source", "", "STARTED"), ("Source", "Fetch", "STARTED")]
    body = {"pipeline": pipeline, "execution_id": driven, "stage": "Deploy", "status": "Succeeded"}
    assert control(endpoint, "POST", "/_sandbox/codepipeline/advance", body)[1]["status"] == "Succeeded"


# --- execution modes and variables --------------------------------------------------------------------------------


def three_at_the_approval(endpoint: str, client: Client, mode: str) -> tuple[str, list[str]]:
    """Three executions of a new pipeline in `mode`: the first waits for its approval, then the others start, each
    once the one before has left Source."""
    pipeline = new_pipeline(client, SOURCE, APPROVE, DEPLOY, pipelineType="V2", executionMode=mode)
    first = start(client, pipeline)
    waiting_approval(endpoint, first)
    started = [first]
    for _ in range(2):
        started.append(start(client, pipeline))
        until(lambda: ("Source", "", "SUCCEEDED") in changes(endpoint, started[-1]))
    return pipeline, started


def test_superseded_mode_a_newer_execution_supersedes_the_one_waiting_at_a_locked_stage(
    endpoint: str, client: Client
) -> None:
    pipeline, (first, second, third) = three_at_the_approval(endpoint, client, "SUPERSEDED")
    assert [status(client, pipeline, e) for e in (first, second, third)] == ["InProgress", "Superseded", "InProgress"]
    assert changes(endpoint, second)[-1] == ("", "", "SUPERSEDED")
    approve(client, pipeline, waiting_approval(endpoint, first))
    approve(client, pipeline, waiting_approval(endpoint, third))
    assert [finished(client, pipeline, e) for e in (first, third)] == ["Succeeded"] * 2
    assert ("Approve", "", "STARTED") not in changes(endpoint, second)
    listed = client("codepipeline").list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"]
    assert {s["executionMode"] for s in listed} == {"SUPERSEDED"}


def test_queued_mode_waiting_executions_enter_in_turn(endpoint: str, client: Client) -> None:
    pipeline, (first, second, third) = three_at_the_approval(endpoint, client, "QUEUED")
    assert [status(client, pipeline, e) for e in (first, second, third)] == ["InProgress"] * 3
    state = {e["pipelineExecutionId"]: e for e in control(endpoint, "GET", "/_sandbox/state")[1]["executions"]}
    assert [state[e]["waiting_for"] for e in (first, second, third)] == [None, "Approve", "Approve"]
    approve(client, pipeline, waiting_approval(endpoint, first))
    token = waiting_approval(endpoint, second)
    assert ("Approve", "", "STARTED") not in changes(endpoint, third)
    approve(client, pipeline, token)
    approve(client, pipeline, waiting_approval(endpoint, third))
    assert [finished(client, pipeline, e) for e in (first, second, third)] == ["Succeeded"] * 3


def test_parallel_mode_executions_run_independently(endpoint: str, client: Client) -> None:
    pipeline = new_pipeline(client, SOURCE, APPROVE, DEPLOY, pipelineType="V2", executionMode="PARALLEL")
    first, second = start(client, pipeline), start(client, pipeline)
    tokens = {execution: waiting_approval(endpoint, execution) for execution in (first, second)}
    approve(client, pipeline, tokens[second])
    assert finished(client, pipeline, second) == "Succeeded"
    assert status(client, pipeline, first) == "InProgress"
    approve(client, pipeline, tokens[first])
    assert finished(client, pipeline, first) == "Succeeded"
    # "For pipelines in PARALLEL mode, stage rollback is not available" (User Guide, "Set or change the pipeline
    # execution mode").
    rollback = client("codepipeline").rollback_stage
    assert error_code(lambda: rollback(pipelineName=pipeline, stageName="Deploy", targetPipelineExecutionId=first)) == (
        "UnableToRollbackStageException"
    )


def test_parallel_mode_approvals_are_answered_with_the_token_list_action_executions_gives(
    endpoint: str, client: Client
) -> None:
    pipeline = new_pipeline(client, SOURCE, APPROVE, DEPLOY, pipelineType="V2", executionMode="PARALLEL")
    execution = start(client, pipeline)
    waiting_approval(endpoint, execution)
    codepipeline = client("codepipeline")

    # PutApprovalResult's token: in PARALLEL mode GetPipelineState gives none; "use the externalExecutionId in the
    # response output from the ListActionExecutions action as the token".
    assert "token" not in stage_states(client, pipeline)["Approve"]["actionStates"][0]["latestExecution"]
    listed = codepipeline.list_action_executions(pipelineName=pipeline, filter={"pipelineExecutionId": execution})
    runs = {(d["stageName"], d["actionName"]): d for d in listed["actionExecutionDetails"]}
    assert {key: run["status"] for key, run in runs.items()} == {
        ("Source", "Fetch"): "Succeeded",
        ("Approve", "Approve"): "InProgress",
    }
    fetch = runs["Source", "Fetch"]
    assert (fetch["pipelineExecutionId"], fetch["input"]["actionTypeId"]["provider"]) == (execution, "S3")
    assert fetch["input"]["configuration"] == {"S3Bucket": "src", "S3ObjectKey": "app.zip"}
    approve(client, pipeline, runs["Approve", "Approve"]["output"]["executionResult"]["externalExecutionId"])
    assert finished(client, pipeline, execution) == "Succeeded"
    one = codepipeline.list_action_executions(pipelineName=pipeline, maxResults=1)
    assert (len(one["actionExecutionDetails"]), one["nextToken"]) == (1, "1")


def test_a_start_repeated_with_its_client_request_token_starts_one_execution(client: Client) -> None:
    pipeline = new_pipeline(client, SOURCE, APPROVE, DEPLOY)
    codepipeline = client("codepipeline")

    # clientRequestToken is StartPipelineExecution's idempotencyToken in botocore's model: botocore keeps it
    # across its own retries of one call.
    first = codepipeline.start_pipeline_execution(name=pipeline, clientRequestToken="release-42")
    again = codepipeline.start_pipeline_execution(name=pipeline, clientRequestToken="release-42")
    other = codepipeline.start_pipeline_execution(name=pipeline, clientRequestToken="release-43")

    assert first["pipelineExecutionId"] == again["pipelineExecutionId"] != other["pipelineExecutionId"]
    listed = codepipeline.list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"]
    assert len(listed) == 2


def test_a_start_variable_name_outside_the_pattern_is_refused(client: Client) -> None:
    declared = [{"name": "env", "defaultValue": "staging"}]
    pipeline = new_pipeline(client, SOURCE, DEPLOY, pipelineType="V2", variables=declared)
    start_with = client("codepipeline").start_pipeline_execution
    # StartPipelineExecution's variables: "Variable names must match [A-Za-z0-9@\-_]+" (botocore checks the
    # value's length itself, not the name's pattern).
    bad_name = [{"name": "the env", "value": "prod"}]
    assert error_code(lambda: start_with(name=pipeline, variables=bad_name)) == "ValidationException"
    assert client("codepipeline").list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"] == []


def test_v2_variables_take_their_defaults_unless_the_start_overrides_them(client: Client) -> None:
    declared = [{"name": "env", "defaultValue": "staging"}, {"name": "version", "defaultValue": "1"}]
    pipeline = new_pipeline(client, SOURCE, DEPLOY, pipelineType="V2", variables=declared)
    codepipeline = client("codepipeline")
    started = codepipeline.start_pipeline_execution(name=pipeline, variables=[{"name": "version", "value": "2"}])
    execution = started["pipelineExecutionId"]
    detail = codepipeline.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution)
    assert detail["pipelineExecution"]["variables"] == [
        {"name": "env", "resolvedValue": "staging"},
        {"name": "version", "resolvedValue": "2"},
    ]


# --- the CLI --------------------------------------------------------------------------------------------------


def test_the_cli_fails_an_action_starts_from_a_source_change_and_shows_the_runner(
    endpoint: str, client: Client, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "running_state", lambda _paths: {"endpoint": endpoint})
    pipeline = new_pipeline(client, SOURCE, BUILD, DEPLOY)
    assert cli.main(["pipeline", "fail", "Test", "--pipeline", pipeline, "--message", "3 tests failed"]) == 0
    assert cli.main(["pipeline", "source-change", pipeline, "--revision", "9d1e2f0"]) == 0
    capsys.readouterr()
    [execution] = [s["pipelineExecutionId"] for s in listed(client, pipeline)]
    assert finished(client, pipeline, execution) == "Failed"
    test_run = stage_states(client, pipeline)["Build"]["actionStates"][1]["latestExecution"]
    assert test_run["errorDetails"] == {"code": "JobFailed", "message": "3 tests failed"}

    assert cli.main(["pipeline", "source-change", "no-such-pipeline"]) == 2
    assert "PipelineNotFoundException" in capsys.readouterr().err
    assert cli.main(["pipeline", "runner"]) == 0
    assert json.loads(capsys.readouterr().out)["delay_seconds"] == DELAY


def listed(client: Client, pipeline: str) -> list[dict[str, Any]]:
    return list(client("codepipeline").list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"])


# --- untrusted input to the control routes ---------------------------------------------------------------------

SETTING_KEYS = st.sampled_from(
    ["self_running", "delay_seconds", "continuation_seconds", "job_timeout_seconds", "action_timeout_seconds"]
)
ODD_NUMBERS = st.floats() | st.integers() | st.sampled_from([10**400, -0.0, 1e308])


def refusal(call: Callable[[], Any]) -> str | None:
    """The code of the API error `call` raises; None when it raises none."""
    try:
        call()
    except ApiError as refused:
        return refused.code
    return None


@given(st.dictionaries(SETTING_KEYS, JSON_VALUES | ODD_NUMBERS, max_size=4))
def test_runner_settings_take_what_fits_or_refuse_it_with_a_validation_error(body: dict[str, Any]) -> None:
    settings = RunnerSettings()
    code = refusal(lambda: settings.update(body))
    assert code in (None, "ValidationException")
    if code is None:
        document = settings.document()
        # Kept to the microsecond, as a timedelta keeps it.
        assert all(document[key] == pytest.approx(value, abs=1e-6) for key, value in body.items())


@given(st.dictionaries(st.sampled_from(["action", "stage", "pipeline", "message"]), JSON_VALUES, max_size=4))
def test_a_failure_request_is_taken_or_refused_with_a_validation_error(body: dict[str, Any]) -> None:
    pipelines = Pipelines(RunnerSettings())
    code = refusal(lambda: pipelines.fail_next(body))
    assert code in (None, "ValidationException")
    assert [failure.action for failure in pipelines.injected] == ([] if code else [body["action"]])
