"""The CodePipeline Invoke action binding: decide, record, and always answer the job.

CodePipeline invokes the function asynchronously, so a job can arrive twice: each delivery (job id and
continuation token) is processed once, through Powertools Idempotency on DECKHAND_IDEMPOTENCY_TABLE.
Where the job stands comes from GetJobDetails (`jobDetails.data.pipelineContext`: pipeline, stage, action),
never from the event's UserParameters, which anyone allowed to invoke the function can write. A job of an
action that does not invoke this function is left alone; a job of this function that stands before no gated
stage fails as a ConfigurationError saying why; anything unexpected fails as JobFailed, so a pipeline never
hangs until CodePipeline times it out.
The event carries live artifact credentials: it is never logged; only the job id, pipeline and stage are.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from pydantic import BaseModel, Field, ValidationError

from functions.gating import answer, core, pipeline
from functions.gating.config import IDEMPOTENCY_VARIABLE
from functions.gating.model import ExecutionObservation
from functions.gating.observe import Adapters
from functions.gating.pipeline import MAX_CONTINUATION_TOKEN, JobContext, Pipelines
from functions.gating.policy import Gate, Gating, gate_after
from functions.shared.clients import client
from functions.shared.notify import Notice
from functions.shared.observability import logger, metrics
from functions.shared.refusal import cap, ignored
from functions.shared.runtime import Runtime
from functions.shared.settings import SettingsError
from functions.shared.switches import SwitchState

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_codepipeline.literals import FailureTypeType

DELIVERY_MEMORY_SECONDS = 24 * 3600  # async retries come within the function's 6-hour maximum event age
JOB_KEY = "CodePipeline.job"
JOB_ID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"  # CodePipeline's JobId pattern
GATE_ACTION = ("Invoke", "Lambda")  # (category, provider) of the action that runs the gate


class ConfigurationProblem(Exception):
    """The job cannot be gated as configured; CodePipeline shows the message as a ConfigurationError."""


class NotOurs(Exception):
    """A job of an action that does not run this function: left alone, not answered."""


class _JobData(BaseModel):
    continuationToken: str | None = Field(default=None, min_length=1, max_length=MAX_CONTINUATION_TOKEN)


class _Job(BaseModel):
    id: str = Field(pattern=JOB_ID)
    data: _JobData = Field(default_factory=_JobData)


class JobEvent(BaseModel):
    """The Invoke action's event. Only the job id and the continuation token are read: everything else is
    the invoker's word (and `data.artifactCredentials` live credentials, never logged)."""

    job: _Job = Field(alias="CodePipeline.job")


@dataclass(frozen=True)
class JobRequest:
    job_id: str
    continuation_token: str | None

    @classmethod
    def from_event(cls, event: Any) -> JobRequest | None:
        try:
            job = JobEvent.model_validate(event).job
        except ValidationError:
            return None
        return cls(job_id=job.id, continuation_token=job.data.continuationToken)


@dataclass(frozen=True)
class Target:
    pipeline: str
    stage: str  # the gated stage
    context: JobContext  # where the job stands, from GetJobDetails


def function_name(configured: str) -> str:
    """FunctionName as an action configures it (name, name:alias or ARN) -> the function's name."""
    parts = configured.split(":")
    return parts[6] if configured.startswith("arn:") and len(parts) > 6 else parts[0]


def resolve(request: JobRequest, gating: Gating, own_function: str, pipelines: Pipelines) -> tuple[Target, Gate]:
    """The gated stage the job stands before, from CodePipeline's own account of the job (GetJobDetails):
    the job's pipeline, and the first gated stage at or after the job's stage. UserParameters are not read:
    anyone allowed to invoke the function can write them."""
    context = pipelines.job_context(request.job_id)
    if (context.category, context.provider) != GATE_ACTION or (
        own_function and function_name(context.function) != own_function
    ):
        raise NotOurs(
            f"job {request.job_id} is a {context.category}/{context.provider} action that invokes "
            f"{cap(context.function) or 'nothing'}, not this function"
        )
    where = f"{context.pipeline}/{context.stage}/{context.action}"
    gates = [g for g in gating.gates if g.pipeline == context.pipeline]
    if not gates:
        gated = ", ".join(f"{g.pipeline}/{g.stage}" for g in gating.gates) or "none"
        raise ConfigurationProblem(
            f"{where}: pipeline {context.pipeline} is not gated by the Deckhand policy (gated: {gated}). "
            "Add it under gating.gates in the policy file and redeploy, or remove this action."
        )
    stages = [g.stage for g in gates]
    own = next((g for g in gates if g.stage == context.stage), None)
    gate = own or gate_after(gates, pipelines.stage_names(context.pipeline), context.stage)
    if gate is None:
        raise ConfigurationProblem(
            f"{where}: no gated stage of {context.pipeline} ({', '.join(stages)}) stands at or after stage "
            f"{context.stage}. Move the gate action into a stage before the gated one, or gate its stage in the policy."
        )
    return Target(gate.pipeline, gate.stage, context), gate


