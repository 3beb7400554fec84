"""The `approver` function: answer a Manual approval for Deckhand when the gate is green.

EventBridge sends `CodePipeline Action Execution State Change` for an approval action reaching
STARTED. The gate that answers is the policy's gate of that pipeline whose stage comes first after
the approval's stage (one GetPipeline call), when that gate lists the approval (`approvals:
[STAGE/ACTION]`); none when no gated stage follows: an approval after the gated stages stays with
humans. The stack grants PutApprovalResult only on the listed approval actions. It decides as the Invoke action would,
records the decision, and:

- proceed: approves (token from GetPipelineState) with a summary naming the decision id;
- wait or block: leaves the approval to humans and notifies them why, what to do, and where.

It never rejects: saying no stays human. Dry run (the policy's defaults.dry_run) decides, records
and notifies what it would do, and never approves. Paused gating leaves the approval to humans.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from functions.gating import core, pipeline
from functions.gating.answer import approval_summary
from functions.gating.config import gating
from functions.gating.model import ExecutionObservation
from functions.gating.observe import Adapters
from functions.gating.pipeline import Pipelines
from functions.gating.policy import Gate, Gating, gate_after
from functions.shared.observability import ignored_and_counted, logger
from functions.shared.runtime import Runtime, runtime

from . import plan
from .plan import Approval


def choose_gate(approval: Approval, policy: Gating, pipelines: Pipelines) -> Gate | None:
    """The gate of the first gated stage after the approval's, whatever the number of gates: an approval
    after every gated stage (or beside one) is not Deckhand's to answer."""
    gates = plan.candidates(policy, approval.pipeline)
    if not gates:
        return None
    gate = gate_after(gates, pipelines.stage_names(approval.pipeline), approval.stage)
    return gate if gate is not None and gate.answers(approval.stage, approval.action) else None


def approve(approval: Approval, decided: core.Decided, pipelines: Pipelines) -> str:
    """Approve; "approved", or "already-answered" when a human (or a twin event) was first.

    The token comes from GetPipelineState, which shows none for a pipeline in PARALLEL execution mode:
    such approvals are left to humans too.
    """
    state = pipelines.pipeline_state(approval.pipeline)
    token = pipeline.pending_approval_token(state, approval.stage, approval.action, approval.action_execution_id)
    if token is None:
        return "already-answered"
    try:
        pipelines.approve(approval.pipeline, approval.stage, approval.action, token, approval_summary(decided.decision))
    except ClientError as error:
        if error.response["Error"].get("Code") not in (
            "ApprovalAlreadyCompletedException",
            "InvalidApprovalTokenException",
        ):
            raise
        return "already-answered"
    return "approved"


def not_ours(reason: str) -> dict[str, Any]:
    return ignored_and_counted(reason, by="approver", metric="ApproverIgnored")


def run(
    event: Any,
    rt: Runtime,
    policy: Gating,
    correlation_id: str = "",
    aws: Adapters | None = None,
) -> dict[str, Any]:
    """The testable core: the AWS adapters unless others are given (the tests' twins)."""
    approval = plan.approval_of(event)
    if approval is None:
        return not_ours("not a Manual approval action reaching STARTED")
    aws = aws or Adapters.of_aws()
    gate = choose_gate(approval, policy, aws.pipelines)
    if gate is None:
        return not_ours(f"no gated stage with approvals stands after {approval.where}: left to humans")
    logger.append_keys(pipeline=approval.pipeline, stage=approval.stage, execution_id=approval.execution_id)
    now = rt.clock()
    board = rt.switches.read(fresh=True)  # as the gate's: an approval is a deploy decision (gate/job.py)
    pause = board.pause(core.DUTY, now)
    if pause is not None:
        core.record_paused(
            pause, gate.pipeline, gate.stage, rt, action="approve", outcome="paused", correlation_id=correlation_id
        )
        rt.notifier.send(plan.paused(approval, pause))
        return {"status": "paused", "switch": pause.name}

    def execution() -> ExecutionObservation | None:
        """The event's execution, for an exemption; an id CodePipeline does not know exempts nothing."""
        found = aws.pipelines.find_execution(approval.pipeline, approval.execution_id)
        return pipeline.to_execution(found) if found is not None else None

    decided = core.decide(gate, board, now, aws, execution=execution)
    decision = decided.decision
    dry_run = rt.dry_run(None)
    if decision.verdict != "proceed":
        outcome = "left-to-humans"
        rt.notifier.send(plan.left_to_humans(approval, decision, gate))
    elif dry_run:
        outcome = "would-approve"
        rt.notifier.send(plan.would_approve(approval, decision))
    else:
        outcome = approve(approval, decided, aws.pipelines)
    core.record(decided, rt, action="approve", outcome=outcome, correlation_id=correlation_id, dry_run=dry_run)
    return {"status": outcome, "dry_run": dry_run, "decision": core.document(decision)}


def invoked(event: Any, correlation_id: str) -> dict[str, Any]:
    """The work of one invocation, with the container's runtime and policy."""
    return run(event, runtime(), gating(), correlation_id=correlation_id)
