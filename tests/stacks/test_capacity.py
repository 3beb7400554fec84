"""The capacity duty's wiring: one function, the alarm rule, a Scheduler schedule per profile schedule, scoped IAM."""

import json
from typing import Any

import pytest
import yaml
from aws_cdk import App
from aws_cdk.assertions import Template

from functions.capacity.config import CAPACITY_VARIABLE, SCHEDULE_GROUP_VARIABLE, SCHEDULER_ROLE_VARIABLE
from functions.capacity.declared import TARGET_TAG
from functions.capacity.policy import Capacity as CapacityPolicy
from sandbox.iam.simulator import Policy as SimPolicy
from sandbox.iam.simulator import Simulation, Simulator, Verdict
from stacks.app import build
from stacks.capacity import cron
from stacks.core import ENVIRONMENT_LIMIT_BYTES
from stacks.deckhand_stack import DeckhandStack
from stacks.policy import Policy, PolicyError, load_policy, parse_policy
from stacks.versions import REPO_ROOT
from tests.support.template import listed, role_statements, text

ARN = "arn:${AWS::Partition}:{service}:us-east-1:${AWS::AccountId}:{resource}"


@pytest.fixture(scope="module")
def example() -> Policy:
    return load_policy(REPO_ROOT / "deckhand.yaml")


def arn(service: str, resource: str) -> str:
    return ARN.replace("{service}", service).replace("{resource}", resource)


def capacity_function(template: Template) -> tuple[str, dict[str, Any]]:
    [(logical_id, function)] = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": "deckhand-capacity"}}
    ).items()
    return logical_id, function


def function_statements(template: Template) -> list[dict[str, Any]]:
    """The capacity function role's statements, actions and resources as lists of text."""
    return role_statements(template, "deckhand-capacity")


def granting(template: Template, action: str) -> dict[str, Any]:
    [statement] = [s for s in function_statements(template) if action in s["Action"]]
    return statement


def test_the_function_runs_its_handler_with_the_capacity_section(template: Template, example: Policy) -> None:
    _, function = capacity_function(template)
    assert function["Properties"]["Handler"] == "functions.capacity.handler.handler"
    variables = function["Properties"]["Environment"]["Variables"]
    assert CapacityPolicy.model_validate_json(variables[CAPACITY_VARIABLE]) == example.capacity
    assert variables[SCHEDULE_GROUP_VARIABLE] == "deckhand-capacity"
    [role] = template.find_resources("AWS::IAM::Role", {"Properties": {"RoleName": "deckhand-capacity-scheduler"}})
    assert variables[SCHEDULER_ROLE_VARIABLE] == {"Fn::GetAtt": [role, "Arn"]}


def test_only_the_targets_scale_out_alarms_of_its_own_account_going_to_alarm_or_ok_reach_it(
    template: Template,
) -> None:
    logical_id, _ = capacity_function(template)
    [rule] = [
        r["Properties"]
        for r in template.find_resources("AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [logical_id, "Arn"]} for t in r["Properties"]["Targets"])
    ]
    assert rule["EventPattern"] == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "account": [{"Ref": "AWS::AccountId"}],  # a member's forwarded alarm event keeps its own account
        "detail": {"alarmName": ["web-cpu-high", "workers-backlog-high"], "state": {"value": ["ALARM", "OK"]}},
    }
    assert "DeadLetterConfig" in rule["Targets"][0]


def test_each_profile_schedule_is_a_scheduler_schedule_in_its_time_zone(template: Template) -> None:
    logical_id, _ = capacity_function(template)
    schedules = {
        s["Properties"]["Name"]: s["Properties"] for s in template.find_resources("AWS::Scheduler::Schedule").values()
    }
    assert {name: (s["ScheduleExpression"], s["ScheduleExpressionTimezone"]) for name, s in schedules.items()} == {
        "web-0-day": ("cron(0 8 ? * MON,TUE,WED,THU,FRI *)", "Europe/Paris"),
        "web-1-weekend": ("cron(0 10 ? * SAT,SUN *)", "Europe/Paris"),
        "web-2-night": ("cron(0 20 ? * * *)", "Europe/Paris"),
    }
    night = schedules["web-2-night"]
    assert json.loads(night["Target"]["Input"]) == {
        "trigger": "schedule",
        "target": "web",
        "profile": "night",
        "schedule": 2,
    }
    assert night["Target"]["Arn"] == {"Fn::GetAtt": [logical_id, "Arn"]}
    assert night["FlexibleTimeWindow"] == {"Mode": "OFF"}
    [group] = template.find_resources("AWS::Scheduler::ScheduleGroup").values()
    assert group["Properties"]["Name"] == "deckhand-capacity"
    assert {text(s["GroupName"]) for s in schedules.values()} == {"deckhand-capacity"}


