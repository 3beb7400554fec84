"""EventBridge Scheduler in CloudFormation: moto's CloudFormation skips AWS::Scheduler::* with a warning, so the
sandbox creates a stack's schedule groups and schedules through moto's Scheduler backend (where `tick` fires them).
"""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.scheduler.models import EventBridgeSchedulerBackend, scheduler_backends

from sandbox.gaps.cloudformation import NamedModel
from sandbox.gaps.common import JSON, parse_time


def _scheduler(account: str, region: str) -> EventBridgeSchedulerBackend:
    return scheduler_backends[account][region]


class CfnScheduleGroup(NamedModel, CloudFormationModel):
    """AWS::Scheduler::ScheduleGroup, created through moto's Scheduler backend."""

    TYPE = "AWS::Scheduler::ScheduleGroup"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str, **kwargs: Any
    ) -> CfnScheduleGroup:
        tags = cloudformation_json.get("Properties", {}).get("Tags") or []
        group = _scheduler(account_id, region_name).create_schedule_group(name=resource_name, tags=tags)
        return cls(group.name, group.arn)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: CfnScheduleGroup,
        new_resource_name: str,
        cloudformation_json: JSON,
        account_id: str,
        region_name: str,
    ) -> CfnScheduleGroup:
        if new_resource_name == original_resource.name:
            return original_resource  # only its tags could change, and nothing reads them
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str
    ) -> None:
        _scheduler(account_id, region_name).schedule_groups.pop(resource_name, None)

    def delete(self, account_id: str, region_name: str) -> None:
        _scheduler(account_id, region_name).schedule_groups.pop(self.name, None)


class CfnSchedule(NamedModel, CloudFormationModel):
    """AWS::Scheduler::Schedule, created through moto's Scheduler backend, so that `tick` fires it."""

    TYPE = "AWS::Scheduler::Schedule"

    def __init__(self, name: str, group: str, arn: str) -> None:
        super().__init__(name, arn)
        self.group = group

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str, **kwargs: Any
    ) -> CfnSchedule:
        properties = cloudformation_json["Properties"]

        def epoch(key: str) -> Any:
            return parse_time(properties[key]).timestamp() if properties.get(key) else None

        schedule = _scheduler(account_id, region_name).create_schedule(
            description=properties.get("Description"),
            end_date=epoch("EndDate"),
            flexible_time_window=properties["FlexibleTimeWindow"],
            group_name=properties.get("GroupName") or "default",
            kms_key_arn=properties.get("KmsKeyArn"),
            name=resource_name,
            schedule_expression=properties["ScheduleExpression"],
            schedule_expression_timezone=properties.get("ScheduleExpressionTimezone"),
            start_date=epoch("StartDate"),
            state=properties.get("State"),
            target=dict(properties["Target"]),
            action_after_completion=properties.get("ActionAfterCompletion"),
        )
        return cls(schedule.name, schedule.group_name, schedule.arn)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: CfnSchedule,
        new_resource_name: str,
        cloudformation_json: JSON,
        account_id: str,
        region_name: str,
    ) -> CfnSchedule:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str
    ) -> None:
        group = cloudformation_json.get("Properties", {}).get("GroupName") or "default"
        cls(resource_name, group, "").delete(account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        found = _scheduler(account_id, region_name).schedule_groups.get(self.group)
        if found is not None:
            found.schedules.pop(self.name, None)
