"""Pure: turn a gate decision into what CodePipeline is told, within its length limits.

proceed -> success with output variables; wait -> success with a continuation token until the
gate's timeout (counted from the first check), then failure; block -> failure that says what
blocked, why, and what to do next.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from functions.gating.model import CheckResult, Decision
from functions.gating.pipeline import (
    MAX_APPROVAL_SUMMARY,
    MAX_CONTINUATION_TOKEN,
    MAX_EXECUTION_SUMMARY,
    MAX_FAILURE_MESSAGE,
    MAX_OUTPUT_VALUE,
    clip,
)
from functions.gating.policy import Gate
from functions.shared.clock import parse_instant
from functions.shared.switches import SwitchState

CLEAR_FREEZE = (
    'invoke the switches function with {"action": "clear", "switch": "freeze", "reason": "...", "dry_run": false}'
)
REASON_CHARS = 600  # per reason, so that one long reason cannot push out the others

Kind = Literal["success", "continue", "failure"]


MAX_ATTEMPT = 100_000  # a day of checks a second apart: more is no token of ours


@dataclass(frozen=True)
class Progress:
    """What the continuation token carries from one check of a job to the next."""

    first_seen: datetime
    attempt: int = 1

    def token(self) -> str:
        text = json.dumps({"v": 1, "first_seen": self.first_seen.isoformat(), "attempt": self.attempt})
        assert len(text) <= MAX_CONTINUATION_TOKEN
        return text

    def next(self) -> Progress:
        return Progress(self.first_seen, self.attempt + 1)

    @classmethod
    def parse(cls, token: str | None, now: datetime) -> Progress:
        """A job's first check has no token; a token we cannot read restarts the clock rather than fail the job."""
        if not token:
            return cls(now)
        try:
            data = json.loads(token)
            first = parse_instant(str(data["first_seen"])).astimezone(UTC)  # year 1 at +14:00 overflows here
            attempt = min(max(1, int(data.get("attempt", 1))), MAX_ATTEMPT)
        except (ValueError, KeyError, TypeError, OverflowError):
            return cls(now)
        return cls(first if first <= now else now, attempt)


@dataclass(frozen=True)
class JobAnswer:
    kind: Kind
    outcome: str  # for the audit record: proceed | wait | block | timed-out | paused
    text: str  # the execution summary (success, continue) or the failure message (failure)
    output_variables: dict[str, str] = field(default_factory=dict)
    token: str | None = None
    percent: int | None = None


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def reasons(decision: Decision) -> list[str]:
    return [clip(reason, REASON_CHARS) for reason in decision.reasons]


def headline(decision: Decision) -> str:
    where = f"{decision.pipeline}/{decision.stage}"
    return f"Deckhand gate: {decision.verdict} for {where} (decision {decision.id})"


def _check_line(check: CheckResult) -> str:
    mode = "" if check.mode == "enforce" else f" [{check.mode}]"
    waived = " [waived]" if check.exempted else ""
    return f"{check.check}{mode}{waived}: {check.outcome}: {clip(check.reason, REASON_CHARS)}"


def next_step(check: CheckResult, gate: Gate, next_open: datetime | None) -> str:
    if check.check == "alarms":
        return "alarms: find and fix what the alarms report; once they are OK, Retry the stage"
    if check.check == "window":
        opens = f" at {_utc(next_open)}" if next_open else ""
        return f"window: wait for the deployment window to open{opens}, then Retry the stage"
    if check.check == "freeze":
        return f"freeze: wait for the freeze to expire, or lift it: {CLEAR_FREEZE}; then Retry the stage"
    if check.check == "bake":
        after = gate.bake.after_stage if gate.bake else "the previous stage"
        return f"bake: let {after} bake (time and traffic as the policy asks), then Retry the stage"
    return "error_budget: the service burns its error budget too fast; fix it and Retry once the burn rate drops"


def next_steps(decision: Decision, gate: Gate) -> list[str]:
    steps = [next_step(c, gate, decision.next_open) for c in decision.checks if c.blocking]
    exemption = gate.exemption
    waivable = any(c.blocking and c.check in exemption.waive for c in decision.checks)
    if exemption.variable and exemption.values and waivable:
        steps.append(
            f"a fix-forward may skip {', '.join(exemption.waive)}: start the pipeline with the variable "
            f"{exemption.variable}={exemption.values[0]} (it is recorded as an exemption)"
        )
    return steps


