"""The sandbox's CodePipeline runtime: jobs and their results, approvals, stop, rollback, executions, events."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.sandbox_server import Client, control, error_code, pipeline_role, sample_event

ACCOUNT = "123456789012"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module", autouse=True)
def driven(endpoint: str) -> None:
    """These tests move executions through `/_sandbox/codepipeline/advance` and hand out jobs themselves; the
    self-running executions are test_gaps_pipeline_runtime's."""
    assert control(endpoint, "POST", "/_sandbox/codepipeline/runner", {"self_running": False})[0] == 200


# --- a pipeline: Source -> Gate (Lambda invoke) -> Approve (manual) -> Deploy -------------------------------------


def action(name: str, category: str, provider: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
        **extra,
    }


@pytest.fixture
def pipeline(client: Client) -> str:
    name = f"orders-{uuid.uuid4().hex[:8]}"
    role = pipeline_role(client, name)
    client("codepipeline").create_pipeline(
        pipeline={
            "name": name,
            "roleArn": role,
            "artifactStore": {"type": "S3", "location": "artifact-bucket"},
            "stages": [
                {"name": "Source", "actions": [action("Fetch", "Source", "S3", outputArtifacts=[{"name": "src"}])]},
                {
                    "name": "Gate",
                    "actions": [
                        action(
                            "Check",
                            "Invoke",
                            "Lambda",
                            inputArtifacts=[{"name": "src"}],
                            configuration={"FunctionName": "deckhand-gate", "UserParameters": '{"mode":"enforce"}'},
                        )
                    ],
                },
                {"name": "Approve", "actions": [action("Manual", "Approval", "Manual")]},
                {"name": "Deploy", "actions": [action("Ship", "Deploy", "S3", inputArtifacts=[{"name": "src"}])]},
            ],
        }
    )
    return name


def start(client: Client, pipeline: str) -> str:
    return str(client("codepipeline").start_pipeline_execution(name=pipeline)["pipelineExecutionId"])


def advance(endpoint: str, pipeline: str, execution: str, stage: str, status: str) -> dict[str, Any]:
    code, body = control(
        endpoint,
        "POST",
        "/_sandbox/codepipeline/advance",
        {"pipeline": pipeline, "execution_id": execution, "stage": stage, "status": status},
    )
    assert code == 200, body
    return dict(body)


def new_job(endpoint: str, pipeline: str, execution: str | None = None) -> dict[str, Any]:
    request = {
        "pipeline": pipeline,
        "stage": "Gate",
        "action": "Check",
        "function_name": "deckhand-gate",
        "user_parameters": '{"mode":"enforce"}',
        **({"execution_id": execution} if execution else {}),
    }
    code, body = control(endpoint, "POST", "/_sandbox/codepipeline/job", request)
    assert code == 200, body
    return dict(body["CodePipeline.job"])


def stages(client: Client, pipeline: str) -> dict[str, dict[str, Any]]:
    state = client("codepipeline").get_pipeline_state(name=pipeline)
    return {s["stageName"]: s for s in state["stageStates"]}


def job_state(endpoint: str, job_id: str) -> dict[str, Any]:
    jobs = control(endpoint, "GET", "/_sandbox/state")[1]["jobs"]
    return dict(next(job for job in jobs if job["id"] == job_id))


def at_gate(endpoint: str, client: Client, pipeline: str) -> tuple[str, dict[str, Any]]:
    execution = start(client, pipeline)
    advance(endpoint, pipeline, execution, "Source", "Succeeded")
    return execution, new_job(endpoint, pipeline)


# --- CodePipeline jobs ------------------------------------------------------------------------------------------


def test_a_job_event_has_the_shape_codepipeline_sends_to_lambda(endpoint: str, client: Client, pipeline: str) -> None:
    sample = sample_event("codepipeline-lambda-invoke-job-event.json")["CodePipeline.job"]
    _, job = at_gate(endpoint, client, pipeline)
    assert set(job) == set(sample)
    assert job["accountId"] == ACCOUNT
    assert set(job["data"]) == set(sample["data"]) - {"continuationToken", "encryptionKey"}
    assert job["data"]["actionConfiguration"] == {
        "configuration": {"FunctionName": "deckhand-gate", "UserParameters": '{"mode":"enforce"}'}
    }
    [artifact] = job["data"]["inputArtifacts"]
    assert set(artifact) == set(sample["data"]["inputArtifacts"][0])
    assert artifact["name"] == "src"
    assert artifact["location"]["s3Location"]["bucketName"] == "artifact-bucket"
    assert set(job["data"]["artifactCredentials"]) == {"accessKeyId", "secretAccessKey", "sessionToken"}


