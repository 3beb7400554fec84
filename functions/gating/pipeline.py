"""CodePipeline for the gating functions, with the platform's length limits.

The flows see CodePipeline through the `Pipelines` interface: `AwsPipelines` is boto3's (the functions'),
the tests have an in-memory twin. Each call is one thin method; what is read from a response is converted
by a pure function of this module, so the conversions are tested without AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from functions.shared.clients import client

if TYPE_CHECKING:
    from mypy_boto3_codepipeline.literals import FailureTypeType
    from mypy_boto3_codepipeline.type_defs import (
        ExecutionDetailsTypeDef,
        GetPipelineStateOutputTypeDef,
        JobDetailsTypeDef,
        PipelineExecutionSummaryTypeDef,
        PipelineExecutionTypeDef,
        PutJobSuccessResultInputTypeDef,
        StageStateTypeDef,
    )

from .model import ExecutionObservation

# CodePipeline's documented limits.
MAX_USER_PARAMETERS = 1000
MAX_CONTINUATION_TOKEN = 2048
MAX_FAILURE_MESSAGE = 5000
MAX_EXECUTION_SUMMARY = 2048
MAX_APPROVAL_SUMMARY = 512
MAX_STOP_REASON = 200
MAX_OUTPUT_VALUE = 1000  # kept well below the action's 122,880-byte total for output variables

TRUNCATED = " …(truncated)"


def clip(text: str, limit: int) -> str:
    """`text` within `limit` characters, marked when cut; never empty (CodePipeline refuses empty)."""
    text = text or "-"
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED


def console_link(region: str, pipeline: str) -> str:
    return f"https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{pipeline}/view?region={region}"


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return None


# --- jobs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobContext:
    """Where a job stands, as CodePipeline says (GetJobDetails), never as the invoker says (UserParameters)."""

    pipeline: str
    stage: str
    action: str
    execution_id: str
    category: str  # the action's type: Invoke for a Lambda invoke action
    provider: str
    function: str  # the FunctionName the action invokes, as configured (a name, name:alias or an ARN)


def to_job_context(details: JobDetailsTypeDef) -> JobContext:
    data = details.get("data", {})
    context = data.get("pipelineContext", {})
    kind = data.get("actionTypeId")
    return JobContext(
        pipeline=context.get("pipelineName", ""),
        stage=context.get("stage", {}).get("name", ""),
        action=context.get("action", {}).get("name", ""),
        execution_id=context.get("pipelineExecutionId", ""),
        category=kind["category"] if kind else "",
        provider=kind["provider"] if kind else "",
        function=data.get("actionConfiguration", {}).get("configuration", {}).get("FunctionName", ""),
    )


def already_answered(error: Exception) -> bool:
    """The job was answered before (a duplicate delivery) or no longer exists."""
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    return code in ("InvalidJobStateException", "JobNotFoundException")


# --- executions ---------------------------------------------------------------------------------


def to_execution(raw: PipelineExecutionTypeDef) -> ExecutionObservation:
    """GetPipelineExecution's `pipelineExecution`."""
    trigger = raw.get("trigger", {}).get("triggerType", "")
    return ExecutionObservation(
        id=raw.get("pipelineExecutionId", ""),
        trigger=trigger,
        rollback=raw.get("executionType") == "ROLLBACK"
        or "rollbackMetadata" in raw
        or trigger in ("ManualRollback", "AutomatedRollback"),
        variables={v.get("name", ""): v.get("resolvedValue", "") for v in raw.get("variables", [])},
    )


# --- pipeline state -----------------------------------------------------------------------------


def _stage(state: GetPipelineStateOutputTypeDef, stage: str) -> StageStateTypeDef | None:
    return next((s for s in state.get("stageStates", []) if s.get("stageName") == stage), None)


@dataclass(frozen=True)
class StageRun:
    """The latest run of one stage, as GetPipelineState shows it."""

    execution_id: str
    status: str  # InProgress | Succeeded | Failed | Stopped | Stopping | Cancelled
    rollback: bool
    last_change: datetime | None


def latest_stage_run(state: GetPipelineStateOutputTypeDef, stage: str) -> StageRun | None:
    found = _stage(state, stage)
    latest = found.get("latestExecution") if found else None
    if not found or not latest:
        return None
    changes = [
        moment
        for action in found.get("actionStates", [])
        if (moment := _instant(action.get("latestExecution", {}).get("lastStatusChange"))) is not None
    ]
    return StageRun(
        execution_id=latest["pipelineExecutionId"],
        status=latest["status"],
        rollback=latest.get("type") == "ROLLBACK",
        last_change=max(changes) if changes else None,
    )


