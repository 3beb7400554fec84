"""The fan-out's steps by payload: plan (the Map's items), scope (one item), aggregate (the organization report).

A payload that is none of them is rejected (Refused, answered by the entry); a step that cannot do its work raises,
so the execution fails and says why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from functions.shared.members import Home
from functions.shared.observability import logger
from functions.shared.refusal import Refused
from functions.shared.runtime import Runtime, runtime

from ..config import CleanupConfig, config
from ..kinds import KINDS
from ..kinds.base import Kind, KindName
from .aggregate import aggregate
from .messages import AggregateStep, PlanStep, ScopeStep
from .plan import plan
from .scope import scope

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

STEPS: Mapping[str, type[BaseModel]] = {"plan": PlanStep, "scope": ScopeStep, "aggregate": AggregateStep}


def parsed(event: Any) -> BaseModel:
    step = event.get("step") if isinstance(event, dict) else None
    model = STEPS.get(step) if isinstance(step, str) else None
    if model is None:
        raise Refused([f'step: expected one of {", ".join(STEPS)} in {{"step": ...}}, got {step!r}'])
    try:
        return model.model_validate(event)
    except ValidationError as invalid:
        raise Refused.from_validation(invalid) from None


def handle(
    step: BaseModel,
    rt: Runtime,
    cfg: CleanupConfig,
    *,
    home: Home,
    remaining_ms: Callable[[], int],
    kinds: Mapping[KindName, Kind] = KINDS,
) -> dict[str, Any]:
    if isinstance(step, PlanStep):
        planned = plan(step, cfg, now=rt.clock(), default_dry_run=rt.settings.default_dry_run)
        logger.info("cleanup fan-out planned", extra={"run_id": planned.run_id, "scopes": planned.scopes})
        return planned.model_dump()
    if isinstance(step, ScopeStep):
        return scope(step, rt, cfg, partition=home.partition, remaining_ms=remaining_ms, kinds=kinds)
    assert isinstance(step, AggregateStep)
    report = aggregate(step.plan, step.map, now=rt.clock())
    addresses = report.write()
    rt.notifier.send(report.notice(addresses))
    rt.audit.record(report.audit_record(addresses))
    answer = report.answer(addresses)
    logger.info("cleanup fan-out aggregated", extra={k: answer[k] for k in ("status", "run_id", "missing")})
    return answer


def invoked(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = parsed(event)  # refused before any setting is read
    home = Home.of(context.invoked_function_arn)
    return handle(step, runtime(), config(), home=home, remaining_ms=context.get_remaining_time_in_millis)