def test_job_details_name_the_pipeline_stage_action_and_execution(endpoint: str, client: Client, pipeline: str) -> None:
    execution = start(client, pipeline)
    advance(endpoint, pipeline, execution, "Source", "Succeeded")
    start(client, pipeline)  # a newer run, still in Source
    job = new_job(endpoint, pipeline, execution)
    details = client("codepipeline").get_job_details(jobId=job["id"])["jobDetails"]
    context = details["data"]["pipelineContext"]
    assert details["id"] == job["id"]
    assert details["accountId"] == ACCOUNT
    assert (context["pipelineName"], context["stage"]["name"], context["action"]["name"]) == (pipeline, "Gate", "Check")
    assert context["pipelineExecutionId"] == execution
    assert details["data"]["actionConfiguration"]["configuration"]["FunctionName"] == "deckhand-gate"
    assert details["data"]["actionTypeId"]["provider"] == "Lambda"


def test_job_success_completes_the_action_and_moves_the_pipeline_on(
    endpoint: str, client: Client, pipeline: str
) -> None:
    _, job = at_gate(endpoint, client, pipeline)
    client("codepipeline").put_job_success_result(
        jobId=job["id"],
        outputVariables={"decision": "allow", "decision_id": "d-1"},
        executionDetails={"summary": "all checks passed", "percentComplete": 100},
    )
    state = stages(client, pipeline)
    gate = state["Gate"]["actionStates"][0]["latestExecution"]
    assert state["Gate"]["latestExecution"]["status"] == "Succeeded"
    assert (gate["status"], gate["summary"]) == ("Succeeded", "all checks passed")
    assert state["Approve"]["latestExecution"]["status"] == "InProgress"
    recorded = job_state(endpoint, job["id"])
    assert recorded["status"] == "Succeeded"
    assert recorded["history"][0]["outputVariables"] == {"decision": "allow", "decision_id": "d-1"}


def test_a_continuation_token_ends_the_job_and_creates_the_next_one_for_the_same_action(
    endpoint: str, client: Client, pipeline: str
) -> None:
    # PutJobSuccessResult's continuationToken: "Future jobs use this token to identify the running instance of
    # the action" (the botocore model); the action stays in progress until a job succeeds without one.
    _, job = at_gate(endpoint, client, pipeline)
    codepipeline = client("codepipeline")
    codepipeline.put_job_success_result(jobId=job["id"], continuationToken="wait-for-bake:1")
    first = job_state(endpoint, job["id"])
    assert first["status"] == "Succeeded"
    following = first["continued_by"]
    assert following not in (None, job["id"])
    code, again = control(endpoint, "GET", f"/_sandbox/codepipeline/job/{following}")
    assert code == 200
    assert again["CodePipeline.job"]["data"]["continuationToken"] == "wait-for-bake:1"
    assert codepipeline.get_job_details(jobId=following)["jobDetails"]["data"]["continuationToken"] == (
        "wait-for-bake:1"
    )
    assert stages(client, pipeline)["Gate"]["latestExecution"]["status"] == "InProgress"
    assert error_code(lambda: codepipeline.put_job_success_result(jobId=job["id"])) == "InvalidJobStateException"

    codepipeline.put_job_success_result(jobId=following, outputVariables={"decision": "allow"})
    recorded = job_state(endpoint, following)
    assert (recorded["status"], recorded["continued_by"]) == ("Succeeded", None)
    assert recorded["history"][0]["outputVariables"] == {"decision": "allow"}
    assert stages(client, pipeline)["Gate"]["latestExecution"]["status"] == "Succeeded"


