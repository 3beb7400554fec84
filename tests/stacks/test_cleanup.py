"""The cleanup duty's wiring: its function, report bucket, schedules, and permissions scoped by tags."""

import json
import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from aws_cdk import App
from aws_cdk.assertions import Template

from functions.cleanup.config import CleanupConfig
from functions.cleanup.declared import DELETER_ROLE_VARIABLE
from functions.cleanup.flow import handle
from functions.cleanup.kinds import KINDS
from functions.cleanup.kinds.base import Permissions
from functions.cleanup.kinds.volumes import FINAL_SNAPSHOT_TAGS
from functions.cleanup.policy import Cleanup as CleanupPolicy
from functions.shared import clients
from sandbox.iam.simulator import Policy as SimPolicy
from sandbox.iam.simulator import Simulation, Simulator, Verdict
from stacks.cleanup import Grants, Scoped, check_environment_size, grant_kind
from stacks.deckhand_stack import DeckhandStack
from stacks.policy import Policy, PolicyError, load_policy, parse_policy
from stacks.versions import REPO_ROOT
from tests.functions.cleanup.kinds.support import iam_action, iam_actions
from tests.support.deployed import NOW, Deployed
from tests.support.template import (
    as_deployed,
    function_ids,
    named_role,
    role_statements,
    statements,
    statements_of_role,
    text,
)

MARK = "aws:ResourceTag/deckhand:cleanup-after"
PROTECT = "aws:ResourceTag/deckhand:protect"
EC2_DESTRUCTIVE = {
    "ec2:DeleteSnapshot",
    "ec2:DeleteVolume",
    "ec2:DeregisterImage",
    "ec2:ReleaseAddress",
    "ec2:TerminateInstances",
}
# Every write any kind declares, and the engine's own (reports, marks of untaggable kinds, checkpoints).
DESTRUCTIVE = {action for kind in KINDS.values() for action in kind.permissions.writes} | {
    "s3:PutObject",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
}


def arn(service: str, resource: str, *, account: bool = True) -> str:
    owner = "${AWS::AccountId}" if account else ""
    return f"arn:${{AWS::Partition}}:{service}:us-east-1:{owner}:{resource}"


@pytest.fixture(scope="module")
def example() -> Policy:
    return load_policy(REPO_ROOT / "deckhand.yaml")


@pytest.fixture(scope="module")
def cleanup_statements(template: Template) -> list[dict[str, Any]]:
    return role_statements(template, "deckhand-cleanup")


@pytest.fixture(scope="module")
def deleter_statements(template: Template) -> list[dict[str, Any]]:
    return statements_of_role(template, named_role(template, "deckhand-cleanup-deleter"))


