"""Pure: which approval an event announces, which gate answers for it, and what to tell the humans."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from functions.gate.answer import next_steps
from functions.gating.model import Decision
from functions.gating.pipeline import console_link
from functions.gating.policy import Gate, Gating
from functions.shared.notify import Notice
from functions.shared.switches import SwitchState

DETAIL_TYPE = "CodePipeline Action Execution State Change"
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


def approval_of(event: Any) -> Approval | None:
    """The approval an event announces, or None when it is not a Manual approval action reaching STARTED."""
    if not isinstance(event, dict) or event.get("detail-type") != DETAIL_TYPE:
        return None
    detail = event.get("detail") or {}
    kind = detail.get("type") or {}
    if detail.get("state") != "STARTED" or kind.get("category") != "Approval":
        return None
    return Approval(
        pipeline=str(detail.get("pipeline", "")),
        stage=str(detail.get("stage", "")),
        action=str(detail.get("action", "")),
        execution_id=str(detail.get("execution-id", "")),
        region=str(detail.get("region") or event.get("region", "")),
        action_execution_id=str(detail.get("action-execution-id", "")),
    )


def candidates(gating: Gating, pipeline: str) -> list[Gate]:
    return [gate for gate in gating.gates if gate.pipeline == pipeline and gate.approvals]


def gate_after(gates: Sequence[Gate], stages: Sequence[str], approval_stage: str) -> Gate | None:
    """Of several gates of one pipeline, the one whose stage comes first after the approval's stage."""
    if approval_stage not in stages:
        return None
    by_stage = {gate.stage: gate for gate in gates}
    following = stages[stages.index(approval_stage) + 1 :]
    return next((by_stage[stage] for stage in following if stage in by_stage), None)


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