def stage_succeeded_at(state: GetPipelineStateOutputTypeDef, stage: str) -> datetime | None:
    """When `stage` last succeeded, if its latest run did."""
    run = latest_stage_run(state, stage)
    return run.last_change if run is not None and run.status == "Succeeded" else None


def pending_approval_token(
    state: GetPipelineStateOutputTypeDef, stage: str, action: str, action_execution_id: str = ""
) -> str | None:
    """The token of the approval still waiting; None if it is answered, or is another run's than the event's."""
    found = _stage(state, stage)
    for action_state in found.get("actionStates", []) if found else []:
        latest = action_state.get("latestExecution", {})
        if action_state.get("actionName") != action:
            continue
        if action_execution_id and latest.get("actionExecutionId", action_execution_id) != action_execution_id:
            return None
        return latest.get("token") or None if latest.get("status") == "InProgress" else None
    return None


@dataclass(frozen=True)
class FailedAction:
    stage: str
    action: str
    code: str
    message: str


def failed_action(state: GetPipelineStateOutputTypeDef, execution_id: str) -> FailedAction | None:
    """The action that failed in `execution_id`, if the pipeline state still shows that run."""
    for stage in state.get("stageStates", []):
        latest = stage.get("latestExecution")
        if latest is None or latest["pipelineExecutionId"] != execution_id or latest["status"] != "Failed":
            continue
        for action in stage.get("actionStates", []):
            run = action.get("latestExecution", {})
            if run.get("status") == "Failed":
                error = run.get("errorDetails", {})
                return FailedAction(
                    stage=stage.get("stageName", ""),
                    action=action.get("actionName", ""),
                    code=error.get("code", ""),
                    message=error.get("message") or run.get("summary") or "",
                )
        return FailedAction(stage=stage.get("stageName", ""), action="", code="", message="")
    return None


# --- the interface the gating flows use, and CodePipeline's ------------------------------------------


class Pipelines(Protocol):
    """What the gating functions read of CodePipeline and what they answer it."""

    def job_context(self, job_id: str) -> JobContext: ...

    def succeed_job(
        self,
        job_id: str,
        *,
        summary: str,
        output_variables: Mapping[str, str] | None = None,
        continuation_token: str | None = None,
        percent_complete: int | None = None,
    ) -> None: ...

    def fail_job(self, job_id: str, kind: FailureTypeType, message: str) -> None: ...

    def find_execution(self, pipeline: str, execution_id: str) -> PipelineExecutionTypeDef | None: ...

    def execution(self, pipeline: str, execution_id: str) -> ExecutionObservation: ...

    def successful_executions(
        self, pipeline: str, stage: str, limit: int = 10
    ) -> list[PipelineExecutionSummaryTypeDef]: ...

    def stop_trigger_reason(self, pipeline: str, execution_id: str, pages: int = 3) -> str: ...

    def rollback_stage(self, pipeline: str, stage: str, target_execution_id: str) -> str: ...

    def stop_execution(self, pipeline: str, execution_id: str, reason: str, *, abandon: bool) -> None: ...

    def pipeline_state(self, pipeline: str) -> GetPipelineStateOutputTypeDef: ...

    def stage_names(self, pipeline: str) -> list[str]: ...

    def approve(self, pipeline: str, stage: str, action: str, token: str, summary: str) -> None: ...