def test_job_failure_fails_the_action_and_the_execution(endpoint: str, client: Client, pipeline: str) -> None:
    execution, job = at_gate(endpoint, client, pipeline)
    codepipeline = client("codepipeline")
    codepipeline.put_job_failure_result(
        jobId=job["id"], failureDetails={"type": "JobFailed", "message": "alarm orders-5xx is in ALARM"}
    )
    gate = stages(client, pipeline)["Gate"]["actionStates"][0]["latestExecution"]
    assert gate["status"] == "Failed"
    assert gate["errorDetails"] == {"code": "JobFailed", "message": "alarm orders-5xx is in ALARM"}
    detail = codepipeline.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution)
    assert detail["pipelineExecution"]["status"] == "Failed"
    assert job_state(endpoint, job["id"])["status"] == "Failed"


def test_an_unknown_job_is_not_found(client: Client) -> None:
    codepipeline = client("codepipeline")
    assert error_code(lambda: codepipeline.get_job_details(jobId=str(uuid.uuid4()))) == "JobNotFoundException"
    assert error_code(lambda: codepipeline.put_job_success_result(jobId=str(uuid.uuid4()))) == "JobNotFoundException"
    assert error_code(lambda: codepipeline.get_job_details(jobId="not-a-job-id")) == "ValidationException"


@pytest.mark.parametrize("first", ["success", "failure"])
def test_a_job_answers_once(endpoint: str, client: Client, pipeline: str, first: str) -> None:
    _, job = at_gate(endpoint, client, pipeline)
    codepipeline = client("codepipeline")
    failure = {"type": "JobFailed", "message": "blocked"}
    if first == "success":
        codepipeline.put_job_success_result(jobId=job["id"])
    else:
        codepipeline.put_job_failure_result(jobId=job["id"], failureDetails=failure)
    assert error_code(lambda: codepipeline.put_job_success_result(jobId=job["id"])) == "InvalidJobStateException"
    assert (
        error_code(lambda: codepipeline.put_job_failure_result(jobId=job["id"], failureDetails=failure))
        == "InvalidJobStateException"
    )
    assert len(job_state(endpoint, job["id"])["history"]) == 1


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("token", "ValidationException"),
        ("summary", "ValidationException"),
        ("message", "ValidationException"),
        ("failure-type", "ValidationException"),
        ("variable-name", "ValidationException"),
        ("variables-size", "OutputVariablesSizeExceededException"),
    ],
)
def test_results_beyond_the_documented_limits_are_rejected(
    endpoint: str, client: Client, pipeline: str, call: str, expected: str
) -> None:
    _, job = at_gate(endpoint, client, pipeline)
    codepipeline = client("codepipeline")
    calls: dict[str, Callable[[], Any]] = {
        "token": lambda: codepipeline.put_job_success_result(jobId=job["id"], continuationToken="t" * 2049),
        "summary": lambda: codepipeline.put_job_success_result(
            jobId=job["id"], executionDetails={"summary": "s" * 2049}
        ),
        "message": lambda: codepipeline.put_job_failure_result(
            jobId=job["id"], failureDetails={"type": "JobFailed", "message": "m" * 5001}
        ),
        "failure-type": lambda: codepipeline.put_job_failure_result(
            jobId=job["id"], failureDetails={"type": "Oops", "message": "m"}
        ),
        "variable-name": lambda: codepipeline.put_job_success_result(
            jobId=job["id"], outputVariables={"bad name": "x"}
        ),
        "variables-size": lambda: codepipeline.put_job_success_result(
            jobId=job["id"], outputVariables={f"v{n}": "x" * 1000 for n in range(130)}
        ),
    }
    assert error_code(calls[call]) == expected
    recorded = job_state(endpoint, job["id"])
    assert (recorded["status"], recorded["history"]) == ("InProgress", [])


def test_the_limits_themselves_are_accepted(endpoint: str, client: Client, pipeline: str) -> None:
    _, job = at_gate(endpoint, client, pipeline)
    codepipeline = client("codepipeline")
    codepipeline.put_job_success_result(
        jobId=job["id"], continuationToken="t" * 2048, executionDetails={"summary": "s" * 2048}
    )
    following = job_state(endpoint, job["id"])["continued_by"]
    codepipeline.put_job_failure_result(jobId=following, failureDetails={"type": "JobFailed", "message": "m" * 5000})
    assert job_state(endpoint, following)["status"] == "Failed"


