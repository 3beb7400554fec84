"""Pure: the notice for a failed or stopped pipeline execution: what, why, what next, and where."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from functions.gating.pipeline import FailedAction, console_link
from functions.shared.events import EventBridgeEvent
from functions.shared.notify import Notice
from functions.shared.refusal import cap

if TYPE_CHECKING:
    from mypy_boto3_codepipeline.type_defs import PipelineExecutionTypeDef

STATES = ("FAILED", "STOPPED")
DUTY = "gating"
WATCHDOG = "Deckhand watchdog:"
GATE = "Deckhand gate"


@dataclass(frozen=True)
class Ended:
    pipeline: str
    execution_id: str
    state: str  # FAILED | STOPPED
    region: str
    at: str
    event_id: str = ""


class _Detail(BaseModel):
    pipeline: str = Field(min_length=1, max_length=100)  # CodePipeline's PipelineName limits
    execution_id: str = Field(alias="execution-id", min_length=1, max_length=200)
    state: str


class ExecutionStateChange(EventBridgeEvent):
    detail_type: Literal["CodePipeline Pipeline Execution State Change"] = Field(alias="detail-type")
    detail: _Detail  # the envelope's detail, typed


def ended_of(event: Any) -> Ended | None:
    """A pipeline execution that FAILED or was STOPPED, or None for any other event."""
    try:
        parsed = ExecutionStateChange.model_validate(event)
    except ValidationError:
        return None
    if parsed.detail.state not in STATES:
        return None
    return Ended(
        pipeline=parsed.detail.pipeline,
        execution_id=parsed.detail.execution_id,
        state=parsed.detail.state,
        region=cap(parsed.region),
        at=parsed.time.isoformat(),
        event_id=cap(parsed.id),
    )


def _kind(execution: PipelineExecutionTypeDef | None) -> str:
    """None: CodePipeline no longer knows the execution (a late redelivery, a deleted pipeline)."""
    return "rollback execution" if execution and execution.get("executionType") == "ROLLBACK" else "execution"


def failed(ended: Ended, execution: PipelineExecutionTypeDef | None, action: FailedAction | None) -> Notice:
    link = console_link(ended.region, ended.pipeline)
    where = f" in stage {action.stage}" + (f", action {action.action}" if action.action else "") if action else ""
    why = (action.message if action and action.message else "") or (execution or {}).get("statusSummary", "")
    if action and action.message.startswith(GATE):
        next_step = f"Do what the gate's message says, then Retry the stage at {link}"
    else:
        next_step = f"Open the failed action's details and logs at {link}, fix the cause, then Retry the stage."
    return Notice(
        duty=DUTY,
        severity="warning",
        subject=f"{ended.pipeline} FAILED{where}",
        what=f"Pipeline {ended.pipeline} {_kind(execution)} {ended.execution_id} failed{where} at {ended.at}.",
        why=(f"[{action.code}] " if action and action.code else "") + (why or "CodePipeline gave no error message."),
        next_step=next_step,
    )


def stopped(ended: Ended, execution: PipelineExecutionTypeDef | None, reason: str) -> Notice:
    """`reason` is the execution's stopTrigger.reason (ListPipelineExecutions), as whoever stopped it wrote it."""
    link = console_link(ended.region, ended.pipeline)
    by_deckhand = reason.startswith(WATCHDOG)
    who = "the Deckhand watchdog" if by_deckhand else "someone (see CloudTrail StopPipelineExecution for who)"
    next_step = (
        f"Find why the alarm fired; roll back by hand if the stage deployed part of the change: {link}"
        if by_deckhand
        else f"Release the change again when ready: {link}"
    )
    return Notice(
        duty=DUTY,
        severity="warning" if by_deckhand else "info",
        subject=f"{ended.pipeline} STOPPED" + (" by the Deckhand watchdog" if by_deckhand else ""),
        what=f"Pipeline {ended.pipeline} {_kind(execution)} {ended.execution_id} was stopped by {who} at {ended.at}.",
        why=reason or "no reason was given",
        next_step=next_step,
    )
