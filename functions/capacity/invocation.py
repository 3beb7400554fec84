"""The `capacity` function's invocation: move autoscaling bounds and capacity on alarms, schedules and console commands.

One handler reads four shapes of event (see `triggers`): a CloudWatch alarm state change, a per-profile
schedule, the one-time revert of an expiring override, and a console command (apply, pause, resume,
status). Each target it concerns goes through `flow.act`: plan from the saved state and the live levels,
apply through the owner of the capacity, save, audit, notify. The pause-all and pause-capacity switches
stop everything but `status`; dry-run (the policy's default, or the payload's "dry_run") plans, audits
and changes nothing. The handler loads this module on the first invocation (handler.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from functions.shared.members import Home
from functions.shared.observability import ignored_and_counted, logger, metrics
from functions.shared.refusal import Refused, rejected
from functions.shared.runtime import Runtime, runtime

from . import flow, report, status, triggers
from .config import CapacityConfig, capacity
from .flow import Deps, Outcome
from .store import StateStore, Store
from .targets import AwsTargets, Targets
from .triggers import Ignored, Request, StatusRequest

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# The answer of a run over several targets: the most telling of theirs.
PRIORITY: tuple[flow.Status, ...] = (
    "failed",
    "rejected",
    "changed",
    "planned",
    "refused",
    "paused",
    "skipped",
    "unchanged",
)


def overall(outcomes: list[Outcome]) -> str:
    found = {o.status for o in outcomes}
    return next((s for s in PRIORITY if s in found), "unchanged")


def held_back(request: Request, deps: Deps, dry_run: bool) -> list[Outcome] | None:
    """Outcomes for a request nothing may act on: a pause switch is on, or the schedule's date is excluded."""
    now = deps.rt.clock()
    pause = deps.rt.switches.read().pause(flow.DUTY, now)
    if pause is not None:
        until = pause.expires_at.isoformat() if pause.expires_at else "it is cleared"
        why = f"{pause.name} is on until {until} (set by {pause.set_by or '?'}: {pause.reason or 'no reason'})"
        return [Outcome(name, "paused", request.trigger, why, dry_run) for name in request.targets]
    if request.schedule is not None:
        target = deps.config.policy.target(request.targets[0])
        day = triggers.excluded(target, request.schedule, now) if target is not None else None
        if day is not None:
            why = f"{day.isoformat()} is one of schedules[{request.schedule}].except_dates"
            return [Outcome(request.targets[0], "skipped", request.trigger, why, dry_run)]
    return None


def act(request: Request, deps: Deps) -> dict[str, Any]:
    dry_run = deps.rt.dry_run(request.dry_run)
    outcomes = held_back(request, deps, dry_run)
    if outcomes is None:
        policy = deps.config.policy
        outcomes = [flow.act(t, request, deps, dry_run=dry_run) for t in policy.targets if t.name in request.targets]
    for outcome in outcomes:
        flow.audit(outcome, request, deps)
        message = report.notice(outcome, request.source)
        if message is not None:
            deps.rt.notifier.send(message)
        report.measure(outcome)
        logger.info(
            "capacity",
            extra={"target": outcome.target, "status": outcome.status, "reason": outcome.reason, "dry_run": dry_run},
        )
    return {"status": overall(outcomes), "dry_run": dry_run, "changes": [o.answer() for o in outcomes]}


def show(request: StatusRequest, deps: Deps) -> dict[str, Any]:
    now = deps.rt.clock()
    policy = deps.config.policy
    pause = deps.rt.switches.read().pause(flow.DUTY, now)
    chosen = [t for t in policy.targets if request.target in (None, t.name)]
    return {
        "status": "ok",
        "paused": None if pause is None else pause.name,
        "dry_run_default": deps.rt.settings.default_dry_run,
        "targets": [status.describe(t, deps, now) for t in chosen],
    }


def run(
    event: Any,
    rt: Runtime,
    config: CapacityConfig,
    *,
    function_arn: str,
    correlation_id: str = "",
    targets: Targets | None = None,
    store: Store | None = None,
) -> dict[str, Any]:
    """The testable core: the handler with its runtime, configuration and own ARN given; the AWS adapters
    unless others are given (the tests' twins)."""
    try:
        request = triggers.parse(event, config.policy, rt.clock(), Home.of(function_arn))
    except Refused as refused:
        logger.warning("capacity payload rejected", extra={"problems": refused.problems})
        metrics.add_metric(name="CapacityRejected", unit=MetricUnit.Count, value=1)
        return rejected(refused)
    if isinstance(request, Ignored):
        return ignored_and_counted(request.reason, by="capacity", metric="EventIgnored")
    deps = Deps(
        rt,
        config,
        function_arn,
        targets or AwsTargets(),
        store or StateStore(rt.settings.audit_table),
        correlation_id,
    )
    if isinstance(request, StatusRequest):
        return show(request, deps)
    return act(request, deps)


def invoked(event: Any, context: LambdaContext) -> dict[str, Any]:
    return run(
        event,
        runtime(),
        capacity(),
        function_arn=context.invoked_function_arn,
        correlation_id=context.aws_request_id,
    )
