from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.shared import clients
from functions.shared.batch import batch_write
from sandbox import gaps

SHARED_EVENTS = Path(__file__).parents[2].parent / "shared/events"
ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

Client = Callable[[str], Any]


def control(endpoint: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(endpoint + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def error_code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


# --- a pipeline: Source -> Gate (Lambda invoke) -> Approve (manual) -> Deploy -------------------------------------


def action(name: str, category: str, provider: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
        **extra,
    }


@pytest.fixture
def pipeline(client: Client) -> str:
    iam = client("iam")
    trust = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    }
    name = f"orders-{uuid.uuid4().hex[:8]}"
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
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
    sample = json.loads((SHARED_EVENTS / "codepipeline-lambda-invoke-job-event.json").read_text())["CodePipeline.job"]
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


def test_a_continuation_keeps_the_job_in_progress_until_the_final_success(
    endpoint: str, client: Client, pipeline: str
) -> None:
    _, job = at_gate(endpoint, client, pipeline)
    codepipeline = client("codepipeline")
    codepipeline.put_job_success_result(jobId=job["id"], continuationToken="wait-for-bake:1")
    assert job_state(endpoint, job["id"])["status"] == "InProgress"
    assert codepipeline.get_job_details(jobId=job["id"])["jobDetails"]["data"]["continuationToken"] == "wait-for-bake:1"
    code, again = control(endpoint, "GET", f"/_sandbox/codepipeline/job/{job['id']}")
    assert code == 200
    assert again["CodePipeline.job"]["data"]["continuationToken"] == "wait-for-bake:1"
    assert stages(client, pipeline)["Gate"]["latestExecution"]["status"] == "InProgress"

    codepipeline.put_job_success_result(jobId=job["id"], outputVariables={"decision": "allow"})
    recorded = job_state(endpoint, job["id"])
    assert recorded["status"] == "Succeeded"
    assert [entry.get("continuationToken") for entry in recorded["history"]] == ["wait-for-bake:1", None]
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
    codepipeline.put_job_failure_result(jobId=job["id"], failureDetails={"type": "JobFailed", "message": "m" * 5000})
    assert job_state(endpoint, job["id"])["status"] == "Failed"


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
    sample = json.loads((SHARED_EVENTS / "codepipeline-action-execution-state-change.json").read_text())
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


# --- Lambda provisioned concurrency ------------------------------------------------------------------------------


def function_zip() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("app.py", "def handler(event, context):\n    return event\n")
    return archive.getvalue()


def lambda_role(client: Client) -> str:
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    name = f"fn-{uuid.uuid4().hex[:8]}"
    return str(client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


def published_function(client: Client, prefix: str) -> tuple[str, str]:
    """A throwaway function named `prefix-<random>` with one published version: (name, version)."""
    awslambda = client("lambda")
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    awslambda.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=lambda_role(client),
        Handler="app.handler",
        Code={"ZipFile": function_zip()},
    )
    return name, str(awslambda.publish_version(FunctionName=name)["Version"])


def test_provisioned_concurrency_round_trip(client: Client) -> None:
    awslambda = client("lambda")
    name, version = published_function(client, "orders-api")
    awslambda.create_alias(FunctionName=name, Name="live", FunctionVersion=version)

    put = awslambda.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=5
    )
    assert (
        put["Status"],
        put["RequestedProvisionedConcurrentExecutions"],
        put["AllocatedProvisionedConcurrentExecutions"],
    ) == (
        "READY",
        5,
        5,
    )
    got = awslambda.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    assert got["AllocatedProvisionedConcurrentExecutions"] == 5
    [listed] = awslambda.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert listed["FunctionArn"].endswith(f":function:{name}:live")
    assert listed["RequestedProvisionedConcurrentExecutions"] == 5

    awslambda.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    assert error_code(lambda: awslambda.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")) == (
        "ProvisionedConcurrencyConfigNotFoundException"
    )
    assert awslambda.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []
    latest = awslambda.put_provisioned_concurrency_config
    assert error_code(lambda: latest(FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1)) == (
        "InvalidParameterValueException"
    )
    assert error_code(lambda: latest(FunctionName="nope", Qualifier="1", ProvisionedConcurrentExecutions=1)) == (
        "ResourceNotFoundException"
    )
    assert error_code(lambda: latest(FunctionName=name, Qualifier="missing", ProvisionedConcurrentExecutions=1)) == (
        "ResourceNotFoundException"
    )


