"""Route one invocation of the gate function to its binding: a CodePipeline job or a console command."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from functions.gating.config import gating
from functions.gating.observe import Adapters
from functions.gating.policy import Gating
from functions.shared.runtime import Runtime, runtime

from .console import evaluate_now
from .job import JOB_KEY, run_job

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["gating", "route", "runtime"]


def route(
    event: Any,
    rt: Callable[[], Runtime],
    policy: Callable[[], Gating],
    context: LambdaContext | None,
    aws: Adapters | None = None,
) -> dict[str, Any]:
    """The gate's two bindings, through the AWS adapters unless others are given (the tests' twins)."""
    aws = aws or Adapters.of_aws()
    if isinstance(event, dict) and JOB_KEY in event:
        return run_job(event, rt, policy, context, aws)
    return evaluate_now(event, rt(), policy(), aws, correlation_id=context.aws_request_id if context else "")
