"""The CloudWatch side of capacity: whether a target's scale-out alarms are in ALARM, and muting the
alarms the policy names while a target is deliberately at zero (their actions disabled, then enabled)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from functions.shared.clients import client

from .policy import Target
from .targets import Call

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import (
        DescribeAlarmsOutputTypeDef,
        DisableAlarmActionsInputTypeDef,
        EnableAlarmActionsInputTypeDef,
    )

BATCH = 100  # DescribeAlarms takes at most 100 names


def _batches(names: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(names), BATCH):
        yield list(names[start : start + BATCH])


def firing(response: DescribeAlarmsOutputTypeDef) -> list[str]:
    """The alarms of a DescribeAlarms response that are in ALARM, metric and composite alike."""
    found = [*response.get("MetricAlarms", []), *response.get("CompositeAlarms", [])]
    return sorted(alarm.get("AlarmName", "") for alarm in found if alarm.get("StateValue") == "ALARM")


def in_alarm(target: Target) -> list[str]:
    """The target's scale-out alarms now in ALARM (one call for up to 100 alarms)."""
    names = target.alarms.scale_out if target.alarms is not None else []
    cloudwatch = client("cloudwatch")
    return [
        name
        for batch in _batches(names)
        for name in firing(cloudwatch.describe_alarms(AlarmNames=batch, AlarmTypes=["MetricAlarm", "CompositeAlarm"]))
    ]


def actions(names: Sequence[str], *, enabled: bool) -> list[Call]:
    """The calls that enable or disable the alarms' actions: pure."""
    method = "enable_alarm_actions" if enabled else "disable_alarm_actions"
    made = []
    for batch in _batches(names):
        params: EnableAlarmActionsInputTypeDef | DisableAlarmActionsInputTypeDef = {"AlarmNames": batch}
        made.append(Call("cloudwatch", method, params))
    return made