# --- Powertools ------------------------------------------------------------------------------------------------


def test_seeded_powertools_serves_a_stack_that_creates_and_updates(client: Client) -> None:
    arn = gaps.seed_powertools("3.99.0", ACCOUNT, REGION)
    assert arn == f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:1"
    assert gaps.seed_powertools("3.99.0", ACCOUNT, REGION) == arn
    reserved = "/aws/service/powertools/python/arm64/python3.14/3.99.0"
    assert client("ssm").get_parameter(Name=reserved)["Parameter"]["Value"] == arn
    layer = client("lambda").get_layer_version(LayerName="AWSLambdaPowertoolsPythonV3-python314-arm64", VersionNumber=1)
    assert (layer["CompatibleRuntimes"], layer["CompatibleArchitectures"]) == (["python3.14"], ["arm64"])

    bucket = f"assets-{uuid.uuid4().hex[:8]}"
    client("s3").create_bucket(Bucket=bucket)
    client("s3").put_object(Bucket=bucket, Key="code.zip", Body=function_zip())
    role = lambda_role(client)
    function = f"gate-{uuid.uuid4().hex[:6]}"

    def template(memory: int) -> str:
        return json.dumps(
            {
                "Parameters": {"Powertools": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": reserved}},
                "Resources": {
                    "Gate": {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "FunctionName": function,
                            "Runtime": "python3.14",
                            "Handler": "app.handler",
                            "Role": role,
                            "MemorySize": memory,
                            "Code": {"S3Bucket": bucket, "S3Key": "code.zip"},
                            "Layers": [{"Ref": "Powertools"}],
                        },
                    }
                },
            }
        )

    cloudformation = client("cloudformation")
    stack = f"deckhand-{uuid.uuid4().hex[:6]}"
    cloudformation.create_stack(StackName=stack, TemplateBody=template(256))
    assert cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    cloudformation.update_stack(StackName=stack, TemplateBody=template(512))
    assert cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    configuration = client("lambda").get_function_configuration(FunctionName=function)
    assert configuration["MemorySize"] == 512
    assert [layer["Arn"].split(":", 5)[5] for layer in configuration["Layers"]] == [arn.split(":", 5)[5]]


# --- backdating ------------------------------------------------------------------------------------------------


def backdate(endpoint: str, service: str, kind: str, ident: str, created: datetime) -> int:
    body = {"service": service, "kind": kind, "id": ident, "created": created.isoformat()}
    return control(endpoint, "POST", "/_sandbox/backdate", body)[0]


def test_backdating_sets_creation_times(endpoint: str, client: Client) -> None:
    ec2 = client("ec2")
    then = NOW - timedelta(days=400)
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    image = ec2.create_image(InstanceId=instance, Name=f"golden-{uuid.uuid4().hex[:6]}")["ImageId"]
    group = f"/aws/lambda/old-{uuid.uuid4().hex[:6]}"
    client("logs").create_log_group(logGroupName=group)
    stack = f"ephemeral-{uuid.uuid4().hex[:6]}"
    client("cloudformation").create_stack(
        StackName=stack, TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    )
    repository = f"orders-{uuid.uuid4().hex[:6]}"
    ecr = client("ecr")
    ecr.create_repository(repositoryName=repository)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "layers": [{"digest": "sha256:" + "a" * 64, "size": 1}],
        }
    )
    digest = ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag="v1")["image"]["imageId"][
        "imageDigest"
    ]

    for service, kind, ident in [
        ("ec2", "volume", volume),
        ("ec2", "snapshot", snapshot),
        ("ec2", "instance", instance),
        ("ec2", "image", image),
        ("logs", "log-group", group),
        ("cloudformation", "stack", stack),
        ("ecr", "image", f"{repository}@{digest}"),
    ]:
        assert backdate(endpoint, service, kind, ident, then) == 200, (service, kind)

    assert ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["CreateTime"] == then
    assert ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["StartTime"] == then
    assert ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["LaunchTime"] == then
    assert ec2.describe_images(ImageIds=[image])["Images"][0]["CreationDate"].startswith(
        then.strftime("%Y-%m-%dT%H:%M")
    )
    [log_group] = client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert log_group["creationTime"] == int(then.timestamp() * 1000)
    assert client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["CreationTime"] == then
    [pushed] = ecr.describe_images(repositoryName=repository)["imageDetails"]
    assert pushed["imagePushedAt"] == then