@pytest.fixture(scope="module")
def both_roles(
    cleanup_statements: list[dict[str, Any]], deleter_statements: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    return cleanup_statements + deleter_statements


def granting(cleanup_statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [s for s in cleanup_statements if action in s["Action"]]


def bucket(template: Template) -> tuple[str, dict[str, Any]]:
    [(logical_id, found)] = [
        (k, b) for k, b in template.find_resources("AWS::S3::Bucket").items() if k.startswith("CleanupReports")
    ]
    return logical_id, found["Properties"]


# --- the function --------------------------------------------------------------------------------------------


def test_the_function_runs_15_minutes_with_the_section_the_bucket_and_the_regions(
    template: Template, example: Policy
) -> None:
    fn = template.find_resources("AWS::Lambda::Function")[function_ids(template)["deckhand-cleanup"]]["Properties"]
    assert fn["Handler"] == "functions.cleanup.handler.handler"
    assert (fn["Timeout"], fn["MemorySize"]) == (900, 256)
    variables = fn["Environment"]["Variables"]
    assert CleanupPolicy.model_validate_json(variables["DECKHAND_CLEANUP"]) == example.cleanup
    assert variables["DECKHAND_CLEANUP_BUCKET"] == {"Ref": bucket(template)[0]}
    assert variables["DECKHAND_REGIONS"] == "us-east-1"
    assert variables["DECKHAND_PROTECT_TAG"] == "deckhand:protect"


# --- the report bucket ---------------------------------------------------------------------------------------


def test_reports_are_encrypted_with_the_key_private_versioned_and_expire(template: Template, example: Policy) -> None:
    _, props = bucket(template)
    [key] = template.find_resources("AWS::KMS::Key")
    [encryption] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption == {
        "BucketKeyEnabled": False,
        "ServerSideEncryptionByDefault": {"KMSMasterKeyID": {"Fn::GetAtt": [key, "Arn"]}, "SSEAlgorithm": "aws:kms"},
    }
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    [rule] = props["LifecycleConfiguration"]["Rules"]
    assert rule["Prefix"] == "reports/"
    assert rule["ExpirationInDays"] == example.defaults.audit_retention_days
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert text(props["BucketName"]) == "deckhand-cleanup-${AWS::AccountId}-us-east-1"


def test_the_bucket_refuses_requests_without_tls(template: Template) -> None:
    logical_id, _ = bucket(template)
    [policy] = [
        p["Properties"]["PolicyDocument"]
        for p in template.find_resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": logical_id}
    ]
    [deny] = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_function_writes_reports_only(template: Template, cleanup_statements: list[dict[str, Any]]) -> None:
    logical_id, _ = bucket(template)
    users = [s for _, s in statements(template) if any(logical_id in r for r in s["Resource"])]
    assert users == granting(cleanup_statements, "s3:PutObject")
    [put] = users
    assert (put["Action"], put["Resource"]) == (["s3:PutObject"], [f"${{{logical_id}.Arn}}/reports/*"])


# --- schedules -----------------------------------------------------------------------------------------------


def test_one_rule_per_schedule_group_hands_the_function_its_group(template: Template, example: Policy) -> None:
    rules = {
        json.loads(target["Input"])["group"]: (rule["Properties"], target)
        for rule in template.find_resources("AWS::Events::Rule").values()
        for target in rule["Properties"].get("Targets", [])
        if target["Arn"] == {"Fn::GetAtt": [function_ids(template)["deckhand-cleanup"], "Arn"]}
    }
    assert sorted(rules) == sorted(group.name for group in example.cleanup.schedules)
    for group in example.cleanup.schedules:
        rule, target = rules[group.name]
        assert rule["ScheduleExpression"] == group.cron
        assert json.loads(target["Input"]) == {"trigger": "schedule", "group": group.name}
        assert "DeadLetterConfig" in target


# --- permissions ---------------------------------------------------------------------------------------------


def test_no_destructive_action_is_granted_on_every_resource(both_roles: list[dict[str, Any]]) -> None:
    granted = {a for s in both_roles for a in s["Action"]}
    assert granted >= DESTRUCTIVE
    for statement in both_roles:
        if DESTRUCTIVE & set(statement["Action"]):
            assert "*" not in statement["Resource"], statement


def test_every_action_the_configured_kinds_declare_is_granted_and_no_write_on_every_resource(
    example: Policy, both_roles: list[dict[str, Any]]
) -> None:
    granted = {a for s in both_roles for a in s["Action"]}
    for name in example.cleanup.kinds.listed():
        declared = KINDS[name].permissions
        assert declared.actions <= granted, (name, sorted(declared.actions - granted))
        for action in declared.writes:
            for statement in granting(both_roles, action):
                assert "*" not in statement["Resource"], (name, statement)


def test_ec2_removals_need_the_mark_and_never_touch_the_protect_tag(deleter_statements: list[dict[str, Any]]) -> None:
    marked = {"Null": {PROTECT: "true"}, "StringLike": {MARK: "*"}}
    for action in EC2_DESTRUCTIVE:
        [statement] = granting(deleter_statements, action)
        assert statement["Condition"] == marked, action
    # one statement for ebs-snapshot and ami: the snapshots behind an AMI carry its mark, as any other
    [snapshots] = granting(deleter_statements, "ec2:DeleteSnapshot")
    assert snapshots["Resource"] == [arn("ec2", "snapshot/*", account=False)]


def test_tagging_writes_the_mark_only_on_the_kinds_resource_types(
    cleanup_statements: list[dict[str, Any]], deleter_statements: list[dict[str, Any]]
) -> None:
    [marks] = granting(cleanup_statements, "ec2:CreateTags")
    assert marks["Condition"] == {
        "ForAllValues:StringEquals": {"aws:TagKeys": ["deckhand:cleanup-after"]},
        "Null": {PROTECT: "true"},
    }
    assert sorted(marks["Resource"]) == sorted(
        [
            arn("ec2", "snapshot/*", account=False),
            arn("ec2", "image/*", account=False),
            arn("ec2", "volume/*"),
            arn("ec2", "elastic-ip/*"),
            arn("ec2", "instance/*"),
        ]
    )
    [final] = granting(deleter_statements, "ec2:CreateTags")  # the final snapshot's own tags, never the mark
    assert final["Condition"] == {
        "StringEquals": {"ec2:CreateAction": "CreateSnapshot"},
        "ForAllValues:StringEquals": {"aws:TagKeys": list(FINAL_SNAPSHOT_TAGS)},
    }
    assert final["Resource"] == [arn("ec2", "snapshot/*", account=False)]
    [logs] = granting(cleanup_statements, "logs:TagResource")
    assert logs["Condition"] == marks["Condition"]


REMOVALS = {action for kind in KINDS.values() for action in kind.permissions.writes} - {
    "ec2:CreateTags",
    "logs:TagResource",
}


def test_the_function_marks_but_removes_nothing_and_the_deleter_removes_but_writes_no_mark(
    template: Template, cleanup_statements: list[dict[str, Any]], deleter_statements: list[dict[str, Any]]
) -> None:
    assert not REMOVALS & {a for s in cleanup_statements for a in s["Action"]}
    assert {a for s in deleter_statements for a in s["Action"]} <= REMOVALS | {"ec2:CreateTags"}
    for tagging in granting(deleter_statements, "ec2:CreateTags"):
        assert tagging["Condition"]["StringEquals"] == {"ec2:CreateAction": "CreateSnapshot"}
        assert (
            MARK.removeprefix("aws:ResourceTag/")
            not in tagging["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]
        )
    deleter = named_role(template, "deckhand-cleanup-deleter")
    [trust] = template.find_resources("AWS::IAM::Role")[deleter]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    function_role = template.find_resources("AWS::Lambda::Function")[function_ids(template)["deckhand-cleanup"]]
    assert trust["Principal"] == {"AWS": {"Fn::GetAtt": [function_role["Properties"]["Role"]["Fn::GetAtt"][0], "Arn"]}}
    [assume] = granting(cleanup_statements, "sts:AssumeRole")
    assert assume["Resource"] == [f"${{{deleter}.Arn}}"]


def test_other_services_are_scoped_by_resource_and_tag(
    cleanup_statements: list[dict[str, Any]], deleter_statements: list[dict[str, Any]]
) -> None:
    [delete_version] = granting(deleter_statements, "lambda:DeleteFunction")
    assert delete_version["Resource"] == [arn("lambda", "function:*:*")]  # a qualified version, never a function
    assert delete_version["Condition"] == {"Null": {PROTECT: "true"}}
    [delete_stack] = granting(deleter_statements, "cloudformation:DeleteStack")
    assert delete_stack["Resource"] == [arn("cloudformation", "stack/preview-*/*")]
    assert delete_stack["Condition"] == {"StringLike": {"aws:ResourceTag/deckhand:ttl": "*"}, "Null": {PROTECT: "true"}}
    [delete_images] = granting(deleter_statements, "ecr:BatchDeleteImage")
    assert delete_images["Resource"] == [arn("ecr", "repository/*")]
    assert delete_images["Condition"] == {"Null": {PROTECT: "true"}}
    [list_tasks] = granting(cleanup_statements, "ecs:ListTasks")
    assert list_tasks["Resource"] == ["*"]
    assert [text(c) for c in list_tasks["Condition"]["ArnLike"]["ecs:cluster"]] == [arn("ecs", "cluster/*")]
    [log_changes] = granting(deleter_statements, "logs:DeleteLogGroup")
    assert log_changes["Resource"] == [arn("logs", "log-group:*")]
    assert log_changes["Condition"] == {"Null": {PROTECT: "true"}, "StringLike": {MARK: "*"}}
    [state] = granting(cleanup_statements, "dynamodb:DeleteItem")
    assert state["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["cleanup-mark/*", "cleanup-run/*"]},
        "Null": {"dynamodb:LeadingKeys": "false"},
    }
    [audit] = [s for s in granting(cleanup_statements, "dynamodb:PutItem") if s is not state]
    assert audit["Condition"]["ForAllValues:StringLike"] == {"dynamodb:LeadingKeys": ["audit/cleanup/*"]}


def test_the_dashboard_shows_removals_savings_and_failures(template: Template) -> None:
    [dashboard] = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = text(dashboard["Properties"]["DashboardBody"])
    for title in ("resources removed per kind", "estimated monthly saving", "failed actions, aborted kinds"):
        assert title in body
    for metric in ("CleanupActed", "CleanupMonthlySavingUSD", "CleanupFailed", "CleanupAborted", "CleanupMarked"):
        assert f'MetricName=\\"{metric}\\"' in body


# --- other policies ------------------------------------------------------------------------------------------


def policy_with(**cleanup: Any) -> Policy:
    document = yaml.safe_load((REPO_ROOT / "deckhand.yaml").read_text(encoding="utf-8"))
    document["cleanup"] = {**document["cleanup"], **cleanup}
    return parse_policy(document, "test.yaml")


def test_only_the_configured_kinds_are_granted_in_every_cleanup_region(tmp_path: Path) -> None:
    policy = policy_with(
        regions=["eu-west-1", "eu-central-1"],
        grace_days=0,
        schedules=[],
        kinds={"ebs-snapshot": {"min_age_days": 60}},
    )
    stack = DeckhandStack(App(outdir=str(tmp_path)), "Snapshots", policy=policy)
    template = Template.from_stack(stack)
    granted = role_statements(template, "deckhand-cleanup")
    services = {a.split(":")[0] for s in granted for a in s["Action"]} - {"logs", "sqs", "kms", "dynamodb", "sns"}
    assert services == {"ec2", "s3", "ssm", "xray", "sts"}
    [delete] = [
        s
        for s in statements_of_role(template, named_role(template, "deckhand-cleanup-deleter"))
        if "ec2:DeleteSnapshot" in s["Action"]
    ]
    assert delete["Resource"] == [
        "arn:${AWS::Partition}:ec2:eu-west-1::snapshot/*",
        "arn:${AWS::Partition}:ec2:eu-central-1::snapshot/*",
    ]
    assert delete["Condition"] == {"Null": {PROTECT: "true"}}  # no grace period: nothing is marked first
    assert not [r for r in template.find_resources("AWS::Events::Rule").values() if "group" in json.dumps(r)]


def test_a_policy_with_cleanup_disabled_creates_none_of_it(tmp_path: Path) -> None:
    stack = DeckhandStack(App(outdir=str(tmp_path)), "Plain", policy=policy_with(enabled=False))
    assert stack.cleanup is None
    assert "deckhand-cleanup" not in function_ids(Template.from_stack(stack))


def test_an_oversized_cleanup_section_fails_the_synth_naming_the_key() -> None:
    prefixes = [f"preview-environment-{n:03}-" for n in range(150)]
    policy = policy_with(kinds={"cfn-stack": {"name_prefixes": prefixes}}, schedules=[])
    with pytest.raises(PolicyError) as refused:
        check_environment_size(policy, "deckhand.yaml")
    assert "cleanup.kinds" in str(refused.value)
    assert "4096 bytes" in str(refused.value)


# --- declarations and grants agree ---------------------------------------------------------------------------


def test_a_write_the_stack_cannot_scope_or_a_grant_no_kind_declares_fails_the_synth() -> None:
    scoped = [Scoped(("ec2:DeleteVolume",), ["arn:aws:ec2:us-east-1:1:volume/*"], "destructive")]
    unscoped_write = Permissions.of(reads=["ec2:DescribeVolumes"], writes=["ec2:DeleteVolume", "ec2:DetachVolume"])
    with pytest.raises(ValueError, match=r"writes ec2:DetachVolume: give each the resources"):
        grant_kind(Grants(), Grants(), "ebs-volume", unscoped_write, scoped)
    undeclared = Permissions.of(reads=["ec2:DescribeVolumes"], writes=[])
    with pytest.raises(ValueError, match=r"grant ebs-volume ec2:DeleteVolume, which it does not declare"):
        grant_kind(Grants(), Grants(), "ebs-volume", undeclared, scoped)
    grants, deleter = Grants(), Grants()
    removal = [Scoped(("ec2:DeleteVolume",), ["arn:aws:ec2:us-east-1:1:volume/*"], "destructive", deleter=True)]
    declared = Permissions.of(reads=["ec2:DescribeVolumes"], writes=["ec2:DeleteVolume"])
    grant_kind(grants, deleter, "ebs-volume", declared, removal)
    assert grants.reads == ["ec2:DescribeVolumes"]
    assert (grants.scoped, [s.actions for s, _ in deleter.scoped.values()]) == ({}, [("ec2:DeleteVolume",)])


@pytest.fixture
def run_estate(deployed: Deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three old snapshots (taggable: marks are tags) and one untagged ECR image (marks in the audit table); the
    function removes as the deleter role, as the stack sets it."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    ec2 = boto3.client("ec2", region_name="us-east-1")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    for _ in range(3):
        ec2.create_snapshot(VolumeId=volume)
    ecr = boto3.client("ecr", region_name="us-east-1")
    ecr.create_repository(repositoryName="web")
    layer = {"mediaType": "application/octet-stream", "size": 1, "digest": "sha256:" + "a" * 64}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}
    ecr.put_image(repositoryName="web", imageManifest=json.dumps(manifest | {"config": layer, "layers": [layer]}))
    monkeypatch.setenv(DELETER_ROLE_VARIABLE, "arn:aws:iam::123456789012:role/deckhand-cleanup-deleter")


BUCKET = "deckhand-cleanup-reports"


def test_every_call_of_plan_mark_act_stop_and_resume_is_granted_to_the_identity_that_makes_it(
    no_default_amis: None,
    deployed: Deployed,
    run_estate: None,
    cleanup_statements: list[dict[str, Any]],
    deleter_statements: list[dict[str, Any]],
) -> None:
    deleter_role = os.environ[DELETER_ROLE_VARIABLE]
    section = {
        "enabled": True,
        "grace_days": 7,
        "kinds": {
            "ebs-snapshot": {"min_age_days": 0, "max_share": 1.0},
            "ecr-image": {"min_age_days": 0, "keep_last": 0, "max_share": 1.0},
        },
    }
    cfg = CleanupConfig.from_env(
        {"DECKHAND_CLEANUP": json.dumps(section), "DECKHAND_CLEANUP_BUCKET": BUCKET, "DECKHAND_REGIONS": "us-east-1"}
    )
    run = {"action": "run", "kinds": ["ebs-snapshot", "ecr-image"], "dry_run": False}

    def invoke(event: dict[str, Any], days: int, remaining_ms: int = 900_000) -> str:
        rt = replace(deployed.runtime, clock=lambda: NOW + timedelta(days=days))
        answer = handle(event, rt, cfg, account="123456789012", remaining_ms=lambda: remaining_ms)
        return str(answer["status"])

    on_table: set[str] = set()  # DynamoDB actions on the table itself, not an index: the core grants only Query there

    def table_call(model: Any, params: dict[str, Any], **_: Any) -> None:
        if "IndexName" not in params:
            on_table.add(f"dynamodb:{model.name}")

    removals: set[str] = set()  # what the function does as the deleter role

    def removal(model: Any, **_: Any) -> None:
        removals.add(iam_action(model))

    with iam_actions() as made:
        clients._session().events.register("provide-client-params.dynamodb", table_call)
        clients._assumed(deleter_role).events.register("provide-client-params", removal)
        assert invoke({"action": "plan"}, 100) == "planned"
        assert invoke(run, 100) == "done"  # marks: tags on snapshots, items for the image
        assert invoke(run, 120, remaining_ms=1_000) == "stopped"  # one action, then a checkpoint
        assert invoke({"action": "resume"}, 120) == "done"  # claims the checkpoint, acts on the rest

    assert {"ec2:CreateTags", "dynamodb:BatchWriteItem", "dynamodb:Query"} <= made
    assert removals == {"ec2:DeleteSnapshot", "ecr:BatchDeleteImage"}
    granted = {a for s in cleanup_statements for a in s["Action"]}
    assert made <= granted, sorted(made - granted)
    assert removals <= {a for s in deleter_statements for a in s["Action"]}
    on_table_granted = {
        a
        for s in cleanup_statements
        for a in s["Action"]
        if any(".Arn}" in r and "/index/" not in r for r in s["Resource"])
    }
    assert on_table <= on_table_granted, sorted(on_table - on_table_granted)


@pytest.fixture
def no_default_amis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # read when moto first builds the EC2 backend


# --- regressions: the exact IAM request under the old policy and the new (sandbox.iam.simulator) --------------

ACCOUNT = "123456789012"
MARK_KEY = "deckhand:cleanup-after"
SNAPSHOT_ARN = "arn:aws:ec2:us-east-1::snapshot/snap-0123456789abcdef0"
FUNCTION_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/deckhand-cleanup-role/deckhand-cleanup"
DELETER_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/deckhand-cleanup-deleter/deckhand"
# The one role of the old stack, statements as it synthesized them (the ones these requests meet).
OLD_ROLE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "ecs:ListTasks",
            "Resource": f"arn:aws:ecs:us-east-1:{ACCOUNT}:container-instance/*",
        },
        {
            "Effect": "Allow",
            "Action": ["logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:DescribeLogStreams"],
            "Resource": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:*",
        },
        {
            "Effect": "Allow",
            "Action": "cloudformation:DescribeStacks",
            "Resource": f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/preview-*/*",
        },
        {
            "Effect": "Allow",
            "Action": "ec2:DeleteSnapshot",
            "Resource": "arn:aws:ec2:us-east-1::snapshot/*",
            "Condition": {"Null": {PROTECT: "true"}, "StringLike": {MARK: "*"}},
        },
        {
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": "arn:aws:ec2:us-east-1::snapshot/*",
            "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": [MARK_KEY]}, "Null": {PROTECT: "true"}},
        },
        {
            "Effect": "Allow",
            "Action": "lambda:DeleteFunction",
            "Resource": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:*:*",
        },
    ],
}


def deployed_policy(found: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": as_deployed(found, ACCOUNT)}


@pytest.fixture(scope="module")
def function_policy(cleanup_statements: list[dict[str, Any]]) -> dict[str, Any]:
    return deployed_policy(cleanup_statements)


@pytest.fixture(scope="module")
def deleter_policy(deleter_statements: list[dict[str, Any]]) -> dict[str, Any]:
    return deployed_policy(deleter_statements)


def ask(
    simulator: Simulator, policy: dict[str, Any], action: str, resource: str, session: str, **context: Any
) -> Verdict:
    return simulator.evaluate(
        Simulation(
            principal=session,
            action=action,
            resource=resource,
            resource_account=ACCOUNT,
            context=context,
            identity_policies=[SimPolicy("cleanup", policy)],
        )
    )


def test_listing_a_clusters_tasks_was_refused_and_is_now_allowed_in_the_policys_regions_only(
    simulator: Simulator, function_policy: dict[str, Any]
) -> None:
    def list_tasks(policy: dict[str, Any], cluster: str) -> Verdict:
        return ask(simulator, policy, "ecs:ListTasks", "*", FUNCTION_SESSION, **{"ecs:cluster": cluster})

    web = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/web"
    assert not list_tasks(OLD_ROLE, web).allowed  # a request on * never matches container-instance/*
    assert list_tasks(function_policy, web).allowed, list_tasks(function_policy, web).explain()
    assert not list_tasks(function_policy, f"arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/web").allowed


@pytest.mark.parametrize(
    "action", ["cloudformation:DescribeStacks", "cloudformation:ListStacks", "logs:DescribeLogGroups"]
)
def test_listing_every_stack_or_log_group_was_refused_and_is_now_allowed(
    simulator: Simulator, function_policy: dict[str, Any], action: str
) -> None:
    assert not ask(simulator, OLD_ROLE, action, "*", FUNCTION_SESSION).allowed
    assert ask(simulator, function_policy, action, "*", FUNCTION_SESSION).allowed


def test_the_deleting_identity_could_write_the_mark_and_now_cannot(
    simulator: Simulator, function_policy: dict[str, Any], deleter_policy: dict[str, Any]
) -> None:
    mark = {"aws:TagKeys": [MARK_KEY], f"aws:RequestTag/{MARK_KEY}": "2026-12-13"}

    assert ask(simulator, OLD_ROLE, "ec2:CreateTags", SNAPSHOT_ARN, FUNCTION_SESSION, **mark).allowed
    assert not ask(simulator, deleter_policy, "ec2:CreateTags", SNAPSHOT_ARN, DELETER_SESSION, **mark).allowed
    final = {**mark, "ec2:CreateAction": "CreateSnapshot"}  # not even while creating a final snapshot
    assert not ask(simulator, deleter_policy, "ec2:CreateTags", SNAPSHOT_ARN, DELETER_SESSION, **final).allowed
    assert ask(simulator, function_policy, "ec2:CreateTags", SNAPSHOT_ARN, FUNCTION_SESSION, **mark).allowed


def test_the_marking_identity_could_delete_what_it_marked_and_now_cannot(
    simulator: Simulator, function_policy: dict[str, Any], deleter_policy: dict[str, Any]
) -> None:
    marked = {MARK: "2026-12-13"}

    assert ask(simulator, OLD_ROLE, "ec2:DeleteSnapshot", SNAPSHOT_ARN, FUNCTION_SESSION, **marked).allowed
    assert not ask(simulator, function_policy, "ec2:DeleteSnapshot", SNAPSHOT_ARN, FUNCTION_SESSION, **marked).allowed
    assert ask(simulator, deleter_policy, "ec2:DeleteSnapshot", SNAPSHOT_ARN, DELETER_SESSION, **marked).allowed
    assert not ask(simulator, deleter_policy, "ec2:DeleteSnapshot", SNAPSHOT_ARN, DELETER_SESSION).allowed  # unmarked
    protected = {**marked, PROTECT: "true"}
    assert not ask(simulator, deleter_policy, "ec2:DeleteSnapshot", SNAPSHOT_ARN, DELETER_SESSION, **protected).allowed


def test_a_version_of_a_protected_function_could_be_deleted_and_now_cannot(
    simulator: Simulator, deleter_policy: dict[str, Any]
) -> None:
    version = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:api:3"
    protected = {PROTECT: "true"}

    assert ask(simulator, OLD_ROLE, "lambda:DeleteFunction", version, DELETER_SESSION, **protected).allowed
    assert not ask(simulator, deleter_policy, "lambda:DeleteFunction", version, DELETER_SESSION, **protected).allowed
    assert ask(simulator, deleter_policy, "lambda:DeleteFunction", version, DELETER_SESSION).allowed


def test_only_the_function_may_assume_the_deleter(template: Template, simulator: Simulator) -> None:
    deleter = named_role(template, "deckhand-cleanup-deleter")
    function_role = template.find_resources("AWS::Lambda::Function")[function_ids(template)["deckhand-cleanup"]]
    role_id = function_role["Properties"]["Role"]["Fn::GetAtt"][0]
    function_role_arn = f"arn:aws:iam::{ACCOUNT}:role/deckhand-cleanup-role"
    trust = as_deployed(
        template.find_resources("AWS::IAM::Role")[deleter]["Properties"]["AssumeRolePolicyDocument"],
        ACCOUNT,
        refs={f"{role_id}.Arn": function_role_arn},
    )

    def assume(principal: str) -> Verdict:
        return simulator.evaluate(
            Simulation(
                principal=principal,
                action="sts:AssumeRole",
                resource=f"arn:aws:iam::{ACCOUNT}:role/deckhand-cleanup-deleter",
                resource_account=ACCOUNT,
                resource_policy=trust,
            )
        )

    assert assume(FUNCTION_SESSION).allowed
    assert not assume(f"arn:aws:sts::{ACCOUNT}:assumed-role/deckhand-capacity-role/deckhand-capacity").allowed


def test_a_protect_tag_with_values_protects_only_those_values_in_iam(tmp_path: Path, simulator: Simulator) -> None:
    document = yaml.safe_load((REPO_ROOT / "deckhand.yaml").read_text(encoding="utf-8"))
    document["defaults"]["protect_tag"] = {"key": "keep", "values": ["true"]}
    stack = DeckhandStack(App(outdir=str(tmp_path)), "Keep", policy=parse_policy(document, "test.yaml"))
    template = Template.from_stack(stack)
    deleter = deployed_policy(statements_of_role(template, named_role(template, "deckhand-cleanup-deleter")))
    function = deployed_policy(role_statements(template, "deckhand-cleanup"))

    def delete(keep: str) -> Verdict:
        context = {MARK: "2026-12-13", "aws:ResourceTag/keep": keep}
        return ask(simulator, deleter, "ec2:DeleteSnapshot", SNAPSHOT_ARN, DELETER_SESSION, **context)

    assert not delete("true").allowed
    assert delete("false").allowed, delete("false").explain()
    mark = {"aws:TagKeys": [MARK_KEY], "aws:ResourceTag/keep": "false"}
    assert ask(simulator, function, "ec2:CreateTags", SNAPSHOT_ARN, FUNCTION_SESSION, **mark).allowed
    assert not ask(
        simulator,
        function,
        "ec2:CreateTags",
        SNAPSHOT_ARN,
        FUNCTION_SESSION,
        **{**mark, "aws:ResourceTag/keep": "true"},
    ).allowed
    fn = template.find_resources("AWS::Lambda::Function")[function_ids(template)["deckhand-cleanup"]]["Properties"]
    assert json.loads(fn["Environment"]["Variables"]["DECKHAND_PROTECT_VALUES"]) == ["true"]
