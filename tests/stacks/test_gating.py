"""The gating duty's wiring: four functions, rules and permissions for exactly the policy's pipelines and alarms."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_cdk import App, Stack
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as codepipeline_actions
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from functions.gating.config import parse_gating
from stacks.app import build
from stacks.core import ENVIRONMENT_LIMIT_BYTES, environment_bytes
from stacks.deckhand_stack import DeckhandStack
from stacks.gating import Gating, largest_environment
from stacks.policy import Policy, PolicyError, load_policy, parse_policy
from stacks.versions import REPO_ROOT
from tests.support.template import function_ids, statements, text

HANDLERS = {
    "deckhand-gate": "functions.gating.gate.handler.handler",
    "deckhand-approver": "functions.gating.approver.handler.handler",
    "deckhand-watchdog": "functions.gating.watchdog.handler.handler",
    "deckhand-pipeline-notices": "functions.gating.pipeline_notices.handler.handler",
}
DESTRUCTIVE = {"codepipeline:StopPipelineExecution", "codepipeline:RollbackStage", "codepipeline:PutApprovalResult"}


@pytest.fixture(scope="module")
def example() -> Policy:
    return load_policy(REPO_ROOT / "deckhand.yaml")


def example_document() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO_ROOT / "deckhand.yaml").read_text(encoding="utf-8")))


def role_policy_of(template: Template, function_name: str) -> str:
    """The logical id of the default policy of the function's role."""
    fn = template.find_resources("AWS::Lambda::Function")[function_ids(template)[function_name]]
    role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    [policy] = [
        logical_id
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        if {"Ref": role} in policy["Properties"]["Roles"]
    ]
    return policy


def pipeline_arn(name: str) -> str:
    return f"arn:${{AWS::Partition}}:codepipeline:us-east-1:${{AWS::AccountId}}:{name}"


# --- functions -----------------------------------------------------------------------------------------------


def test_four_gating_functions_run_their_handlers_with_the_gating_policy(template: Template, example: Policy) -> None:
    functions = {
        fn["Properties"]["FunctionName"]: fn["Properties"]
        for fn in template.find_resources("AWS::Lambda::Function").values()
    }
    for name, handler in HANDLERS.items():
        assert functions[name]["Handler"] == handler
        variables = functions[name]["Environment"]["Variables"]
        assert variables["DECKHAND_GATING"] == example.gating.model_dump_json()
        assert {"DECKHAND_AUDIT_TABLE", "DECKHAND_TOPIC_ARN", "DECKHAND_SWITCHES_PATH"} <= set(variables)
    assert "DECKHAND_IDEMPOTENCY_TABLE" in functions["deckhand-gate"]["Environment"]["Variables"]


def test_the_gating_setting_reads_back_as_the_policy(template: Template, example: Policy) -> None:
    functions = template.find_resources("AWS::Lambda::Function")
    [gate] = [fn for fn in functions.values() if fn["Properties"]["FunctionName"] == "deckhand-gate"]
    setting = gate["Properties"]["Environment"]["Variables"]["DECKHAND_GATING"]
    assert parse_gating(setting) == example.gating


def test_the_gate_remembers_answered_jobs_in_an_encrypted_expiring_table(template: Template) -> None:
    tables = template.find_resources("AWS::DynamoDB::Table")
    [(table_id, table)] = [
        (k, t) for k, t in tables.items() if t["Properties"]["TableName"] == "deckhand-gate-idempotency"
    ]
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    [key] = template.find_resources("AWS::KMS::Key")
    assert props["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Fn::GetAtt": [key, "Arn"]},
    }

    gate_functions = template.find_resources("AWS::Lambda::Function")
    gate = gate_functions[function_ids(template)["deckhand-gate"]]
    assert gate["Properties"]["Environment"]["Variables"]["DECKHAND_IDEMPOTENCY_TABLE"] == props["TableName"]
    users = [(p, s) for p, s in statements(template) if f"${{{table_id}.Arn}}" in s["Resource"]]
    assert [p for p, _ in users] == [role_policy_of(template, "deckhand-gate")]
    assert sorted(users[0][1]["Action"]) == [
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ]


# --- rules ---------------------------------------------------------------------------------------------------


