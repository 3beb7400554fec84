"""The `watchdog` function: an alarm in ALARM soon after a deploy stops or rolls back that stage, once.

On `CloudWatch Alarm State Change` to ALARM for an alarm some gate's `watchdog.alarms` lists (the
EventBridge event the stack's rule delivers; also read: a Lambda alarm action's event, and the alarm's
notification delivered by a subscription to an SNS topic of the user's own):

- within `horizon_minutes` of the gated stage's last success, `rollback` rolls the stage back to the
  previous execution that succeeded in it (RollbackStage); `stop` stops the execution in flight
  (StopPipelineExecution, reason starting "Deckhand watchdog:"). A stage still deploying is stopped
  either way, since a running stage cannot roll back.
- once: nothing when the stage's latest run is already a rollback (no rollback loops), and at most
  `max_actions_per_hour` actions per stage and clock hour, claimed with conditional writes of lock
  items in the audit table.
- a muted alarm (muteDetail whose window covers the change) is left alone, and the record says why.

Dry run (the policy's default) records and notifies what it would do. Paused gating does nothing but
record and warn. Every action is audited and notified; an alarm no gate watches is ignored quietly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from functions.gating import pipeline
from functions.gating.config import gating
from functions.gating.policy import Gate, Gating
from functions.shared.audit import AuditRecord, new_id
from functions.shared.clients import client
from functions.shared.observability import logger, metrics, tracer
from functions.shared.runtime import Runtime, runtime

from .plan import AlarmChange, Move, alarm_change_of, notice, plan, rollback_target, stop_reason, watched

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

DUTY = "gating"
LOCK_DAYS = 2
# CodePipeline says no to this rollback (the stage runs, the target predates the pipeline's structure, ...).
REFUSALS = ("UnableToRollbackStageException", "ConflictException", "PipelineExecutionOutdatedException")


def claim_slot(table: str, gate: Gate, now: datetime, limit: int) -> bool:
    """Take one of this hour's `limit` action slots for the stage; False when all are taken."""
    hour = now.astimezone(UTC).strftime("%Y-%m-%dT%H")
    dynamodb = client("dynamodb")
    for slot in range(limit):
        try:
            dynamodb.put_item(
                TableName=table,
                Item={
                    "pk": {"S": f"watchdog-lock/{gate.pipeline}/{gate.stage}"},
                    "sk": {"S": f"{hour}#{slot}"},
                    "expires_at": {"N": str(int((now + timedelta(days=LOCK_DAYS)).timestamp()))},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
            return True
        except dynamodb.exceptions.ConditionalCheckFailedException:
            continue
    return False


def act(move: Move, gate: Gate, alarm: AlarmChange) -> tuple[str, dict[str, Any]]:
    """Perform the move; (outcome, details). Outcomes other than rolled-back/stopped need a human."""
    if move.act == "rollback":
        target = rollback_target(pipeline.successful_executions(gate.pipeline, gate.stage), move.execution_id)
        if target is None:
            return "no-rollback-target", {"reason": f"no earlier execution succeeded in {gate.stage}"}
        try:
            started = pipeline.rollback_stage(gate.pipeline, gate.stage, target)
        except ClientError as error:
            if error.response["Error"].get("Code") not in REFUSALS:
                raise
            return "rollback-refused", {"target": target, "reason": error.response["Error"].get("Message", "")}
        return "rolled-back", {"target": target, "rollback_execution": started}
    try:
        pipeline.stop_execution(gate.pipeline, move.execution_id, stop_reason(alarm, gate))
    except ClientError as error:
        code = error.response["Error"].get("Code", "")
        if code not in ("PipelineExecutionNotStoppableException", "DuplicatedStopRequestException"):
            raise
        return "not-stoppable", {"reason": f"execution {move.execution_id}: {code}"}
    return "stopped", {"stopped_execution": move.execution_id}


def respond(gate: Gate, alarm: AlarmChange, rt: Runtime, now: datetime) -> tuple[Move, str, dict[str, Any]]:
    """(the move, the outcome, details): the checks in order, acting only when every one allows it."""
    assert gate.watchdog is not None
    if alarm.muted:
        until = f"{alarm.mute_end:%Y-%m-%d %H:%M} UTC" if alarm.mute_end else "its mute ends"
        return Move(None, f"{alarm.name} is muted by {alarm.muted_by or 'a mute rule'} until {until}"), "muted", {}
    move = plan(gate, pipeline.latest_stage_run(pipeline.pipeline_state(gate.pipeline), gate.stage), now)
    if move.act is None:
        return move, "skipped", {}
    pause = rt.switches.read().pause(DUTY, now)
    if pause is not None:
        return move, "paused", {"switch": pause.name, "set_by": pause.set_by, "pause_reason": pause.reason}
    if rt.dry_run(None):
        return move, f"would-{move.act}", {}
    if not claim_slot(rt.settings.audit_table, gate, now, gate.watchdog.max_actions_per_hour):
        return move, "rate-limited", {}
    outcome, details = act(move, gate, alarm)
    return move, outcome, details


def watch(gate: Gate, alarm: AlarmChange, rt: Runtime, correlation_id: str) -> dict[str, Any]:
    now = rt.clock()
    move, outcome, details = respond(gate, alarm, rt, now)
    rt.audit.record(
        AuditRecord(
            duty=DUTY,
            action="watchdog",
            subject=f"pipeline/{gate.pipeline}/{gate.stage}",
            outcome=outcome,
            reason=move.reason,
            dry_run=outcome.startswith("would-"),
            at=now,
            inputs={
                "alarm": alarm.name,
                "state": alarm.state,
                "reason": alarm.reason[:500],
                "at": alarm.at.isoformat(),
            },
            after={"act": move.act, "execution": move.execution_id, **details},
            correlation_id=correlation_id,
            id=new_id(),
        )
    )
    message = notice(gate, alarm, move, outcome, details)
    if message is not None:
        rt.notifier.send(message)
    if outcome in ("rolled-back", "stopped"):
        metrics.add_metric(name="WatchdogAction", unit=MetricUnit.Count, value=1)
    logger.info("watchdog", extra={"pipeline": gate.pipeline, "stage": gate.stage, "outcome": outcome})
    return {"pipeline": gate.pipeline, "stage": gate.stage, "outcome": outcome, "reason": move.reason, **details}


def run(event: Any, rt: Runtime, policy: Gating, correlation_id: str = "") -> dict[str, Any]:
    alarm = alarm_change_of(event)
    if alarm is None:
        return {"status": "ignored", "reason": "not a CloudWatch alarm state change"}
    gates = watched(policy, alarm.name)
    if not gates:
        return {"status": "ignored", "reason": f"no gate's watchdog watches {alarm.name}"}
    if alarm.state != "ALARM":
        return {"status": "ignored", "reason": f"{alarm.name} went to {alarm.state}, not ALARM"}
    logger.append_keys(alarm=alarm.name, correlation_id=correlation_id)
    return {
        "status": "handled",
        "alarm": alarm.name,
        "stages": [watch(gate, alarm, rt, correlation_id) for gate in gates],
    }


@logger.inject_lambda_context(clear_state=True, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run(event, runtime(), gating(), correlation_id=context.aws_request_id)
