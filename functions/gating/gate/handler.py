"""The `gate` function: may this CodePipeline deployment go now?

Two bindings of one decision (functions/gating/decide.py):

- the CodePipeline Invoke action (an event with "CodePipeline.job"): every job is answered:
  proceed -> success with output variables decision, reasons, decision_id; wait -> "in progress"
  with a continuation token, re-checked until the gate's timeout_minutes; block or timeout ->
  failure that says what blocked, why and what to do next. UserParameters
  `{"pipeline": ..., "stage": ...}` name the gated stage (else GetJobDetails does); a bad one, or a
  stage the policy does not gate, fails the job as a ConfigurationError. Blocked jobs are not
  notified here: the pipeline's FAILED notice (pipeline_notices) carries the gate's message.
- the console: `{"action": "evaluate", "pipeline": "web-app", "stage": "Deploy"}` decides now,
  records the decision, and acts on nothing.

Pause switches (pause-all, pause-gating): a pause means Deckhand stops acting, so a paused gate does
not hold deploys. It answers success with the output variable decision="paused", a summary saying
who paused gating, until when and why, audits it and sends a warning notice for every deploy it
lets through unchecked. To hold deploys, set the freeze switch instead: that is what it is for.
Dry-run does not apply to the gate: each check's mode (enforce, shadow, off) is its dry run.

Heavy modules (the policy model, idempotency) load on the first invocation, so importing this module costs little
more than boto3, which every function loads at init (functions/shared/init_phase.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from functions.shared.entry import entry
from functions.shared.init_phase import first_imports

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from functions.gating.policy import Gating
    from functions.shared.runtime import Runtime


def run(
    event: Any,
    rt: Callable[[], Runtime] | None = None,
    gating: Callable[[], Gating] | None = None,
    context: LambdaContext | None = None,
) -> dict[str, Any]:
    """The testable core. `rt` and `gating` are loaders (default: the container's), called inside the job
    path's error handling so that even a broken environment answers the job."""
    with first_imports():
        from . import bindings  # noqa: PLC0415 - init is boto3 +10.9 ms, the cold path with this import boto3 +62.2 ms (make bench)

    return bindings.route(event, rt or bindings.runtime, gating or bindings.gating, context)


@entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run(event, context=context)
