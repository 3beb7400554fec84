"""The `switches` function's flow: show, set or clear the deploy freeze and pause switches from the console.

It also runs on a schedule (`sweep`: turn expired switches off and say so) and on Parameter Store
changes of the switch parameters (audit and report a switch edited by hand, or left unreadable).
The handler loads this module on the first invocation (handler.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from functions.shared.audit import AuditRecord, new_id
from functions.shared.notify import Notice
from functions.shared.observability import logger, metrics
from functions.shared.refusal import Refused, ignored, rejected
from functions.shared.runtime import Runtime, runtime
from functions.shared.switch_parameters import store
from functions.shared.switches import SWITCH_NAMES, SwitchBoard, parameter_name
from functions.shared.validation import describe_all

from .commands import SwitchChange, SwitchCommand, expired, parse_command, plan
from .declared import DUTY
from .events import ParameterChangeEvent

CLEAR_HINT = (
    'invoke the switches function with {{"action": "clear", "switch": "{name}", "reason": "...", "dry_run": false}}'
)


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
            next_step=f"It turns itself off at expiry. To end it now, {CLEAR_HINT.format(name=after.name)}.",
        )
    return Notice(
        duty=DUTY,
        severity="info",
        subject=f"{after.name} OFF",
        what=f"{after.set_by} turned the {after.name} switch off.",
        why=after.reason or "no reason given",
        next_step="Nothing to do: automation that this switch held back resumes on its next run.",
    )


def commit(
    change: SwitchChange,
    action: str,
    actor: str,
    inputs: dict[str, Any],
    *,
    dry_run: bool,
    rt: Runtime,
    correlation_id: str,
) -> dict[str, Any]:
    """Store (unless dry-run), audit and notify one planned switch change."""
    outcome = "planned" if dry_run else "changed"
    record_id = new_id()
    after = replace(change.after, change_id=record_id)
    if not dry_run:
        store(rt.settings.switches_path, after)
    rt.audit.record(
        AuditRecord(
            duty=DUTY,
            action=action,
            subject=f"switch/{after.name}",
            outcome=outcome,
            reason=after.reason,
            dry_run=dry_run,
            at=rt.clock(),
            inputs=inputs,
            before=change.before.document(),
            after=after.document(),
            actor=actor,
            correlation_id=correlation_id,
            id=record_id,
        )
    )
    if not dry_run:
        rt.notifier.send(notice(change))
        metrics.add_metric(name="SwitchChanged", unit=MetricUnit.Count, value=1)
    logger.info("switch change", extra={"switch": after.name, "action": action, "outcome": outcome})
    return {
        "switch": after.name,
        "status": outcome,
        "before": change.before.document(),
        "after": after.document(),
        "audit_id": record_id,
    }


def apply(command: SwitchCommand, rt: Runtime, correlation_id: str) -> dict[str, Any]:
    if command.switch is None:
        raise Refused([f"'{command.action}' needs 'switch'"])
    board = rt.switches.read(fresh=True)
    change = plan(command, board.get(command.switch), rt.clock(), rt.settings.switch_max_hours)
    dry_run = rt.dry_run(command.dry_run)
    if not change.changed:
        return {
            "status": "unchanged",
            "dry_run": dry_run,
            "switch": command.switch,
            "before": change.before.document(),
            "after": change.before.document(),
        }
    result = commit(
        change,
        f"{command.action}-switch",
        command.actor,
        command.model_dump(by_alias=True),
        dry_run=dry_run,
        rt=rt,
        correlation_id=correlation_id,
    )
    return {**result, "dry_run": dry_run}


def sweep(command: SwitchCommand, rt: Runtime, correlation_id: str) -> dict[str, Any]:
    dry_run = rt.dry_run(command.dry_run)
    changes = expired(rt.switches.read(fresh=True), rt.clock())
    done = [
        commit(
            change,
            "expire-switch",
            "deckhand",
            command.model_dump(by_alias=True),
            dry_run=dry_run,
            rt=rt,
            correlation_id=correlation_id,
        )
        for change in changes
    ]
    return {"status": "ok", "dry_run": dry_run, "expired": done}


def observe(event: ParameterChangeEvent, rt: Runtime, correlation_id: str) -> dict[str, Any]:
    """A switch parameter changed. The switches function's own writes carry their audit id; others do not."""
    name = event.detail.name.rsplit("/", 1)[-1]
    if name not in SWITCH_NAMES or event.detail.name != parameter_name(rt.settings.switches_path, name):
        return ignore(f"{event.detail.name!r} is not a Deckhand switch")
    state = rt.switches.read(fresh=True).get(name)
    if state.change_id and not state.unreadable:
        return {"status": "ok", "switch": name, "observed": "change made by the switches function"}
    what = "is unreadable and counts as ON" if state.unreadable else f"was edited outside Deckhand (now on={state.on})"
    record = AuditRecord(
        duty=DUTY,
        action="observe-switch",
        subject=f"switch/{name}",
        outcome="observed",
        reason=state.reason,
        dry_run=False,
        at=rt.clock(),
        inputs={"event_id": event.id, "operation": event.detail.operation},
        after=state.document(),
        actor="parameter-store",
        correlation_id=correlation_id,
    )
    rt.audit.record(record)
    rt.notifier.send(
        Notice(
            duty=DUTY,
            severity="critical" if state.unreadable else "warning",
            subject=f"{name} {what}",
            what=f"The {name} switch parameter {what}.",
            why=state.reason or "A hand edit in Parameter Store bypasses the switches function's checks and audit.",
            next_step=f"Check who changed it (CloudTrail PutParameter), then {CLEAR_HINT.format(name=name)}.",
        )
    )
    metrics.add_metric(name="SwitchEditedOutside", unit=MetricUnit.Count, value=1)
    return {"status": "observed", "switch": name, "audit_id": record.id, "state": state.document()}


def ignore(reason: str) -> dict[str, Any]:
    answer = ignored(reason)
    logger.info("event ignored", extra={"reason": answer["reason"]})
    metrics.add_metric(name="EventIgnored", unit=MetricUnit.Count, value=1)
    return answer


def command(payload: Any, rt: Runtime, correlation_id: str) -> dict[str, Any]:
    """A console payload, or the sweep rule's constant input."""
    try:
        parsed = parse_command(payload)
        if parsed.action == "show":
            return {"status": "ok", "switches": describe_board(rt.switches.read(fresh=True), rt)}
        if parsed.action == "sweep":
            return sweep(parsed, rt, correlation_id)
        return apply(parsed, rt, correlation_id)
    except Refused as refused:
        logger.warning("switch command rejected", extra={"problems": refused.problems})
        metrics.add_metric(name="CommandRejected", unit=MetricUnit.Count, value=1)
        return rejected(refused)


def run(event: Any, rt: Runtime, correlation_id: str = "") -> dict[str, Any]:
    if not (isinstance(event, dict) and "source" in event):  # console payloads carry no EventBridge source
        return command(event, rt, correlation_id)
    try:
        change = ParameterChangeEvent.model_validate(event)
    except ValidationError as invalid:
        return ignore(f"not a Parameter Store Change event: {'; '.join(describe_all(invalid)[:3])}")
    return observe(change, rt, correlation_id)


def invoked(event: Any, context: LambdaContext) -> dict[str, Any]:
    return run(event, runtime(), correlation_id=context.aws_request_id)
