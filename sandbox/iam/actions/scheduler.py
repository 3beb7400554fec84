"""EventBridge Scheduler: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridgescheduler.html"""

from __future__ import annotations

from collections.abc import Sequence

from sandbox.iam.actions.rows import Also, Row, Table, arn
from sandbox.iam.model import Call, IamRequest

TARGET_ROLE_SOURCE = "https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role"


def schedule(call: Call) -> Sequence[str]:
    group = call.params.get("GroupName") or "default"
    return (arn(call, "scheduler", f"schedule/{group}/{call.params['Name']}"),)


def pass_target_role(call: Call) -> Sequence[IamRequest]:
    """The schedule's target role is passed to Scheduler: iam:PassRole with iam:PassedToService."""
    role = str(call.params["Target"]["RoleArn"])
    return [IamRequest("iam:PassRole", role, {"iam:PassedToService": "scheduler.amazonaws.com"})]


TABLE: Table = {
    "CreateSchedule": Row("scheduler:CreateSchedule", schedule, also=(Also(pass_target_role, TARGET_ROLE_SOURCE),)),
    "GetSchedule": Row("scheduler:GetSchedule", schedule),
    "DeleteSchedule": Row("scheduler:DeleteSchedule", schedule),
    "ListSchedules": Row("scheduler:ListSchedules"),
}
