"""The contract of pipeline.Pipelines: the same assertions against the in-memory twin and AwsPipelines on the
sandbox's CodePipeline runtime (its runner off, executions moved by `advance`), so the twin the flow tests run
on cannot drift."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest
from botocore.exceptions import ClientError

from functions.gating import pipeline
from functions.gating.model import ExecutionObservation
from functions.gating.pipeline import AwsPipelines, JobContext, Pipelines, already_answered
from tests.functions.gating.twins import MemoryPipelines
from tests.support.gating import PIPELINE, GatingSandbox

STAGES = ["Source", "Gate", "Approve", "Deploy"]


class Account(Protocol):
    pipelines: Pipelines

    def start(self, variables: dict[str, str] | None = None) -> str: ...

    def advance(self, execution: str, stage: str, status: str, at: datetime | None = None) -> None: ...

    def new_job(self, execution: str) -> str: ...


class Twin:
    def __init__(self) -> None:
        self.twin = MemoryPipelines()
        self.twin.create_pipeline(PIPELINE)
        self.pipelines: Pipelines = self.twin

    def start(self, variables: dict[str, str] | None = None) -> str:
        return self.twin.start(PIPELINE, variables)

    def advance(self, execution: str, stage: str, status: str, at: datetime | None = None) -> None:
        self.twin.advance(execution, stage, status, at)

    def new_job(self, execution: str) -> str:
        return self.twin.new_job(execution)


class Sandbox:
    def __init__(self, sandbox: GatingSandbox) -> None:
        self.sandbox = sandbox
        sandbox.create_pipeline()
        self.pipelines: Pipelines = AwsPipelines()

    def start(self, variables: dict[str, str] | None = None) -> str:
        return self.sandbox.start(PIPELINE, variables)

    def advance(self, execution: str, stage: str, status: str, at: datetime | None = None) -> None:
        self.sandbox.advance(execution, stage, status, at=at)

    def new_job(self, execution: str) -> str:
        return str(self.sandbox.new_job(execution=execution)["CodePipeline.job"]["id"])


@pytest.fixture(params=["twin", pytest.param("sandbox", marks=pytest.mark.aws)])
def account(request: pytest.FixtureRequest) -> Iterator[Account]:
    if request.param == "twin":
        yield Twin()
    else:
        yield Sandbox(request.getfixturevalue("sandbox"))


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_a_job_says_where_it_stands_and_is_answered_once(account: Account) -> None:
    execution = account.start()
    account.advance(execution, "Gate", "InProgress")
    job = account.new_job(execution)

    assert account.pipelines.job_context(job) == JobContext(
        PIPELINE, "Gate", "Check", execution, "Invoke", "Lambda", "deckhand-gate"
    )
    account.pipelines.succeed_job(job, summary="proceed", output_variables={"decision": "proceed"})
    with pytest.raises(ClientError) as again:
        account.pipelines.fail_job(job, "JobFailed", "too late")
    assert code(again) == "InvalidJobStateException"
    assert already_answered(again.value)
    run = pipeline.latest_stage_run(account.pipelines.pipeline_state(PIPELINE), "Gate")
    assert run is not None
    assert (run.execution_id, run.status) == (execution, "Succeeded")


def test_a_failed_job_fails_its_stage_and_says_why(account: Account) -> None:
    execution = account.start()
    account.advance(execution, "Gate", "InProgress")
    job = account.new_job(execution)

    account.pipelines.fail_job(job, "JobFailed", "Deckhand gate blocked: web-app-5xx in ALARM")

    failed = pipeline.failed_action(account.pipelines.pipeline_state(PIPELINE), execution)
    assert failed == pipeline.FailedAction("Gate", "Check", "JobFailed", "Deckhand gate blocked: web-app-5xx in ALARM")
    with pytest.raises(ClientError) as again:
        account.pipelines.succeed_job(job, summary="late")
    assert code(again) == "InvalidJobStateException"


@pytest.mark.parametrize(
    ("job_id", "expected"), [("not-a-job-id", "ValidationException"), (None, "JobNotFoundException")]
)
def test_an_unknown_job_is_codepipelines_own_error(account: Account, job_id: str | None, expected: str) -> None:
    with pytest.raises(ClientError) as unknown:
        account.pipelines.job_context(job_id or "0f1e2d3c-4b5a-4697-8899-aabbccddeeff")
    assert code(unknown) == expected
    assert already_answered(unknown.value) == (expected == "JobNotFoundException")


def test_executions_are_read_with_their_variables_and_an_unknown_one_is_none(account: Account) -> None:
    execution = account.start({"version": "2"})

    assert account.pipelines.stage_names(PIPELINE) == STAGES
    assert account.pipelines.execution(PIPELINE, execution) == ExecutionObservation(
        execution, "StartPipelineExecution", False, {"version": "2"}
    )
    assert account.pipelines.find_execution(PIPELINE, "0f1e2d3c-4b5a-4697-8899-aabbccddeeff") is None
    with pytest.raises(ClientError) as unknown:
        account.pipelines.stage_names("nope")
    assert code(unknown) == "PipelineNotFoundException"


def test_a_stage_that_succeeded_says_when(account: Account) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    execution = account.start()
    account.advance(execution, "Source", "Succeeded", at=at)

    state = account.pipelines.pipeline_state(PIPELINE)
    assert pipeline.stage_succeeded_at(state, "Source") == at
    gate = pipeline.latest_stage_run(state, "Gate")
    assert gate is not None
    assert (gate.execution_id, gate.status, gate.rollback) == (execution, "InProgress", False)
    assert pipeline.latest_stage_run(state, "Deploy") is None


def test_an_approval_is_given_once_with_the_token_the_state_shows(account: Account) -> None:
    execution = account.start()
    account.advance(execution, "Gate", "Succeeded")
    state = account.pipelines.pipeline_state(PIPELINE)
    token = pipeline.pending_approval_token(state, "Approve", "Approval")
    assert token is not None

    with pytest.raises(ClientError) as wrong:
        account.pipelines.approve(PIPELINE, "Approve", "Approval", "0f1e2d3c-4b5a-4697-8899-aabbccddeeff", "ok")
    assert code(wrong) == "InvalidApprovalTokenException"
    account.pipelines.approve(PIPELINE, "Approve", "Approval", token, "Deckhand: proceed")
    with pytest.raises(ClientError) as again:
        account.pipelines.approve(PIPELINE, "Approve", "Approval", token, "Deckhand: proceed")
    assert code(again) == "ApprovalAlreadyCompletedException"

    after = account.pipelines.pipeline_state(PIPELINE)
    assert pipeline.pending_approval_token(after, "Approve", "Approval") is None
    deploy = pipeline.latest_stage_run(after, "Deploy")
    assert deploy is not None
    assert (deploy.execution_id, deploy.status) == (execution, "InProgress")


def test_a_stop_is_kept_with_its_reason_and_a_stopped_execution_cannot_stop_again(account: Account) -> None:
    execution = account.start()
    account.advance(execution, "Deploy", "InProgress")

    account.pipelines.stop_execution(PIPELINE, execution, "Deckhand watchdog: web-app-5xx in ALARM", abandon=True)

    assert account.pipelines.stop_trigger_reason(PIPELINE, execution) == "Deckhand watchdog: web-app-5xx in ALARM"
    run = pipeline.latest_stage_run(account.pipelines.pipeline_state(PIPELINE), "Deploy")
    assert run is not None
    assert run.status == "Stopped"
    with pytest.raises(ClientError) as again:
        account.pipelines.stop_execution(PIPELINE, execution, "again", abandon=True)
    assert code(again) == "PipelineExecutionNotStoppableException"


def test_a_rollback_redeploys_an_earlier_success_and_is_listed_as_one(account: Account) -> None:
    good = account.start()
    account.advance(good, "Deploy", "Succeeded")
    bad = account.start()
    account.advance(bad, "Deploy", "Succeeded")
    assert [s["pipelineExecutionId"] for s in account.pipelines.successful_executions(PIPELINE, "Deploy")] == [
        bad,
        good,
    ]

    with pytest.raises(ClientError) as never:
        account.pipelines.rollback_stage(PIPELINE, "Deploy", account.start())
    assert code(never) == "UnableToRollbackStageException"
    rolled = account.pipelines.rollback_stage(PIPELINE, "Deploy", good)

    run = pipeline.latest_stage_run(account.pipelines.pipeline_state(PIPELINE), "Deploy")
    assert run is not None
    assert (run.execution_id, run.status, run.rollback) == (rolled, "InProgress", True)
    with pytest.raises(ClientError) as running:
        account.pipelines.rollback_stage(PIPELINE, "Deploy", good)
    assert code(running) == "UnableToRollbackStageException"
    assert account.pipelines.execution(PIPELINE, rolled).rollback
