"""Service-to-service deliveries, checked the way each service checks them.

The first part builds each path by hand in the in-process sandbox server (quick, one resource at a time);
the second deploys the real app once with `sandbox up` and checks every path it wires, then puts back the
defective policies of issues 10/11, kept here as fixtures, and shows the delivery refused.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox import ACCOUNT, REGION, cdk, clients, process
from sandbox.deployed import Functions, emit, tick
from sandbox.deployed import wiring as deployed_wiring
from sandbox.iam import deliveries

Client = Callable[[str], Any]

TLS_ONLY_TOPIC_POLICY_SID = "AllowPublishThroughSSLOnly"


def tls_only_topic_policy(topic_arn: str) -> dict[str, Any]:
    """The notifications topic's policy before issue 11 item 5: CDK's enforce_ssl Deny and nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": TLS_ONLY_TOPIC_POLICY_SID,
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def cloudwatch_may_publish(topic_arn: str, account: str) -> dict[str, Any]:
    """The TLS Deny plus the Allow AWS asks for: CloudWatch, for this account's alarms."""
    allow = {
        "Sid": "CloudWatchAlarms",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": "sns:Publish",
        "Resource": topic_arn,
        "Condition": {
            "StringEquals": {"aws:SourceAccount": account},
            "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:*:{account}:alarm:*"},
        },
    }
    policy = tls_only_topic_policy(topic_arn)
    return {**policy, "Statement": [*policy["Statement"], allow]}


