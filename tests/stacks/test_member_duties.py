"""Capacity and gating across accounts (issue 13, item 4), stack side: each duty's member role trusts only its hub
functions' roles within the organization and holds only its duty's calls on the placed resources; the hub functions
may assume exactly those roles, are told their name, and hear the placed alarms from those accounts only."""

import json
from collections.abc import Mapping
from typing import Any

import pytest
import yaml
from aws_cdk import App
from aws_cdk.assertions import Template

from functions.shared.members import MEMBER_ROLE_VARIABLE
from stacks.app import build
from stacks.member import HUB_CAPACITY_ROLE, HUB_GATE_ROLE, HUB_WATCHDOG_ROLE, MemberStack
from stacks.policy import Policy, PolicyError, parse_policy
from stacks.versions import REPO_ROOT
from tests.support.template import function_ids, named_role, role_statements, statements_of_role, text

ORG_ID = "o-a1b2c3d4e5"
MEMBER = "111111111111"
OTHER = "333333333333"
ORGANIZATION = {"id": ORG_ID, "accounts": ["ou-ab12-cd34ef56", MEMBER], "regions": ["eu-west-1", "us-east-1"]}
CAPACITY_ROLE = "deckhand-member-capacity"
GATING_ROLE = "deckhand-member-gating"


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO_ROOT / "deckhand.yaml").read_text())
    loaded["organization"] = ORGANIZATION
    return loaded


def organization_policy() -> Policy:
    """The example policy with `workers` in a member account and region, `web` in another region of the hub's
    account, the gate's alarms in another member account, and its watchdog in the first one."""
    placed = document()
    workers = next(t for t in placed["capacity"]["targets"] if t["name"] == "workers")
    workers |= {"account": MEMBER, "region": "eu-west-1"}
    web = next(t for t in placed["capacity"]["targets"] if t["name"] == "web")
    web |= {"region": "eu-west-1"}
    gate = placed["gating"]["gates"][0]
    gate["alarms"] |= {"account": OTHER}
    gate["watchdog"] |= {"account": MEMBER}
    return parse_policy(placed, "organization.yaml")


@pytest.fixture(scope="module")
def organization() -> Policy:  # the hub and member fixtures' policy (conftest.py)
    return organization_policy()


def trusted(template: Template, role_name: str) -> list[Mapping[str, Any]]:
    role = template.find_resources("AWS::IAM::Role")[named_role(template, role_name)]
    return list(role["Properties"]["AssumeRolePolicyDocument"]["Statement"])


def actions_on(statements: list[dict[str, Any]]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for statement in statements:
        for action in statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            found.setdefault(action, []).extend(resources)
    return found


def test_the_capacity_member_role_trusts_only_the_hub_capacity_role_within_the_organization(member: Template) -> None:
    [statement] = trusted(member, CAPACITY_ROLE)
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"AWS": {"Ref": HUB_CAPACITY_ROLE}}
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}


def test_the_gating_member_role_trusts_only_the_hub_gate_and_watchdog_roles_within_the_organization(
    member: Template,
) -> None:
    principals = [(s["Principal"], s["Condition"]) for s in trusted(member, GATING_ROLE)]
    org = {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}
    assert sorted(json.dumps(p) for p in principals) == sorted(
        json.dumps(p) for p in [({"AWS": {"Ref": HUB_GATE_ROLE}}, org), ({"AWS": {"Ref": HUB_WATCHDOG_ROLE}}, org)]
    )


def test_the_capacity_member_role_changes_only_the_placed_group_and_reads_only_its_alarm(member: Template) -> None:
    granted = {
        action: [text(r) for r in resources]
        for action, resources in actions_on(statements_of_role(member, named_role(member, CAPACITY_ROLE))).items()
    }
    group = f"arn:${{AWS::Partition}}:autoscaling:eu-west-1:{MEMBER}:autoScalingGroup:*:autoScalingGroupName/workers"
    assert granted == {
        "autoscaling:DescribeAutoScalingGroups": ["*"],
        "autoscaling:DescribeInstanceRefreshes": ["*"],
        "autoscaling:UpdateAutoScalingGroup": [group],
        "autoscaling:SuspendProcesses": [group],
        "autoscaling:ResumeProcesses": [group],
        "cloudwatch:DescribeAlarms": [
            f"arn:${{AWS::Partition}}:cloudwatch:eu-west-1:{MEMBER}:alarm:workers-backlog-high"
        ],
    }


def test_the_gating_member_role_only_reads_the_alarms_placed_in_members(member: Template) -> None:
    granted = actions_on(statements_of_role(member, named_role(member, GATING_ROLE)))
    assert set(granted) == {
        "cloudwatch:DescribeAlarms",
        "cloudwatch:ListAlarmMuteRules",
        "tag:GetResources",
        "cloudwatch:GetAlarmMuteRule",
    }
    watched = organization_policy().gating.gates[0].watchdog
    assert watched is not None
    assert sorted(text(r) for r in granted["cloudwatch:DescribeAlarms"]) == sorted(
        [
            # the gate selects by prefix and tag too: any alarm of that account (as the hub's grant does)
            f"arn:${{AWS::Partition}}:cloudwatch:*:{OTHER}:alarm:*",
            *(f"arn:${{AWS::Partition}}:cloudwatch:*:{MEMBER}:alarm:{name}" for name in watched.alarms),
        ]
    )


def test_the_duties_roles_do_not_share_a_name_with_cleanups(member: Template) -> None:
    names = {role["Properties"].get("RoleName") for role in member.find_resources("AWS::IAM::Role").values()}
    assert {CAPACITY_ROLE, GATING_ROLE} <= names