def rule_for(template: Template, detail_type: str, function_name: str) -> dict[str, Any]:
    """The one rule of this detail type that targets the function (capacity reads alarm changes too)."""
    arn = {"Fn::GetAtt": [function_ids(template)[function_name], "Arn"]}
    [rule] = [
        r["Properties"]
        for r in template.find_resources("AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("detail-type") == [detail_type]
        and any(t["Arn"] == arn for t in r["Properties"]["Targets"])
    ]
    return rule


def targets_function(template: Template, rule: dict[str, Any], function_name: str) -> bool:
    [target] = rule["Targets"]
    assert "DeadLetterConfig" in target
    return bool(target["Arn"] == {"Fn::GetAtt": [function_ids(template)[function_name], "Arn"]})


def test_manual_approvals_of_the_policy_pipelines_go_to_the_approver(template: Template) -> None:
    rule = rule_for(template, "CodePipeline Action Execution State Change", "deckhand-approver")
    assert rule["EventPattern"] == {
        "source": ["aws.codepipeline"],
        "detail-type": ["CodePipeline Action Execution State Change"],
        "detail": {"pipeline": ["web-app"], "state": ["STARTED"], "type": {"category": ["Approval"]}},
    }
    assert targets_function(template, rule, "deckhand-approver")


def test_only_the_watchdog_alarms_of_its_own_account_going_to_alarm_wake_the_watchdog(template: Template) -> None:
    rule = rule_for(template, "CloudWatch Alarm State Change", "deckhand-watchdog")
    assert rule["EventPattern"]["source"] == ["aws.cloudwatch"]
    assert rule["EventPattern"]["account"] == [{"Ref": "AWS::AccountId"}]  # not a member's forwarded event
    assert rule["EventPattern"]["detail"] == {
        "alarmName": ["web-app-5xx", "web-app-health"],
        "state": {"value": ["ALARM"]},
    }
    assert targets_function(template, rule, "deckhand-watchdog")


def test_failed_and_stopped_executions_of_the_policy_pipelines_are_noticed(template: Template) -> None:
    rule = rule_for(template, "CodePipeline Pipeline Execution State Change", "deckhand-pipeline-notices")
    assert rule["EventPattern"]["detail"] == {"pipeline": ["web-app"], "state": ["FAILED", "STOPPED"]}
    assert targets_function(template, rule, "deckhand-pipeline-notices")


# --- permissions ---------------------------------------------------------------------------------------------


def test_pipeline_changing_actions_name_the_policy_pipelines_only(template: Template) -> None:
    granted = [(p, s) for p, s in statements(template) if DESTRUCTIVE & set(s["Action"])]
    assert {a for _, s in granted for a in s["Action"]} >= DESTRUCTIVE
    for _, statement in granted:
        assert statement["Resource"], statement
        for resource in statement["Resource"]:
            assert "*" not in resource, resource
            assert resource.startswith(pipeline_arn("web-app")), resource
    # Each on the resource type the Service Authorization Reference gives: the pipeline, the stage, the action.
    stops = [s["Resource"] for _, s in granted if "codepipeline:StopPipelineExecution" in s["Action"]]
    assert stops == [[pipeline_arn("web-app")]]
    rollbacks = [(p, s["Resource"]) for p, s in granted if "codepipeline:RollbackStage" in s["Action"]]
    assert rollbacks == [(role_policy_of(template, "deckhand-watchdog"), [pipeline_arn("web-app/Deploy")])]
    approvals = [(p, s["Resource"]) for p, s in granted if "codepipeline:PutApprovalResult" in s["Action"]]
    assert approvals == [(role_policy_of(template, "deckhand-approver"), [pipeline_arn("web-app/Approve/Approve")])]


def test_only_codepipeline_job_actions_go_unscoped(template: Template) -> None:
    unscoped = {
        action
        for _, s in statements(template)
        if "*" in s["Resource"]
        for action in s["Action"]
        if action.startswith("codepipeline:")
    }
    assert unscoped == {
        "codepipeline:GetJobDetails",
        "codepipeline:PutJobSuccessResult",
        "codepipeline:PutJobFailureResult",
    }
    job_holders = {p for p, s in statements(template) if "codepipeline:PutJobSuccessResult" in s["Action"]}
    assert job_holders == {role_policy_of(template, "deckhand-gate")}


def test_pipeline_reads_name_the_policy_pipelines(template: Template) -> None:
    reads = {
        "codepipeline:GetPipeline",
        "codepipeline:GetPipelineState",
        "codepipeline:GetPipelineExecution",
        "codepipeline:ListPipelineExecutions",
    }
    granted = [s for _, s in statements(template) if reads & set(s["Action"])]
    assert len(granted) >= 4
    for statement in granted:
        assert statement["Resource"] == [pipeline_arn("web-app")]


def test_each_gating_function_may_call_what_its_code_calls_on_the_pipelines(template: Template) -> None:
    def pipeline_actions(function_name: str) -> set[str]:
        policy = role_policy_of(template, function_name)
        return {a for p, s in statements(template) if p == policy for a in s["Action"] if a.startswith("codepipeline:")}

    reads = {"codepipeline:GetPipelineState", "codepipeline:GetPipelineExecution"}
    jobs = {"codepipeline:GetJobDetails", "codepipeline:PutJobSuccessResult", "codepipeline:PutJobFailureResult"}
    assert pipeline_actions("deckhand-gate") == reads | jobs | {"codepipeline:GetPipeline"}
    assert pipeline_actions("deckhand-approver") == reads | {
        "codepipeline:GetPipeline",
        "codepipeline:PutApprovalResult",
    }
    assert pipeline_actions("deckhand-watchdog") == {
        "codepipeline:GetPipelineState",
        "codepipeline:ListPipelineExecutions",
        "codepipeline:StopPipelineExecution",
        "codepipeline:RollbackStage",
    }
    assert pipeline_actions("deckhand-pipeline-notices") == reads | {"codepipeline:ListPipelineExecutions"}


def gating_statements(template: Template) -> list[tuple[str, dict[str, Any]]]:
    """The statements of the gating functions' roles only (capacity describes alarms too)."""
    policies = {role_policy_of(template, name) for name in HANDLERS}
    return [(p, s) for p, s in statements(template) if p in policies]


def test_alarms_selected_by_tag_or_prefix_let_the_gate_describe_the_regions_alarms(template: Template) -> None:
    describers = {p: s for p, s in gating_statements(template) if "cloudwatch:DescribeAlarms" in s["Action"]}
    deciders = {role_policy_of(template, "deckhand-gate"), role_policy_of(template, "deckhand-approver")}
    assert set(describers) == {*deciders, role_policy_of(template, "deckhand-watchdog")}
    alarm = "arn:${AWS::Partition}:cloudwatch:us-east-1:${AWS::AccountId}:alarm:"
    for policy, statement in describers.items():
        assert statement["Action"] == ["cloudwatch:DescribeAlarms"]
        # The watchdog confirms only the alarms it watches.
        expected = [f"{alarm}*"] if policy in deciders else [f"{alarm}web-app-5xx", f"{alarm}web-app-health"]
        assert statement["Resource"] == expected


def test_the_dashboard_shows_decisions_shadow_blocks_and_watchdog_actions(template: Template) -> None:
    [dashboard] = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = text(dashboard["Properties"]["DashboardBody"])
    for title in ("Gate decisions by verdict", "would have blocked", "Watchdog stops and rollbacks"):
        assert title in body
    for metric in ("Decision", "ShadowWouldBlock", "WatchdogAction", "GateError"):
        assert f'MetricName=\\"{metric}\\"' in body


# --- other policies ------------------------------------------------------------------------------------------


def policy_with(**gating: Any) -> Policy:
    document = example_document()
    document["gating"] = {**document["gating"], **gating}
    return parse_policy(document, "test.yaml")


def test_a_policy_with_gating_disabled_creates_none_of_it(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path))
    stack = DeckhandStack(app, "Plain", policy=policy_with(enabled=False))
    template = Template.from_stack(stack)
    assert stack.gating is None
    assert not set(function_ids(template)) & set(HANDLERS)
    assert "deckhand-gate-idempotency" not in json.dumps(template.to_json())
    assert not any("codepipeline" in json.dumps(r) for r in template.find_resources("AWS::Events::Rule").values())
    assert not any("codepipeline:" in a for _, s in statements(template) for a in s["Action"])