def scheduler_trust(source_arn: str, account: str) -> dict[str, Any]:
    """The Scheduler role's trust; before issue 11 item 2 `source_arn` was `…:schedule/<group>/*`."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "scheduler.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}, "ArnLike": {"aws:SourceArn": source_arn}},
            }
        ],
    }


def service_trust(service: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def allow(
    actions: list[str], resource: str, principal: dict[str, Any] | None = None, **condition: Any
) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": actions, "Resource": resource}
    if principal is not None:
        statement["Principal"] = principal
    if condition:
        statement["Condition"] = condition
    return statement


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def key_policy(*services: str) -> str:
    """A key policy like CDK's: the account's IAM policies decide, and each service may use the key directly."""
    root = allow(["kms:*"], "*", {"AWS": f"arn:aws:iam::{ACCOUNT}:root"})
    uses = [
        allow(["kms:Decrypt", "kms:GenerateDataKey*"], "*", {"Service": s}, StringEquals={"aws:SourceAccount": ACCOUNT})
        for s in services
    ]
    return document(root, *uses)


def refusals(endpoint: str, found: list[deliveries.Delivery]) -> list[tuple[str, str, str]]:
    """(kind, refused action, decision) of each refused delivery."""
    return [
        (r.delivery.kind, r.check.action, r.decision)
        for r in deliveries.ask(endpoint, found, phase="deploy")
        if r is not None
    ]


def of_kind(found: list[deliveries.Delivery], kind: str) -> list[deliveries.Delivery]:
    return [d for d in found if d.kind == kind]


# --- each path, built by hand ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def region() -> str:
    return "eu-west-3"  # moto's backends are process-wide: keep this module's resources apart


@pytest.fixture(scope="module")
def wiring(client: Client, region: str) -> deliveries.Wiring:
    return deliveries.Wiring(client, ACCOUNT, region)


def customer_key(client: Client, policy: str) -> str:
    return str(client("kms").create_key(Policy=policy)["KeyMetadata"]["Arn"])


def role(client: Client, name: str, trust: str, *statements: dict[str, Any]) -> str:
    iam = client("iam")
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"])
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="grants", PolicyDocument=document(*statements))
    return arn


def queue(client: Client, name: str, key: str | None = None) -> tuple[str, str]:
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes={"KmsMasterKeyId": key} if key else {})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return str(url), str(arn)


def function(client: Client, name: str, role_arn: str, **extra: Any) -> str:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    made = client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role_arn,
        Handler="index.handler",
        Code={"ZipFile": code.getvalue()},
        **extra,
    )
    return str(made["FunctionArn"])


def test_alarm_to_topic_is_refused_under_the_tls_only_topic_policy(
    client: Client, endpoint: str, wiring: deliveries.Wiring
) -> None:
    key = customer_key(client, key_policy("cloudwatch.amazonaws.com"))
    sns = client("sns")
    topic = sns.create_topic(Name="notices", Attributes={"KmsMasterKeyId": key})["TopicArn"]
    sns.set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(tls_only_topic_policy(topic))
    )
    client("cloudwatch").put_metric_alarm(
        AlarmName="errors",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=[topic],
    )
    [delivery] = [d for d in wiring.alarms() if d.target == topic]
    assert [c.action for c in delivery.checks] == ["sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"]
    assert delivery.checks[0].context["aws:SourceArn"].endswith(":alarm:errors")

    assert refusals(endpoint, [delivery]) == [("alarm → topic", "sns:Publish", "ImplicitlyDenied")]

    fixed = json.dumps(cloudwatch_may_publish(topic, ACCOUNT))
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=fixed)
    assert refusals(endpoint, [delivery]) == []


def test_alarms_queue_and_topic_policies_from_a_template_are_deployed_and_decide(
    client: Client, endpoint: str, wiring: deliveries.Wiring, region: str
) -> None:
    topic = {"Ref": "Topic"}
    allowed = cloudwatch_may_publish("TOPIC", ACCOUNT)
    allowed["Statement"] = [{**s, "Resource": topic} for s in allowed["Statement"]]
    rule_may_send = allow(["sqs:SendMessage"], "*", {"Service": "events.amazonaws.com"})
    alarm = {
        "AlarmName": "templated-errors",
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": "gate"}],
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "AlarmActions": [topic],
    }
    resources = {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "templated-notices"}},
        "TopicPolicy": {"Type": "AWS::SNS::TopicPolicy", "Properties": {"PolicyDocument": allowed, "Topics": [topic]}},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "templated-queue"}},
        "QueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {"PolicyDocument": json.loads(document(rule_may_send)), "Queues": [{"Ref": "Queue"}]},
        },
        "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": alarm},
    }
    client("cloudformation").create_stack(StackName="templated", TemplateBody=json.dumps({"Resources": resources}))
    topic_arn = f"arn:aws:sns:{region}:{ACCOUNT}:templated-notices"

    [delivery] = [d for d in wiring.alarms() if d.target == topic_arn]
    assert delivery.source == f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:templated-errors"
    assert refusals(endpoint, [delivery]) == []
    queue_url = client("sqs").get_queue_url(QueueName="templated-queue")["QueueUrl"]
    policy = client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    assert json.loads(policy)["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}

    tls_only = tls_only_topic_policy("TOPIC")
    tls_only["Statement"][0]["Resource"] = topic
    old_policy = {"PolicyDocument": tls_only, "Topics": [topic]}
    old = {**resources, "TopicPolicy": {"Type": "AWS::SNS::TopicPolicy", "Properties": old_policy}}
    client("cloudformation").update_stack(StackName="templated", TemplateBody=json.dumps({"Resources": old}))
    assert refusals(endpoint, [delivery]) == [("alarm → topic", "sns:Publish", "ImplicitlyDenied")]


def test_alarm_to_an_encrypted_topic_needs_cloudwatch_on_the_key_policy(
    client: Client, endpoint: str, wiring: deliveries.Wiring
) -> None:
    key = customer_key(client, key_policy())  # only the account's IAM policies: no service may use the key
    sns = client("sns")
    topic = sns.create_topic(Name="notices-own-key", Attributes={"KmsMasterKeyId": key})["TopicArn"]
    fixed = json.dumps(cloudwatch_may_publish(topic, ACCOUNT))
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=fixed)
    delivery = wiring.alarm_to_topic(f"arn:aws:cloudwatch:{wiring.region}:{ACCOUNT}:alarm:errors", topic)

    assert refusals(endpoint, [delivery]) == [("alarm → topic", "kms:GenerateDataKey", "ImplicitlyDenied")]


def test_scheduler_assumes_its_role_for_the_schedule_group_not_for_a_schedule(
    client: Client, endpoint: str, wiring: deliveries.Wiring, region: str
) -> None:
    target = f"arn:aws:lambda:{region}:{ACCOUNT}:function:capacity"
    old_trust = scheduler_trust(f"arn:aws:scheduler:{region}:{ACCOUNT}:schedule/capacity-group/*", ACCOUNT)
    role_arn = role(client, "capacity-scheduler", json.dumps(old_trust), allow(["lambda:InvokeFunction"], target))
    scheduler = client("scheduler")
    scheduler.create_schedule_group(Name="capacity-group")
    scheduler.create_schedule(
        Name="night",
        GroupName="capacity-group",
        ScheduleExpression="cron(0 22 * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": target, "RoleArn": role_arn},
    )
    [delivery] = [d for d in wiring.schedules() if d.source.endswith("schedule/capacity-group/night")]
    assert (
        delivery.checks[0].context["aws:SourceArn"]
        == f"arn:aws:scheduler:{region}:{ACCOUNT}:schedule-group/capacity-group"
    )

    assert refusals(endpoint, [delivery]) == [("schedule → function", "sts:AssumeRole", "ImplicitlyDenied")]

    iam = client("iam")
    group_trust = scheduler_trust(f"arn:aws:scheduler:{region}:{ACCOUNT}:schedule-group/capacity-group", ACCOUNT)
    iam.update_assume_role_policy(RoleName="capacity-scheduler", PolicyDocument=json.dumps(group_trust))
    assert refusals(endpoint, [delivery]) == []

    other_group = scheduler_trust(f"arn:aws:scheduler:{region}:{ACCOUNT}:schedule-group/other", ACCOUNT)
    iam.update_assume_role_policy(RoleName="capacity-scheduler", PolicyDocument=json.dumps(other_group))
    assert refusals(endpoint, [delivery]) == [("schedule → function", "sts:AssumeRole", "ImplicitlyDenied")]

    iam.update_assume_role_policy(RoleName="capacity-scheduler", PolicyDocument=json.dumps(group_trust))
    iam.delete_role_policy(RoleName="capacity-scheduler", PolicyName="grants")
    assert refusals(endpoint, [delivery]) == [("schedule → function", "lambda:InvokeFunction", "ImplicitlyDenied")]


def test_an_alarm_or_a_rule_delivering_to_what_is_gone_is_refused(endpoint: str, wiring: deliveries.Wiring) -> None:
    gone_topic = f"arn:aws:sns:{wiring.region}:{ACCOUNT}:gone"
    gone_queue = f"arn:aws:sqs:{wiring.region}:{ACCOUNT}:gone"
    alarm = wiring.alarm_to_topic(f"arn:aws:cloudwatch:{wiring.region}:{ACCOUNT}:alarm:orphan", gone_topic)
    [dead_letters] = wiring.rule_target("orphan", {"Arn": gone_queue, "DeadLetterConfig": {"Arn": gone_queue}})

    assert refusals(endpoint, [alarm, dead_letters]) == [
        ("alarm → topic", "sns:Publish", "ImplicitlyDenied"),
        ("rule → dead-letter queue", "sqs:SendMessage", "ImplicitlyDenied"),
    ]


def test_a_rule_invokes_a_function_only_with_the_function_policy_naming_that_rule(
    client: Client, endpoint: str, wiring: deliveries.Wiring, region: str
) -> None:
    executor = role(client, "switches-function", service_trust("lambda.amazonaws.com"))
    arn = function(client, "switches", executor)
    events = client("events")
    for rule in ("ssm-changes", "other-rule"):
        events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["aws.ssm"]}))
        events.put_targets(Rule=rule, Targets=[{"Id": "switches", "Arn": arn}])
    client("lambda").add_permission(
        FunctionName="switches",
        StatementId="ssm-changes",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=wiring.rule_arn("ssm-changes"),
    )
    found = [d for d in wiring.rules() if d.target == arn]

    assert sorted(d.source.rsplit("/", 1)[1] for d in found) == ["other-rule", "ssm-changes"]
    assert refusals(endpoint, found) == [("rule → function", "lambda:InvokeFunction", "ImplicitlyDenied")]
    [refused] = [r for r in deliveries.ask(endpoint, found, phase="deploy") if r is not None]
    assert refused.delivery.source == wiring.rule_arn("other-rule")


def test_a_permission_from_a_template_lets_its_rule_invoke(
    client: Client, endpoint: str, wiring: deliveries.Wiring
) -> None:
    arn = function(client, "templated-target", role(client, "templated-target", service_trust("lambda.amazonaws.com")))
    permission = {
        "Action": "lambda:InvokeFunction",
        "FunctionName": arn,
        "Principal": "events.amazonaws.com",
        "SourceArn": wiring.rule_arn("templated-rule"),
    }
    template = {"Resources": {"Permission": {"Type": "AWS::Lambda::Permission", "Properties": permission}}}
    client("cloudformation").create_stack(StackName="templated-permission", TemplateBody=json.dumps(template))

    [statement] = json.loads(client("lambda").get_policy(FunctionName="templated-target")["Policy"])["Statement"]
    assert "FunctionName" not in statement
    assert refusals(endpoint, [wiring.rule_to_function("templated-rule", arn)]) == []
    assert refusals(endpoint, [wiring.rule_to_function("another-rule", arn)]) == [
        ("rule → function", "lambda:InvokeFunction", "ImplicitlyDenied")
    ]


def test_emit_leaves_a_refused_target_undelivered_says_why_and_counts_it(
    endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def default_region(service: str) -> Any:
        return clients.sandbox_client(service, endpoint)  # the region `emit` routes in

    arn = function(
        default_region, "unpermitted", role(default_region, "unpermitted", service_trust("lambda.amazonaws.com"))
    )
    events = default_region("events")
    events.put_rule(Name="unpermitted", EventPattern=json.dumps({"source": ["deckhand.deliveries-test"]}))
    events.put_targets(Rule="unpermitted", Targets=[{"Id": "unpermitted", "Arn": arn}])
    before = deliveries.ledger(endpoint)["refused"]

    fired = emit({"source": "deckhand.deliveries-test", "detail-type": "Test", "detail": {}}, endpoint)

    rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/unpermitted"
    assert fired == []
    assert f"not delivered: rule → function: {rule_arn} → {arn}" in capsys.readouterr().out
    metrics = default_region("cloudwatch").list_metrics(Namespace="AWS/Events", MetricName="FailedInvocations")
    assert [{"Name": "RuleName", "Value": "unpermitted"}] in [m["Dimensions"] for m in metrics["Metrics"]]
    [recorded] = deliveries.ledger(endpoint)["refusals"][before:]
    assert (recorded["phase"], recorded["delivery"]["source"]) == ("delivery", rule_arn)


def test_a_rule_dead_letter_queue_under_a_customer_key_needs_the_key_policy_too(
    client: Client, endpoint: str, wiring: deliveries.Wiring, region: str
) -> None:
    target = f"arn:aws:lambda:{region}:{ACCOUNT}:function:watchdog"
    rule_arn = wiring.rule_arn("alarms")
    key = customer_key(client, key_policy("cloudwatch.amazonaws.com"))
    url, dlq = queue(client, "watchdog-dlq", key)
    events_may_send = allow(
        ["sqs:SendMessage"], dlq, {"Service": "events.amazonaws.com"}, ArnEquals={"aws:SourceArn": rule_arn}
    )
    client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": document(events_may_send)})
    events = client("events")
    events.put_rule(Name="alarms", EventPattern=json.dumps({"source": ["aws.cloudwatch"]}))
    events.put_targets(Rule="alarms", Targets=[{"Id": "watchdog", "Arn": target, "DeadLetterConfig": {"Arn": dlq}}])
    [delivery] = of_kind([d for d in wiring.rules() if d.source == rule_arn], "rule → dead-letter queue")

    assert refusals(endpoint, [delivery]) == [("rule → dead-letter queue", "kms:GenerateDataKey", "ImplicitlyDenied")]

    client("kms").put_key_policy(
        KeyId=key, PolicyName="default", Policy=key_policy("cloudwatch.amazonaws.com", "events.amazonaws.com")
    )
    assert refusals(endpoint, [delivery]) == []


def test_a_queue_under_a_key_from_a_template_names_that_key(client: Client, wiring: deliveries.Wiring) -> None:
    key = {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": json.loads(key_policy("events.amazonaws.com"))}}
    encrypted = {"QueueName": "templated-dlq", "KmsMasterKeyId": {"Fn::GetAtt": ["Key", "Arn"]}}
    template = {"Resources": {"Key": key, "Queue": {"Type": "AWS::SQS::Queue", "Properties": encrypted}}}
    cloudformation = client("cloudformation")
    cloudformation.create_stack(StackName="templated-dlq", TemplateBody=json.dumps(template))
    made = cloudformation.describe_stack_resources(StackName="templated-dlq")["StackResources"]
    [key_id] = [r["PhysicalResourceId"] for r in made if r["LogicalResourceId"] == "Key"]

    queue_arn = f"arn:aws:sqs:{wiring.region}:{ACCOUNT}:templated-dlq"
    assert wiring.queue_key(queue_arn) == f"arn:aws:kms:{wiring.region}:{ACCOUNT}:key/{key_id}"


def test_a_function_assumes_its_role_and_sends_its_failures_with_it(
    client: Client, endpoint: str, wiring: deliveries.Wiring
) -> None:
    key = customer_key(client, key_policy())
    _, dlq = queue(client, "cleanup-dlq", key)
    send = allow(["sqs:SendMessage"], dlq)
    use_key = allow(["kms:GenerateDataKey", "kms:Decrypt"], key)
    executor = role(client, "cleanup-function", service_trust("lambda.amazonaws.com"), send)
    function(client, "cleanup", executor, DeadLetterConfig={"TargetArn": dlq})
    found = [d for d in wiring.functions() if d.source.endswith(":function:cleanup")]

    assert sorted(d.kind for d in found) == ["lambda async failure → dead-letter queue", "lambda → execution role"]
    assert refusals(endpoint, found) == [
        ("lambda async failure → dead-letter queue", "kms:GenerateDataKey", "ImplicitlyDenied")
    ]

    client("iam").put_role_policy(
        RoleName="cleanup-function", PolicyName="grants", PolicyDocument=document(send, use_key)
    )
    assert refusals(endpoint, found) == []

    client("iam").update_assume_role_policy(
        RoleName="cleanup-function", PolicyDocument=service_trust("ecs-tasks.amazonaws.com")
    )
    assert refusals(endpoint, found) == [("lambda → execution role", "sts:AssumeRole", "ImplicitlyDenied")]


def test_a_deployed_function_shows_its_dead_letter_queue_and_on_failure_destination(
    client: Client, wiring: deliveries.Wiring
) -> None:
    executor = role(client, "notices-function", service_trust("lambda.amazonaws.com"))
    _, dlq = queue(client, "notices-dlq")
    _, failed = queue(client, "failed-invocations")
    code = {"ZipFile": "def handler(event, context):\n    return event\n"}
    function_properties = {
        "FunctionName": "notices",
        "Runtime": "python3.13",
        "Handler": "index.handler",
        "Role": executor,
        "Code": code,
        "DeadLetterConfig": {"TargetArn": dlq},
    }
    on_failure = {
        "FunctionName": {"Ref": "Function"},
        "Qualifier": "$LATEST",
        "MaximumRetryAttempts": 2,
        "DestinationConfig": {"OnFailure": {"Destination": failed}},
    }
    template = {
        "Resources": {
            "Function": {"Type": "AWS::Lambda::Function", "Properties": function_properties},
            "Failures": {"Type": "AWS::Lambda::EventInvokeConfig", "Properties": on_failure},
        }
    }
    client("cloudformation").create_stack(StackName="notices", TemplateBody=json.dumps(template))

    found = {d.kind: d.target for d in wiring.functions() if d.source.endswith(":function:notices")}
    assert found == {
        "lambda → execution role": executor,
        "lambda async failure → dead-letter queue": dlq,
        "lambda async failure → on-failure destination": failed,
    }


def test_a_pipeline_invokes_its_gate_with_its_service_role(
    client: Client, endpoint: str, wiring: deliveries.Wiring, region: str
) -> None:
    gate = f"arn:aws:lambda:{region}:{ACCOUNT}:function:gate"
    pipeline_role = role(client, "web-app-pipeline", service_trust("codepipeline.amazonaws.com"))
    source = {"S3Bucket": "artifacts", "S3ObjectKey": "source.zip"}
    client("codepipeline").create_pipeline(
        pipeline={
            "name": "web-app",
            "roleArn": pipeline_role,
            "artifactStore": {"type": "S3", "location": "artifacts"},
            "stages": [
                {
                    "name": "Source",
                    "actions": [action("Source", "Source", "S3", source, outputArtifacts=[{"name": "src"}])],
                },
                {"name": "Gate", "actions": [action("Gate", "Invoke", "Lambda", {"FunctionName": "gate"})]},
            ],
        }
    )
    found = [d for d in wiring.pipelines() if d.target == gate]

    assert [d.source for d in found] == [f"arn:aws:codepipeline:{region}:{ACCOUNT}:web-app/Gate"]
    assert refusals(endpoint, found) == [("pipeline → function", "lambda:InvokeFunction", "ImplicitlyDenied")]

    grant = document(allow(["lambda:InvokeFunction"], gate))
    client("iam").put_role_policy(RoleName="web-app-pipeline", PolicyName="gate", PolicyDocument=grant)
    assert refusals(endpoint, found) == []


def action(name: str, category: str, provider: str, configuration: dict[str, str], **extra: Any) -> dict[str, Any]:
    kind = {"category": category, "owner": "AWS", "provider": provider, "version": "1"}
    return {"name": name, "actionTypeId": kind, "configuration": configuration, "runOrder": 1, **extra}


def test_the_ledger_counts_every_authorized_delivery_and_lists_each_refusal(
    client: Client, endpoint: str, wiring: deliveries.Wiring
) -> None:
    # A refusal of its own (a rule to a function whose policy does not name it) besides whatever this module's
    # other tests left in the region: the test runs alone too.
    arn = function(client, "ledger", role(client, "ledger-function", service_trust("lambda.amazonaws.com")))
    client("events").put_rule(Name="ledger", EventPattern=json.dumps({"source": ["aws.ssm"]}))
    client("events").put_targets(Rule="ledger", Targets=[{"Id": "ledger", "Arn": arn}])
    before = deliveries.ledger(endpoint)
    found = wiring.discover()
    answers = deliveries.ask(endpoint, found, phase="deploy")
    after = deliveries.ledger(endpoint)

    refused = [a for a in answers if a is not None]
    assert wiring.rule_arn("ledger") in {r.delivery.source for r in refused}
    assert after["deliveries"] - before["deliveries"] == len(found) - len(refused)
    assert after["refused"] - before["refused"] == len(refused)
    assert [r["line"] for r in after["refusals"][before["refused"] :]] == [r.line() for r in refused]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
        max_leaves=10,
    )
)
def test_a_malformed_check_is_answered_400_and_counts_nothing(endpoint: str, body: Any) -> None:
    before = deliveries.ledger(endpoint)
    request = urllib.request.Request(
        endpoint + deliveries.CHECK_ROUTE, data=json.dumps({"deliveries": [body]}).encode(), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=10)
    assert answer.value.code == 400
    assert deliveries.ledger(endpoint) == before


# --- the real app, as `sandbox up` deploys it -----------------------------------------------------------------

WIRED_KINDS = {
    "rule → function",
    "rule → dead-letter queue",
    "alarm → topic",
    "schedule → function",
    "schedule → dead-letter queue",
    "lambda → execution role",
    "lambda async failure → dead-letter queue",
    "lambda async failure → on-failure destination",
}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[cdk.Up, process.Paths]]:
    if not cdk.CDK.exists():
        pytest.fail("the CDK CLI is not installed: run `npm ci` (make test does)")
    paths = process.Paths(tmp_path_factory.mktemp("sandbox"))
    try:
        yield cdk.up(paths), paths
    finally:
        process.down(paths)


@pytest.fixture(scope="module")
def app_wiring(deployed: tuple[cdk.Up, process.Paths]) -> deliveries.Wiring:
    return deployed_wiring(deployed[0].endpoint)


@pytest.mark.sandbox
def test_up_authorizes_every_path_the_stacks_wire(
    deployed: tuple[cdk.Up, process.Paths], app_wiring: deliveries.Wiring
) -> None:
    up, _ = deployed
    found = app_wiring.discover()

    assert WIRED_KINDS - {d.kind for d in found} == set()
    assert up.refused == []
    ledger = deliveries.ledger(up.endpoint)
    assert (ledger["deliveries"], ledger["refused"]) == (len(found), 0)


@pytest.mark.sandbox
def test_the_tls_only_topic_policy_refuses_every_error_alarm(
    deployed: tuple[cdk.Up, process.Paths], app_wiring: deliveries.Wiring
) -> None:
    endpoint = deployed[0].endpoint
    alarms = of_kind(app_wiring.discover(), "alarm → topic")
    [topic] = {d.target for d in alarms}
    sns = clients.sandbox_client("sns", endpoint)
    deployed_policy = sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"]
    sns.set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(tls_only_topic_policy(topic))
    )
    try:
        refused = refusals(endpoint, alarms)
    finally:
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=deployed_policy)

    assert refused == [("alarm → topic", "sns:Publish", "ImplicitlyDenied")] * len(alarms)
    assert refusals(endpoint, alarms) == []


@pytest.mark.sandbox
def test_the_schedule_arn_trust_refuses_every_schedule(
    deployed: tuple[cdk.Up, process.Paths], app_wiring: deliveries.Wiring
) -> None:
    endpoint = deployed[0].endpoint
    schedules = of_kind(app_wiring.discover(), "schedule → function")
    [role_arn] = {d.checks[0].resource for d in schedules}
    role_name = role_arn.rsplit("/", 1)[1]
    iam = clients.sandbox_client("iam", endpoint)
    deployed_trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    groups = {d.source.split(":schedule/", 1)[1].split("/", 1)[0] for d in schedules}
    [group] = groups
    old = scheduler_trust(f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{group}/*", ACCOUNT)
    iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(old))
    try:
        refused = refusals(endpoint, schedules)
    finally:
        iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(deployed_trust))

    assert schedules
    assert refused == [("schedule → function", "sts:AssumeRole", "ImplicitlyDenied")] * len(schedules)
    assert refusals(endpoint, schedules) == []


SSM_CHANGE = {
    "detail-type": "Parameter Store Change",
    "source": "aws.ssm",
    "resources": [f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/deckhand/switches/freeze"],
    "detail": {"operation": "Update", "name": "/deckhand/switches/freeze", "type": "String", "description": ""},
}


def refused_since(endpoint: str, before: int) -> list[dict[str, Any]]:
    return list(deliveries.ledger(endpoint)["refusals"][before:])


@pytest.mark.sandbox
def test_emit_does_not_deliver_to_a_function_whose_policy_refuses_the_rule_and_counts_it(
    deployed: tuple[cdk.Up, process.Paths], capsys: pytest.CaptureFixture[str]
) -> None:
    up, _ = deployed
    [fired] = emit(SSM_CHANGE, up.endpoint)
    rule = fired.source.removeprefix("rule ")
    name = fired.invocation.function_name
    lam = clients.sandbox_client("lambda", up.endpoint)
    statements = json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]
    [permission] = [s for s in statements if f"rule/{rule}" in json.dumps(s.get("Condition", {}))]
    before = deliveries.ledger(up.endpoint)["refused"]
    lam.remove_permission(FunctionName=name, StatementId=permission["Sid"])
    try:
        refused = emit(SSM_CHANGE, up.endpoint)
    finally:
        lam.add_permission(
            FunctionName=name,
            StatementId=permission["Sid"],
            Action="lambda:InvokeFunction",
            Principal="events.amazonaws.com",
            SourceArn=deployed_wiring(up.endpoint).rule_arn(rule),
        )

    assert refused == []
    assert f"not delivered: rule → function: {deployed_wiring(up.endpoint).rule_arn(rule)}" in capsys.readouterr().out
    cloudwatch = clients.sandbox_client("cloudwatch", up.endpoint)
    metrics = cloudwatch.list_metrics(Namespace="AWS/Events", MetricName="FailedInvocations")["Metrics"]
    assert [m["Dimensions"] for m in metrics] == [[{"Name": "RuleName", "Value": rule}]]
    [recorded] = refused_since(up.endpoint, before)
    assert (recorded["phase"], recorded["check"]["action"]) == ("delivery", "lambda:InvokeFunction")
    assert [f.source for f in emit(SSM_CHANGE, up.endpoint)] == [fired.source]


@pytest.mark.sandbox
def test_tick_does_not_fire_a_schedule_whose_role_refuses_scheduler_and_counts_it(
    deployed: tuple[cdk.Up, process.Paths], app_wiring: deliveries.Wiring
) -> None:
    up, paths = deployed
    [schedule, *_] = of_kind(app_wiring.discover(), "schedule → function")
    group = schedule.source.split(":schedule/", 1)[1].split("/", 1)[0]
    role_arn = schedule.checks[0].resource
    scheduler = clients.sandbox_client("scheduler", up.endpoint)
    scheduler.create_schedule(
        Name="every-minute",
        GroupName=group,
        ScheduleExpression="rate(1 minute)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": schedule.target, "RoleArn": role_arn, "Input": "{}"},
    )
    iam = clients.sandbox_client("iam", up.endpoint)
    role_name = role_arn.rsplit("/", 1)[1]
    deployed_trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    old = scheduler_trust(f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{group}/*", ACCOUNT)
    before = deliveries.ledger(up.endpoint)["refused"]
    iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(old))
    try:
        _, fired = tick(datetime.now(UTC) + timedelta(minutes=2), Functions(up.endpoint, paths), paths)
    finally:
        iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(deployed_trust))
        scheduler.delete_schedule(Name="every-minute", GroupName=group)

    assert [f for f in fired if f.source.startswith(f"schedule {group}/")] == []
    refused = [r for r in refused_since(up.endpoint, before) if r["delivery"]["source"].endswith("/every-minute")]
    assert refused
    assert {(r["phase"], r["check"]["action"]) for r in refused} == {("delivery", "sts:AssumeRole")}
    cloudwatch = clients.sandbox_client("cloudwatch", up.endpoint)
    metrics = cloudwatch.list_metrics(Namespace="AWS/Scheduler", MetricName="TargetErrorCount")["Metrics"]
    assert [m["Dimensions"] for m in metrics] == [[{"Name": "ScheduleGroup", "Value": group}]]
