"""A moto reset in the server's process leaves no StackSet behind to follow the next organization: moto's backends
are process-wide and reset by `/moto-api/reset` (or by mock_aws in another test), the sandbox's automatic
deployments (sandbox/gaps/cloudformation.py) must go with them. A module of its own: it resets moto."""

import json
import urllib.request

import pytest

from sandbox import ACCOUNT
from tests.support.sandbox_server import Client

MEMBER_ROLE = "reset-test-member"


@pytest.fixture(scope="module")
def region() -> str:
    return "ap-southeast-1"  # moto's backends are process-wide: this module's stack in a region of its own


def reset_moto(endpoint: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()


def organization_with_a_unit(client: Client) -> tuple[str, str]:
    """(unit id, id of an account moved into it) in a new organization with all features."""
    organizations = client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    root = organizations.list_roots()["Roots"][0]["Id"]
    unit = organizations.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    account = organizations.create_account(AccountName="member", Email="member@example.com")
    account_id = account["CreateAccountStatus"]["AccountId"]
    organizations.move_account(AccountId=account_id, SourceParentId=root, DestinationParentId=unit)
    return unit, account_id


def deploy_auto_deployed_member_role(client: Client, unit: str, region: str) -> None:
    member = {
        "Resources": {
            "MemberRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": MEMBER_ROLE,
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                },
            }
        }
    }
    hub = {
        "Resources": {
            "Members": {
                "Type": "AWS::CloudFormation::StackSet",
                "Properties": {
                    "StackSetName": MEMBER_ROLE,
                    "PermissionModel": "SERVICE_MANAGED",
                    "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": False},
                    "Capabilities": ["CAPABILITY_NAMED_IAM"],
                    "StackInstancesGroup": [
                        {"DeploymentTargets": {"OrganizationalUnitIds": [unit]}, "Regions": [region]}
                    ],
                    "TemplateBody": json.dumps(member),
                },
            }
        }
    }
    client("cloudformation").create_stack(StackName="reset-test-hub", TemplateBody=json.dumps(hub))


def test_after_a_moto_reset_the_next_organizations_accounts_are_made_without_the_old_stack_sets(
    client: Client, endpoint: str, region: str
) -> None:
    reset_moto(endpoint)  # from another module on this worker: an organization
    unit, member = organization_with_a_unit(client)
    deploy_auto_deployed_member_role(client, unit, region)
    assert [
        s["Account"] for s in client("cloudformation").list_stack_instances(StackSetName=MEMBER_ROLE)["Summaries"]
    ] == [member]
    reset_moto(endpoint)

    # Before the fix the old StackSet followed this CreateAccount and removed its instance, whose role moto had
    # already forgotten: CreateAccount answered 500.
    unit, member = organization_with_a_unit(client)

    assert client("cloudformation").list_stack_sets()["Summaries"] == []
    assert client("organizations").list_accounts_for_parent(ParentId=unit)["Accounts"][0]["Id"] == member