def test_backdating_a_lambda_version(endpoint: str, client: Client) -> None:
    awslambda = client("lambda")
    name, version = published_function(client, "versions")
    assert backdate(endpoint, "lambda", "version", f"{name}:{version}", NOW - timedelta(days=90)) == 200
    modified = awslambda.get_function_configuration(FunctionName=name, Qualifier=version)["LastModified"]
    assert modified == "2026-08-23T12:00:00.000+0000"
    assert awslambda.get_function_configuration(FunctionName=name)["LastModified"] != modified


def test_backdating_something_unknown_is_not_found(endpoint: str) -> None:
    assert backdate(endpoint, "ec2", "snapshot", "snap-00000000000000000", NOW) == 404
    assert backdate(endpoint, "logs", "log-group", "/nope", NOW) == 404
    assert backdate(endpoint, "s3", "bucket", "b", NOW) == 404
    assert (
        control(
            endpoint, "POST", "/_sandbox/backdate", {"service": "ec2", "kind": "volume", "id": "v", "created": "soon"}
        )[0]
        == 400
    )


# --- injected failures ------------------------------------------------------------------------------------------


def inject(endpoint: str, action: str, ident: str, code: str, **extra: Any) -> tuple[int, Any]:
    body = {"action": action, "id": ident, "code": code, "message": f"{code} for the test", **extra}
    return control(endpoint, "POST", "/_sandbox/failures", body)


def test_an_injected_failure_answers_the_next_call_on_that_id_only(endpoint: str, client: Client) -> None:
    ec2 = client("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    failing, other = (ec2.create_snapshot(VolumeId=volume)["SnapshotId"] for _ in range(2))
    assert inject(endpoint, "DeleteSnapshot", failing, "InvalidSnapshot.InUse")[0] == 200

    ec2.delete_snapshot(SnapshotId=other)  # another id goes through while the failure waits
    with pytest.raises(ClientError) as raised:
        ec2.delete_snapshot(SnapshotId=failing)
    assert raised.value.response["Error"] == {
        "Code": "InvalidSnapshot.InUse",
        "Message": "InvalidSnapshot.InUse for the test",
    }
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert ec2.describe_snapshots(SnapshotIds=[failing])["Snapshots"]  # moto never saw the delete

    ec2.delete_snapshot(SnapshotId=failing)  # spent: the next call reaches moto
    assert error_code(lambda: ec2.describe_snapshots(SnapshotIds=[failing])) == "InvalidSnapshot.NotFound"
    failures = control(endpoint, "GET", "/_sandbox/failures")[1]
    assert [f["id"] for f in failures["answered"] if f["id"] in (failing, other)] == [failing]
    assert all(f["id"] != failing for f in failures["pending"])


def test_a_snapshot_can_stay_in_use_right_after_its_ami_is_deregistered(endpoint: str, client: Client) -> None:
    ec2 = client("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    image = ec2.register_image(
        Name=f"released-{uuid.uuid4().hex[:6]}",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}],
    )["ImageId"]
    after = {"action": "DeregisterImage", "id": image}
    assert inject(endpoint, "DeleteSnapshot", snapshot, "InvalidSnapshot.InUse", after=after)[0] == 200
    [pending] = [f for f in control(endpoint, "GET", "/_sandbox/failures")[1]["pending"] if f["id"] == snapshot]
    assert pending["after"] == after

    ec2.deregister_image(ImageId=image)  # the call that arms it goes through itself
    assert image not in {found["ImageId"] for found in ec2.describe_images(Owners=["self"])["Images"]}
    with pytest.raises(ClientError) as raised:
        ec2.delete_snapshot(SnapshotId=snapshot)
    assert raised.value.response["Error"] == {
        "Code": "InvalidSnapshot.InUse",
        "Message": "InvalidSnapshot.InUse for the test",
    }
    ec2.delete_snapshot(SnapshotId=snapshot)  # a moment later it is released
    assert error_code(lambda: ec2.describe_snapshots(SnapshotIds=[snapshot])) == "InvalidSnapshot.NotFound"


