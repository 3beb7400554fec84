"""The one entry of every Deckhand function: `@entry` on each `handler`.

It binds the invocation to the logger (Lambda context keys, and the request id as correlation id, the
same id the audit records carry), flushes the EMF metrics when the invocation ends, and answers the one
way every function answers: a `Refused` that reaches it is the `rejected` answer; any other error is
logged and raised, so Lambda counts it, retries it and dead-letters it. The event is never logged whole:
the gate's job event carries live artifact credentials.

Traces come from Lambda's active tracing (the function's own segments), without the X-Ray SDK, in
maintenance since 2026-02-25.

What every function does first in Lambda's init phase is in init_phase.py, imported before anything else.
"""

from __future__ import annotations

from . import init_phase  # noqa: F401 - first of all: init_phase.py says why

# isort: split
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from .observability import logger, metrics
from .refusal import Refused, rejected

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

Handler = Callable[[Any, "LambdaContext"], dict[str, Any]]


def entry(handler: Handler) -> Handler:
    @functools.wraps(handler)
    def answered(event: Any, context: LambdaContext) -> dict[str, Any]:
        logger.set_correlation_id(context.aws_request_id)
        try:
            return handler(event, context)
        except Refused as refused:
            logger.warning("invocation rejected", extra={"problems": refused.problems})
            metrics.add_metric(name="InvocationRejected", unit=MetricUnit.Count, value=1)
            return rejected(refused)
        except Exception:
            logger.exception("invocation failed")
            raise

    return logger.inject_lambda_context(clear_state=True, log_event=False)(metrics.log_metrics(answered))
