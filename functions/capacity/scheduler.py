"""One-time revert schedules: a manual apply with `until` is reverted by an EventBridge Scheduler schedule
that invokes this function once at `until` and then deletes itself.

The schedule's name comes from the target and the override's instant, so the function can find and
delete the schedule of an override that was replaced or resumed before it ran. A revert that fires for
an override no longer in force is refused by the planner: a schedule left behind is harmless.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from .model import Call, Override

if TYPE_CHECKING:  # the call's parameters typed as its request, checked against the service model
    from mypy_boto3_scheduler.type_defs import CreateScheduleInputTypeDef, DeleteScheduleInputTypeDef

    from .targets import Targets


def revert_name(target: str, set_at: datetime) -> str:
    """At most 64 characters: a target name is at most 40."""
    return f"{target}-revert-{set_at.astimezone(UTC):%Y%m%d%H%M%S}"


def revert_schedule(
    target: str, override: Override, *, group: str, function_arn: str, role_arn: str, dry_run: bool
) -> Call:
    """The CreateSchedule call of the override's revert: pure."""
    if override.until is None:
        raise ValueError(f"target {target!r}: an override without `until` has no revert")
    payload = {
        "trigger": "override-revert",
        "target": target,
        "override_set_at": override.set_at.isoformat(),
        "dry_run": dry_run,
    }
    params: CreateScheduleInputTypeDef = {
        "Name": revert_name(target, override.set_at),
        "GroupName": group,
        "ScheduleExpression": f"at({override.until.astimezone(UTC):%Y-%m-%dT%H:%M:%S})",
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "ActionAfterCompletion": "DELETE",
        "Description": f"Deckhand capacity: revert the override of {target} set at {override.set_at.isoformat()}",
        "Target": {"Arn": function_arn, "RoleArn": role_arn, "Input": json.dumps(payload, sort_keys=True)},
    }
    return Call("scheduler", "create_schedule", params)


def delete(name: str, group: str, through: Targets) -> bool:
    """Delete a revert schedule; False when it is already gone (it ran, or was never created)."""
    params: DeleteScheduleInputTypeDef = {"Name": name, "GroupName": group}
    try:
        through.make(Call("scheduler", "delete_schedule", params))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True