def test_a_failure_after_a_call_sleeps_until_that_call(endpoint: str, client: Client) -> None:
    ec2 = client("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    after = {"action": "DeregisterImage", "id": "ami-0123456789abcdef0"}
    assert inject(endpoint, "DeleteSnapshot", snapshot, "InvalidSnapshot.InUse", after=after)[0] == 200

    ec2.delete_snapshot(SnapshotId=snapshot)  # no such deregistration yet: the call reaches moto

    assert error_code(lambda: ec2.describe_snapshots(SnapshotIds=[snapshot])) == "InvalidSnapshot.NotFound"


def test_a_failure_after_a_call_needs_the_operation_and_the_id(endpoint: str) -> None:
    code, answer = inject(endpoint, "DeleteSnapshot", "snap-1", "InvalidSnapshot.InUse", after={"action": "X"})
    assert code == 400
    assert "after" in json.dumps(answer)


def test_other_operations_on_the_id_are_not_failed(endpoint: str, client: Client) -> None:
    ec2 = client("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    assert inject(endpoint, "DeleteVolume", volume, "VolumeInUse", times=2)[0] == 200

    ec2.create_tags(Resources=[volume], Tags=[{"Key": "deckhand:cleanup-after", "Value": "2026-11-28"}])
    assert ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["Tags"]
    assert error_code(lambda: ec2.delete_volume(VolumeId=volume)) == "VolumeInUse"
    assert error_code(lambda: ec2.delete_volume(VolumeId=volume)) == "VolumeInUse"
    ec2.delete_volume(VolumeId=volume)


def test_failures_in_the_json_and_query_protocols(endpoint: str, client: Client) -> None:
    group = f"/aws/lambda/gone-{uuid.uuid4().hex[:6]}"
    logs = client("logs")
    logs.create_log_group(logGroupName=group)
    stack = f"preview-{uuid.uuid4().hex[:6]}"
    cloudformation = client("cloudformation")
    cloudformation.create_stack(
        StackName=stack, TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    )
    inject(endpoint, "DeleteLogGroup", group, "OperationAbortedException", status=409)
    inject(endpoint, "DeleteStack", stack, "AccessDenied", status=403)

    assert error_code(lambda: logs.delete_log_group(logGroupName=group)) == "OperationAbortedException"
    assert error_code(lambda: cloudformation.delete_stack(StackName=stack)) == "AccessDenied"
    logs.delete_log_group(logGroupName=group)
    assert not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    cloudformation.delete_stack(StackName=stack)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "snap-1", "code": "X"},
        {"action": "DeleteSnapshot", "code": "X"},
        {"action": "DeleteSnapshot", "id": "snap-1", "status": 200},
        {"action": "DeleteSnapshot", "id": "snap-1", "times": 0},
    ],
)
def test_a_failure_without_an_action_an_id_an_error_status_or_a_count_is_refused(
    endpoint: str, body: dict[str, Any]
) -> None:
    code, answer = control(endpoint, "POST", "/_sandbox/failures", body)
    assert (code, answer["error"]) == (400, "ValidationException")
    assert body.get("id", "-") not in {f["id"] for f in control(endpoint, "GET", "/_sandbox/failures")[1]["pending"]}


# --- BatchWriteItem processed in part (UnprocessedItems), through the failure route -----------------------------


@pytest.fixture
def batch_table(client: Client) -> str:
    name = f"audit-{uuid.uuid4().hex[:8]}"
    client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    return name


def put_request(sk: str) -> dict[str, Any]:
    return {"PutRequest": {"Item": {"pk": {"S": "cleanup-mark/x"}, "sk": {"S": sk}}}}


def written(client: Client, table: str) -> set[str]:
    return {item["sk"]["S"] for item in client("dynamodb").scan(TableName=table)["Items"]}


