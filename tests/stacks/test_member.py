"""The member stack and its StackSet (issue 13, item 2), synthesized from the example policy plus an organization."""

import json
from collections.abc import Mapping
from typing import Any

import pytest
import yaml
from aws_cdk.assertions import Template

from stacks.deckhand_stack import DeckhandStack
from stacks.member import HUB_CAPACITY_ROLE, HUB_CLEANUP_ROLE, HUB_DELETER_ROLE, HUB_EVENT_BUS
from stacks.policy import Policy, parse_policy
from stacks.versions import REPO_ROOT
from tests.support.template import named_role, statements_of_role

ORG_ID = "o-a1b2c3d4e5"
ORGANIZATION = {
    "id": ORG_ID,
    "accounts": ["ou-ab12-cd34ef56", "r-ab12", "111111111111"],
    "exclude": ["222222222222"],
    "regions": ["eu-west-1", "us-east-1"],
}
# Removals and changes: what only the deleter may do.
DELETING = ("Delete", "Deregister", "Release", "Terminate", "BatchDelete", "PutRetentionPolicy", "CreateSnapshot")


def organization_policy() -> Policy:
    document = yaml.safe_load((REPO_ROOT / "deckhand.yaml").read_text())
    document["organization"] = ORGANIZATION
    workers = next(t for t in document["capacity"]["targets"] if t["name"] == "workers")
    workers |= {"account": "111111111111", "region": "eu-west-1"}
    document["gating"]["gates"][0]["watchdog"]["region"] = "us-east-1"
    return parse_policy(document, "organization.yaml")


@pytest.fixture(scope="module")
def organization() -> Policy:  # the hub and member fixtures' policy (conftest.py)
    return organization_policy()


def role(template: Template, name: str) -> Mapping[str, Any]:
    return template.find_resources("AWS::IAM::Role")[named_role(template, name)]


def actions(template: Template, role_logical_id: str) -> set[str]:
    return {action for statement in statements_of_role(template, role_logical_id) for action in statement["Action"]}


@pytest.mark.parametrize(
    ("name", "parameter"), [("deckhand-member", HUB_CLEANUP_ROLE), ("deckhand-member-deleter", HUB_DELETER_ROLE)]
)
def test_each_member_role_trusts_only_its_hub_role_within_the_organization(
    member: Template, name: str, parameter: str
) -> None:
    assert role(member, name)["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"AWS": {"Ref": parameter}},
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}},
        }
    ]


def test_the_member_role_marks_but_cannot_delete_and_the_deleter_cannot_mark(member: Template) -> None:
    marker = actions(member, named_role(member, "deckhand-member"))
    deleter = actions(member, named_role(member, "deckhand-member-deleter"))

    assert "ec2:CreateTags" in marker
    assert not [action for action in marker if action.split(":")[1].startswith(DELETING)]
    assert {"ec2:DeleteSnapshot", "ec2:DeleteVolume", "ec2:DeregisterImage"} <= deleter
    # The deleter's one tagging grant: the final snapshot's own tags, while it creates it; never a mark.
    assert marker & deleter == {"ec2:CreateTags"}
    tagging = [
        statement
        for statement in statements_of_role(member, named_role(member, "deckhand-member-deleter"))
        if "ec2:CreateTags" in statement["Action"]
    ]
    assert [statement["Condition"]["StringEquals"] for statement in tagging] == [{"ec2:CreateAction": "CreateSnapshot"}]


def test_the_member_roles_hold_the_hubs_cleanup_statements_for_the_kinds(hub: Template, member: Template) -> None:
    # Besides the kinds' removals, the hub deleter assumes the member deleters (the fan-out's role chain).
    hub_deleter = actions(hub, named_role(hub, "deckhand-cleanup-deleter")) - {"sts:AssumeRole"}
    hub_function = {
        action
        for logical_id, resource in hub.find_resources("AWS::IAM::Role").items()
        if resource["Properties"].get("Description") == "Runs the Deckhand cleanup function"
        for action in actions(hub, logical_id)
    }
    # The hub function's own needs besides the kinds: logs, traces, state, reports, key, the deleter, the fan-out.
    own = {"logs:CreateLogStream", "logs:PutLogEvents", "s3:PutObject", "sts:AssumeRole", "states:StartExecution"}
    own_services = ("xray", "dynamodb", "kms", "sqs", "ssm", "sns")
    kind_actions = {action for action in hub_function if action not in own and not action.startswith(own_services)}

    assert actions(member, named_role(member, "deckhand-member-deleter")) == hub_deleter
    assert actions(member, named_role(member, "deckhand-member")) == kind_actions