def execution_loader(target: Target, pipelines: Pipelines) -> Callable[[], ExecutionObservation | None]:
    def load() -> ExecutionObservation | None:
        context = target.context
        return pipelines.execution(context.pipeline, context.execution_id) if context.execution_id else None

    return load


def send(job_id: str, reply: answer.JobAnswer, pipelines: Pipelines) -> None:
    if reply.kind == "failure":
        pipelines.fail_job(job_id, "JobFailed", reply.text)
    else:
        pipelines.succeed_job(
            job_id,
            summary=reply.text,
            output_variables=reply.output_variables or None,
            continuation_token=reply.token,
            percent_complete=reply.percent,
        )


def let_through_paused(pause: SwitchState, target: Target, rt: Runtime, job_id: str) -> answer.JobAnswer:
    """Paused gating lets the deploy through, and says so loudly: audit, metric, warning notice."""
    where = f"{target.pipeline}/{target.stage}"
    record_id = core.record_paused(
        pause, target.pipeline, target.stage, rt, action="gate", outcome="paused", correlation_id=job_id
    )
    rt.notifier.send(
        Notice(
            duty=core.DUTY,
            severity="warning",
            subject=f"{where} deployed WITHOUT gating (paused)",
            what=answer.pause_text(pause, where),
            why="A pause switch stops Deckhand acting; the gate then lets deploys through instead of holding them.",
            next_step=f'Clear the pause to gate again: {{"action": "clear", "switch": "{pause.name}", "reason": "...", '
            '"dry_run": false}} to the switches function. To hold deploys, set the freeze switch instead.',
        )
    )
    return answer.paused_answer(pause, where, record_id)


def decide_and_answer(
    request: JobRequest, rt: Runtime, gating: Gating, own_function: str, aws: Adapters
) -> dict[str, Any]:
    """Decide, record, answer. NotOurs and ConfigurationProblem are raised before anything is answered."""
    target, gate = resolve(request, gating, own_function, aws.pipelines)
    logger.append_keys(pipeline=target.pipeline, stage=target.stage)
    now = rt.clock()
    # Fresh, not from the cache other functions trust for switches.cache_seconds: a deploy decision is rare, and a
    # freeze set (or cleared) must hold (or free) the very next deploy, also in a warm execution environment.
    board = rt.switches.read(fresh=True)
    pause = board.pause(core.DUTY, now)
    if pause is not None:
        reply = let_through_paused(pause, target, rt, request.job_id)
        decision_id = reply.output_variables["decision_id"]
    else:
        progress = answer.Progress.parse(request.continuation_token, now)
        decided = core.decide(gate, board, now, aws, execution=execution_loader(target, aws.pipelines))
        reply = answer.plan(decided.decision, gate, progress, now)
        core.record(decided, rt, action="gate", outcome=reply.outcome, correlation_id=request.job_id)
        decision_id = decided.decision.id
    send(request.job_id, reply, aws.pipelines)
    return {"status": "answered", "answer": reply.kind, "outcome": reply.outcome, "decision_id": decision_id}


def unexpected(request: JobRequest, error: Exception, pipelines: Pipelines) -> dict[str, Any]:
    """Answer a job that could not be decided; raise only if even that fails, so Lambda retries."""
    logger.exception("gate failed", extra={"error": type(error).__name__})
    metrics.add_metric(name="GateError", unit=MetricUnit.Count, value=1)
    message = (
        f"Deckhand gate could not decide ({type(error).__name__}: {str(error)[:300]}). "
        f"Retry the stage; if it fails again, read the gate function's logs for job {request.job_id}."
    )
    return _fail(request, "JobFailed", message, "error", pipelines)