def test_the_hub_functions_may_assume_exactly_the_member_roles_of_the_placed_accounts(hub: Template) -> None:
    def assumed(function: str) -> list[str]:
        return [text(r) for r in actions_on(role_statements(hub, f"deckhand-{function}")).get("sts:AssumeRole", [])]

    def arn(account: str, role: str) -> str:
        return f"arn:${{AWS::Partition}}:iam::{account}:role/{role}"

    assert assumed("capacity") == [arn(MEMBER, CAPACITY_ROLE)]
    assert assumed("gate") == [arn(OTHER, GATING_ROLE)]
    assert assumed("watchdog") == [arn(MEMBER, GATING_ROLE)]
    for other in ("approver", "pipeline-notices", "switches", "cleanup", "fanout"):
        assert not [a for a in assumed(other) if CAPACITY_ROLE in a or GATING_ROLE in a], other


def test_the_member_role_variable_names_each_duty_role_on_its_functions_only(hub: Template) -> None:
    variables = {
        fn["Properties"]["FunctionName"]: fn["Properties"].get("Environment", {}).get("Variables", {})
        for fn in hub.find_resources("AWS::Lambda::Function").values()
    }
    told = {name: env[MEMBER_ROLE_VARIABLE] for name, env in variables.items() if MEMBER_ROLE_VARIABLE in env}
    # the fan-out names cleanup's own member role (engineer D's); no other function is told one
    assert {name: role for name, role in told.items() if name != "deckhand-fanout"} == {
        "deckhand-capacity": CAPACITY_ROLE,
        "deckhand-gate": GATING_ROLE,
        "deckhand-watchdog": GATING_ROLE,
    }


def test_member_alarm_rules_hear_the_placed_alarms_from_their_accounts_only(hub: Template) -> None:
    rules = hub.find_resources("AWS::Events::Rule").values()
    patterns = [rule["Properties"]["EventPattern"] for rule in rules if "EventPattern" in rule["Properties"]]
    alarm_rules = [p for p in patterns if p.get("source") == ["aws.cloudwatch"]]
    by_names = {tuple(p["detail"]["alarmName"]): p.get("account") for p in alarm_rules}
    assert by_names[("workers-backlog-high",)] == [MEMBER]
    assert by_names[("web-cpu-high",)] == [{"Ref": "AWS::AccountId"}]
    watched = organization_policy().gating.gates[0].watchdog
    assert watched is not None
    assert by_names[tuple(watched.alarms)] == [MEMBER]
    assert all(p.get("account") for p in alarm_rules)  # no alarm rule hears every account


def test_the_stackset_passes_the_hub_duty_roles(hub: Template) -> None:
    [stack_set] = hub.find_resources("AWS::CloudFormation::StackSet").values()
    passed = {p["ParameterKey"]: p["ParameterValue"] for p in stack_set["Properties"]["Parameters"]}
    functions = hub.find_resources("AWS::Lambda::Function")
    roles = {name: functions[logical]["Properties"]["Role"] for name, logical in function_ids(hub).items()}
    assert passed[HUB_CAPACITY_ROLE] == roles["deckhand-capacity"]
    assert passed[HUB_GATE_ROLE] == roles["deckhand-gate"]
    assert passed[HUB_WATCHDOG_ROLE] == roles["deckhand-watchdog"]


def test_without_placements_in_members_there_are_no_duty_member_roles_nor_grants(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    app = App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    hub = Template.from_stack(build(app, parse_policy(document(), "organization.yaml")))
    member = app.node.find_child("DeckhandMember")
    assert isinstance(member, MemberStack)
    roles = Template.from_stack(member).find_resources("AWS::IAM::Role").values()
    assert not {CAPACITY_ROLE, GATING_ROLE} & {role["Properties"].get("RoleName") for role in roles}
    for function in ("deckhand-capacity", "deckhand-gate", "deckhand-watchdog"):
        assert "sts:AssumeRole" not in actions_on(role_statements(hub, function)), function


def test_a_member_role_name_too_long_for_its_duty_suffix_is_refused_naming_the_key() -> None:
    long = document()
    long["organization"]["member_role"] = "r" * 60
    with pytest.raises(PolicyError) as refused:
        parse_policy(long, "organization.yaml")
    [problem] = refused.value.problems
    assert problem.startswith("organization.member_role: got ")
    assert "at most 55 characters" in problem


def test_a_target_in_another_region_of_the_hub_account_is_granted_there_to_the_hub_role_only(hub: Template) -> None:
    granted = {
        action: [text(r) for r in resources]
        for action, resources in actions_on(role_statements(hub, "deckhand-capacity")).items()
    }
    assert granted["application-autoscaling:RegisterScalableTarget"] == [
        "arn:${AWS::Partition}:application-autoscaling:eu-west-1:${AWS::AccountId}:scalable-target/*"
    ]
    assert granted["ecs:DescribeServices"] == [
        "arn:${AWS::Partition}:ecs:eu-west-1:${AWS::AccountId}:service/web-app/web"
    ]
    assert (
        "arn:${AWS::Partition}:cloudwatch:eu-west-1:${AWS::AccountId}:alarm:web-cpu-high"
        in (granted["cloudwatch:DescribeAlarms"])
    )
    # the member-placed group is reached through the member role only
    assert "autoscaling:UpdateAutoScalingGroup" not in granted
    assert not [r for resources in granted.values() for r in resources if "workers" in r]


def test_the_hub_gate_and_watchdog_roles_do_not_read_alarms_placed_in_members_with_their_own(hub: Template) -> None:
    # the one gate's alarms and watchdog are both in members: read there through the gating member role only
    for function in ("deckhand-gate", "deckhand-watchdog", "deckhand-approver"):
        assert "cloudwatch:DescribeAlarms" not in actions_on(role_statements(hub, function)), function
