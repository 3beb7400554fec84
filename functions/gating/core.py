"""One gate decision, as the Invoke action, the console and the approver make it: observe, decide, record.

The execution being gated is read only when it could change the verdict: when an enforced check
blocks that the gate's exemption may waive. A green gate so costs no CodePipeline call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from functions.gating import observe
from functions.gating.decide import evaluate
from functions.gating.model import Decision, ExecutionObservation, Observations
from functions.gating.observe import Adapters
from functions.gating.policy import Gate
from functions.shared.audit import AuditRecord, new_id
from functions.shared.observability import NAMESPACE, logger, metrics
from functions.shared.runtime import Runtime
from functions.shared.switches import SwitchBoard, SwitchState

DUTY = "gating"

ExecutionLoader = Callable[[], ExecutionObservation | None]


@dataclass(frozen=True)
class Decided:
    decision: Decision
    observations: Observations


def subject(pipeline: str, stage: str) -> str:
    return f"pipeline/{pipeline}/{stage}"


def could_exempt(gate: Gate, decision: Decision) -> bool:
    rules = gate.exemption
    if not (rules.rollbacks or rules.variable):
        return False
    return any(check.blocking and check.check in rules.waive for check in decision.checks)


def decide(
    gate: Gate, board: SwitchBoard, now: datetime, aws: Adapters, *, execution: ExecutionLoader | None = None
) -> Decided:
    observations = observe.gather(gate, board, now, aws.cloudwatch, aws.pipelines)
    decision = evaluate(gate, observations, now, decision_id=new_id())
    if execution is not None and could_exempt(gate, decision):
        seen = execution()
        if seen is not None:
            observations = replace(observations, execution=seen)
            decision = evaluate(gate, observations, now, decision_id=decision.id)
    return Decided(decision, observations)


def document(decision: Decision) -> dict[str, Any]:
    return {
        "id": decision.id,
        "pipeline": decision.pipeline,
        "stage": decision.stage,
        "verdict": decision.verdict,
        "reasons": decision.reasons,
        "next_open": decision.next_open.isoformat() if decision.next_open else None,
        "exemption": decision.exemption,
        "decided_at": decision.decided_at.isoformat(),
        "checks": [
            {
                "check": c.check,
                "mode": c.mode,
                "outcome": c.outcome,
                "reason": c.reason,
                "exempted": c.exempted,
                "blocking": c.blocking,
                "would_have_blocked": c.would_have_blocked,
            }
            for c in decision.checks
        ],
    }


def count(decision: Decision) -> None:
    with single_metric(name="Decision", unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="verdict", value=decision.verdict)
    shadow = [c.check for c in decision.checks if c.would_have_blocked]
    if shadow:
        metrics.add_metric(name="ShadowWouldBlock", unit=MetricUnit.Count, value=len(shadow))
        logger.warning(
            "shadow checks would have blocked",
            extra={"decision_id": decision.id, "checks": shadow, "reasons": decision.reasons},
        )


def record(
    decided: Decided,
    rt: Runtime,
    *,
    action: str,
    outcome: str,
    actor: str = "deckhand",
    correlation_id: str = "",
    dry_run: bool = False,
    counted: bool = True,
) -> None:
    decision = decided.decision
    rt.audit.record(
        AuditRecord(
            duty=DUTY,
            action=action,
            subject=subject(decision.pipeline, decision.stage),
            outcome=outcome,
            reason="; ".join(decision.reasons) or "all checks passed",
            dry_run=dry_run,
            at=decision.decided_at,
            inputs=observe.summary(decided.observations),
            after=document(decision),
            actor=actor,
            correlation_id=correlation_id,
            id=decision.id,
        )
    )
    if counted:
        count(decision)
    logger.info(
        "gate decision",
        extra={"decision_id": decision.id, "verdict": decision.verdict, "outcome": outcome, "action": action},
    )


def record_paused(
    pause: SwitchState, pipeline: str, stage: str, rt: Runtime, *, action: str, outcome: str, correlation_id: str = ""
) -> str:
    """Audit that gating did not decide because it is paused; returns the record id."""
    record_id = new_id()
    rt.audit.record(
        AuditRecord(
            duty=DUTY,
            action=action,
            subject=subject(pipeline, stage),
            outcome=outcome,
            reason=f"{pause.name} by {pause.set_by or 'someone'}: {pause.reason}",
            dry_run=False,
            at=rt.clock(),
            inputs={"pause": pause.document()},
            correlation_id=correlation_id,
            id=record_id,
        )
    )
    metrics.add_metric(name="GatePaused", unit=MetricUnit.Count, value=1)
    logger.warning("gating paused", extra={"switch": pause.name, "pipeline": pipeline, "stage": stage})
    return record_id
