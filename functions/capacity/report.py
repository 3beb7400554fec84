"""What operators hear about a capacity outcome (pure `notice`) and the metrics the dashboard reads (`measure`).

Notified: every real change; a change whose state was not saved or beside which something failed; a
failure; and the refusals an operator must know because capacity did not follow demand: the flap budget
spent, a deployment holding off a lowering, an alarm's scale-out while capacity is paused.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from functions.shared.notify import Notice
from functions.shared.observability import NAMESPACE, metrics

from .flow import DUTY, Outcome
from .model import Levels
from .plan import FLAP, WAITS

PAUSE_HINT = 'invoke the switches function with {"action": "clear", "switch": "<the switch>", "dry_run": false}'
STATUS_HINT = 'invoke the capacity function with {"action": "status", "target": "%s"}'


def show(levels: Levels | None) -> str:
    if levels is None:
        return "?"
    desired = "" if levels.desired is None else f" desired {levels.desired}"
    return f"{levels.min}..{levels.max}{desired}"


def _must_know(refusal: str) -> bool:
    return refusal.startswith(FLAP) or refusal.endswith(WAITS)


def worth_telling(outcome: Outcome) -> bool:
    """Dry runs notify nothing; refusals and pauses only when capacity does not follow demand."""
    if outcome.dry_run:
        return False
    if outcome.status == "paused":
        return outcome.trigger.kind == "alarm-out"
    if outcome.status == "refused":
        return outcome.refused is not None and _must_know(outcome.refused)
    return outcome.status in ("failed", "changed") or bool(outcome.warnings)


def notice(outcome: Outcome, source: str) -> Notice | None:
    if not worth_telling(outcome):
        return None
    name, moved = outcome.target, f"{show(outcome.before)} -> {show(outcome.after)}"
    status = STATUS_HINT % name
    texts = {
        "failed": (
            "critical",
            f"{name}: {source} failed",
            f"Deckhand could not carry out {source} on {name}.",
            "; ".join(outcome.errors),
            f"The saved state is as before. Check the target, then run it again or {status}.",
        ),
        "paused": (
            "warning",
            f"{name}: not scaled out, capacity paused",
            f"{source}: Deckhand did not scale {name} out.",
            outcome.reason,
            f"Scale it by hand if needed, or end the pause: {PAUSE_HINT}.",
        ),
        "refused": (
            "warning",
            f"{name}: {source} refused",
            f"Deckhand left {name} at {show(outcome.before)}.",
            outcome.refused or "",
            f"Capacity may not follow demand meanwhile; look at {name} and, if needed, apply bounds by hand: "
            f'{{"action": "apply", "target": "{name}", "min": ..., "dry_run": false}}.',
        ),
        "warned": (
            "critical",
            f"{name}: {moved}, with problems",
            f"{source} moved {name} {moved}, but: {'; '.join(outcome.warnings)}.",
            outcome.reason,
            f"Reconcile by hand: {status} shows the live levels and the saved state.",
        ),
        "changed": (
            "info",
            f"{name}: {moved} ({outcome.trigger.kind})",
            f"{source} changed {name}: {moved}.",
            outcome.reason,
            f"Nothing to do. To see where it stands, {status}.",
        ),
    }
    severity, subject, what, why, next_step = texts["warned" if outcome.warnings else outcome.status]
    return Notice(DUTY, severity, subject, what, why, next_step)


def measure(outcome: Outcome) -> None:
    if outcome.status == "refused" and not outcome.dry_run:
        metrics.add_metric(name="CapacityRefused", unit=MetricUnit.Count, value=1)
    if outcome.status != "changed" or outcome.after is None:
        return
    with single_metric(name="CapacityChange", unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="trigger", value=outcome.trigger.kind)
    gauges = {"CapacityMin": outcome.after.min, "CapacityMax": outcome.after.max}
    if outcome.after.desired is not None:
        gauges["CapacityDesired"] = outcome.after.desired
    for gauge, value in gauges.items():
        with single_metric(name=gauge, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as metric:
            metric.add_dimension(name="target", value=outcome.target)