def test_a_job_without_a_pipeline_run_is_still_answerable(endpoint: str, client: Client) -> None:
    job = new_job(endpoint, "not-a-moto-pipeline")
    client("codepipeline").put_job_success_result(jobId=job["id"])
    assert job_state(endpoint, job["id"])["status"] == "Succeeded"
    assert control(endpoint, "POST", "/_sandbox/codepipeline/job", {"pipeline": "p"})[0] == 400


# --- approvals, stop, rollback ------------------------------------------------------------------------------------


def at_approval(endpoint: str, client: Client, pipeline: str) -> tuple[str, str]:
    execution = start(client, pipeline)
    advance(endpoint, pipeline, execution, "Approve", "InProgress")
    latest = stages(client, pipeline)["Approve"]["actionStates"][0]["latestExecution"]
    assert latest["status"] == "InProgress"
    return execution, str(latest["token"])


def approve(client: Client, pipeline: str, token: str, status: str = "Approved", summary: str = "policy allows") -> Any:
    return client("codepipeline").put_approval_result(
        pipelineName=pipeline,
        stageName="Approve",
        actionName="Manual",
        result={"summary": summary, "status": status},
        token=token,
    )


def test_an_approval_is_answered_with_the_token_from_the_pipeline_state(
    endpoint: str, client: Client, pipeline: str
) -> None:
    _, token = at_approval(endpoint, client, pipeline)
    assert isinstance(approve(client, pipeline, token)["approvedAt"], datetime)
    state = stages(client, pipeline)
    manual = state["Approve"]["actionStates"][0]["latestExecution"]
    assert (manual["status"], manual["summary"]) == ("Succeeded", "policy allows")
    assert "token" not in manual
    assert state["Deploy"]["latestExecution"]["status"] == "InProgress"
    assert error_code(lambda: approve(client, pipeline, token)) == "ApprovalAlreadyCompletedException"
    approvals = control(endpoint, "GET", "/_sandbox/state")[1]["approvals"]
    assert next(a for a in approvals if a["token"] == token)["status"] == "Succeeded"


def test_a_wrong_token_or_long_summary_is_rejected_and_the_approval_stays_pending(
    endpoint: str, client: Client, pipeline: str
) -> None:
    _, token = at_approval(endpoint, client, pipeline)
    assert error_code(lambda: approve(client, pipeline, str(uuid.uuid4()))) == "InvalidApprovalTokenException"
    assert error_code(lambda: approve(client, pipeline, token, summary="s" * 513)) == "ValidationException"
    wrong_action = client("codepipeline").put_approval_result
    assert (
        error_code(
            lambda: wrong_action(
                pipelineName=pipeline,
                stageName="Approve",
                actionName="Nope",
                result={"summary": "", "status": "Approved"},
                token=token,
            )
        )
        == "ActionNotFoundException"
    )
    assert stages(client, pipeline)["Approve"]["actionStates"][0]["latestExecution"]["token"] == token


def test_a_rejection_fails_the_execution(endpoint: str, client: Client, pipeline: str) -> None:
    execution, token = at_approval(endpoint, client, pipeline)
    approve(client, pipeline, token, status="Rejected", summary="freeze until Monday")
    detail = client("codepipeline").get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution)
    assert detail["pipelineExecution"]["status"] == "Failed"


def test_codepipeline_state_changes_are_recorded_as_eventbridge_events(
    endpoint: str, client: Client, pipeline: str
) -> None:
    after = control(endpoint, "GET", "/_sandbox/events")[1]["next"]
    execution, _ = at_approval(endpoint, client, pipeline)
    events = control(endpoint, "GET", f"/_sandbox/events?after={after}")[1]["events"]
    started = [
        e
        for e in events
        if e["detail-type"] == "CodePipeline Action Execution State Change" and e["detail"]["action"] == "Manual"
    ]
    assert len(started) == 1
    assert started[0]["detail"]["state"] == "STARTED"
    assert started[0]["detail"]["type"]["category"] == "Approval"
    assert started[0]["detail"]["execution-id"] == execution
    sample = sample_event("codepipeline-action-execution-state-change.json")
    assert set(started[0]) == set(sample)


