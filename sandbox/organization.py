"""The sandbox's organization: the hub account as the management account of an AWS Organizations organization in
moto, its units and member accounts made through the Organizations API, and the organization policy to deploy.

moto makes the ids (organization, root, units, accounts) itself, at random, so no policy written beforehand can name
them. The example policy (`examples/organization.yaml`) names placeholders in their real formats, so that it
validates and synthesizes as it stands; once the organization exists, `render` writes the policy the sandbox
deploys by putting moto's ids where the placeholders stand (the file's comments kept). `UNITS` and
`ACCOUNT_PLACEHOLDERS` say which unit or account each placeholder is: a placeholder the example lost, or one they
do not know, fails the render.

The organization is made once per server: `build` on a server that already holds it answers what is there.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.policy import Policy
from stacks.versions import REPO_ROOT

from . import REGION
from .clients import pages, sandbox_client, sandbox_session

EXAMPLE = REPO_ROOT / "examples" / "organization.yaml"
ORGANIZATION_PLACEHOLDER = "o-exampleorg01"
ACCOUNT_HEADER = "x-moto-account-id"
POLICY_FILE = "organization.yaml"  # the rendered policy, in the sandbox's folder
PLACEHOLDER_ID = re.compile(r"\bo-[a-z0-9]{10,32}\b|\bou-[0-9a-z]{4,32}-[a-z0-9]{8,32}\b|'[0-9]{12}'")


@dataclass(frozen=True)
class Unit:
    """An organizational unit: its name, its parent unit's name (None: the root), the accounts it holds by name."""

    name: str
    parent: str | None
    accounts: tuple[str, ...]
    placeholder: str | None = None  # how the example policy names it, if it does


def numbered(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}-{n:02d}" for n in range(1, count + 1))


# 21 member accounts: a targeted unit with a nested one (the StackSet's units count their children), a unit the
# policy leaves out, and two accounts under the root that the policy lists by id.
UNITS = (
    Unit("workloads", None, numbered("workload", 12), placeholder="ou-exmp-workloads"),
    Unit("production", "workloads", numbered("prod", 4)),
    Unit("sandboxes", None, numbered("sandbox", 3)),
)
AT_ROOT = ("shared-services", "tooling")
# The accounts the example policy names by a placeholder id, by the name the sandbox gives them.
ACCOUNT_PLACEHOLDERS = {
    "shared-services": "'111111111111'",  # listed by id
    "tooling": "'222222222222'",  # listed by id
    "workload-12": "'333333333333'",  # in the targeted unit, excluded
    "workload-01": "'444444444444'",  # holds the alarm and the target the hub acts on
}


@dataclass(frozen=True)
class Built:
    """The organization as moto made it."""

    id: str
    management: str
    root: str
    units: Mapping[str, str]  # name -> OU id
    accounts: Mapping[str, str]  # name -> account id, the management account left out
    parents: Mapping[str, str]  # account id -> the id of the unit (or root) it sits in

    def placeholders(self) -> dict[str, str]:
        """Placeholder in the example -> the id moto made."""
        found = {ORGANIZATION_PLACEHOLDER: self.id}
        found |= {unit.placeholder: self.units[unit.name] for unit in UNITS if unit.placeholder}
        found |= {quoted: f"'{self.accounts[name]}'" for name, quoted in ACCOUNT_PLACEHOLDERS.items()}
        return found

    def in_unit(self, name: str) -> list[str]:
        """The accounts in the unit `name` and in the units under it."""
        unit_ids = {self.units[name]}
        while True:
            children = {self.units[u.name] for u in UNITS if u.parent and self.units[u.parent] in unit_ids}
            if children <= unit_ids:
                break
            unit_ids |= children
        return sorted(account for account, parent in self.parents.items() if parent in unit_ids)


def build(endpoint: str) -> Built:
    """The organization of `UNITS` and `AT_ROOT`, with the sandbox's account (the admin keys') as its management
    account and all features enabled (service-managed StackSets need them: CloudFormation User Guide, "Activate
    trusted access with AWS Organizations")."""
    client = sandbox_client("organizations", endpoint)  # no typed stubs for Organizations are installed
    try:
        organization = client.describe_organization()["Organization"]
    except client.exceptions.AWSOrganizationsNotInUseException:
        organization = client.create_organization(FeatureSet="ALL")["Organization"]
    root = client.list_roots()["Roots"][0]["Id"]
    units = _units(client, root)
    accounts = {a["Name"]: a["Id"] for a in pages(client.list_accounts, "Accounts")}
    wanted = [(name, unit.name) for unit in UNITS for name in unit.accounts] + [(name, None) for name in AT_ROOT]
    for name, unit_name in wanted:
        if name not in accounts:
            made = client.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
            accounts[name] = made["AccountId"]
            if unit_name is not None:
                client.move_account(AccountId=accounts[name], SourceParentId=root, DestinationParentId=units[unit_name])
    management = organization["MasterAccountId"]
    members = {name: account for name, account in accounts.items() if account != management}
    parents = {account: client.list_parents(ChildId=account)["Parents"][0]["Id"] for account in members.values()}
    return Built(organization["Id"], management, root, units, members, parents)


