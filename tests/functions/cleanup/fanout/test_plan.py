"""The plan step in a moto organization: members resolved through Organizations (ACTIVE accounts under units and
roots, at any depth, less the excluded; ids as listed), one item per account x region x kind with its pacing share,
written to S3 for the Map; what Organizations refuses is said with where the hub must run."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.cleanup.config import CleanupConfig
from functions.cleanup.fanout.messages import PlanStep
from functions.cleanup.fanout.plan import Unplannable, members, plan, share
from functions.cleanup.policy import Cleanup
from functions.shared import clients
from functions.shared.organization import Organization
from tests.support.aws import REGION, fake_aws

from .test_properties import NOW

BUCKET = "deckhand-cleanup-111111111111-us-east-1"
OPEN = {"min_age_days": 0, "max_share": 1.0}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from fake_aws(monkeypatch)


def account(organizations: object, name: str, parent: str | None = None) -> str:
    client = boto3.client("organizations", region_name=REGION)
    created = client.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
    account_id = created["AccountId"]
    if parent is not None:
        root = client.list_roots()["Roots"][0]["Id"]
        client.move_account(AccountId=account_id, SourceParentId=root, DestinationParentId=parent)
    return str(account_id)


@pytest.fixture
def tree(aws: None) -> dict[str, str]:
    """root: loose; ou workloads: dev; ou workloads/prod (nested): prod, excluded."""
    client = boto3.client("organizations", region_name=REGION)
    organization = client.create_organization(FeatureSet="ALL")["Organization"]
    root = client.list_roots()["Roots"][0]["Id"]
    workloads = client.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    prod_unit = client.create_organizational_unit(ParentId=workloads, Name="prod")["OrganizationalUnit"]["Id"]
    return {
        "org": organization["Id"],
        "root": root,
        "workloads": workloads,
        "loose": account(client, "loose"),
        "dev": account(client, "dev", workloads),
        "prod": account(client, "prod", prod_unit),
        "excluded": account(client, "excluded", prod_unit),
    }


def config(accounts: list[str], exclude: list[str] | None = None, org: str = "o-a1b2c3d4e5") -> CleanupConfig:
    cleanup = Cleanup.model_validate(
        {
            "enabled": True,
            "pacing": {"per_second": 6.0, "burst": 50},
            "kinds": {"ebs-snapshot": OPEN, "ebs-volume": OPEN},
        }
    )
    organization = Organization.model_validate(
        {"id": org, "accounts": accounts, "exclude": exclude or [], "regions": ["eu-west-1", "us-east-1"]}
    )
    return CleanupConfig(cleanup, BUCKET, tuple(organization.regions), organization, None)


def test_members_are_the_active_accounts_under_the_units_at_any_depth_less_the_excluded_and_the_listed_ids(
    tree: dict[str, str],
) -> None:
    cfg = config([tree["workloads"], "123456789012"], exclude=[tree["excluded"]])
    assert cfg.organization is not None

    assert members(cfg.organization) == [tree["dev"], tree["prod"], "123456789012"]


def test_the_root_stands_for_every_account_of_the_organization(tree: dict[str, str]) -> None:
    cfg = config([tree["root"]])
    assert cfg.organization is not None

    found = members(cfg.organization)

    assert {tree["loose"], tree["dev"], tree["prod"], tree["excluded"]} <= set(found)
    assert len(found) == len(set(found))


@pytest.mark.parametrize(
    ("account", "active"),
    [({"State": "ACTIVE"}, True), ({"State": "SUSPENDED", "Status": "ACTIVE"}, False), ({"Status": "ACTIVE"}, True),
     ({"State": "PENDING_CLOSURE"}, False), ({"Status": "SUSPENDED"}, False)],
)  # fmt: skip
def test_only_active_accounts_count_by_state_before_the_retired_status(account: dict[str, str], active: bool) -> None:
    from functions.cleanup.fanout.plan import _active

    assert _active(dict(account)) is active


def test_the_plan_writes_one_item_per_account_region_and_kind_each_with_its_share_of_the_rate(
    tree: dict[str, str],
) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    cfg = config([tree["workloads"]], exclude=[tree["excluded"]])
    step = PlanStep(step="plan", command={"action": "run", "kinds": ["ebs-snapshot", "ebs-volume"]}, execution="r-1")

    planned = plan(step, cfg, now=NOW, default_dry_run=True)

    assert (planned.run_id, planned.action, planned.dry_run, planned.scopes) == ("r-1", "run", True, 8)
    assert planned.items_key == "runs/organization/r-1/items.json"
    assert planned.results_prefix == "runs/organization/r-1/results"
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=planned.items_key)["Body"].read()
    written = json.loads(body)
    assert {(item["account"], item["region"], item["kind"]) for item in written} == {
        (account, region, kind)
        for account in (tree["dev"], tree["prod"])
        for region in ("eu-west-1", "us-east-1")
        for kind in ("ebs-snapshot", "ebs-volume")
    }
    # Two kinds share each account-region: each paces at half the rate and half the burst.
    assert {json.dumps(item["pace"]) for item in written} == {json.dumps({"per_second": 3.0, "burst": 25})}
    assert all(item["run_id"] == "r-1" and item["dry_run"] is True for item in written)


def test_a_share_never_adds_up_to_more_than_the_rate_and_keeps_one_call() -> None:
    assert share(5.0, 50, 3).model_dump() == {"per_second": 5.0 / 3, "burst": 16}
    assert share(5.0, 2, 3).burst == 1


def test_organizations_refusing_the_listing_says_the_hub_must_be_the_management_or_a_delegated_administrator(
    tree: dict[str, str],
) -> None:
    def refuse(**_: object) -> None:  # what Organizations answers a member account that is no delegated administrator
        error = {"Code": "AccessDeniedException", "Message": "You don't have permissions to access this resource."}
        raise ClientError({"Error": error}, "ListAccountsForParent")

    clients._session().events.register("before-call.organizations.ListAccountsForParent", refuse)
    step = PlanStep(step="plan", command={"action": "plan"}, execution="r-2")

    with pytest.raises(Unplannable, match="management account or a delegated administrator"):
        plan(step, config([tree["workloads"]]), now=NOW, default_dry_run=True)


@pytest.mark.parametrize(
    ("command", "problem"),
    [({"action": "resume"}, "direct path"), ({"action": "run"}, "'run' needs 'kinds'"),
     ({"action": "plan", "regions": ["ap-south-1"]}, "not one of the cleanup regions")],
)  # fmt: skip
def test_a_command_the_fan_out_cannot_plan_fails_the_execution_with_the_problem(
    aws: None, command: dict[str, object], problem: str
) -> None:
    step = PlanStep(step="plan", command=command, execution="r-3")

    with pytest.raises(Unplannable, match=problem):
        plan(step, config(["123456789012"]), now=NOW, default_dry_run=True)