def _fail(
    request: JobRequest, kind: FailureTypeType, message: str, status: str, pipelines: Pipelines
) -> dict[str, Any]:
    try:
        pipelines.fail_job(request.job_id, kind, message)
    except Exception as error:
        if pipeline.already_answered(error):
            return {"status": "already-answered"}
        raise
    return {"status": status, "answer": "failure", "failure_type": kind, "message": message}


def answer_job(
    request: JobRequest, rt: Callable[[], Runtime], gating: Callable[[], Gating], own_function: str, aws: Adapters
) -> dict[str, Any]:
    try:
        return decide_and_answer(request, rt(), gating(), own_function, aws)
    except NotOurs as other:
        logger.warning("job of another action left alone", extra={"reason": str(other)})
        metrics.add_metric(name="GateIgnored", unit=MetricUnit.Count, value=1)
        return ignored(str(other))
    except (ConfigurationProblem, SettingsError) as problem:
        logger.warning("gate configuration problem", extra={"problem": str(problem)})
        metrics.add_metric(name="GateConfigurationError", unit=MetricUnit.Count, value=1)
        return _fail(request, "ConfigurationError", f"Deckhand gate: {problem}", "configuration-error", aws.pipelines)
    except Exception as error:
        if pipeline.already_answered(error):
            logger.warning("job already answered")
            return {"status": "already-answered"}
        return unexpected(request, error, aws.pipelines)


def _guarded(
    table: str, context: LambdaContext | None, own_function: str, aws: Adapters
) -> Callable[..., dict[str, Any]]:
    """`answer_job`, run once per delivery: a repeated delivery gets the first one's result."""
    config = IdempotencyConfig(expires_after_seconds=DELIVERY_MEMORY_SECONDS)
    if context is not None:
        config.register_lambda_context(context)
    layer = DynamoDBPersistenceLayer(table_name=table, boto3_client=client("dynamodb"))

    def once(
        *, delivery: dict[str, Any], request: JobRequest, rt: Callable[[], Runtime], gating: Callable[[], Gating]
    ) -> dict[str, Any]:
        return answer_job(request, rt, gating, own_function, aws)

    guarded: Callable[..., dict[str, Any]] = idempotent_function(
        data_keyword_argument="delivery", persistence_store=layer, config=config
    )(once)
    return guarded


def run_job(
    event: Any,
    rt: Callable[[], Runtime],
    gating: Callable[[], Gating],
    context: LambdaContext | None = None,
    aws: Adapters | None = None,
) -> dict[str, Any]:
    """The job binding: the AWS adapters unless others are given (the tests' twins)."""
    aws = aws or Adapters.of_aws()
    request = JobRequest.from_event(event)
    if request is None:
        metrics.add_metric(name="GateIgnored", unit=MetricUnit.Count, value=1)
        return ignored("a CodePipeline.job without a job id: nothing to answer")
    logger.append_keys(job_id=request.job_id)
    # The function's own name, to recognise its own actions' jobs (Lambda sets it; tests pass a context).
    own_function = context.function_name if context is not None else os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    table = os.environ.get(IDEMPOTENCY_VARIABLE, "").strip()
    if not table:
        return _fail(
            request,
            "ConfigurationError",
            f"Deckhand gate: {IDEMPOTENCY_VARIABLE} is not set (the stack sets it); redeploy the stack.",
            "configuration-error",
            aws.pipelines,
        )
    delivery = {"job_id": request.job_id, "continuation_token": request.continuation_token}
    try:
        return _guarded(table, context, own_function, aws)(delivery=delivery, request=request, rt=rt, gating=gating)
    except IdempotencyAlreadyInProgressError:
        logger.info("duplicate delivery of a job in progress; the first delivery answers it")
        return {"status": "duplicate", "job_id": request.job_id}
    except Exception as error:  # the idempotency store failed before the job was answered
        if pipeline.already_answered(error):
            return {"status": "already-answered"}
        return unexpected(request, error, aws.pipelines)
