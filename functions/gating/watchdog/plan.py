"""Pure: which alarm changed, which gated stages it watches, and whether to stop or roll back now."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from functions.gating.pipeline import StageRun, console_link
from functions.gating.policy import Gate, Gating
from functions.shared.clock import parse_cloudwatch_time
from functions.shared.events import EventBridgeEvent
from functions.shared.notify import Notice
from functions.shared.refusal import cap

if TYPE_CHECKING:
    from mypy_boto3_codepipeline.type_defs import PipelineExecutionSummaryTypeDef

DUTY = "gating"

Act = Literal["rollback", "stop"]


@dataclass(frozen=True)
class AlarmChange:
    """What an event says of an alarm. The watchdog trusts none of it before DescribeAlarms confirms it:
    anyone allowed to invoke the function, or to publish to a user's topic, can forge an event."""

    name: str
    state: str
    reason: str
    at: datetime
    region: str
    account: str = ""  # "" when the event does not say: the function's own


class _State(BaseModel):
    value: str = Field(min_length=1)
    reason: str = ""
    timestamp: str = ""


class _AlarmData(BaseModel):
    """`detail` of the EventBridge event and `alarmData` of a Lambda alarm action's event (same shape);
    `muteDetail` is not read: mutes come from the mute rules API."""

    alarmName: str = Field(min_length=1)
    state: _State


class AlarmStateChangeEvent(EventBridgeEvent):
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    detail: _AlarmData  # the envelope's detail, typed


class AlarmActionEvent(BaseModel):
    """What a Lambda alarm action sends (CloudWatch's "Lambda action" documentation)."""

    source: Literal["aws.cloudwatch"]
    alarmArn: str = ""
    region: str = ""
    time: str = ""
    alarmData: _AlarmData


class ClassicNotification(BaseModel):
    """The JSON message an alarm's SNS action publishes."""

    AlarmName: str = Field(min_length=1)
    NewStateValue: str = Field(min_length=1)
    NewStateReason: str = ""
    StateChangeTime: str = ""
    AlarmArn: str = ""


class _SnsPart(BaseModel):
    Message: str
    TopicArn: str = ""
    Timestamp: str = ""


class _SnsRecord(BaseModel):
    EventSource: Literal["aws:sns"]
    Sns: _SnsPart


class SnsDelivery(BaseModel):
    Records: list[_SnsRecord] = Field(min_length=1)


AlarmEvent = AlarmStateChangeEvent | AlarmActionEvent | SnsDelivery
ALARM_EVENT: TypeAdapter[AlarmEvent] = TypeAdapter(AlarmEvent)


def _time(text: str) -> datetime | None:
    if not text:
        return None
    try:
        return parse_cloudwatch_time(text)
    except (ValueError, OverflowError):
        return None


def _arn_part(arn: str, index: Literal[3, 4]) -> str:
    """`arn:aws:SERVICE:REGION:ACCOUNT:...` -> REGION (3) or ACCOUNT (4); "" for anything else."""
    parts = arn.split(":")
    return parts[index] if len(parts) > 5 and parts[0] == "arn" else ""


def alarm_change_of(event: Any) -> AlarmChange | None:
    """An EventBridge `CloudWatch Alarm State Change`, the event of a Lambda alarm action, or an alarm
    notification an SNS topic delivered (see `alarm_change_of_sns`); None for anything else."""
    try:
        parsed = ALARM_EVENT.validate_python(event)
    except ValidationError:
        return None
    if isinstance(parsed, SnsDelivery):
        return alarm_change_of_sns(event)
    fallback: datetime | None
    if isinstance(parsed, AlarmStateChangeEvent):
        data, region, account, fallback = parsed.detail, parsed.region, parsed.account, parsed.time
    else:
        data, region, fallback = parsed.alarmData, parsed.region, _time(parsed.time)
        account = _arn_part(parsed.alarmArn, 4)
    at = _time(data.state.timestamp) or fallback
    if at is None:
        return None
    return AlarmChange(
        name=cap(data.alarmName),
        state=cap(data.state.value),
        reason=cap(data.state.reason),
        at=at,
        region=cap(region),
        account=cap(account),
    )


def alarm_change_of_sns(event: Any) -> AlarmChange | None:
    """The classic CloudWatch alarm notification (AlarmName, NewStateValue, NewStateReason, StateChangeTime,
    AlarmArn, ...) that an alarm's SNS action publishes, as a topic subscription delivers it to Lambda:
    `Records[0].Sns.Message` holds it as JSON. None for any other event or message.

    The region is the alarm's (from AlarmArn, else the topic's): the notification's `Region` is a display name.
    """
    try:
        sns = SnsDelivery.model_validate(event).Records[0].Sns
        message = ClassicNotification.model_validate_json(sns.Message)
    except ValidationError:
        return None
    at = _time(message.StateChangeTime) or _time(sns.Timestamp)
    if at is None:
        return None
    return AlarmChange(
        name=cap(message.AlarmName),
        state=cap(message.NewStateValue),
        reason=cap(message.NewStateReason),
        at=at,
        region=cap(_arn_part(message.AlarmArn, 3) or _arn_part(sns.TopicArn, 3)),
        account=cap(_arn_part(message.AlarmArn, 4) or _arn_part(sns.TopicArn, 4)),
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


def rollback_target(successes: Sequence[PipelineExecutionSummaryTypeDef], bad_execution: str) -> str | None:
    """What the stage ran before `bad_execution`: the newest other success, newest first.

    CodePipeline refuses a rollback execution as a target, so a rollback stands for the execution it
    re-deployed (its rollbackMetadata).
    """
    for summary in successes:
        if summary.get("pipelineExecutionId") == bad_execution:
            continue
        if summary.get("executionType") != "ROLLBACK":
            return summary.get("pipelineExecutionId")
        target = summary.get("rollbackMetadata", {}).get("rollbackTargetPipelineExecutionId")
        if target and target != bad_execution:
            return target
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
        "action-failed": (
            "critical",
            f"FAILED to {move.act} {where}",
            f"AWS refused Deckhand's {move.act} of {where} ({details.get('code')}: {details.get('reason')}); "
            f"{move.reason}. Nothing was changed.",
            f"{'Roll back' if move.act == 'rollback' else 'Stop the execution'} by hand now at {link}; then check "
            "the watchdog role's permissions (python -m sandbox authorize explains a denial in the sandbox).",
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
