"""The sandbox's organization (sandbox/organization.py), the StackSet path (sandbox/gaps/cloudformation.py) and
aws:PrincipalOrgID in the IAM enforcer's context (issue 13, item 6)."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from sandbox import ACCOUNT
from sandbox.gaps.cloudformation import deployment_targets
from sandbox.gaps.cloudwatch import STATE_ROUTE
from sandbox.organization import (
    ACCOUNT_PLACEHOLDERS,
    AT_ROOT,
    EXAMPLE,
    UNITS,
    Built,
    admin_client,
    build,
    render,
)
from sandbox.organization import control as server_route
from stacks.policy import parse_policy
from tests.support.sandbox_server import Client, assumed_client, control, error_code

REGIONS = ["us-east-1", "eu-west-1"]
MEMBER_ROLE = "org-test-member"


@pytest.fixture(scope="module")
def region() -> str:
    return "ap-southeast-2"  # moto's backends are process-wide: the hub stack of this module in a region of its own


@pytest.fixture(scope="module")
def organization(endpoint: str) -> Built:
    return build(endpoint)


def in_account(client: Client, service: str, account: str) -> Any:
    return admin_client(client(service).meta.endpoint_url, service, account, client(service).meta.region_name)


def hub_template(built: Built, hub_role: str) -> dict[str, Any]:
    """A hub stack holding a service-managed StackSet like DeckhandStack's: a member role trusted by the hub role
    within the organization, made in the first region's stack only (IAM names are global to an account)."""
    member = {
        "Parameters": {"HubRoleArn": {"Type": "String"}},
        "Conditions": {"RolesRegion": {"Fn::Equals": [{"Ref": "AWS::Region"}, REGIONS[0]]}},
        "Resources": {
            "MemberRole": {
                "Type": "AWS::IAM::Role",
                "Condition": "RolesRegion",
                "Properties": {
                    "RoleName": MEMBER_ROLE,
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": {"Ref": "HubRoleArn"}},
                                "Action": "sts:AssumeRole",
                                "Condition": {"StringEquals": {"aws:PrincipalOrgID": built.id}},
                            }
                        ],
                    },
                },
            }
        },
    }
    return {
        "Resources": {
            "Members": {
                "Type": "AWS::CloudFormation::StackSet",
                "Properties": {
                    "StackSetName": "org-test-member",
                    "PermissionModel": "SERVICE_MANAGED",
                    "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": False},
                    "Capabilities": ["CAPABILITY_NAMED_IAM"],
                    "Parameters": [{"ParameterKey": "HubRoleArn", "ParameterValue": hub_role}],
                    "StackInstancesGroup": [
                        {
                            "DeploymentTargets": {
                                "OrganizationalUnitIds": [built.units["workloads"]],
                                "Accounts": [built.accounts["workload-12"]],
                                "AccountFilterType": "DIFFERENCE",
                            },
                            "Regions": REGIONS,
                        }
                    ],
                    "TemplateBody": json.dumps(member),
                },
            }
        }
    }


@pytest.fixture(scope="module")
def hub_role(client: Client) -> str:
    """A hub role that may assume any member's role, as the hub's cleanup function role may."""
    iam = client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "*"}],
    }
    arn = str(iam.create_role(RoleName="org-test-hub", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
    allow = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::*:role/{MEMBER_ROLE}"}
        ],
    }
    iam.put_role_policy(RoleName="org-test-hub", PolicyName="assume-members", PolicyDocument=json.dumps(allow))
    return arn


@pytest.fixture(scope="module")
def deployed(client: Client, organization: Built, hub_role: str) -> str:
    template = json.dumps(hub_template(organization, hub_role))
    client("cloudformation").create_stack(StackName="org-test-hub", TemplateBody=template)
    return "org-test-member"


def targeted(built: Built) -> list[str]:
    return [a for a in built.in_unit("workloads") if a != built.accounts["workload-12"]]


