"""The console binding: `{"action": "evaluate", "pipeline": "web-app", "stage": "Deploy"}` decides now.

It observes and decides exactly as the Invoke action would, records the decision, and acts on
nothing: no job is answered, no approval given. `execution_id` (optional) lets the exemption see
that execution, as the Invoke action would for its own.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from functions.gating import observe, pipeline
from functions.gating.model import ExecutionObservation
from functions.gating.policy import Gating
from functions.shared.observability import logger
from functions.shared.runtime import Runtime

from . import answer, core


class UnknownExecution(ValueError):
    pass


KEYS = {"action", "pipeline", "stage", "execution_id", "actor", "dry_run"}
EXAMPLE = '{"action": "evaluate", "pipeline": "web-app", "stage": "Deploy"}'


def problems_of(payload: Any, gating: Gating) -> list[str]:
    if not isinstance(payload, dict):
        return [f"expected a JSON object like {EXAMPLE}, got {type(payload).__name__}"]
    problems = [f"{key}: unknown key; the keys are {', '.join(sorted(KEYS))}" for key in sorted(set(payload) - KEYS)]
    if payload.get("action") != "evaluate":
        problems.append(f"action: got {payload.get('action')!r}: expected 'evaluate', as in {EXAMPLE}")
    for key in ("pipeline", "stage"):
        if not isinstance(payload.get(key), str) or not payload[key]:
            problems.append(f"{key}: required, a non-empty string")
    for key in ("execution_id", "actor"):
        if key in payload and not isinstance(payload[key], str):
            problems.append(f"{key}: expected a string")
    if "dry_run" in payload and not isinstance(payload["dry_run"], bool):
        problems.append("dry_run: expected true or false (evaluate never acts either way)")
    if not problems and gating.gate(payload["pipeline"], payload["stage"]) is None:
        gated = ", ".join(f"{g.pipeline}/{g.stage}" for g in gating.gates) or "none"
        problems.append(f"{payload['pipeline']}/{payload['stage']} is not gated by the policy; gated: {gated}")
    return problems


def evaluate_now(payload: Any, rt: Runtime, gating: Gating, correlation_id: str = "") -> dict[str, Any]:
    problems = problems_of(payload, gating)
    if problems:
        logger.warning("evaluate rejected", extra={"problems": problems})
        return {"status": "rejected", "errors": problems, "acted": False}
    gate = gating.gate(payload["pipeline"], payload["stage"])
    assert gate is not None
    now = rt.clock()
    board = rt.switches.read(fresh=True)
    execution_id = payload.get("execution_id")

    def load() -> ExecutionObservation:
        try:
            return pipeline.execution(gate.pipeline, execution_id)
        except ClientError as error:
            raise UnknownExecution(
                f"execution_id: {execution_id!r}: {error.response['Error'].get('Message')}"
            ) from None

    try:
        decided = core.decide(gate, board, now, execution=load if execution_id else None)
    except UnknownExecution as unknown:
        return {"status": "rejected", "errors": [str(unknown)], "acted": False}
    decision = decided.decision
    core.record(
        decided,
        rt,
        action="evaluate",
        outcome=decision.verdict,
        actor=payload.get("actor", "console"),
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