def test_the_writes_naming_the_id_come_back_unprocessed_and_the_rest_is_written(
    endpoint: str, client: Client, batch_table: str
) -> None:
    assert inject(endpoint, "BatchWriteItem", "img-7", "UnprocessedItems")[0] == 200

    requests = [put_request("img-1"), put_request("img-7"), put_request("img-9")]
    answer = client("dynamodb").batch_write_item(RequestItems={batch_table: requests})

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["UnprocessedItems"] == {batch_table: [put_request("img-7")]}
    assert written(client, batch_table) == {"img-1", "img-9"}
    again = client("dynamodb").batch_write_item(RequestItems=answer["UnprocessedItems"])  # spent: moto writes it
    assert again["UnprocessedItems"] == {}
    assert written(client, batch_table) == {"img-1", "img-7", "img-9"}


@pytest.fixture
def deckhand_clients(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """functions.shared.clients pointed at the sandbox server, as a deployed function's are."""
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    clients.reset()
    yield
    clients.reset()


@pytest.mark.usefixtures("deckhand_clients")
def test_the_batch_writer_retries_until_dynamodb_took_every_write(
    endpoint: str, client: Client, batch_table: str
) -> None:
    inject(endpoint, "BatchWriteItem", "img-3", "UnprocessedItems", times=3)
    waits: list[float] = []

    batch_write(batch_table, [put_request(f"img-{n}") for n in range(5)], sleep=waits.append)

    assert written(client, batch_table) == {f"img-{n}" for n in range(5)}
    assert len(waits) == 3  # three partial answers, three waits, then the fourth call took the rest


@pytest.mark.parametrize(
    "body",
    [
        {"action": "PutItem", "id": "x", "code": "UnprocessedItems"},
        {"action": "BatchWriteItem", "id": "x", "code": "UnprocessedItems", "status": 500},
    ],
)
def test_unprocessed_items_is_an_answer_of_batch_write_item_only(endpoint: str, body: dict[str, Any]) -> None:
    assert control(endpoint, "POST", "/_sandbox/failures", body)[0] == 400


# --- alarm state changes ---------------------------------------------------------------------------------------


def sample_event(name: str) -> dict[str, Any]:
    return dict(json.loads((SHARED_EVENTS / name).read_text()))


def test_a_metric_alarm_state_change_event(client: Client) -> None:
    cloudwatch = client("cloudwatch")
    name = f"orders-5xx-{uuid.uuid4().hex[:6]}"
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        AlarmDescription="5xx on the orders API",
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Dimensions=[{"Name": "LoadBalancer", "Value": "app/orders/1"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
    )
    event = gaps.alarm_state_change(cloudwatch, name, "ALARM", "Threshold Crossed", NOW)
    sample = sample_event("cloudwatch-alarm-state-change-metric.json")
    assert set(event) == set(sample)
    assert set(event["detail"]) == set(sample["detail"]) - {"muteDetail"}
    assert (event["account"], event["region"], event["time"]) == (ACCOUNT, REGION, "2026-11-21T12:00:00Z")
    assert event["resources"] == [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"]
    assert event["detail"]["state"] == {
        "value": "ALARM",
        "reason": "Threshold Crossed",
        "timestamp": "2026-11-21T12:00:00.000+0000",
    }
    # moto creates alarms in OK (AWS: INSUFFICIENT_DATA); the event reports whatever the alarm was in.
    assert event["detail"]["previousState"]["value"] == "OK"
    assert event["detail"]["previousState"]["reason"] == "Unchecked: Initial alarm creation"
    [metric] = event["detail"]["configuration"]["metrics"]
    assert metric["metricStat"] == {
        "metric": {
            "dimensions": {"LoadBalancer": "app/orders/1"},
            "name": "HTTPCode_Target_5XX_Count",
            "namespace": "AWS/ApplicationELB",
        },
        "period": 60,
        "stat": "Sum",
    }
    assert metric["returnData"] is True
    assert event["detail"]["configuration"]["description"] == "5xx on the orders API"
    assert cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"] == "ALARM"

    back = gaps.alarm_state_change(cloudwatch, name, "OK", "recovered", NOW + timedelta(minutes=5))
    assert (back["detail"]["previousState"]["value"], back["detail"]["previousState"]["reason"]) == (
        "ALARM",
        "Threshold Crossed",
    )


def test_a_metric_math_alarm_lists_its_queries(client: Client) -> None:
    cloudwatch = client("cloudwatch")
    name = f"error-rate-{uuid.uuid4().hex[:6]}"
    errors = {
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": "gate"}],
    }
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        EvaluationPeriods=1,
        Threshold=0.05,
        ComparisonOperator="GreaterThanThreshold",
        Metrics=[
            {"Id": "errors", "MetricStat": {"Metric": errors, "Period": 300, "Stat": "Sum"}, "ReturnData": False},
            {"Id": "rate", "Expression": "errors / 100", "Label": "error rate", "ReturnData": True},
        ],
    )
    event = gaps.alarm_state_change(cloudwatch, name, "ALARM", "burning", NOW)
    metrics = event["detail"]["configuration"]["metrics"]
    assert [m["id"] for m in metrics] == ["errors", "rate"]
    assert metrics[0]["metricStat"]["metric"]["dimensions"] == {"FunctionName": "gate"}
    assert metrics[0]["returnData"] is False
    assert metrics[1] == {"id": "rate", "expression": "errors / 100", "label": "error rate", "returnData": True}


def test_a_composite_alarm_state_change_event(client: Client) -> None:
    cloudwatch = client("cloudwatch")
    child = f"cpu-{uuid.uuid4().hex[:6]}"
    cloudwatch.put_metric_alarm(
        AlarmName=child,
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Statistic="Average",
        Period=300,
        EvaluationPeriods=1,
        Threshold=80,
        ComparisonOperator="GreaterThanThreshold",
    )
    name = f"service-{uuid.uuid4().hex[:6]}"
    rule = f"ALARM({child}) OR ALARM(network)"
    cloudwatch.put_composite_alarm(AlarmName=name, AlarmRule=rule, AlarmDescription="orders service health")
    [stored] = cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert stored["AlarmRule"] == rule
    gaps.alarm_state_change(cloudwatch, name, "INSUFFICIENT_DATA", "children missing", NOW - timedelta(hours=2))
    gaps.alarm_state_change(cloudwatch, name, "OK", "rule evaluates to OK", NOW - timedelta(hours=1))
    event = gaps.alarm_state_change(cloudwatch, name, "ALARM", f"{child} transitioned to ALARM", NOW)
    sample = sample_event("cloudwatch-alarm-state-change-composite.json")
    assert set(event) == set(sample)
    assert event["detail"]["configuration"] == {"alarmRule": rule, "description": "orders service health"}
    assert event["detail"]["previousState"]["value"] == "OK"
    assert event["detail"]["previousState"]["reason"] == "rule evaluates to OK"
    assert event["detail"]["state"]["value"] == "ALARM"
    assert event["resources"] == [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"]


def test_an_unknown_alarm_raises(client: Client) -> None:
    with pytest.raises(LookupError):
        gaps.alarm_state_change(client("cloudwatch"), "nope", "ALARM", "r", NOW)


# --- pattern matching and routing --------------------------------------------------------------------------------


def test_event_matches_uses_eventbridge_semantics() -> None:
    sample = sample_event("codepipeline-stage-execution-state-change.json")
    assert gaps.event_matches({"source": ["aws.codepipeline"], "detail": {"stage": [{"prefix": "Pr"}]}}, sample)
    assert gaps.event_matches('{"detail": {"state": [{"anything-but": "FAILED"}]}}', sample)
    assert not gaps.event_matches({"detail": {"version": [{"numeric": [">", 1]}]}}, sample)
    with pytest.raises(ValueError, match="invalid event pattern"):
        gaps.event_matches({"source": "aws.codepipeline"}, sample)


def test_other_requests_pass_through_to_moto(endpoint: str, client: Client) -> None:
    topic = client("sns").create_topic(Name="passthrough")["TopicArn"]
    assert topic == f"arn:aws:sns:{REGION}:{ACCOUNT}:passthrough"
    assert control(endpoint, "GET", "/_sandbox/nope")[0] == 404


def test_a_tagged_stack_with_a_kms_key_and_an_ssm_parameter_deploys(client: Client) -> None:
    tags = [{"Key": "deckhand:managed-by", "Value": "deckhand"}]
    template = {
        "Resources": {
            "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Version": "2012-10-17"}, "Tags": tags}},
            "Switch": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": "/tagged/switch",
                    "Type": "String",
                    "Value": "{}",
                    "Tags": {"deckhand:managed-by": "deckhand"},
                },
            },
        }
    }
    cloudformation = client("cloudformation")
    cloudformation.create_stack(StackName="tagged", TemplateBody=json.dumps(template))
    assert cloudformation.describe_stacks(StackName="tagged")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    [key] = client("kms").list_keys()["Keys"]
    assert client("kms").list_resource_tags(KeyId=key["KeyId"])["Tags"] == [
        {"TagKey": "deckhand:managed-by", "TagValue": "deckhand"}
    ]
    listed = client("ssm").list_tags_for_resource(ResourceType="Parameter", ResourceId="/tagged/switch")
    assert listed["TagList"] == [{"Key": "deckhand:managed-by", "Value": "deckhand"}]