def output_variables(decision: Decision) -> dict[str, str]:
    listed = "; ".join(reasons(decision)) or "all checks passed"
    return {
        "decision": decision.verdict,
        "reasons": clip(listed, MAX_OUTPUT_VALUE),
        "decision_id": decision.id,
    }


def success_summary(decision: Decision) -> str:
    lines = [headline(decision)]
    if decision.exemption:
        lines.append(f"exemption: {decision.exemption}")
    lines += [_check_line(c) for c in decision.checks] or ["no check is on for this gate"]
    return clip("\n".join(lines), MAX_EXECUTION_SUMMARY)


def wait_summary(decision: Decision, progress: Progress, deadline: datetime) -> str:
    lines = [
        f"{headline(decision)}: waiting (check {progress.attempt}, since {_utc(progress.first_seen)}, "
        f"gives up at {_utc(deadline)})",
        *reasons(decision),
    ]
    return clip("\n".join(lines), MAX_EXECUTION_SUMMARY)


def failure_message(decision: Decision, gate: Gate, *, waited: timedelta | None = None) -> str:
    where = f"{decision.pipeline}/{decision.stage}"
    if waited is not None:
        head = f"Deckhand gate blocked {where}: still not clear after {int(waited.total_seconds() // 60)} min"
        head += f" (timeout_minutes={gate.timeout_minutes})."
    else:
        head = f"Deckhand gate blocked {where}."
    parts = [
        f"{head} Decision {decision.id} (in the Deckhand audit table).",
        "Blocked by:\n" + "\n".join(f"- {r}" for r in reasons(decision)),
        "What to do next:\n" + "\n".join(f"- {s}" for s in next_steps(decision, gate)),
    ]
    return clip("\n\n".join(parts), MAX_FAILURE_MESSAGE)


def deadline_of(gate: Gate, progress: Progress) -> datetime:
    return progress.first_seen + timedelta(minutes=gate.timeout_minutes)


def plan(decision: Decision, gate: Gate, progress: Progress, now: datetime) -> JobAnswer:
    if decision.verdict == "proceed":
        return JobAnswer("success", "proceed", success_summary(decision), output_variables(decision))
    if decision.verdict == "block":
        return JobAnswer("failure", "block", failure_message(decision, gate))
    deadline = deadline_of(gate, progress)
    if now >= deadline:
        return JobAnswer("failure", "timed-out", failure_message(decision, gate, waited=now - progress.first_seen))
    if decision.next_open is not None and decision.next_open > deadline:
        # The window opens after this job would give up: waiting for it only holds the pipeline.
        return JobAnswer("failure", "block", failure_message(decision, gate))
    elapsed = (now - progress.first_seen) / (deadline - progress.first_seen)
    return JobAnswer(
        "continue",
        "wait",
        wait_summary(decision, progress, deadline),
        token=progress.next().token(),
        percent=min(99, int(elapsed * 100)),
    )


def pause_text(pause: SwitchState, where: str) -> str:
    until = _utc(pause.expires_at) if pause.expires_at else "it is cleared"
    who = pause.set_by or "someone"
    return (
        f"Deckhand gating is PAUSED ({pause.name}) by {who} until {until}: {pause.reason or 'no reason given'}. "
        f"{where} was NOT checked and is let through."
    )


def paused_answer(pause: SwitchState, where: str, record_id: str) -> JobAnswer:
    text = pause_text(pause, where)
    variables = {"decision": "paused", "reasons": clip(text, MAX_OUTPUT_VALUE), "decision_id": record_id}
    return JobAnswer("success", "paused", clip(text, MAX_EXECUTION_SUMMARY), variables)


def approval_summary(decision: Decision) -> str:
    passed = ", ".join(c.check for c in decision.checks if not c.blocking) or "no check"
    text = f"Approved by Deckhand: decision {decision.id} proceeds ({passed} passed)"
    if decision.exemption:
        text += f"; exemption: {decision.exemption}"
    return clip(text, MAX_APPROVAL_SUMMARY)