def test_a_schedule_cron_comes_from_at_and_days_or_is_given() -> None:
    document = yaml.safe_load((REPO_ROOT / "deckhand.yaml").read_text(encoding="utf-8"))
    web = document["capacity"]["targets"][0]
    web["schedules"] = [
        {"profile": "day", "at": "07:30", "days": ["SUN", "MON"]},
        {"profile": "night", "cron": "cron(0 22 ? * MON-FRI *)"},
    ]
    target = parse_policy(document, "test.yaml").capacity.targets[0]
    assert [cron(s) for s in target.schedules] == ["cron(30 7 ? * MON,SUN *)", "cron(0 22 ? * MON-FRI *)"]


def scheduler_role(template: Template) -> dict[str, Any]:
    [role] = template.find_resources(
        "AWS::IAM::Role", {"Properties": {"RoleName": "deckhand-capacity-scheduler"}}
    ).values()
    return role


def test_scheduler_assumes_its_role_only_for_the_capacity_group(template: Template) -> None:
    [trust] = scheduler_role(template)["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"].keys() == {"StringEquals"}
    condition = trust["Condition"]["StringEquals"]
    assert text(condition["aws:SourceArn"]) == arn("scheduler", "schedule-group/deckhand-capacity")
    assert text(condition["aws:SourceAccount"]) == "${AWS::AccountId}"


def test_the_scheduler_role_invokes_only_the_capacity_function(template: Template) -> None:
    logical_id, _ = capacity_function(template)
    role = {
        "Ref": next(
            iter(template.find_resources("AWS::IAM::Role", {"Properties": {"RoleName": "deckhand-capacity-scheduler"}}))
        )
    }
    held = [
        listed(statement)
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if role in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    [invoke] = [s for s in held if "lambda:InvokeFunction" in s["Action"]]
    assert invoke["Action"] == ["lambda:InvokeFunction"]
    assert invoke["Resource"] == [f"${{{logical_id}.Arn}}", f"${{{logical_id}.Arn}}:*"]
    assert {a for s in held for a in s["Action"]} <= {
        "lambda:InvokeFunction",
        "sqs:SendMessage",  # its dead letters
        "kms:Decrypt",
        "kms:GenerateDataKey",
    }


def test_bounds_move_only_for_scalable_targets_tagged_with_a_policy_target_name(template: Template) -> None:
    statement = granting(template, "application-autoscaling:RegisterScalableTarget")
    assert statement["Action"] == ["application-autoscaling:RegisterScalableTarget"]
    assert statement["Resource"] == [arn("application-autoscaling", "scalable-target/*")]
    assert statement["Condition"] == {
        "StringEquals": {
            "application-autoscaling:service-namespace": "ecs",
            "application-autoscaling:scalable-dimension": "ecs:service:DesiredCount",
            f"aws:ResourceTag/{TARGET_TAG}": ["web"],
        },
        "Null": {"aws:TagKeys": "true"},
    }


def test_raw_writes_name_the_targets_and_spare_protected_ones(template: Template) -> None:
    unprotected = {"Null": {"aws:ResourceTag/deckhand:protect": "true"}}
    service = granting(template, "ecs:UpdateService")
    assert (service["Resource"], service["Condition"]) == ([arn("ecs", "service/web-app/web")], unprotected)
    group = granting(template, "autoscaling:UpdateAutoScalingGroup")
    assert sorted(group["Action"]) == [
        "autoscaling:ResumeProcesses",
        "autoscaling:SuspendProcesses",
        "autoscaling:UpdateAutoScalingGroup",
    ]
    assert group["Resource"] == [arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/workers")]
    assert group["Condition"] == unprotected


def test_alarms_schedules_and_the_scheduler_role_are_named(template: Template) -> None:
    mute = granting(template, "cloudwatch:DisableAlarmActions")
    assert mute["Resource"] == [arn("cloudwatch", "alarm:web-tasks-low")]
    assert set(granting(template, "cloudwatch:DescribeAlarms")["Resource"]) == {
        arn("cloudwatch", f"alarm:{name}") for name in ("web-cpu-high", "workers-backlog-high", "web-tasks-low")
    }
    schedules = granting(template, "scheduler:CreateSchedule")
    assert schedules["Resource"] == [arn("scheduler", "schedule/deckhand-capacity/*")]
    assert sorted(schedules["Action"]) == [
        "scheduler:CreateSchedule",
        "scheduler:DeleteSchedule",
        "scheduler:GetSchedule",
    ]
    passing = granting(template, "iam:PassRole")
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    assert passing["Resource"][0].startswith("${CapacitySchedulerRole")


def test_only_reads_without_resource_level_permissions_go_unscoped(template: Template) -> None:
    unscoped = {a for s in function_statements(template) if "*" in s["Resource"] for a in s["Action"]}
    assert unscoped == {
        "application-autoscaling:DescribeScalableTargets",
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeInstanceRefreshes",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    }


def test_the_dashboard_shows_changes_by_trigger_and_bounds_per_target(template: Template) -> None:
    [dashboard] = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = text(dashboard["Properties"]["DashboardBody"])
    assert '{Deckhand,service,trigger} MetricName=\\"CapacityChange\\"' in body
    for metric in ("CapacityMin", "CapacityMax", "CapacityDesired"):
        assert f'{{Deckhand,service,target}} MetricName=\\"{metric}\\"' in body
    assert "CapacityRefused" in body


def test_an_oversized_capacity_section_fails_the_synth_naming_capacity_targets() -> None:
    document = yaml.safe_load((REPO_ROOT / "deckhand.yaml").read_text(encoding="utf-8"))
    [web, *_] = document["capacity"]["targets"]
    document["capacity"]["targets"] = [{**web, "name": f"web-service-{n:02}"} for n in range(12)]
    with pytest.raises(PolicyError) as refused:
        DeckhandStack(App(), "TooBig", policy=parse_policy(document, "big.yaml"))
    message = str(refused.value)
    assert "deckhand.yaml" in message  # the file the app deploys
    assert "capacity.targets" in message
    assert f"{ENVIRONMENT_LIMIT_BYTES} bytes" in message


# --- regressions under AWS's authorizer: the old grant kept as a fixture, the new one read from the template ---

ACCOUNT = "123456789012"
GROUP_ARN = f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule-group/deckhand-capacity"
SCHEDULER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/deckhand-capacity-scheduler"
CAPACITY_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/deckhand-capacity/deckhand-capacity"
# An id AWS assigns (the user guide's example): the ARN says nothing of the service behind it.
SCALABLE_TARGET_ARN = (
    f"arn:aws:application-autoscaling:us-east-1:{ACCOUNT}:scalable-target/1234abcd56ab78cd901ef1234567890ab123"
)
ECS_SERVICE_KEYS = {
    "application-autoscaling:service-namespace": "ecs",
    "application-autoscaling:scalable-dimension": "ecs:service:DesiredCount",
}
OLD_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "scheduler.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/deckhand-capacity/*"},
            },
        }
    ],
}
OLD_REGISTER = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "application-autoscaling:RegisterScalableTarget",
            "Resource": f"arn:aws:application-autoscaling:us-east-1:{ACCOUNT}:scalable-target/*",
            "Condition": {
                "StringEquals": {
                    "application-autoscaling:service-namespace": ["ecs"],
                    "application-autoscaling:scalable-dimension": ["ecs:service:DesiredCount"],
                }
            },
        }
    ],
}