class AwsPipelines:
    """Pipelines through the shared boto3 clients, with CodePipeline's length limits applied."""

    def job_context(self, job_id: str) -> JobContext:
        return to_job_context(client("codepipeline").get_job_details(jobId=job_id)["jobDetails"])

    def succeed_job(
        self,
        job_id: str,
        *,
        summary: str,
        output_variables: Mapping[str, str] | None = None,
        continuation_token: str | None = None,
        percent_complete: int | None = None,
    ) -> None:
        details: ExecutionDetailsTypeDef = {"summary": clip(summary, MAX_EXECUTION_SUMMARY)}
        if percent_complete is not None:
            details["percentComplete"] = max(0, min(100, percent_complete))
        request: PutJobSuccessResultInputTypeDef = {"jobId": job_id, "executionDetails": details}
        if continuation_token is not None:
            if not 1 <= len(continuation_token) <= MAX_CONTINUATION_TOKEN:
                raise ValueError(f"continuation token of {len(continuation_token)} characters")
            request["continuationToken"] = continuation_token
        elif output_variables:
            request["outputVariables"] = {k: clip(v, MAX_OUTPUT_VALUE) for k, v in output_variables.items()}
        client("codepipeline").put_job_success_result(**request)

    def fail_job(self, job_id: str, kind: FailureTypeType, message: str) -> None:
        client("codepipeline").put_job_failure_result(
            jobId=job_id, failureDetails={"type": kind, "message": clip(message, MAX_FAILURE_MESSAGE)}
        )

    def _execution(self, pipeline: str, execution_id: str) -> PipelineExecutionTypeDef:
        response = client("codepipeline").get_pipeline_execution(
            pipelineName=pipeline, pipelineExecutionId=execution_id
        )
        return response["pipelineExecution"]

    def find_execution(self, pipeline: str, execution_id: str) -> PipelineExecutionTypeDef | None:
        """The execution, or None when CodePipeline does not know it (a late redelivery, a deleted pipeline, an
        event naming an execution id that is no execution id)."""
        try:
            return self._execution(pipeline, execution_id)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in (
                "PipelineExecutionNotFoundException",
                "ValidationException",
            ):
                return None
            raise

    def execution(self, pipeline: str, execution_id: str) -> ExecutionObservation:
        return to_execution(self._execution(pipeline, execution_id))

    def successful_executions(
        self, pipeline: str, stage: str, limit: int = 10
    ) -> list[PipelineExecutionSummaryTypeDef]:
        """The newest executions that succeeded in `stage`, newest first (one page)."""
        response = client("codepipeline").list_pipeline_executions(
            pipelineName=pipeline, maxResults=limit, filter={"succeededInStage": {"stageName": stage}}
        )
        return list(response.get("pipelineExecutionSummaries", []))

    def stop_trigger_reason(self, pipeline: str, execution_id: str, pages: int = 3) -> str:
        """Why (and by whom, as they wrote it) an execution was stopped: ListPipelineExecutions' stopTrigger.reason.

        GetPipelineExecution has no such field (botocore's PipelineExecution); the newest `pages` pages are read.
        """
        codepipeline = client("codepipeline")
        token = ""
        for _ in range(pages):
            if token:
                page = codepipeline.list_pipeline_executions(pipelineName=pipeline, maxResults=100, nextToken=token)
            else:
                page = codepipeline.list_pipeline_executions(pipelineName=pipeline, maxResults=100)
            for summary in page.get("pipelineExecutionSummaries", []):
                if summary.get("pipelineExecutionId") == execution_id:
                    return summary.get("stopTrigger", {}).get("reason", "")
            token = page.get("nextToken", "")
            if not token:
                break
        return ""

    def rollback_stage(self, pipeline: str, stage: str, target_execution_id: str) -> str:
        response = client("codepipeline").rollback_stage(
            pipelineName=pipeline, stageName=stage, targetPipelineExecutionId=target_execution_id
        )
        return str(response["pipelineExecutionId"])

    def stop_execution(self, pipeline: str, execution_id: str, reason: str, *, abandon: bool) -> None:
        """abandon=False lets the actions in progress finish (stop and wait); True abandons them."""
        client("codepipeline").stop_pipeline_execution(
            pipelineName=pipeline,
            pipelineExecutionId=execution_id,
            reason=clip(reason, MAX_STOP_REASON),
            abandon=abandon,
        )

    def pipeline_state(self, pipeline: str) -> GetPipelineStateOutputTypeDef:
        return client("codepipeline").get_pipeline_state(name=pipeline)

    def stage_names(self, pipeline: str) -> list[str]:
        stages = client("codepipeline").get_pipeline(name=pipeline)["pipeline"]["stages"]
        return [stage["name"] for stage in stages]

    def approve(self, pipeline: str, stage: str, action: str, token: str, summary: str) -> None:
        client("codepipeline").put_approval_result(
            pipelineName=pipeline,
            stageName=stage,
            actionName=action,
            result={"summary": clip(summary, MAX_APPROVAL_SUMMARY), "status": "Approved"},
            token=token,
        )
