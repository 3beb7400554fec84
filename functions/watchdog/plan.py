"""Pure: which alarm changed, which gated stages it watches, and whether to stop or roll back now."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from aws_lambda_powertools.utilities.data_classes.cloud_watch_alarm_event import CloudWatchAlarmData

from functions.gating.observe import parse_cloudwatch_time
from functions.gating.pipeline import StageRun, console_link
from functions.gating.policy import Gate, Gating
from functions.shared.clock import parse_instant
from functions.shared.notify import Notice

DETAIL_TYPE = "CloudWatch Alarm State Change"
SNS_SOURCE = "aws:sns"
DUTY = "gating"

Act = Literal["rollback", "stop"]


@dataclass(frozen=True)
class AlarmChange:
    name: str
    state: str
    reason: str
    at: datetime
    region: str
    muted_by: str = ""
    mute_start: datetime | None = None
    mute_end: datetime | None = None

    @property
    def muted(self) -> bool:
        """A mute window covering the change: the alarm's owner silenced it on purpose."""
        if self.mute_end is None:
            return False
        return (self.mute_start is None or self.mute_start <= self.at) and self.at < self.mute_end


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_cloudwatch_time(text)
    except ValueError:
        return None


def alarm_change_of(event: Any) -> AlarmChange | None:
    """An EventBridge `CloudWatch Alarm State Change`, the event of a Lambda alarm action, or an alarm
    notification an SNS topic delivered (see `alarm_change_of_sns`)."""
    if not isinstance(event, dict):
        return None
    if event.get("detail-type") == DETAIL_TYPE and isinstance(event.get("detail"), dict):
        raw = event["detail"]
    elif isinstance(event.get("alarmData"), dict):
        raw = event["alarmData"]
    else:
        return alarm_change_of_sns(event)
    data = CloudWatchAlarmData(raw)
    state = data.state
    at = _time(state.get("timestamp")) or _time(event.get("time")) or parse_instant(str(event["time"]))
    mute = raw.get("muteDetail") or {}
    return AlarmChange(
        name=data.alarm_name,
        state=str(state.get("value", "")),
        reason=str(state.get("reason", "")),
        at=at,
        region=str(event.get("region", "")),
        muted_by=str(mute.get("mutedByArn", "")),
        mute_start=_time(mute.get("muteWindowStart")),
        mute_end=_time(mute.get("muteWindowEnd")),
    )


def _arn_region(arn: Any) -> str:
    """`arn:aws:SERVICE:REGION:...` -> REGION; "" for anything else."""
    parts = arn.split(":") if isinstance(arn, str) else []
    return parts[3] if len(parts) > 4 and parts[0] == "arn" else ""


