"""The `switches` function: show, set or clear the deploy freeze and pause switches from the console."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.shared.audit import AuditRecord
from functions.shared.notify import Notice
from functions.shared.observability import logger, metrics, tracer
from functions.shared.runtime import Runtime, runtime
from functions.shared.switches import SWITCH_NAMES, SwitchBoard, store

from .commands import CommandError, SwitchChange, SwitchCommand, parse_command, plan

DUTY = "switches"


def describe_board(board: SwitchBoard, rt: Runtime) -> dict[str, Any]:
    now = rt.clock()
    return {name: {**board.get(name).document(), "active": board.get(name).active(now)} for name in SWITCH_NAMES}


def notice(change: SwitchChange) -> Notice:
    after = change.after
    if after.on:
        until = after.expires_at.isoformat() if after.expires_at else "cleared"
        return Notice(
            duty=DUTY,
            severity="warning",
            subject=f"{after.name} ON until {until}",
            what=f"{after.set_by} turned the {after.name} switch on until {until}.",
            why=after.reason,
            next_step=f"It turns itself off at expiry. To end it now, invoke the switches function with "
            f'{{"action": "clear", "switch": "{after.name}", "reason": "...", "dry_run": false}}.',
        )
    return Notice(
        duty=DUTY,
        severity="info",
        subject=f"{after.name} OFF",
        what=f"{after.set_by} turned the {after.name} switch off.",
        why=after.reason or "no reason given",
        next_step="Nothing to do: automation that this switch held back resumes on its next run.",
    )


def apply(command: SwitchCommand, rt: Runtime, correlation_id: str) -> dict[str, Any]:
    assert command.switch is not None
    board = rt.switches.read(fresh=True)
    now = rt.clock()
    change = plan(command, board.get(command.switch), now, rt.settings.switch_max_hours)
    dry_run = rt.dry_run(command.dry_run)
    outcome = "unchanged" if not change.changed else ("planned" if dry_run else "changed")
    result: dict[str, Any] = {
        "status": outcome,
        "dry_run": dry_run,
        "switch": command.switch,
        "before": change.before.document(),
        "after": change.after.document(),
    }
    if not change.changed:
        return result
    if not dry_run:
        store(rt.settings.switches_path, change.after)
    record = AuditRecord(
        duty=DUTY,
        action=f"{command.action}-switch",
        subject=f"switch/{command.switch}",
        outcome=outcome,
        reason=change.after.reason,
        dry_run=dry_run,
        at=now,
        inputs=command.model_dump(by_alias=True),
        before=change.before.document(),
        after=change.after.document(),
        actor=command.actor,
        correlation_id=correlation_id,
    )
    rt.audit.record(record)
    result["audit_id"] = record.id
    if not dry_run:
        rt.notifier.send(notice(change))
        metrics.add_metric(name="SwitchChanged", unit=MetricUnit.Count, value=1)
    logger.info("switch command done", extra={"switch": command.switch, "outcome": outcome, "dry_run": dry_run})
    return result


def run(event: Any, rt: Runtime, correlation_id: str = "") -> dict[str, Any]:
    try:
        command = parse_command(event)
        if command.action == "show":
            return {"status": "ok", "switches": describe_board(rt.switches.read(fresh=True), rt)}
        return apply(command, rt, correlation_id)
    except CommandError as bad:
        logger.warning("switch command rejected", extra={"problems": bad.problems})
        metrics.add_metric(name="CommandRejected", unit=MetricUnit.Count, value=1)
        return {"status": "rejected", "errors": bad.problems, "changed": False}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run(event, runtime(), correlation_id=context.aws_request_id)