def test_alarms_selected_by_name_only_are_described_by_their_arns_and_pass_cdk_nag(tmp_path: Path) -> None:
    [gate] = example_document()["gating"]["gates"]
    alarms = {**gate["alarms"], "tags": {}, "prefixes": []}
    policy = policy_with(gates=[{**gate, "alarms": alarms}])
    app = App(outdir=str(tmp_path))
    stack = build(app, policy)
    app.synth()  # with cdk-nag: no alarm wildcard is left to acknowledge
    template = Template.from_stack(stack)
    deciders = {role_policy_of(template, "deckhand-gate"), role_policy_of(template, "deckhand-approver")}
    describers = [
        s for p, s in gating_statements(template) if "cloudwatch:DescribeAlarms" in s["Action"] and p in deciders
    ]
    alarm = "arn:${AWS::Partition}:cloudwatch:us-east-1:${AWS::AccountId}:alarm:"
    assert [s["Resource"] for s in describers] == [[f"{alarm}web-app-5xx", f"{alarm}web-app-latency-p99"]] * 2


def test_an_oversized_gating_section_fails_the_synth_naming_the_key_and_the_size() -> None:
    [gate] = example_document()["gating"]["gates"]
    gates = [{**gate, "pipeline": f"service-{n:02}-release-pipeline"} for n in range(12)]
    policy = policy_with(gates=gates)
    size = environment_bytes(largest_environment(policy))
    assert size > ENVIRONMENT_LIMIT_BYTES
    with pytest.raises(PolicyError) as refused:
        DeckhandStack(App(), "TooBig", policy=policy)
    message = str(refused.value)
    assert "deckhand.yaml" in message
    assert "gating.gates" in message
    assert f"{size} bytes" in message
    assert f"{ENVIRONMENT_LIMIT_BYTES} bytes" in message