def _units(client: Any, root: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for unit in UNITS:  # parents before their children
        parent = found[unit.parent] if unit.parent else root
        existing = {
            u["Name"]: u["Id"]
            for u in pages(client.list_organizational_units_for_parent, "OrganizationalUnits", ParentId=parent)
        }
        found[unit.name] = (
            existing.get(unit.name)
            or client.create_organizational_unit(ParentId=parent, Name=unit.name)["OrganizationalUnit"]["Id"]
        )
    return found


def render(example: str, built: Built) -> str:
    """The example policy with moto's ids where its placeholders stand."""
    placeholders = built.placeholders()
    unknown = sorted(set(PLACEHOLDER_ID.findall(example)) - set(placeholders))
    missing = sorted(p for p in placeholders if p not in example)
    if unknown or missing:
        raise ValueError(
            f"{EXAMPLE.name} and sandbox.organization's layout disagree: ids the layout does not know {unknown}, "
            f"placeholders the example lost {missing}"
        )
    return PLACEHOLDER_ID.sub(lambda found: placeholders[found.group(0)], example)


def write_policy(built: Built, folder: Path) -> Path:
    """The organization policy the sandbox deploys, written into `folder`."""
    path = folder / POLICY_FILE
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(render(EXAMPLE.read_text(encoding="utf-8"), built), encoding="utf-8")
    return path


def describe(built: Built) -> list[str]:
    lines = [f"organization {built.id}: management account {built.management}, root {built.root}"]
    for unit in UNITS:
        lines.append(f"  unit {unit.name} ({built.units[unit.name]}): {len(unit.accounts)} account(s)")
    lines.append(f"  {len(built.accounts)} member accounts in all")
    return lines


def admin_client(endpoint: str, service: str, account: str, region: str = REGION) -> Any:
    """An admin client acting in `account`, as moto's server reads the account from an `x-moto-account-id` header:
    what an operator does in a member account (seeding it, looking into it) unenforced, like the admin keys."""
    client = sandbox_session().client(service, endpoint_url=endpoint, region_name=region)  # type: ignore[call-overload]

    def in_account(request: Any, **_: Any) -> None:
        request.headers[ACCOUNT_HEADER] = account

    client.meta.events.register("before-sign.*.*", in_account)
    return client


def control(endpoint: str, route: str, body: Mapping[str, Any], *, account: str, region: str) -> Any:
    """POST to a `/_sandbox/` route of the server as `account` in `region` (the routes read the region from the
    credential scope, as moto does); a route that runs functions may take its time."""
    scope = f"AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/sandbox/aws4_request"
    request = urllib.request.Request(  # noqa: S310 - the local sandbox
        endpoint + route,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", ACCOUNT_HEADER: account, "Authorization": scope},
    )
    with urllib.request.urlopen(request, timeout=600) as answer:  # noqa: S310
        return json.load(answer)


def has_role(endpoint: str, account: str, name: str) -> bool:
    iam = admin_client(endpoint, "iam", account)
    try:
        iam.get_role(RoleName=name)
    except iam.exceptions.NoSuchEntityException:
        return False
    return True


def remove_role(endpoint: str, account: str, name: str) -> str:
    """Delete the role `name` in `account` (its inline policies first, as IAM requires): its ARN."""
    iam = admin_client(endpoint, "iam", account)
    arn = str(iam.get_role(RoleName=name)["Role"]["Arn"])
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
    iam.delete_role(RoleName=name)
    return arn


def deploy_by_id(endpoint: str, policy: Policy, stack_set: str) -> list[str]:
    """The member stack in each account the policy lists by id, in each organization region: the StackSet's own
    template and parameters, deployed by hand (`cdk deploy <prefix>-member --parameters ...` does the same), since
    a service-managed StackSet deploys to units only."""
    organization = policy.organization
    if organization is None:
        return []
    deployed = sandbox_client("cloudformation", endpoint).describe_stack_set(StackSetName=stack_set)["StackSet"]
    listed = [member for member in organization.accounts if member.isdigit()]
    for account in listed:
        for region in organization.regions:
            admin_client(endpoint, "cloudformation", account, region).create_stack(
                StackName=stack_set,
                TemplateBody=deployed["TemplateBody"],
                Parameters=deployed["Parameters"],
                Capabilities=["CAPABILITY_NAMED_IAM"],
            )
    return [f"member stack {stack_set} deployed by hand in {len(listed)} account(s) listed by id"]