def _sns_delivery(event: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(the `Sns` part of the record, its message as JSON) of an SNS topic's delivery to Lambda, or None."""
    records = event.get("Records") if isinstance(event, dict) else None
    record = records[0] if isinstance(records, list) and records else None
    sns = record.get("Sns") if isinstance(record, dict) and record.get("EventSource") == SNS_SOURCE else None
    if not isinstance(sns, dict):
        return None
    try:
        message = json.loads(sns.get("Message") or "")
    except (TypeError, ValueError):
        return None
    return (sns, message) if isinstance(message, dict) else None


def alarm_change_of_sns(event: Any) -> AlarmChange | None:
    """The classic CloudWatch alarm notification (AlarmName, NewStateValue, NewStateReason, StateChangeTime,
    AlarmArn, ...) that an alarm's SNS action publishes, as a topic subscription delivers it to Lambda:
    `Records[0].Sns.Message` holds it as JSON. None for any other event or message.

    CloudWatch publishes nothing while an alarm is muted, so a notification is never muted. The region is
    the alarm's (from AlarmArn, else the topic's): the notification's `Region` is a display name.
    """
    delivery = _sns_delivery(event)
    if delivery is None:
        return None
    sns, message = delivery
    name, state = message.get("AlarmName"), message.get("NewStateValue")
    at = _time(message.get("StateChangeTime")) or _time(sns.get("Timestamp"))
    if not isinstance(name, str) or not name or not isinstance(state, str) or at is None:
        return None
    return AlarmChange(
        name=name,
        state=state,
        reason=str(message.get("NewStateReason") or ""),
        at=at,
        region=_arn_region(message.get("AlarmArn")) or _arn_region(sns.get("TopicArn")),
    )


def watched(gating: Gating, alarm: str) -> list[Gate]:
    return [gate for gate in gating.gates if gate.watchdog is not None and alarm in gate.watchdog.alarms]


@dataclass(frozen=True)
class Move:
    act: Act | None
    reason: str
    execution_id: str = ""  # the stage's latest run: the one to stop, or the one rolled back from


RUNNING = ("InProgress", "Stopping")


def nothing_to_undo(stage: str, run: StageRun | None, horizon_minutes: int, now: datetime) -> str:
    """Why the watchdog leaves the stage alone, or "" when its latest run is fair game."""
    if run is None:
        return f"{stage} has not run yet: nothing deployed to undo"
    if run.rollback:
        return f"the latest run of {stage} is already a rollback ({run.execution_id}): no rollback loop"
    if run.status in RUNNING:
        return ""
    if run.status != "Succeeded":
        return f"the latest run of {stage} is {run.status}: nothing deployed to undo"
    if run.last_change is None or now - run.last_change > timedelta(minutes=horizon_minutes):
        when = f"at {run.last_change:%Y-%m-%d %H:%M} UTC" if run.last_change else "at an unknown time"
        return f"{stage} deployed {when}, before the {horizon_minutes}-minute horizon"
    return ""


def plan(gate: Gate, run: StageRun | None, now: datetime) -> Move:
    """What the watchdog does for `gate` now that one of its alarms is in ALARM.

    A stage still deploying is stopped whatever the action: a running stage cannot roll back.
    """
    assert gate.watchdog is not None
    stage = gate.stage
    idle = nothing_to_undo(stage, run, gate.watchdog.horizon_minutes, now)
    if idle or run is None:
        return Move(None, idle)
    if run.status in RUNNING:
        return Move("stop", f"{stage} is still deploying ({run.execution_id}): stopping it", run.execution_id)
    assert run.last_change is not None
    done = f"{stage} deployed {int((now - run.last_change).total_seconds() // 60)} min ago ({run.execution_id})"
    if gate.watchdog.action == "rollback":
        return Move("rollback", done, run.execution_id)
    return Move("stop", f"{done}: stopping its execution", run.execution_id)


def rollback_target(successes: list[dict[str, Any]], bad_execution: str) -> str | None:
    """What the stage ran before `bad_execution`: the newest other success, newest first.

    CodePipeline refuses a rollback execution as a target, so a rollback stands for the execution it
    re-deployed (its rollbackMetadata).
    """
    for summary in successes:
        if summary.get("pipelineExecutionId") == bad_execution:
            continue
        if summary.get("executionType") != "ROLLBACK":
            return str(summary["pipelineExecutionId"])
        target = (summary.get("rollbackMetadata") or {}).get("rollbackTargetPipelineExecutionId")
        if target and target != bad_execution:
            return str(target)
    return None


def stop_reason(alarm: AlarmChange, gate: Gate) -> str:
    """Starts with "Deckhand watchdog:", which the pipeline notices recognise (kept within 200 characters)."""
    return f"Deckhand watchdog: alarm {alarm.name} went to ALARM after {gate.stage} deployed"


def notice(gate: Gate, alarm: AlarmChange, move: Move, outcome: str, details: dict[str, Any]) -> Notice | None:
    where = f"{gate.pipeline}/{gate.stage}"
    link = console_link(alarm.region, gate.pipeline)
    why = f"Alarm {alarm.name} went to ALARM at {alarm.at:%Y-%m-%d %H:%M} UTC: {alarm.reason}"
    texts = {
        "rolled-back": (
            "critical",
            f"rolled back {where}",
            f"Deckhand rolled {where} back to execution {details.get('target')} "
            f"(rollback run {details.get('rollback_execution')}); {move.reason}.",
            f"Find why the deploy hurt; fix forward or re-release when {alarm.name} is OK. Watch it at {link}",
        ),
        "stopped": (
            "critical",
            f"stopped {where}",
            f"Deckhand stopped execution {move.execution_id}; {move.reason}.",
            f"Find the cause; roll back by hand if the stage deployed part of the change. Pipeline: {link}",
        ),
        "would-rollback": (
            "warning",
            f"would roll back {where} (dry run)",
            f"Deckhand would have rolled {where} back; {move.reason}.",
            f"Roll back by hand if needed at {link}; set defaults.dry_run: false to let the watchdog act.",
        ),
        "would-stop": (
            "warning",
            f"would stop {where} (dry run)",
            f"Deckhand would have stopped execution {move.execution_id}; {move.reason}.",
            f"Stop it by hand if needed at {link}; set defaults.dry_run: false to let the watchdog act.",
        ),
        "rate-limited": (
            "warning",
            f"did not {move.act} {where}: rate limit",
            f"Deckhand did not {move.act} {where}: it already acted "
            f"{gate.watchdog.max_actions_per_hour if gate.watchdog else 0} time(s) this hour; {move.reason}.",
            f"Look now: repeated alarms after deploys need a human. Pipeline: {link}",
        ),
        "no-rollback-target": (
            "warning",
            f"cannot roll back {where}",
            f"Deckhand could not roll {where} back: {details.get('reason')}.",
            f"Fix forward, or stop the pipeline by hand at {link}",
        ),
        "rollback-refused": (
            "warning",
            f"cannot roll back {where}",
            f"CodePipeline refused to roll {where} back: {details.get('reason')}.",
            f"Roll back or fix forward by hand at {link}",
        ),
        "not-stoppable": (
            "warning",
            f"nothing to stop in {where}",
            f"Deckhand could not stop {where}: {details.get('reason')}.",
            f"Roll back by hand if the deploy hurts: {link}",
        ),
        "paused": (
            "warning",
            f"did not {move.act} {where}: gating paused",
            f"Deckhand would have {'rolled back' if move.act == 'rollback' else 'stopped'} {where}, but gating is "
            f"paused ({details.get('switch')}); {move.reason}.",
            f"Decide by hand at {link}",
        ),
    }
    if outcome not in texts:
        return None
    severity, subject, what, next_step = texts[outcome]
    return Notice(duty=DUTY, severity=severity, subject=subject, what=what, why=why, next_step=next_step)
