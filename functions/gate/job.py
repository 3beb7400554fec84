"""The CodePipeline Invoke action binding: decide, record, and always answer the job.

CodePipeline invokes the function asynchronously, so a job can arrive twice: each delivery (job id and
continuation token) is processed once, through Powertools Idempotency on DECKHAND_IDEMPOTENCY_TABLE.
Whatever goes wrong, the job is answered: a policy or UserParameters problem as a ConfigurationError,
anything unexpected as JobFailed, so a pipeline never hangs until CodePipeline times it out.
The event carries live artifact credentials: only the job id, pipeline and stage are ever logged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import CodePipelineJobEvent
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from functions.gating import pipeline
from functions.gating.model import ExecutionObservation
from functions.gating.pipeline import MAX_USER_PARAMETERS, JobContext
from functions.gating.policy import Gate, Gating
from functions.shared.clients import client
from functions.shared.notify import Notice
from functions.shared.observability import logger, metrics
from functions.shared.runtime import Runtime
from functions.shared.settings import SettingsError
from functions.shared.switches import SwitchState

from . import answer, core

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

IDEMPOTENCY_ENV = "DECKHAND_IDEMPOTENCY_TABLE"
DELIVERY_MEMORY_SECONDS = 24 * 3600  # async retries come within the function's 6-hour maximum event age
PARAMETER_KEYS = ("pipeline", "stage")
USAGE = 'UserParameters must be a JSON object like {"pipeline": "web-app", "stage": "Deploy"} (both optional)'


class ConfigurationProblem(Exception):
    """The job cannot be gated as configured; CodePipeline shows the message as a ConfigurationError."""


@dataclass(frozen=True)
class JobRequest:
    job_id: str
    continuation_token: str | None
    user_parameters: str | None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> JobRequest:
        job = CodePipelineJobEvent(event)
        return cls(
            job_id=job.get_id,
            continuation_token=job.data.continuation_token or None,
            user_parameters=job.user_parameters,
        )


@dataclass(frozen=True)
class Target:
    pipeline: str
    stage: str
    context: JobContext | None = None  # read from GetJobDetails, when it was needed


def parse_user_parameters(raw: str | None) -> dict[str, str]:
    if raw is None or not raw.strip():
        return {}
    if len(raw) > MAX_USER_PARAMETERS:
        raise ConfigurationProblem(f"UserParameters is {len(raw)} characters, over CodePipeline's 1000. {USAGE}")
    try:
        data = json.loads(raw)
    except ValueError as bad:
        raise ConfigurationProblem(f"UserParameters is not JSON ({bad.args[0]}). {USAGE}") from None
    if not isinstance(data, dict):
        raise ConfigurationProblem(f"UserParameters is a JSON {type(data).__name__}, not an object. {USAGE}")
    unknown = sorted(set(data) - set(PARAMETER_KEYS))
    if unknown:
        raise ConfigurationProblem(f"UserParameters has unknown keys {', '.join(map(repr, unknown))}. {USAGE}")
    wrong = [key for key, value in data.items() if not isinstance(value, str) or not value]
    if wrong:
        raise ConfigurationProblem(f"UserParameters {', '.join(map(repr, wrong))} must be non-empty strings. {USAGE}")
    return {str(key): str(value) for key, value in data.items()}


def resolve(request: JobRequest) -> Target:
    given = parse_user_parameters(request.user_parameters)
    if all(key in given for key in PARAMETER_KEYS):
        return Target(given["pipeline"], given["stage"])
    context = pipeline.job_context(request.job_id)
    return Target(given.get("pipeline", context.pipeline), given.get("stage", context.stage), context)


def gate_of(gating: Gating, target: Target) -> Gate:
    gate = gating.gate(target.pipeline, target.stage)
    if gate is None:
        gated = ", ".join(f"{g.pipeline}/{g.stage}" for g in gating.gates) or "none"
        raise ConfigurationProblem(
            f"{target.pipeline}/{target.stage} is not gated by the Deckhand policy (gated: {gated}). "
            "Add it under gating.gates in the policy file and redeploy, or fix the Invoke action's UserParameters."
        )
    return gate


def execution_loader(request: JobRequest, target: Target) -> Callable[[], ExecutionObservation | None]:
    def load() -> ExecutionObservation | None:
        context = target.context or pipeline.job_context(request.job_id)
        return pipeline.execution(context.pipeline, context.execution_id) if context.execution_id else None

    return load


def send(job_id: str, reply: answer.JobAnswer) -> None:
    if reply.kind == "failure":
        pipeline.fail_job(job_id, "JobFailed", reply.text)
    else:
        pipeline.succeed_job(
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


def decide_and_answer(request: JobRequest, rt: Runtime, gating: Gating) -> dict[str, Any]:
    """Decide, record, answer. A ConfigurationProblem is raised before anything is answered."""
    target = resolve(request)
    logger.append_keys(pipeline=target.pipeline, stage=target.stage)
    gate = gate_of(gating, target)
    now = rt.clock()
    board = rt.switches.read()
    pause = board.pause(core.DUTY, now)
    if pause is not None:
        reply = let_through_paused(pause, target, rt, request.job_id)
        decision_id = reply.output_variables["decision_id"]
    else:
        progress = answer.Progress.parse(request.continuation_token, now)
        decided = core.decide(gate, board, now, execution=execution_loader(request, target))
        reply = answer.plan(decided.decision, gate, progress, now)
        core.record(decided, rt, action="gate", outcome=reply.outcome, correlation_id=request.job_id)
        decision_id = decided.decision.id
    send(request.job_id, reply)
    return {"status": "answered", "answer": reply.kind, "outcome": reply.outcome, "decision_id": decision_id}


def unexpected(request: JobRequest, error: Exception) -> dict[str, Any]:
    """Answer a job that could not be decided; raise only if even that fails, so Lambda retries."""
    logger.exception("gate failed", extra={"error": type(error).__name__})
    metrics.add_metric(name="GateError", unit=MetricUnit.Count, value=1)
    message = (
        f"Deckhand gate could not decide ({type(error).__name__}: {str(error)[:300]}). "
        f"Retry the stage; if it fails again, read the gate function's logs for job {request.job_id}."
    )
    return _fail(request, "JobFailed", message, "error")


def _fail(request: JobRequest, kind: str, message: str, status: str) -> dict[str, Any]:
    try:
        pipeline.fail_job(request.job_id, kind, message)
    except Exception as error:
        if pipeline.already_answered(error):
            return {"status": "already-answered"}
        raise
    return {"status": status, "answer": "failure", "failure_type": kind, "message": message}


def answer_job(request: JobRequest, rt: Callable[[], Runtime], gating: Callable[[], Gating]) -> dict[str, Any]:
    try:
        return decide_and_answer(request, rt(), gating())
    except (ConfigurationProblem, SettingsError) as problem:
        logger.warning("gate configuration problem", extra={"problem": str(problem)})
        metrics.add_metric(name="GateConfigurationError", unit=MetricUnit.Count, value=1)
        return _fail(request, "ConfigurationError", f"Deckhand gate: {problem}", "configuration-error")
    except Exception as error:
        if pipeline.already_answered(error):
            logger.warning("job already answered")
            return {"status": "already-answered"}
        return unexpected(request, error)


def _guarded(table: str, context: LambdaContext | None) -> Callable[..., dict[str, Any]]:
    """`answer_job`, run once per delivery: a repeated delivery gets the first one's result."""
    config = IdempotencyConfig(expires_after_seconds=DELIVERY_MEMORY_SECONDS)
    if context is not None:
        config.register_lambda_context(context)
    layer = DynamoDBPersistenceLayer(table_name=table, boto3_client=client("dynamodb"))

    def once(
        *, delivery: dict[str, Any], request: JobRequest, rt: Callable[[], Runtime], gating: Callable[[], Gating]
    ) -> dict[str, Any]:
        return answer_job(request, rt, gating)

    guarded: Callable[..., dict[str, Any]] = idempotent_function(
        data_keyword_argument="delivery", persistence_store=layer, config=config
    )(once)
    return guarded


def run_job(
    event: dict[str, Any],
    rt: Callable[[], Runtime],
    gating: Callable[[], Gating],
    context: LambdaContext | None = None,
) -> dict[str, Any]:
    request = JobRequest.from_event(event)
    logger.append_keys(job_id=request.job_id)
    table = os.environ.get(IDEMPOTENCY_ENV, "").strip()
    if not table:
        return _fail(
            request,
            "ConfigurationError",
            f"Deckhand gate: {IDEMPOTENCY_ENV} is not set (the stack sets it); redeploy the stack.",
            "configuration-error",
        )
    delivery = {"job_id": request.job_id, "continuation_token": request.continuation_token}
    try:
        return _guarded(table, context)(delivery=delivery, request=request, rt=rt, gating=gating)
    except IdempotencyAlreadyInProgressError:
        logger.info("duplicate delivery of a job in progress; the first delivery answers it")
        return {"status": "duplicate", "job_id": request.job_id}
    except Exception as error:  # the idempotency store failed before the job was answered
        if pipeline.already_answered(error):
            return {"status": "already-answered"}
        return unexpected(request, error)
