"""The CloudWatch side of capacity, pure: which alarms of a DescribeAlarms response are in ALARM (targets.py
reads them), and the calls that mute the alarms the policy names while a target is deliberately at zero
(their actions disabled, then enabled)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from .model import Call

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import (
        DescribeAlarmsOutputTypeDef,
        DisableAlarmActionsInputTypeDef,
        EnableAlarmActionsInputTypeDef,
    )

BATCH = 100  # DescribeAlarms takes at most 100 names


def batches(names: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(names), BATCH):
        yield list(names[start : start + BATCH])


def firing(response: DescribeAlarmsOutputTypeDef) -> list[str]:
    """The alarms of a DescribeAlarms response that are in ALARM, metric and composite alike."""
    found = [*response.get("MetricAlarms", []), *response.get("CompositeAlarms", [])]
    return sorted(alarm.get("AlarmName", "") for alarm in found if alarm.get("StateValue") == "ALARM")


def actions(names: Sequence[str], *, enabled: bool) -> list[Call]:
    """The calls that enable or disable the alarms' actions: pure."""
    method = "enable_alarm_actions" if enabled else "disable_alarm_actions"
    made = []
    for batch in batches(names):
        params: EnableAlarmActionsInputTypeDef | DisableAlarmActionsInputTypeDef = {"AlarmNames": batch}
        made.append(Call("cloudwatch", method, params))
    return made