def deployed(value: Any) -> Any:
    """A template value as the account would hold it: pseudo parameters and the roles' ARNs filled in."""
    if isinstance(value, str) or (isinstance(value, dict) and value.keys() in ({"Fn::Join"}, {"Ref"}, {"Fn::GetAtt"})):
        flat = text(value).replace("${AWS::Partition}", "aws").replace("${AWS::AccountId}", ACCOUNT)
        return flat.replace("${AWS::Region}", "us-east-1")
    if isinstance(value, dict):
        return {key: deployed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [deployed(item) for item in value]
    return value


def register(simulator: Simulator, policy: dict[str, Any], **context: str) -> Verdict:
    return simulator.evaluate(
        Simulation(
            principal=CAPACITY_SESSION,
            action="application-autoscaling:RegisterScalableTarget",
            resource=SCALABLE_TARGET_ARN,
            resource_account=ACCOUNT,
            context={**ECS_SERVICE_KEYS, **context},
            identity_policies=[SimPolicy("capacity", policy)],
        )
    )


def assume(simulator: Simulator, trust: dict[str, Any]) -> Verdict:
    """Scheduler assuming the role for a schedule of the group, with the context Scheduler sets."""
    return simulator.evaluate(
        Simulation(
            principal="scheduler.amazonaws.com",
            action="sts:AssumeRole",
            resource=SCHEDULER_ROLE_ARN,
            resource_account=ACCOUNT,
            context={"aws:SourceAccount": ACCOUNT, "aws:SourceArn": GROUP_ARN},
            resource_policy=trust,
        )
    )


def test_scheduler_assuming_the_role_was_refused_and_is_now_allowed(template: Template, simulator: Simulator) -> None:
    trust = deployed(scheduler_role(template)["Properties"]["AssumeRolePolicyDocument"])

    assert not assume(simulator, OLD_TRUST).allowed
    assert assume(simulator, trust).allowed, assume(simulator, trust).explain()


def test_registering_a_scalable_target_outside_the_policy_was_allowed_and_is_now_refused(
    template: Template, simulator: Simulator
) -> None:
    new = {"Version": "2012-10-17", "Statement": deployed(function_statements(template))}
    billing = {f"aws:ResourceTag/{TARGET_TAG}": "billing"}  # an ECS service the policy does not list

    assert register(simulator, OLD_REGISTER).allowed  # untagged, like any service of the account
    assert not register(simulator, new).allowed
    assert not register(simulator, new, **billing).allowed
    assert register(simulator, new, **{f"aws:ResourceTag/{TARGET_TAG}": "web"}).allowed


def test_the_function_cannot_tag_a_registration_into_its_scope(template: Template, simulator: Simulator) -> None:
    new = {"Version": "2012-10-17", "Statement": deployed(function_statements(template))}
    web = {f"aws:ResourceTag/{TARGET_TAG}": "web"}

    tagging = register(
        simulator, new, **web, **{"aws:TagKeys": [TARGET_TAG]}, **{f"aws:RequestTag/{TARGET_TAG}": "web"}
    )

    assert not tagging.allowed


def test_the_function_writes_its_state_and_its_own_audit_records_only(template: Template, simulator: Simulator) -> None:
    [table] = [t for t in template.find_resources("AWS::DynamoDB::Table") if t.startswith("CoreAuditTable")]
    table_arn = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/deckhand-audit"
    statements = json.dumps(deployed(function_statements(template))).replace(f"${{{table}.Arn}}", table_arn)
    new = {"Version": "2012-10-17", "Statement": json.loads(statements)}

    def put(key: str) -> bool:
        return simulator.evaluate(
            Simulation(
                principal=CAPACITY_SESSION,
                action="dynamodb:PutItem",
                resource=table_arn,
                resource_account=ACCOUNT,
                context={"dynamodb:LeadingKeys": [key]},
                identity_policies=[SimPolicy("capacity", new)],
            )
        ).allowed

    assert put("capacity/web")
    assert put("audit/capacity/web")
    assert not put("audit/gating/web")
    assert not put("cleanup-mark/vol-1")


def test_each_namespace_and_dimension_pair_gets_its_own_tagged_registration(tmp_path: Any) -> None:
    document = yaml.safe_load((REPO_ROOT / "deckhand.yaml").read_text(encoding="utf-8"))
    web = document["capacity"]["targets"][0]
    orders = {
        "name": "orders",
        "kind": "scalable-target",
        "namespace": "dynamodb",
        "dimension": "dynamodb:table:ReadCapacityUnits",
        "resource_id": "table/orders",
        "floor": 1,
        "ceiling": 100,
        "opt_in": "tag",
    }
    document["capacity"]["targets"] = [web, {**web, "name": "api", "service": "api"}, orders]
    app = App(outdir=str(tmp_path))
    template = Template.from_stack(build(app, parse_policy(document, "pairs.yaml")))
    app.synth()  # cdk-nag: the wildcard of every statement is acknowledged

    registrations = [
        s for s in function_statements(template) if "application-autoscaling:RegisterScalableTarget" in s["Action"]
    ]
    assert sorted(
        (
            s["Condition"]["StringEquals"]["application-autoscaling:service-namespace"],
            s["Condition"]["StringEquals"][f"aws:ResourceTag/{TARGET_TAG}"],
        )
        for s in registrations
    ) == [("dynamodb", ["orders"]), ("ecs", ["web", "api"])]
    listing = granting(template, "application-autoscaling:ListTagsForResource")
    assert listing["Condition"] == {"StringEquals": {f"aws:ResourceTag/{TARGET_TAG}": ["orders"]}}


def test_the_function_passes_only_the_scheduler_role_and_only_to_scheduler(
    template: Template, simulator: Simulator
) -> None:
    statements = json.dumps(deployed(function_statements(template)))
    role_token = (
        "${"
        + next(
            iter(template.find_resources("AWS::IAM::Role", {"Properties": {"RoleName": "deckhand-capacity-scheduler"}}))
        )
        + ".Arn}"
    )
    new = {"Version": "2012-10-17", "Statement": json.loads(statements.replace(role_token, SCHEDULER_ROLE_ARN))}

    def pass_role(role: str, service: str) -> bool:
        return simulator.evaluate(
            Simulation(
                principal=CAPACITY_SESSION,
                action="iam:PassRole",
                resource=role,
                resource_account=ACCOUNT,
                context={"iam:PassedToService": service},
                identity_policies=[SimPolicy("capacity", new)],
            )
        ).allowed

    assert pass_role(SCHEDULER_ROLE_ARN, "scheduler.amazonaws.com")
    assert not pass_role(SCHEDULER_ROLE_ARN, "lambda.amazonaws.com")
    assert not pass_role(f"arn:aws:iam::{ACCOUNT}:role/admin", "scheduler.amazonaws.com")
