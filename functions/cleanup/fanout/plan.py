"""The plan step: the run's scopes (member account x region x kind) as the Map's items, in S3.

Members are resolved through AWS Organizations at run time: an account id is taken as listed, an organizational unit
or the root stands for every ACTIVE account under it, at any depth; the excluded accounts go. Organizations answers
these calls only in the management account or a delegated administrator's (the botocore `organizations` service
model, ListAccountsForParent: "You can only call this operation from the management account or a member account
that is a delegated administrator").
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime

from botocore.exceptions import ClientError

from functions.shared.clients import client
from functions.shared.organization import Organization
from functions.shared.refusal import Refused

from ..command import parse_command
from ..config import CleanupConfig
from ..declared import FANOUT_RUNS_PREFIX
from ..kinds.base import KindName
from .messages import Action, Item, Plan, PlanStep, Share

NOT_THE_ADMINISTRATOR = (
    "AWS Organizations answers {operation} only in the organization's management account or a delegated "
    "administrator account; deploy the hub there (or register its account as a delegated administrator), or list "
    "the member accounts by id in organization.accounts"
)


class Unplannable(RuntimeError):
    """The run cannot be planned: a command the fan-out refuses, or members Organizations would not list."""


def _active(account: dict[str, object]) -> bool:
    # `State` replaces `Status`, which Organizations retires on 2026-09-09 (service model, Account.Status).
    return account.get("State", account.get("Status")) == "ACTIVE"


def _under(parent: str) -> Iterator[str]:
    """The ACTIVE accounts under an organizational unit or the root, in its child units too."""
    organizations = client("organizations")
    for page in organizations.get_paginator("list_accounts_for_parent").paginate(ParentId=parent):
        yield from (account["Id"] for account in page["Accounts"] if _active(dict(account)))
    for units in organizations.get_paginator("list_organizational_units_for_parent").paginate(ParentId=parent):
        for unit in units["OrganizationalUnits"]:
            yield from _under(unit["Id"])


def members(organization: Organization) -> list[str]:
    """The accounts the run works in, each once, in the order the policy and Organizations list them."""
    accounts: list[str] = []
    for member in organization.accounts:
        try:
            accounts += [member] if member.isdigit() else list(_under(member))
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("AccessDeniedException", "AWSOrganizationsNotInUseException"):
                raise Unplannable(f"{code}: " + NOT_THE_ADMINISTRATOR.format(operation=error.operation_name)) from None
            raise
    excluded = set(organization.exclude)
    return [account for account in dict.fromkeys(accounts) if account not in excluded]


def share(per_second: float, burst: int, items: int) -> Share:
    """One item's pace when its account-region has `items` items (k, one per kind).

    Each item paces its account-region at rate/k and burst/k, so together they never send more than the configured
    rate, across all concurrent workers, with no store shared between them (a DynamoDB token store would be the
    alternative). k counts every item of the account-region, not only those MaxConcurrency lets run at once: an item
    that starts after another must not spend again the burst the other just spent. A burst smaller than k still
    gives each item one call: k calls at once at most.
    """
    return Share(per_second=per_second / items, burst=max(1, burst // items))


def items(
    run_id: str,
    accounts: Sequence[str],
    regions: Sequence[str],
    kinds: Sequence[KindName],
    *,
    action: Action,
    dry_run: bool,
    cfg: CleanupConfig,
) -> list[Item]:
    pace = share(cfg.cleanup.pacing.per_second, cfg.cleanup.pacing.burst, max(1, len(kinds)))
    return [
        Item.model_validate(
            {
                "run_id": run_id,
                "account": account,
                "region": region,
                "kind": kind,
                "action": action,
                "dry_run": dry_run,
                "pace": pace,
            }
        )
        for account in accounts
        for region in regions
        for kind in kinds
    ]


def plan(step: PlanStep, cfg: CleanupConfig, *, now: datetime, default_dry_run: bool) -> Plan:
    """Resolve the members, write the items, answer what the Map and the aggregation need."""
    organization = cfg.organization
    if organization is None:
        raise Unplannable("the fan-out needs the policy's organization section (DECKHAND_ORGANIZATION); redeploy")
    try:
        command = parse_command(step.command, cfg.cleanup, cfg.regions)
    except Refused as refused:
        raise Unplannable("; ".join(refused.problems)) from None
    if command.action == "resume":
        raise Unplannable("'resume' is for the direct path: the fan-out resumes a stopped scope by itself")
    action: Action = "plan" if command.action == "plan" else "run"
    dry_run = default_dry_run if command.dry_run is None else command.dry_run
    accounts = members(organization)
    planned = items(
        step.execution,
        accounts,
        command.regions,
        command.kinds,
        action=action,
        dry_run=dry_run,
        cfg=cfg,
    )
    base = f"{FANOUT_RUNS_PREFIX}{step.execution}"
    items_key = f"{base}/items.json"
    body = json.dumps([item.model_dump() for item in planned]).encode()
    client("s3").put_object(Bucket=cfg.bucket, Key=items_key, Body=body, ContentType="application/json")
    return Plan(
        run_id=step.execution,
        action=action,
        dry_run=dry_run,
        started_at=now.isoformat(),
        accounts=accounts,
        regions=list(command.regions),
        kinds=list(command.kinds),
        scopes=len(planned),
        bucket=cfg.bucket,
        items_key=items_key,
        results_prefix=f"{base}/results",
    )