# --- EventBridge Scheduler in CloudFormation, Auto Scaling instance refreshes ----------------------------------


def test_a_stack_creates_its_schedule_group_and_schedules_and_deletes_them(client: Client) -> None:
    target = {
        "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:deckhand-capacity",
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/deckhand-capacity-scheduler",
        "Input": '{"trigger": "schedule", "target": "web", "profile": "night", "schedule": 2}',
        "RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 2},
    }
    template = {
        "Resources": {
            "Group": {"Type": "AWS::Scheduler::ScheduleGroup", "Properties": {"Name": "capacity-test"}},
            "Night": {
                "Type": "AWS::Scheduler::Schedule",
                "Properties": {
                    "Name": "web-2-night",
                    "GroupName": {"Ref": "Group"},
                    "ScheduleExpression": "cron(0 20 ? * * *)",
                    "ScheduleExpressionTimezone": "Europe/Paris",
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "Target": target,
                },
            },
        },
        "Outputs": {"Night": {"Value": {"Fn::GetAtt": ["Night", "Arn"]}}},
    }
    cloudformation, scheduler = client("cloudformation"), client("scheduler")
    cloudformation.create_stack(StackName="capacity-schedules", TemplateBody=json.dumps(template))
    [stack] = cloudformation.describe_stacks(StackName="capacity-schedules")["Stacks"]
    arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/capacity-test/web-2-night"
    assert (stack["StackStatus"], stack["Outputs"][0]["OutputValue"]) == ("CREATE_COMPLETE", arn)
    schedule = scheduler.get_schedule(Name="web-2-night", GroupName="capacity-test")
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
        "cron(0 20 ? * * *)",
        "Europe/Paris",
    )
    assert schedule["Target"] == target
    assert [s["Name"] for s in scheduler.list_schedules(GroupName="capacity-test")["Schedules"]] == ["web-2-night"]

    cloudformation.delete_stack(StackName="capacity-schedules")
    assert error_code(lambda: scheduler.get_schedule(Name="web-2-night", GroupName="capacity-test")) == (
        "ResourceNotFoundException"
    )
    assert "capacity-test" not in [g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]]


