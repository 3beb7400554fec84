"""The console binding: `{"action": "evaluate", "pipeline": "web-app", "stage": "Deploy"}` decides now.

It observes and decides exactly as the Invoke action would, records the decision, and acts on
nothing: no job is answered, no approval given. `execution_id` (optional) lets the exemption see
that execution, as the Invoke action would for its own.
"""

from __future__ import annotations

from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from functions.gating import answer, core, observe
from functions.gating.model import ExecutionObservation
from functions.gating.observe import Adapters
from functions.gating.policy import Gating
from functions.shared.observability import logger
from functions.shared.refusal import Refused, cap, rejected
from functions.shared.runtime import Runtime

EXAMPLE = '{"action": "evaluate", "pipeline": "web-app", "stage": "Deploy"}'


class EvaluateCommand(BaseModel):
    """The console payload. Strict: a string is no boolean, and no key is guessed."""

    model_config = ConfigDict(extra="forbid", strict=True)

    action: Literal["evaluate"]
    pipeline: str = Field(min_length=1, max_length=100)  # CodePipeline's name limits
    stage: str = Field(min_length=1, max_length=100)
    execution_id: str | None = Field(default=None, min_length=1, max_length=200)
    actor: str = Field(default="console", min_length=1)  # capped wherever it is echoed or stored
    dry_run: bool | None = None  # evaluate never acts either way


def command_of(payload: Any, gating: Gating) -> EvaluateCommand:
    if not isinstance(payload, dict):
        raise Refused([f"expected a JSON object like {EXAMPLE}, got {type(payload).__name__}"])
    try:
        command = EvaluateCommand.model_validate(payload)
    except ValidationError as invalid:
        raise Refused.from_validation(invalid) from None
    if gating.gate(command.pipeline, command.stage) is None:
        gated = ", ".join(f"{g.pipeline}/{g.stage}" for g in gating.gates) or "none"
        raise Refused([f"{cap(command.pipeline)}/{cap(command.stage)} is not gated by the policy; gated: {gated}"])
    return command


def evaluate_now(
    payload: Any,
    rt: Runtime,
    gating: Gating,
    aws: Adapters,
    correlation_id: str = "",
) -> dict[str, Any]:
    try:
        command = command_of(payload, gating)
    except Refused as refused:
        logger.warning("evaluate rejected", extra={"problems": refused.problems})
        return rejected(refused)
    gate = gating.gate(command.pipeline, command.stage)
    assert gate is not None
    now = rt.clock()
    board = rt.switches.read(fresh=True)
    execution_id = command.execution_id

    def load() -> ExecutionObservation:
        assert execution_id is not None
        try:
            return aws.pipelines.execution(gate.pipeline, execution_id)
        except ClientError as error:
            message = error.response.get("Error", {}).get("Message", "")
            raise Refused([f"execution_id: {execution_id!r}: {message}"]) from None

    try:
        decided = core.decide(gate, board, now, aws, execution=load if execution_id else None)
    except Refused as unknown:
        return rejected(unknown)
    decision = decided.decision
    core.record(
        decided,
        rt,
        action="evaluate",
        outcome=decision.verdict,
        actor=cap(command.actor),
        correlation_id=correlation_id,
        counted=False,
    )
    pause = board.pause(core.DUTY, now)
    return {
        "status": "ok",
        "acted": False,
        "decision": core.document(decision),
        "next_steps": answer.next_steps(decision, gate),
        "paused": answer.pause_text(pause, f"{gate.pipeline}/{gate.stage}") if pause else None,
        "observed": observe.summary(decided.observations),
    }