def test_the_example_environment_leaves_room_under_the_limit(example: Policy) -> None:
    assert environment_bytes(largest_environment(example)) < ENVIRONMENT_LIMIT_BYTES - 1024


# --- the Invoke action for CDK pipelines ---------------------------------------------------------------------


def test_invoke_action_runs_the_gate_without_user_parameters(tmp_path: Path, example: Policy) -> None:
    app = App(outdir=str(tmp_path))
    deckhand = DeckhandStack(app, "Deckhand", policy=example)
    assert isinstance(deckhand.gating, Gating)
    service = Stack(app, "WebApp")
    source = codepipeline.Artifact("source")
    bucket = s3.Bucket(service, "Sources", versioned=True)
    pipeline = codepipeline.Pipeline(service, "Pipeline", pipeline_name="web-app")
    pipeline.add_stage(
        stage_name="Source",
        actions=[
            codepipeline_actions.S3SourceAction(
                action_name="Source", bucket=bucket, bucket_key="app.zip", output=source
            )
        ],
    )
    action = deckhand.gating.invoke_action(pipeline="web-app", stage="Deploy", variables_namespace="Gate")
    assert action.action_properties.action_name == "DeckhandGate"
    assert action.action_properties.run_order == 1
    pipeline.add_stage(stage_name="Gate", actions=[action])

    template = Template.from_stack(service)
    [resource] = template.find_resources("AWS::CodePipeline::Pipeline").values()
    [gate_stage] = [s for s in resource["Properties"]["Stages"] if s["Name"] == "Gate"]
    [invoke] = gate_stage["Actions"]
    assert invoke["ActionTypeId"] == {"Category": "Invoke", "Owner": "AWS", "Provider": "Lambda", "Version": "1"}
    assert invoke["Namespace"] == "Gate"
    configuration = invoke["Configuration"]
    assert "UserParameters" not in configuration  # the gate reads where its job stands from GetJobDetails
    assert "FunctionName" in configuration


def test_invoke_action_refuses_a_stage_the_policy_does_not_gate(stack: DeckhandStack) -> None:
    assert stack.gating is not None
    with pytest.raises(ValueError, match=r"no gate for pipeline 'web-app' stage 'Build'.*web-app/Deploy"):
        stack.gating.invoke_action(pipeline="web-app", stage="Build")  # refused before it adds anything to the stack