def test_an_auto_scaling_group_has_no_instance_refresh(client: Client) -> None:
    refreshes = client("autoscaling").describe_instance_refreshes(AutoScalingGroupName="workers", MaxRecords=5)
    assert refreshes["InstanceRefreshes"] == []


def test_a_new_ecs_service_can_be_made_steady(endpoint: str, client: Client) -> None:
    ecs = client("ecs")
    ecs.create_cluster(clusterName="steady")
    task = ecs.register_task_definition(
        family="steady", containerDefinitions=[{"name": "app", "image": "app", "memory": 512}]
    )
    arn = task["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="steady", serviceName="app", taskDefinition=arn, desiredCount=2)
    [deployment] = ecs.describe_services(cluster="steady", services=["app"])["services"][0]["deployments"]
    assert deployment["rolloutState"] == "IN_PROGRESS"  # moto's, for ever

    assert control(endpoint, "POST", "/_sandbox/ecs/steady", {"cluster": "steady", "service": "app"})[0] == 200
    [service] = ecs.describe_services(cluster="steady", services=["app"])["services"]
    [deployment] = service["deployments"]
    assert (deployment["rolloutState"], deployment["runningCount"], service["runningCount"]) == ("COMPLETED", 2, 2)
    assert control(endpoint, "POST", "/_sandbox/ecs/steady", {"cluster": "steady", "service": "nope"})[0] == 404
