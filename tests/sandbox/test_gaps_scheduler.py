"""EventBridge Scheduler in CloudFormation: a stack's schedule group and schedules."""

from __future__ import annotations

import json

from tests.support.sandbox_server import Client, error_code

ACCOUNT = "123456789012"
REGION = "us-east-1"


# --- EventBridge Scheduler in CloudFormation, Auto Scaling instance refreshes ----------------------------------


def test_a_stack_creates_its_schedule_group_and_schedules_and_deletes_them(client: Client) -> None:
    target = {
        "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:deckhand-capacity",
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/deckhand-capacity-scheduler",
        "Input": '{"trigger": "schedule", "target": "web", "profile": "night", "schedule": 2}',
        "RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 2},
    }
    template = {
        "Resources": {
            "Group": {"Type": "AWS::Scheduler::ScheduleGroup", "Properties": {"Name": "capacity-test"}},
            "Night": {
                "Type": "AWS::Scheduler::Schedule",
                "Properties": {
                    "Name": "web-2-night",
                    "GroupName": {"Ref": "Group"},
                    "ScheduleExpression": "cron(0 20 ? * * *)",
                    "ScheduleExpressionTimezone": "Europe/Paris",
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "Target": target,
                },
            },
        },
        "Outputs": {"Night": {"Value": {"Fn::GetAtt": ["Night", "Arn"]}}},
    }
    cloudformation, scheduler = client("cloudformation"), client("scheduler")
    cloudformation.create_stack(StackName="capacity-schedules", TemplateBody=json.dumps(template))
    [stack] = cloudformation.describe_stacks(StackName="capacity-schedules")["Stacks"]
    arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/capacity-test/web-2-night"
    assert (stack["StackStatus"], stack["Outputs"][0]["OutputValue"]) == ("CREATE_COMPLETE", arn)
    schedule = scheduler.get_schedule(Name="web-2-night", GroupName="capacity-test")
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
        "cron(0 20 ? * * *)",
        "Europe/Paris",
    )
    assert schedule["Target"] == target
    assert [s["Name"] for s in scheduler.list_schedules(GroupName="capacity-test")["Schedules"]] == ["web-2-night"]

    cloudformation.delete_stack(StackName="capacity-schedules")
    assert error_code(lambda: scheduler.get_schedule(Name="web-2-night", GroupName="capacity-test")) == (
        "ResourceNotFoundException"
    )
    assert "capacity-test" not in [g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]]