def test_stopping_waits_for_the_running_job_then_stops(endpoint: str, client: Client, pipeline: str) -> None:
    execution, job = at_gate(endpoint, client, pipeline)
    codepipeline = client("codepipeline")
    stop = codepipeline.stop_pipeline_execution
    assert error_code(lambda: stop(pipelineName=pipeline, pipelineExecutionId=execution, reason="r" * 201)) == (
        "ValidationException"
    )
    stop(pipelineName=pipeline, pipelineExecutionId=execution, reason="orders-5xx in ALARM")
    status = codepipeline.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution)
    assert status["pipelineExecution"]["status"] == "Stopping"
    assert (
        error_code(lambda: stop(pipelineName=pipeline, pipelineExecutionId=execution))
        == "DuplicatedStopRequestException"
    )

    codepipeline.put_job_success_result(jobId=job["id"])
    [summary] = codepipeline.list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"]
    assert (summary["status"], summary["stopTrigger"]["reason"]) == ("Stopped", "orders-5xx in ALARM")
    assert stages(client, pipeline)["Approve"].get("latestExecution") is None
    assert error_code(lambda: stop(pipelineName=pipeline, pipelineExecutionId=execution)) == (
        "PipelineExecutionNotStoppableException"
    )


def test_stop_and_abandon_stops_at_once(endpoint: str, client: Client, pipeline: str) -> None:
    execution, _ = at_approval(endpoint, client, pipeline)
    codepipeline = client("codepipeline")
    codepipeline.stop_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution, abandon=True, reason="x")
    status = codepipeline.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution)
    assert status["pipelineExecution"]["status"] == "Stopped"
    approve_stage = stages(client, pipeline)["Approve"]
    assert approve_stage["latestExecution"]["status"] == "Stopped"
    assert approve_stage["actionStates"][0]["latestExecution"]["status"] == "Abandoned"


def deployed(endpoint: str, client: Client, pipeline: str) -> str:
    execution = start(client, pipeline)
    advance(endpoint, pipeline, execution, "Deploy", "Succeeded")
    return execution


def test_advance_can_date_a_stage_transition(endpoint: str, client: Client, pipeline: str) -> None:
    execution = start(client, pipeline)
    when = NOW - timedelta(minutes=30)
    code, body = control(
        endpoint,
        "POST",
        "/_sandbox/codepipeline/advance",
        {
            "pipeline": pipeline,
            "execution_id": execution,
            "stage": "Deploy",
            "status": "Succeeded",
            "at": when.isoformat(),
        },
    )
    assert (code, body["status"]) == (200, "Succeeded")
    deploy = stages(client, pipeline)["Deploy"]
    assert deploy["actionStates"][0]["latestExecution"]["lastStatusChange"] == when
    assert (
        control(
            endpoint,
            "POST",
            "/_sandbox/codepipeline/advance",
            {"pipeline": pipeline, "execution_id": execution, "stage": "Deploy", "status": "Succeeded"},
        )[0]
        == 409
    )
    summary = next(
        e for e in control(endpoint, "GET", "/_sandbox/state")[1]["executions"] if e["pipelineExecutionId"] == execution
    )
    assert [stage["status"] for stage in summary["stages"]] == ["Succeeded"] * 4


def test_rollback_starts_a_rollback_execution_of_the_stage(endpoint: str, client: Client, pipeline: str) -> None:
    good = deployed(endpoint, client, pipeline)
    bad = deployed(endpoint, client, pipeline)
    codepipeline = client("codepipeline")
    rollback = codepipeline.rollback_stage(pipelineName=pipeline, stageName="Deploy", targetPipelineExecutionId=good)
    rolled = rollback["pipelineExecutionId"]
    assert rolled not in (good, bad)

    summaries = codepipeline.list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"]
    assert [s["pipelineExecutionId"] for s in summaries] == [rolled, bad, good]
    assert [s["executionType"] for s in summaries] == ["ROLLBACK", "STANDARD", "STANDARD"]
    assert summaries[0]["rollbackMetadata"] == {"rollbackTargetPipelineExecutionId": good}
    assert "rollbackMetadata" not in summaries[1]
    assert summaries[0]["trigger"]["triggerType"] == "ManualRollback"
    assert stages(client, pipeline)["Deploy"]["latestExecution"] == {
        "pipelineExecutionId": rolled,
        "status": "InProgress",
        "type": "ROLLBACK",
    }
    detail = codepipeline.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=rolled)["pipelineExecution"]
    assert (detail["executionType"], detail["status"]) == ("ROLLBACK", "InProgress")
    assert (
        error_code(
            lambda: codepipeline.rollback_stage(
                pipelineName=pipeline, stageName="Deploy", targetPipelineExecutionId=good
            )
        )
        == "UnableToRollbackStageException"
    )

    advance(endpoint, pipeline, rolled, "Deploy", "Succeeded")
    succeeded = codepipeline.list_pipeline_executions(
        pipelineName=pipeline, filter={"succeededInStage": {"stageName": "Deploy"}}
    )
    assert len(succeeded["pipelineExecutionSummaries"]) == 3
    assert (
        codepipeline.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=rolled)["pipelineExecution"][
            "status"
        ]
        == "Succeeded"
    )


