"""The gate's decision: pure, from the policy's gate and what the adapters observed, at a given instant.

A check in mode "off" is not evaluated and leaves no result. Outcomes: "block" will not clear by itself
within the gate's timeout (a freeze, a deny period, a burning error budget, a typo in the alarm
selection); "wait" may (an alarm, a window opening soon, bake time), so the Invoke action re-checks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from . import budget, windows
from .model import AlarmObservation, CheckResult, Decision, ExecutionObservation, Observations, Outcome, Verdict
from .policy import CHECKS, AlarmCheck, BakeCheck, ErrorBudgetCheck, Exemption, FreezeCheck, Gate, WindowCheck

_STATE_REASON_CHARS = 160


def evaluate(gate: Gate, observations: Observations, now: datetime, *, decision_id: str) -> Decision:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now.isoformat()}")
    now = now.astimezone(UTC)
    exemption = exemption_reason(gate.exemption, observations.execution)
    results = tuple(_results(gate, observations, now))
    if exemption:
        results = tuple(replace(r, exempted=True) if r.check in gate.exemption.waive else r for r in results)
    return Decision(
        id=decision_id,
        pipeline=gate.pipeline,
        stage=gate.stage,
        verdict=verdict_of(results),
        checks=results,
        decided_at=now,
        exemption=exemption,
    )


def verdict_of(results: Iterable[CheckResult]) -> Verdict:
    outcomes = {result.outcome for result in results if result.blocking}
    if "block" in outcomes:
        return "block"
    if "wait" in outcomes:
        return "wait"
    return "proceed"


def _results(gate: Gate, seen: Observations, now: datetime) -> Iterator[CheckResult]:
    if gate.alarms is not None and gate.alarms.mode != "off":
        yield check_alarms(gate.alarms, seen.alarms, now, unread=seen.alarms_unread)
    if gate.window is not None and gate.window.mode != "off":
        yield check_window(gate.window, now, gate.timeout_minutes)
    if gate.freeze.mode != "off":
        yield check_freeze(gate.freeze, seen)
    if gate.bake is not None and gate.bake.mode != "off":
        yield check_bake(gate.bake, seen, now)
    if gate.error_budget is not None and gate.error_budget.mode != "off":
        yield check_error_budget(gate.error_budget, seen)


# Alarms ---------------------------------------------------------------------------------------------


def check_alarms(
    check: AlarmCheck, alarms: Sequence[AlarmObservation], now: datetime, *, unread: str | None = None
) -> CheckResult:
    if unread is not None:  # an alarm not read says nothing about health: never proceed on it
        return CheckResult("alarms", check.mode, "block", unread)
    if not alarms:
        reason = f"the selection ({_selection(check)}) matched no alarm; check the names, prefixes and tags"
        return CheckResult("alarms", check.mode, "block", reason)
    problems: list[tuple[Outcome, str]] = []
    passed_by_policy = 0
    for alarm in sorted(alarms, key=_alarm_key):
        problem = _alarm_problem(check, alarm, now)
        if problem is not None:
            problems.append(problem)
        elif alarm.state == "INSUFFICIENT_DATA":
            passed_by_policy += 1
    if problems:
        outcome: Outcome = "block" if any(o == "block" for o, _ in problems) else "wait"
        return CheckResult("alarms", check.mode, outcome, "; ".join(text for _, text in problems))
    reason = f"{_count(len(alarms), 'alarm')} OK"
    if passed_by_policy:
        reason += f" ({passed_by_policy} with insufficient data, passed by policy)"
    return CheckResult("alarms", check.mode, "pass", reason)


def _alarm_key(alarm: AlarmObservation) -> tuple[str, str, str, str, float, float]:
    muted = alarm.muted_until.timestamp() if alarm.muted_until is not None else -math.inf
    return (alarm.name, alarm.kind, alarm.state, alarm.reason, alarm.updated.timestamp(), muted)


def _alarm_problem(check: AlarmCheck, alarm: AlarmObservation, now: datetime) -> tuple[Outcome, str] | None:
    label = alarm.name if alarm.kind == "metric" else f"{alarm.name} (composite)"
    if alarm.muted_until is not None and alarm.muted_until > now:
        # Muted actions say nothing about health: wait for the mute to end and the alarm to speak.
        return "wait", f"{label} muted until {_utc(alarm.muted_until)} (state {alarm.state})"
    if alarm.state == "ALARM":
        return "wait", f"{label} in ALARM: {_shorten(alarm.reason)}"
    if alarm.state == "INSUFFICIENT_DATA" and check.insufficient_data != "pass":
        return check.insufficient_data, f"{label} has insufficient data"
    return None


def _selection(check: AlarmCheck) -> str:
    parts = []
    if check.names:
        parts.append("names " + ", ".join(check.names))
    if check.prefixes:
        parts.append("prefixes " + ", ".join(check.prefixes))
    if check.tags:
        parts.append("tags " + ", ".join(f"{k}={v}" for k, v in sorted(check.tags.items())))
    return "; ".join(parts)


# Window ---------------------------------------------------------------------------------------------


def check_window(check: WindowCheck, now: datetime, timeout_minutes: int) -> CheckResult:
    if windows.is_open(check, now):
        return CheckResult("window", check.mode, "pass", f"open now ({check.timezone})")
    period = windows.denied_by(check, now)
    why = f"in deny period {windows.describe_period(period)}" if period else "outside the allow windows"
    opens = windows.next_open(check, now)
    if opens is None:
        reason = f"{why}; no open window in the next {windows.HORIZON_DAYS} days"
        return CheckResult("window", check.mode, "block", reason)
    outcome: Outcome = "wait" if opens - now <= timedelta(minutes=timeout_minutes) else "block"
    reason = f"{why}; next open window: {windows.local_label(opens, check.timezone)}"
    return CheckResult("window", check.mode, outcome, reason, next_open=opens)


# Freeze ---------------------------------------------------------------------------------------------


def check_freeze(check: FreezeCheck, seen: Observations) -> CheckResult:
    freeze = seen.freeze
    if freeze is None:
        return CheckResult("freeze", check.mode, "pass", "not frozen")
    until = _utc(freeze.expires_at) if freeze.expires_at is not None else "someone lifts it"
    reason = f"frozen by {freeze.set_by} until {until}: {_shorten(freeze.reason)}"
    return CheckResult("freeze", check.mode, "block", reason)


# Bake -----------------------------------------------------------------------------------------------


def check_bake(check: BakeCheck, seen: Observations, now: datetime) -> CheckResult:
    stage = check.after_stage
    if seen.previous_stage_succeeded_at is None:
        return CheckResult("bake", check.mode, "wait", f"{stage} has not succeeded yet")
    baked = now - seen.previous_stage_succeeded_at
    facts = [f"{stage} succeeded {_minutes(_floor_minutes(baked))} ago"]
    problems = []
    left = timedelta(minutes=check.minutes) - baked
    if left > timedelta(0):
        problems.append(f"{_minutes(_ceil_minutes(left))} of bake time left (of {_minutes(check.minutes)})")
    if check.min_count is not None:
        metric = check.count_metric.name if check.count_metric is not None else "datapoints"
        count = seen.bake_count or 0.0
        counted = f"{count:g} {metric} seen since (need {check.min_count})"
        (problems if count < check.min_count else facts).append(counted)
    if problems:
        return CheckResult("bake", check.mode, "wait", "; ".join([*facts, *problems]))
    return CheckResult("bake", check.mode, "pass", "; ".join(facts))


# Error budget ---------------------------------------------------------------------------------------


def check_error_budget(check: ErrorBudgetCheck, seen: Observations) -> CheckResult:
    assessed = budget.assess(
        check, seen.errors_by_window, seen.requests_by_window, seen.budget_errors, seen.budget_requests
    )
    tripped = assessed.tripped
    headline = [w.summary for w in tripped] or ["no burn window tripped"]
    reason = "; ".join([*headline, assessed.remaining_label, *assessed.notes])
    return CheckResult("error_budget", check.mode, "block" if tripped else "pass", reason)


# Exemption ------------------------------------------------------------------------------------------


def exemption_reason(exemption: Exemption, execution: ExecutionObservation | None) -> str:
    """Why this execution's checks are waived, or "" when they are not."""
    if execution is None:
        return ""
    why = ""
    if execution.rollback and exemption.rollbacks:
        why = f"rollback execution {execution.id} ({execution.trigger})"
    elif exemption.variable is not None and execution.variables.get(exemption.variable) in exemption.values:
        value = execution.variables[exemption.variable]
        why = f"variable {exemption.variable}={value} on execution {execution.id}"
    if not why:
        return ""
    waived = [check for check in CHECKS if check in exemption.waive]
    return f"{why}; waives {', '.join(waived) or 'no check'}"


# Formatting -----------------------------------------------------------------------------------------


def _utc(instant: datetime) -> str:
    return f"{instant.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _STATE_REASON_CHARS else text[: _STATE_REASON_CHARS - 1] + "…"


def _floor_minutes(span: timedelta) -> int:
    return max(0, math.floor(span.total_seconds() / 60))


def _ceil_minutes(span: timedelta) -> int:
    return max(0, math.ceil(span.total_seconds() / 60))


def _minutes(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
