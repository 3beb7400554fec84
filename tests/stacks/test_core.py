"""The shared infrastructure: key, topic, audit table, switches, dashboard."""

import json

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from functions.shared.switches import SWITCH_NAMES
from stacks.app import POLICY_CONTEXT_KEY, policy_path
from stacks.versions import REPO_ROOT


def test_the_key_rotates(template: Template) -> None:
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_the_topic_is_encrypted_and_subscribes_the_policy_emails(template: Template) -> None:
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})
    policy = template.find_resources("AWS::SNS::TopicPolicy")
    assert "aws:SecureTransport" in json.dumps(policy)


def test_the_audit_table_is_encrypted_recoverable_and_expires_records(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": "deckhand-audit",
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": Match.any_value()},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "GlobalSecondaryIndexes": [Match.object_like({"IndexName": "by-duty"})],
        },
    )


def test_queues_are_encrypted_with_the_key(template: Template) -> None:
    queues = template.find_resources("AWS::SQS::Queue")
    assert len(queues) >= 2
    for queue in queues.values():
        assert "KmsMasterKeyId" in queue["Properties"]


def test_every_switch_is_a_parameter_that_starts_off(template: Template) -> None:
    parameters = template.find_resources("AWS::SSM::Parameter")
    by_name = {p["Properties"]["Name"]: json.loads(p["Properties"]["Value"]) for p in parameters.values()}
    assert set(by_name) == {f"/deckhand/switches/{name}" for name in SWITCH_NAMES}
    assert all(document["on"] is False for document in by_name.values())


def test_only_the_switches_function_may_write_the_switches(template: Template) -> None:
    writers = [
        policy
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if "ssm:PutParameter" in json.dumps(policy)
    ]
    assert len(writers) == 1
    [statement] = [
        s for s in writers[0]["Properties"]["PolicyDocument"]["Statement"] if "ssm:PutParameter" in json.dumps(s)
    ]
    assert len(statement["Resource"]) == len(SWITCH_NAMES)


def test_functions_receive_their_settings_from_the_stack(template: Template) -> None:
    [function] = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": "deckhand-switches"}}
    ).values()
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["DECKHAND_SWITCHES_PATH"] == "/deckhand/switches"
    assert variables["DECKHAND_DRY_RUN"] == "true"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "switches"
    assert {"DECKHAND_AUDIT_TABLE", "DECKHAND_TOPIC_ARN", "DECKHAND_PROTECT_TAG"} <= set(variables)


def test_a_dashboard_is_created(template: Template) -> None:
    template.has_resource_properties("AWS::CloudWatch::Dashboard", {"DashboardName": "deckhand-overview"})


def test_the_policy_file_comes_from_context_and_can_be_overridden() -> None:
    assert policy_path(App()) == REPO_ROOT / "deckhand.yaml"
    assert policy_path(App(context={POLICY_CONTEXT_KEY: "other.yaml"})) == REPO_ROOT / "other.yaml"
    assert policy_path(App(context={POLICY_CONTEXT_KEY: "/etc/deckhand.yaml"})).as_posix() == "/etc/deckhand.yaml"


def test_cdk_nag_fails_the_synth_on_a_finding_nobody_acknowledged(tmp_path: object) -> None:
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Careless")
    sqs.Queue(stack, "Plain")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(Exception, match="AwsSolutions-SQS"):
        app.synth()


def test_the_switches_function_sweeps_on_a_schedule_and_watches_hand_edits(template: Template) -> None:
    rules = template.find_resources("AWS::Events::Rule")
    [sweep] = [
        r
        for r in rules.values()
        if any(json.loads(t.get("Input", "{}")).get("action") == "sweep" for t in r["Properties"].get("Targets", []))
    ]
    assert sweep["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    [target] = sweep["Properties"]["Targets"]
    assert json.loads(target["Input"]) == {"action": "sweep", "dry_run": False}
    assert "DeadLetterConfig" in target
    [edits] = [r for r in rules.values() if r["Properties"].get("EventPattern", {}).get("source") == ["aws.ssm"]]
    assert edits["Properties"]["EventPattern"] == {
        "source": ["aws.ssm"],
        "detail-type": ["Parameter Store Change"],
        "detail": {"name": [{"prefix": "/deckhand/switches/"}]},
    }