def test_rollback_needs_a_target_that_succeeded_in_the_stage(endpoint: str, client: Client, pipeline: str) -> None:
    codepipeline = client("codepipeline")
    unfinished = start(client, pipeline)
    rollback = codepipeline.rollback_stage
    assert (
        error_code(lambda: rollback(pipelineName=pipeline, stageName="Deploy", targetPipelineExecutionId=unfinished))
        == "UnableToRollbackStageException"
    )
    assert (
        error_code(
            lambda: rollback(pipelineName=pipeline, stageName="Deploy", targetPipelineExecutionId=str(uuid.uuid4()))
        )
        == "PipelineExecutionNotFoundException"
    )
    assert (
        error_code(lambda: rollback(pipelineName=pipeline, stageName="Nope", targetPipelineExecutionId=unfinished))
        == "StageNotFoundException"
    )


def test_rollback_refuses_a_source_stage_a_rollback_target_and_an_older_pipeline_version(
    endpoint: str, client: Client, pipeline: str
) -> None:
    codepipeline = client("codepipeline")
    good = deployed(endpoint, client, pipeline)
    deployed(endpoint, client, pipeline)
    rolled = codepipeline.rollback_stage(pipelineName=pipeline, stageName="Deploy", targetPipelineExecutionId=good)
    advance(endpoint, pipeline, rolled["pipelineExecutionId"], "Deploy", "Succeeded")

    def refused(stage: str, target: str) -> str:
        return error_code(
            lambda: codepipeline.rollback_stage(
                pipelineName=pipeline, stageName=stage, targetPipelineExecutionId=target
            )
        )

    # User Guide, "Configuring stage rollback": "You cannot roll back a source stage", "You cannot roll back to a
    # target execution ID that is a rollback execution type", and only to an execution "started in the current
    # pipeline structure version".
    assert refused("Source", good) == "UnableToRollbackStageException"
    assert refused("Deploy", rolled["pipelineExecutionId"]) == "UnableToRollbackStageException"
    structure = codepipeline.get_pipeline(name=pipeline)["pipeline"]
    codepipeline.update_pipeline(pipeline=structure)
    assert codepipeline.get_pipeline(name=pipeline)["pipeline"]["version"] == structure["version"] + 1
    assert refused("Deploy", good) == "UnableToRollbackStageException"
    assert len(codepipeline.list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"]) == 3


def test_executions_of_an_unknown_pipeline_are_not_found(client: Client) -> None:
    codepipeline = client("codepipeline")
    assert error_code(lambda: codepipeline.list_pipeline_executions(pipelineName="nope")) == "PipelineNotFoundException"
    assert error_code(lambda: codepipeline.start_pipeline_execution(name="nope")) == "PipelineNotFoundException"
    assert error_code(lambda: codepipeline.get_pipeline_state(name="nope")) == "PipelineNotFoundException"


def test_list_executions_pages(client: Client, pipeline: str) -> None:
    started = [start(client, pipeline) for _ in range(3)]
    codepipeline = client("codepipeline")
    first = codepipeline.list_pipeline_executions(pipelineName=pipeline, maxResults=2)
    second = codepipeline.list_pipeline_executions(pipelineName=pipeline, maxResults=2, nextToken=first["nextToken"])
    listed = [
        s["pipelineExecutionId"] for s in first["pipelineExecutionSummaries"] + second["pipelineExecutionSummaries"]
    ]
    assert listed == started[::-1]
    assert "nextToken" not in second