def test_member_statements_name_the_organizations_regions_in_the_member_account(member: Template) -> None:
    resources = [
        resource
        for statement in statements_of_role(member, named_role(member, "deckhand-member-deleter"))
        for resource in statement["Resource"]
    ]

    assert any(":eu-west-1:${AWS::AccountId}:" in resource for resource in resources)
    assert any(":us-east-1:${AWS::AccountId}:" in resource for resource in resources)
    assert all(":eu-west-1:" in r or ":us-east-1:" in r or ":ec2:" in r or r == "*" for r in resources), resources


def test_the_named_roles_and_their_policies_live_in_the_first_organization_region_only(member: Template) -> None:
    roles = [named_role(member, "deckhand-member"), named_role(member, "deckhand-member-deleter")]
    policies = [
        logical_id
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        for logical_id, policy in member.find_resources(kind).items()
        if any(reference in policy["Properties"].get("Roles", []) for reference in ({"Ref": r} for r in roles))
    ]
    conditions = member.to_json()["Conditions"]
    resources = member.to_json()["Resources"]

    assert policies
    [condition] = {resources[logical_id]["Condition"] for logical_id in roles + policies}
    assert conditions[condition] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]}
    # The forwarding rule and its (unnamed) role are in every region's stack.
    assert all("Condition" not in resources[logical_id] for logical_id in member.find_resources("AWS::Events::Rule"))


def test_the_forwarding_rule_names_exactly_the_alarms_the_policy_places_in_members(member: Template) -> None:
    [rule] = member.find_resources("AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]

    assert pattern == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        # the workers target's scale-out alarm (eu-west-1 of 111111111111), the gate's watchdog alarms (us-east-1)
        "detail": {"alarmName": ["workers-backlog-high", "web-app-5xx", "web-app-health"]},
    }
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": HUB_EVENT_BUS}
    sender = target["RoleArn"]["Fn::GetAtt"][0]
    assert statements_of_role(member, sender) == [
        {"Action": ["events:PutEvents"], "Effect": "Allow", "Resource": ["${" + HUB_EVENT_BUS + "}"]}
    ]
    trust = member.find_resources("AWS::IAM::Role")[sender]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [statement["Principal"] for statement in trust] == [{"Service": "events.amazonaws.com"}]


def test_the_hubs_default_bus_admits_put_events_from_the_organization_only(hub: Template) -> None:
    [bus_policy] = hub.find_resources("AWS::Events::EventBusPolicy").values()
    statement = bus_policy["Properties"]["Statement"]

    assert bus_policy["Properties"]["EventBusName"] == "default"
    assert statement["Principal"] == "*"
    assert statement["Action"] == "events:PutEvents"
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}


def test_the_stackset_is_service_managed_and_deploys_itself_to_the_units_less_the_exclusions(
    hub: Template, member: Template
) -> None:
    [stack_set] = hub.find_resources("AWS::CloudFormation::StackSet").values()
    properties = stack_set["Properties"]

    assert properties["PermissionModel"] == "SERVICE_MANAGED"
    assert properties["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert properties["StackInstancesGroup"] == [
        {
            "DeploymentTargets": {
                "OrganizationalUnitIds": ["ou-ab12-cd34ef56", "r-ab12"],
                "Accounts": ["222222222222"],
                "AccountFilterType": "DIFFERENCE",
            },
            "Regions": ["eu-west-1", "us-east-1"],
        }
    ]
    passed = {parameter["ParameterKey"]: parameter["ParameterValue"] for parameter in properties["Parameters"]}
    deleter = named_role(hub, "deckhand-cleanup-deleter")
    assert passed[HUB_DELETER_ROLE] == {"Fn::GetAtt": [deleter, "Arn"]}
    assert passed[HUB_CLEANUP_ROLE]["Fn::GetAtt"][1] == "Arn"
    assert (
        hub.find_resources("AWS::IAM::Role")[passed[HUB_CLEANUP_ROLE]["Fn::GetAtt"][0]]["Properties"]["Description"]
        == "Runs the Deckhand fanout function"  # the cleanup fan-out, which works in the members
    )
    # The StackSet deploys the member stack the app also offers to `cdk deploy` by hand.
    body = json.loads(properties["TemplateBody"])
    assert body["Resources"].keys() == member.to_json()["Resources"].keys()
    # The capacity member role: the policy places a capacity target in a member (tests/stacks/test_member_duties.py).
    assert body["Parameters"].keys() == {HUB_CLEANUP_ROLE, HUB_DELETER_ROLE, HUB_EVENT_BUS, HUB_CAPACITY_ROLE}
    assert "Rules" not in body  # no CDK bootstrap check: StackSet targets are not bootstrapped


def test_without_an_organization_there_is_no_member_stack_stackset_or_bus_policy(
    stack: DeckhandStack, template: Template
) -> None:
    assert stack.node.root.node.try_find_child("DeckhandMember") is None
    assert not template.find_resources("AWS::CloudFormation::StackSet")
    assert not template.find_resources("AWS::Events::EventBusPolicy")
