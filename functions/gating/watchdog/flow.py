"""The `watchdog` function: an alarm in ALARM soon after a deploy stops or rolls back that stage, once.

On `CloudWatch Alarm State Change` to ALARM for an alarm some gate's `watchdog.alarms` lists (the
EventBridge event the stack's rule delivers; also read: a Lambda alarm action's event, and the alarm's
notification delivered by a subscription to an SNS topic of the user's own):

- first it confirms: DescribeAlarms must show the alarm in ALARM (an event can be forged by anyone allowed
  to invoke the function or to publish to a user's topic), and no ACTIVE alarm mute rule may target it
  (ListAlarmMuteRules / GetAlarmMuteRule); a muted alarm is not a healthy one, but it is left alone.
- within `horizon_minutes` of the gated stage's last success, `rollback` rolls the stage back to the
  previous execution that succeeded in it (RollbackStage, granted on the stage); `stop` stops and
  abandons the execution in flight (StopPipelineExecution with abandon, reason starting "Deckhand
  watchdog:"). A stage still deploying is stopped either way, since a running stage cannot roll back.
- once: nothing when the stage's latest run is already a rollback (no rollback loops), and at most
  `max_actions_per_hour` actions per stage and clock hour, claimed with conditional writes of lock
  items in the audit table (functions/gating/watchdog/slots.py). An action AWS refuses (AccessDenied, ...)
  is audited and notified as failed, and its slot is given back.

A watchdog placed in a member account or region watches the alarm there: only an event from that account and
region concerns it (a member's event, forwarded to the hub's bus, keeps its own `account` and `region`), and the
confirmation and the mute rules are read there through the gating member role; the stop or rollback is the hub's
pipeline's, done with the function's own role.

Dry run (the policy's default) records and notifies what it would do. Paused gating does nothing but
record and warn. Every action is audited and notified; an alarm no gate watches is ignored quietly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from functions.gating import mutes, pipeline
from functions.gating.config import gating
from functions.gating.observe import Adapters, CloudWatch, placed_at
from functions.gating.pipeline import Pipelines
from functions.gating.policy import Gate, Gating
from functions.shared.audit import AuditRecord, new_id
from functions.shared.members import NotInOrganization, Place
from functions.shared.observability import ignored_and_counted, logger, metrics
from functions.shared.refusal import cap
from functions.shared.runtime import Runtime, runtime

from .plan import AlarmChange, Move, alarm_change_of, notice, plan, rollback_target, stop_reason, watched
from .slots import Slots, TableSlots

DUTY = "gating"
# CodePipeline says no to this rollback (the stage runs, the target predates the pipeline's structure, ...).
REFUSALS = ("UnableToRollbackStageException", "ConflictException", "PipelineExecutionOutdatedException")
NOT_STOPPABLE = ("PipelineExecutionNotStoppableException", "DuplicatedStopRequestException")
DONE = ("rolled-back", "stopped")


def confirmed(change: AlarmChange, now: datetime, cloudwatch: CloudWatch) -> AlarmChange | None:
    """The alarm as DescribeAlarms shows it (its state, reason and time), or None when it does not exist."""
    found = cloudwatch.alarms(now, names=[change.name])
    if not found:
        return None
    alarm = found[0]
    return AlarmChange(
        name=alarm.name,
        state=alarm.state,
        reason=cap(alarm.reason),
        at=alarm.updated,
        region=change.region,
        account=change.account,
    )


def refused(error: ClientError) -> tuple[str, str]:
    """(code, message) of an AWS error, capped for the audit and the notice."""
    detail = error.response.get("Error", {})
    return cap(detail.get("Code", "Unknown")), cap(detail.get("Message", ""), 1000)


def act(move: Move, gate: Gate, alarm: AlarmChange, pipelines: Pipelines) -> tuple[str, dict[str, Any]]:
    """Perform the move; (outcome, details). Outcomes other than rolled-back/stopped need a human.

    A stop abandons the actions in progress: stop-and-wait would let the deploy action finish shipping the
    change the alarm blames.
    """
    try:
        if move.act == "rollback":
            target = rollback_target(pipelines.successful_executions(gate.pipeline, gate.stage), move.execution_id)
            if target is None:
                return "no-rollback-target", {"reason": f"no earlier execution succeeded in {gate.stage}"}
            try:
                started = pipelines.rollback_stage(gate.pipeline, gate.stage, target)
            except ClientError as error:
                code, message = refused(error)
                if code not in REFUSALS:
                    raise
                return "rollback-refused", {"target": target, "reason": message}
            return "rolled-back", {"target": target, "rollback_execution": started}
        try:
            pipelines.stop_execution(gate.pipeline, move.execution_id, stop_reason(alarm, gate), abandon=True)
        except ClientError as error:
            code, _ = refused(error)
            if code not in NOT_STOPPABLE:
                raise
            return "not-stoppable", {"reason": f"execution {move.execution_id}: {code}"}
        return "stopped", {"stopped_execution": move.execution_id}
    except ClientError as error:  # AccessDenied and any other refusal: nothing was done
        code, message = refused(error)
        logger.warning("watchdog action refused", extra={"code": code, "pipeline": gate.pipeline})
        return "action-failed", {"code": code, "reason": message}


def respond(
    gate: Gate,
    alarm: AlarmChange,
    *,
    muted: mutes.Mute | None,
    rt: Runtime,
    slots: Slots,
    pipelines: Pipelines,
    now: datetime,
) -> tuple[Move, str, dict[str, Any]]:
    """(the move, the outcome, details): the checks in order, acting only when every one allows it."""
    assert gate.watchdog is not None
    if muted is not None:
        why = f"{alarm.name} is muted by {muted.rule} until {muted.until:%Y-%m-%d %H:%M} UTC at the latest"
        return Move(None, why), "muted", {"mute_rule": muted.rule}
    move = plan(gate, pipeline.latest_stage_run(pipelines.pipeline_state(gate.pipeline), gate.stage), now)
    if move.act is None:
        return move, "skipped", {}
    pause = rt.switches.read().pause(DUTY, now)
    if pause is not None:
        return move, "paused", {"switch": pause.name, "set_by": pause.set_by, "pause_reason": pause.reason}
    if rt.dry_run(None):
        return move, f"would-{move.act}", {}
    slot = slots.claim(gate.pipeline, gate.stage, now, gate.watchdog.max_actions_per_hour)
    if slot is None:
        return move, "rate-limited", {}
    try:
        outcome, details = act(move, gate, alarm, pipelines)
    except BaseException:
        slots.give_back(slot)
        raise
    if outcome not in DONE:
        slots.give_back(slot)
    return move, outcome, details


def watch(
    gate: Gate,
    alarm: AlarmChange,
    *,
    muted: mutes.Mute | None,
    rt: Runtime,
    slots: Slots,
    pipelines: Pipelines,
    correlation_id: str,
) -> dict[str, Any]:
    now = rt.clock()
    move, outcome, details = respond(gate, alarm, muted=muted, rt=rt, slots=slots, pipelines=pipelines, now=now)
    rt.audit.record(
        AuditRecord(
            duty=DUTY,
            action="watchdog",
            subject=f"pipeline/{gate.pipeline}/{gate.stage}",
            outcome=outcome,
            reason=move.reason,
            dry_run=outcome.startswith("would-"),
            at=now,
            inputs={"alarm": alarm.name, "state": alarm.state, "reason": alarm.reason, "at": alarm.at.isoformat()},
            after={"act": move.act, "execution": move.execution_id, **details},
            correlation_id=correlation_id,
            id=new_id(),
        )
    )
    message = notice(gate, alarm, move, outcome, details)
    if message is not None:
        rt.notifier.send(message)
    if outcome in DONE:
        metrics.add_metric(name="WatchdogAction", unit=MetricUnit.Count, value=1)
    if outcome == "action-failed":
        metrics.add_metric(name="WatchdogActionFailed", unit=MetricUnit.Count, value=1)
    logger.info("watchdog", extra={"pipeline": gate.pipeline, "stage": gate.stage, "outcome": outcome})
    return {"pipeline": gate.pipeline, "stage": gate.stage, "outcome": outcome, "reason": move.reason, **details}


def concerned(gates: list[Gate], policy: Gating, said: AlarmChange, cloudwatch: CloudWatch) -> Concerned:
    """The gates whose watchdog watches the alarm where the event says it is, and where that is; the others are not
    this alarm's. Where the watchdogs name no place, the function's own (and its identity is not asked)."""
    if not any(gate.watchdog is not None and gate.watchdog.placed for gate in gates):
        return Concerned(gates, cloudwatch, None, [])
    home = cloudwatch.home()
    origin = (said.account or home.account, said.region or home.region)
    mine: list[Gate] = []
    place: Place | None = None
    unplaced: list[dict[str, Any]] = []
    for gate in gates:
        assert gate.watchdog is not None
        if (gate.watchdog.account or home.account, gate.watchdog.region or home.region) != origin:
            continue
        try:
            place = placed_at(gate.watchdog, home)
        except NotInOrganization as error:
            path = f"gating.gates[{policy.gates.index(gate)}].watchdog"
            unplaced.append(
                {"pipeline": gate.pipeline, "stage": gate.stage, "outcome": "skipped", "reason": f"{path}: {error}"}
            )
            continue
        mine.append(gate)
    there = cloudwatch if place is None or place == home.here else cloudwatch.at(place)
    return Concerned(mine, there, place if place != home.here else None, unplaced)


def confirmed_there(said: AlarmChange, now: datetime, found: Concerned) -> tuple[AlarmChange, mutes.Mute | None] | str:
    """The alarm in ALARM as DescribeAlarms shows it where it is, with its active mute; or why nothing is done: an
    event is the caller's word, DescribeAlarms is CloudWatch's, and an alarm that cannot be read is not confirmed."""
    where = "" if found.place is None else f" in account {found.place.account} region {found.place.region}"
    try:
        alarm = confirmed(said, now, found.cloudwatch)
        if alarm is None or alarm.state != "ALARM":
            shown = "does not exist" if alarm is None else f"is {alarm.state}"
            return f"the event says {said.name} is in ALARM{where}, but DescribeAlarms says it {shown}"
        return alarm, found.cloudwatch.active_mutes({alarm.name}, now).get(alarm.name)
    except ClientError as error:
        if found.place is None:
            raise
        return f"{said.name}{where} could not be read through {found.place.role or 'the function role'}: {error}"


@dataclass(frozen=True)
class Concerned:
    gates: list[Gate]
    cloudwatch: CloudWatch  # where the alarm is read
    place: Place | None  # a member's account or region, or None: the function's own
    left_alone: list[dict[str, Any]]  # gates of that place that cannot reach it


def not_ours(reason: str) -> dict[str, Any]:
    return ignored_and_counted(reason, by="watchdog", metric="WatchdogIgnored")


def run(
    event: Any,
    rt: Runtime,
    policy: Gating,
    correlation_id: str = "",
    *,
    slots: Slots | None = None,
    aws: Adapters | None = None,
) -> dict[str, Any]:
    """The testable core: the AWS adapters unless others are given (the tests' twins)."""
    said = alarm_change_of(event)
    if said is None:
        return not_ours("not a CloudWatch alarm state change")
    gates = watched(policy, said.name)
    if not gates:
        return not_ours(f"no gate's watchdog watches {said.name}")
    if said.state != "ALARM":
        return not_ours(f"{said.name} went to {said.state}, not ALARM")
    aws = aws or Adapters.of_aws()
    # A watchdog placed in another account or region watches an alarm there, not this same-named one.
    found = concerned(gates, policy, said, aws.cloudwatch)
    if not found.gates:
        reasons = [stage["reason"] for stage in found.left_alone]
        said_where = f"account {said.account or '?'} region {said.region or '?'}"
        return not_ours("; ".join(reasons) or f"no gate's watchdog watches {said.name} of {said_where}")
    gates, left_alone = found.gates, found.left_alone
    now = rt.clock()
    seen = confirmed_there(said, now, found)
    if isinstance(seen, str):
        return not_ours(seen)
    alarm, muted = seen
    logger.append_keys(alarm=alarm.name, correlation_id=correlation_id)
    used = slots or TableSlots(rt.settings.audit_table)
    return {
        "status": "handled",
        "alarm": alarm.name,
        "stages": [
            *(
                watch(
                    gate, alarm, muted=muted, rt=rt, slots=used, pipelines=aws.pipelines, correlation_id=correlation_id
                )
                for gate in gates
            ),
            *left_alone,
        ],
    }


def invoked(event: Any, correlation_id: str) -> dict[str, Any]:
    """The work of one invocation, with the container's runtime and policy."""
    return run(event, runtime(), gating(), correlation_id=correlation_id)
