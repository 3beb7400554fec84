"""Pure: which approval an event announces, which gate answers for it, and what to tell the humans."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from functions.gating.answer import next_steps
from functions.gating.model import Decision
from functions.gating.pipeline import console_link
from functions.gating.policy import Gate, Gating
from functions.shared.events import EventBridgeEvent
from functions.shared.notify import Notice
from functions.shared.refusal import cap
from functions.shared.switches import SwitchState

DUTY = "gating"


@dataclass(frozen=True)
class Approval:
    pipeline: str
    stage: str
    action: str
    execution_id: str
    region: str
    action_execution_id: str = ""

    @property
    def where(self) -> str:
        return f"{self.pipeline}/{self.stage}/{self.action}"


class _ActionType(BaseModel):
    category: str
    provider: str = ""


class _Detail(BaseModel):
    pipeline: str = Field(min_length=1, max_length=100)  # CodePipeline's name limits
    stage: str = Field(min_length=1, max_length=100)
    action: str = Field(min_length=1, max_length=100)
    execution_id: str = Field(alias="execution-id", min_length=1, max_length=200)
    action_execution_id: str = Field("", alias="action-execution-id", max_length=200)
    state: str
    region: str = ""
    type: _ActionType


class ActionStateChange(EventBridgeEvent):
    detail_type: Literal["CodePipeline Action Execution State Change"] = Field(alias="detail-type")
    detail: _Detail  # the envelope's detail, typed


def approval_of(event: Any) -> Approval | None:
    """The approval an event announces, or None when it is not a Manual approval action reaching STARTED."""
    try:
        parsed = ActionStateChange.model_validate(event)
    except ValidationError:
        return None
    detail, region = parsed.detail, parsed.region
    if detail.state != "STARTED" or detail.type.category != "Approval":
        return None
    return Approval(
        pipeline=detail.pipeline,
        stage=detail.stage,
        action=detail.action,
        execution_id=detail.execution_id,
        region=cap(detail.region or region),
        action_execution_id=detail.action_execution_id,
    )


def candidates(gating: Gating, pipeline: str) -> list[Gate]:
    return [gate for gate in gating.gates if gate.pipeline == pipeline]


def left_to_humans(approval: Approval, decision: Decision, gate: Gate) -> Notice:
    steps = "; ".join(next_steps(decision, gate)) or "check the decision in the Deckhand audit table"
    return Notice(
        duty=DUTY,
        severity="warning",
        subject=f"{approval.pipeline}: approval {approval.action} left to you ({decision.verdict})",
        what=f"Deckhand did not approve {approval.where} (execution {approval.execution_id}): "
        f"the gate for {gate.pipeline}/{gate.stage} says {decision.verdict} (decision {decision.id}).",
        why="; ".join(decision.reasons) or decision.verdict,
        next_step=f"Approve or reject it yourself at {console_link(approval.region, approval.pipeline)} "
        f"once you have looked; or {steps}.",
    )


def would_approve(approval: Approval, decision: Decision) -> Notice:
    return Notice(
        duty=DUTY,
        severity="info",
        subject=f"{approval.pipeline}: would approve {approval.action} (dry run)",
        what=f"Deckhand would have approved {approval.where} (execution {approval.execution_id}); "
        f"decision {decision.id} proceeds.",
        why="Approvals run in dry run (the policy's defaults.dry_run): Deckhand decides and records, never approves.",
        next_step=f"Approve it yourself at {console_link(approval.region, approval.pipeline)}; set "
        "defaults.dry_run: false in the policy to let Deckhand approve green gates.",
    )


def paused(approval: Approval, pause: SwitchState) -> Notice:
    return Notice(
        duty=DUTY,
        severity="info",
        subject=f"{approval.pipeline}: approval {approval.action} left to you (gating paused)",
        what=f"Deckhand did not look at {approval.where} (execution {approval.execution_id}).",
        why=f"Gating is paused ({pause.name}) by {pause.set_by or 'someone'}: {pause.reason or 'no reason given'}.",
        next_step=f"Approve or reject it yourself at {console_link(approval.region, approval.pipeline)}.",
    )