def test_the_hub_account_manages_an_organization_of_twenty_accounts_and_more_in_units(
    client: Client, organization: Built
) -> None:
    described = client("organizations").describe_organization()["Organization"]

    assert (described["Id"], described["MasterAccountId"], described["FeatureSet"]) == (organization.id, ACCOUNT, "ALL")
    assert len(organization.accounts) >= 20
    assert ACCOUNT not in organization.accounts.values()
    for unit in UNITS:
        assert sorted(organization.accounts[name] for name in unit.accounts) == sorted(
            account for account, parent in organization.parents.items() if parent == organization.units[unit.name]
        )
    assert {organization.parents[organization.accounts[name]] for name in AT_ROOT} == {organization.root}
    # the units under a unit count: production sits in workloads
    assert set(organization.in_unit("workloads")) >= {organization.accounts["prod-01"]}


def test_building_again_answers_the_organization_that_is_there(endpoint: str, organization: Built) -> None:
    assert build(endpoint) == organization


def test_the_example_policy_renders_with_the_ids_moto_made(organization: Built) -> None:
    policy = parse_policy(yaml.safe_load(render(EXAMPLE.read_text(), organization)), "organization.yaml")

    assert policy.organization is not None
    assert policy.organization.id == organization.id
    assert policy.organization.accounts == [
        organization.units["workloads"],
        organization.accounts["shared-services"],
        organization.accounts["tooling"],
    ]
    assert policy.organization.exclude == [organization.accounts["workload-12"]]
    assert policy.capacity.targets[0].account == organization.accounts["workload-01"]
    assert set(ACCOUNT_PLACEHOLDERS) <= set(organization.accounts)


def test_a_placeholder_the_layout_does_not_know_fails_the_render(organization: Built) -> None:
    with pytest.raises(ValueError, match="o-unknownorg99"):
        render(EXAMPLE.read_text().replace("o-exampleorg01", "o-unknownorg99"), organization)


def test_the_stack_set_has_an_instance_in_each_targeted_account_and_region(
    client: Client, organization: Built, deployed: str
) -> None:
    cloudformation = client("cloudformation")
    instances = cloudformation.list_stack_instances(StackSetName=deployed)["Summaries"]

    assert sorted((i["Account"], i["Region"]) for i in instances) == sorted(
        (account, region) for account in targeted(organization) for region in REGIONS
    )
    described = cloudformation.describe_stack_set(StackSetName=deployed)["StackSet"]
    assert (described["PermissionModel"], described["Status"]) == ("SERVICE_MANAGED", "ACTIVE")


def test_the_member_role_exists_in_each_targeted_account_and_nowhere_else(
    client: Client, organization: Built, deployed: str
) -> None:
    def has_role(account: str) -> bool:
        iam = in_account(client, "iam", account)
        return any(r["RoleName"] == MEMBER_ROLE for r in iam.list_roles()["Roles"])

    assert all(has_role(account) for account in targeted(organization))
    left_out = {
        "excluded": organization.accounts["workload-12"],
        "in a unit not targeted": organization.accounts["sandbox-01"],
        "listed by id only": organization.accounts["shared-services"],
        "the management account": ACCOUNT,
    }
    assert {why: has_role(account) for why, account in left_out.items()} == dict.fromkeys(left_out, False)


def role_in(account: str) -> str:
    return f"arn:aws:iam::{account}:role/{MEMBER_ROLE}"


def test_the_hub_role_assumes_a_member_role_within_the_organization(
    client: Client, organization: Built, hub_role: str, deployed: str
) -> None:
    sts = assumed_client(client, hub_role, "cleanup", "sts")
    member = organization.accounts["prod-02"]

    issued = sts.assume_role(RoleArn=role_in(member), RoleSessionName="cleanup")

    assert issued["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{member}:assumed-role/{MEMBER_ROLE}/")


def test_the_trust_is_evaluated_with_the_callers_organization(
    client: Client, organization: Built, hub_role: str, deployed: str, endpoint: str
) -> None:
    """The same request refused when the organization id differs: the trust's aws:PrincipalOrgID is evaluated with
    the one moto's Organizations holds for the caller's account."""
    member = role_in(organization.accounts["workload-02"])
    asked = {"role": hub_role, "action": "sts:AssumeRole", "resource": member}
    status, answer = control(endpoint, "POST", "/_sandbox/iam/authorize", asked)
    assert (status, answer["decision"]) == (200, "Allowed")

    iam = in_account(client, "iam", organization.accounts["workload-02"])
    trust = json.loads(json.dumps(iam.get_role(RoleName=MEMBER_ROLE)["Role"]["AssumeRolePolicyDocument"]))
    trust["Statement"][0]["Condition"]["StringEquals"]["aws:PrincipalOrgID"] = "o-someoneelse1"
    iam.update_assume_role_policy(RoleName=MEMBER_ROLE, PolicyDocument=json.dumps(trust))
    try:
        status, answer = control(endpoint, "POST", "/_sandbox/iam/authorize", asked)
        assert (status, answer["decision"]) == (200, "ImplicitlyDenied")
    finally:
        trust["Statement"][0]["Condition"]["StringEquals"]["aws:PrincipalOrgID"] = organization.id
        iam.update_assume_role_policy(RoleName=MEMBER_ROLE, PolicyDocument=json.dumps(trust))


def test_an_identity_policy_scoped_by_resource_org_id_reaches_the_organizations_roles_only(
    client: Client, organization: Built, hub_role: str, deployed: str, endpoint: str
) -> None:
    """aws:ResourceOrgID is the organization of the account that owns the requested resource: a grant on any
    account's role, conditioned on it (as the fan-out's), reaches the members' roles and no outsider's."""
    iam = client("iam")
    in_the_organization = {"StringEquals": {"aws:ResourceOrgID": organization.id}}
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/*"}
    scoped = {"Version": "2012-10-17", "Statement": [{**statement, "Condition": in_the_organization}]}
    iam.put_role_policy(RoleName="org-test-hub", PolicyName="assume-members", PolicyDocument=json.dumps(scoped))
    outsider = in_account(client, "iam", "888888888888")
    anyone = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": hub_role}, "Action": "sts:AssumeRole"}]}  # fmt: skip
    outsider.create_role(RoleName=MEMBER_ROLE, AssumeRolePolicyDocument=json.dumps(anyone))

    def decision(account: str) -> str:
        asked = {"role": hub_role, "action": "sts:AssumeRole", "resource": role_in(account)}
        return str(control(endpoint, "POST", "/_sandbox/iam/authorize", asked)[1]["decision"])

    try:
        assert decision(organization.accounts["workload-04"]) == "Allowed"
        assert decision("888888888888") == "ImplicitlyDenied"
    finally:
        members = {**statement, "Resource": f"arn:aws:iam::*:role/{MEMBER_ROLE}"}
        allow = {"Version": "2012-10-17", "Statement": [members]}
        iam.put_role_policy(RoleName="org-test-hub", PolicyName="assume-members", PolicyDocument=json.dumps(allow))


def test_the_trust_alone_does_not_let_a_hub_role_without_the_permission_assume_a_member_role(
    client: Client, organization: Built, deployed: str
) -> None:
    """Cross-account, both sides must allow: the member role's trust names the principal, and the caller's own
    identity policy must allow sts:AssumeRole on the role (IAM User Guide, "Cross-account policy evaluation logic")."""
    member = role_in(organization.accounts["prod-03"])
    iam = in_account(client, "iam", organization.accounts["prod-03"])
    trust = iam.get_role(RoleName=MEMBER_ROLE)["Role"]["AssumeRolePolicyDocument"]
    iam_hub = client("iam")
    hub_trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "*"}]}  # fmt: skip
    bare = iam_hub.create_role(RoleName="org-test-bare", AssumeRolePolicyDocument=json.dumps(hub_trust))["Role"]["Arn"]
    trust["Statement"][0]["Principal"] = {"AWS": bare}
    iam.update_assume_role_policy(RoleName=MEMBER_ROLE, PolicyDocument=json.dumps(trust))

    def assume() -> Any:
        return assumed_client(client, bare, "bare", "sts").assume_role(RoleArn=member, RoleSessionName="bare")

    assert error_code(assume) == "AccessDenied"


def test_a_role_outside_the_organization_may_not_assume_a_member_role(
    client: Client, organization: Built, deployed: str
) -> None:
    outsider_account = "999999999999"
    iam = in_account(client, "iam", outsider_account)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    outsider = iam.create_role(RoleName="org-test-outsider", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    iam.put_role_policy(RoleName="org-test-outsider", PolicyName="any", PolicyDocument=json.dumps(allow))
    sts: Callable[[], Any] = lambda: assumed_client(client, outsider["Arn"], "outsider", "sts").assume_role(  # noqa: E731
        RoleArn=role_in(organization.accounts["workload-03"]), RoleSessionName="outsider"
    )

    assert error_code(sts) == "AccessDenied"


def test_listing_a_unit_is_authorized_on_that_unit_in_the_organization(
    client: Client, organization: Built, endpoint: str
) -> None:
    iam = client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "*"}],
    }
    arn = iam.create_role(RoleName="org-test-planner", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    workloads = f"arn:aws:organizations::{ACCOUNT}:ou/{organization.id}/{organization.units['workloads']}"
    allow = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "organizations:ListAccountsForParent", "Resource": workloads}],
    }
    iam.put_role_policy(RoleName="org-test-planner", PolicyName="list", PolicyDocument=json.dumps(allow))
    planner = assumed_client(client, arn, "planner", "organizations")

    listed = planner.list_accounts_for_parent(ParentId=organization.units["workloads"])["Accounts"]

    assert {a["Id"] for a in listed} == {organization.accounts[name] for name in UNITS[0].accounts}
    assert error_code(lambda: planner.list_accounts_for_parent(ParentId=organization.units["sandboxes"])) == (
        "AccessDeniedException"
    )


def forwarding(client: Client, built: Built, region: str) -> tuple[str, Any, Any]:
    """A member's rule forwarding its alarm state changes to the hub's default bus through a role, as the member
    stack wires it; the hub bus admitting the organization, and a hub rule sending what it gets to a queue."""
    member = built.accounts["tooling"]
    hub_bus = f"arn:aws:events:{region}:{ACCOUNT}:event-bus/default"
    iam = in_account(client, "iam", member)
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole"}]}  # fmt: skip
    role = iam.create_role(RoleName="org-test-forwarding", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    put = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "events:PutEvents", "Resource": hub_bus}],
    }
    iam.put_role_policy(RoleName="org-test-forwarding", PolicyName="put", PolicyDocument=json.dumps(put))
    events = in_account(client, "events", member)
    pattern = {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}
    events.put_rule(Name="org-test-forward", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="org-test-forward", Targets=[{"Id": "hub", "Arn": hub_bus, "RoleArn": role}])
    queue_url = client("sqs").create_queue(QueueName="org-test-forwarded")["QueueUrl"]
    queue = client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events_principal = {"Service": "events.amazonaws.com"}
    statement = {"Effect": "Allow", "Principal": events_principal, "Action": "sqs:SendMessage", "Resource": queue}
    allow = {"Version": "2012-10-17", "Statement": [statement]}
    client("sqs").set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(allow)})
    hub_pattern = {"source": ["aws.cloudwatch"], "account": [member]}
    client("events").put_rule(Name="org-test-member-alarms", EventPattern=json.dumps(hub_pattern))
    client("events").put_targets(Rule="org-test-member-alarms", Targets=[{"Id": "queue", "Arn": queue}])
    in_account(client, "cloudwatch", member).put_metric_alarm(
        AlarmName="org-test-backlog", Namespace="Orders", MetricName="Backlog", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
    )  # fmt: skip
    return member, queue_url, client("sqs")


def admit(client: Client, organization_id: str) -> str:
    """The hub bus's policy statement, deployed by CloudFormation as the hub stack deploys it: PutEvents from the
    organization `organization_id` only. The stack's name, to delete it."""
    resource = f"arn:aws:events:{client('events').meta.region_name}:{ACCOUNT}:event-bus/default"
    statement = {"Effect": "Allow", "Principal": "*", "Action": "events:PutEvents", "Resource": resource,
                 "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization_id}}}  # fmt: skip
    properties = {"EventBusName": "default", "StatementId": "organization", "Statement": statement}
    template = {"Resources": {"Admit": {"Type": "AWS::Events::EventBusPolicy", "Properties": properties}}}
    name = f"org-test-admit-{organization_id}"
    client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))
    return name


def test_a_members_alarm_reaches_the_hubs_bus_through_its_forwarding_rule_within_the_organization(
    client: Client, organization: Built, endpoint: str, region: str
) -> None:
    member, queue_url, sqs = forwarding(client, organization, region)

    def alarm(state: str) -> list[str]:
        request = {"AlarmName": "org-test-backlog", "StateValue": state, "StateReason": "test"}
        routed = server_route(endpoint, STATE_ROUTE, request, account=member, region=region)
        return [d["outcome"] for d in routed["deliveries"]]

    assert alarm("ALARM") == ["refused"]  # the bus has no policy: only its own account may put events on it
    client("cloudformation").delete_stack(StackName=admit(client, "o-someoneelse1"))
    assert client("events").describe_event_bus(Name="default").get("Policy") is None  # the statement left with it
    admit(client, "o-someoneelse1")
    assert alarm("OK") == ["refused"]  # the bus admits another organization only
    client("cloudformation").delete_stack(StackName="org-test-admit-o-someoneelse1")
    admit(client, organization.id)
    assert alarm("ALARM") == ["delivered"]
    [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    forwarded = json.loads(message["Body"])
    assert (forwarded["account"], forwarded["detail"]["state"]["value"]) == (member, "ALARM")


def test_an_account_moved_into_a_targeted_unit_gets_its_instances_and_loses_them_moved_out(
    client: Client, organization: Built, deployed: str
) -> None:
    organizations, cloudformation = client("organizations"), client("cloudformation")
    moved = organization.accounts["sandbox-02"]

    def instances() -> list[str]:
        found = cloudformation.list_stack_instances(StackSetName=deployed, StackInstanceAccount=moved)["Summaries"]
        return sorted(i["Region"] for i in found if i["Account"] == moved)

    units = organization.units
    organizations.move_account(
        AccountId=moved, SourceParentId=units["sandboxes"], DestinationParentId=units["production"]
    )
    joined = (
        instances(),
        any(r["RoleName"] == MEMBER_ROLE for r in in_account(client, "iam", moved).list_roles()["Roles"]),
    )
    organizations.move_account(
        AccountId=moved, SourceParentId=units["production"], DestinationParentId=units["sandboxes"]
    )
    left = (
        instances(),
        any(r["RoleName"] == MEMBER_ROLE for r in in_account(client, "iam", moved).list_roles()["Roles"]),
    )

    assert (joined, left) == ((sorted(REGIONS), True), ([], False))


@dataclass
class Node:
    id: str
    parent_id: str | None


@dataclass
class FakeOrganization:
    """What `deployment_targets` reads of moto's Organizations backend."""

    org: Any
    ou: list[Node]
    accounts: list[Node]


@st.composite
def organizations_and_targets(draw: st.DrawFn) -> tuple[FakeOrganization, dict[str, Any]]:
    units = [Node("r-root", None)]
    for n in range(draw(st.integers(0, 6))):
        units.append(Node(f"ou-{n}", draw(st.sampled_from([u.id for u in units]))))
    accounts = [Node(f"{n:012d}", draw(st.sampled_from([u.id for u in units]))) for n in range(draw(st.integers(1, 8)))]
    management = accounts[0].id
    targets: dict[str, Any] = {
        "OrganizationalUnitIds": draw(st.lists(st.sampled_from([u.id for u in units]), max_size=3))
    }
    named = draw(st.lists(st.sampled_from([a.id for a in accounts] + ["999999999999"]), max_size=3))
    if named:
        targets["Accounts"] = named
    kind = draw(st.sampled_from(["NONE", "INTERSECTION", "DIFFERENCE", "UNION", None]))
    if kind is not None:
        targets["AccountFilterType"] = kind
    return FakeOrganization(SimpleNamespace(master_account_id=management), units, accounts), targets


@given(organizations_and_targets())
def test_deployment_targets_follow_cloudformations_rules(case: tuple[FakeOrganization, dict[str, Any]]) -> None:
    organization, targets = case
    parent = {node.id: node.parent_id for node in organization.ou + organization.accounts}

    def under_a_target(account: str) -> bool:
        node: str | None = parent[account]
        while node is not None:
            if node in targets["OrganizationalUnitIds"]:
                return True
            node = parent[node]
        return False

    in_units = {a.id for a in organization.accounts if under_a_target(a.id)}
    named = set(targets.get("Accounts", []))
    kind = targets.get("AccountFilterType", "UNION" if named else "NONE")
    expected = {"NONE": in_units, "INTERSECTION": in_units & named, "DIFFERENCE": in_units - named,
                "UNION": in_units | named}[kind] - {organization.org.master_account_id}  # fmt: skip

    found = deployment_targets(targets, organization)  # type: ignore[arg-type]

    assert sorted(found) == sorted(expected)
    assert len(found) == len(set(found))
