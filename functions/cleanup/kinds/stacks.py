"""Ephemeral CloudFormation stacks past the instant their TTL tag names, unless termination-protected.

Only root stacks carrying the TTL tag (and, when name_prefixes is set, a listed prefix) are found:
deleting a root deletes its nested stacks. A stack whose exports another stack imports is in use
(CloudFormation would refuse to delete it). What a stack costs depends on what it holds, which is not
read here, so the saving is counted as 0. Stack tags cannot change without a stack update, so marks
live in the engine's state table (taggable False).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from botocore.exceptions import ClientError
from pydantic import Field

from functions.cleanup.kinds.base import (
    Arn,
    Candidate,
    Excluded,
    Guard,
    Judgement,
    KindName,
    KindRule,
    Listing,
    Permissions,
    Resource,
    Scope,
    Statement,
    register,
)
from functions.cleanup.kinds.common import (
    Days,
    deleter_role,
    error_code,
    listed,
    own_rule,
    tag_map,
    ttl_instant,
    utc,
)
from functions.shared.clients import client

if TYPE_CHECKING:
    from mypy_boto3_cloudformation.type_defs import StackTypeDef
from functions.shared.policy_base import TagKey, matching

StackNamePrefix = Annotated[
    str, matching(r"[A-Za-z][A-Za-z0-9-]{0,127}", "the start of a stack name: a letter, then letters, digits or -")
]
# The statuses DeleteStack accepts: no operation in progress.
DELETABLE = frozenset(
    {
        "CREATE_COMPLETE",
        "CREATE_FAILED",
        "ROLLBACK_COMPLETE",
        "ROLLBACK_FAILED",
        "UPDATE_COMPLETE",
        "UPDATE_FAILED",
        "UPDATE_ROLLBACK_COMPLETE",
        "UPDATE_ROLLBACK_FAILED",
        "DELETE_FAILED",
        "IMPORT_COMPLETE",
        "IMPORT_ROLLBACK_COMPLETE",
        "IMPORT_ROLLBACK_FAILED",
    }
)


class Rule(KindRule):
    min_age_days: Days = 0  # the TTL tag is what says when a stack may go
    ttl_tag: TagKey = "deckhand:ttl"  # value: the expiry instant, ISO 8601 UTC
    name_prefixes: Annotated[list[StackNamePrefix], Field(min_length=1)] | None = None  # None: any stack with a TTL


def _resource(region: str, stack: StackTypeDef) -> Resource:
    return Resource(
        kind="cfn-stack",
        id=stack["StackId"],
        region=region,
        created=utc(stack["CreationTime"]),
        tags=tag_map(stack.get("Tags")),
        name=stack["StackName"],
        details={
            "status": stack.get("StackStatus", ""),
            "termination_protected": bool(stack.get("EnableTerminationProtection")),
            "exports": [o["ExportName"] for o in stack.get("Outputs", []) if o.get("ExportName")],
        },
    )


class Stacks:
    name: KindName = "cfn-stack"
    rule: type[KindRule] = Rule
    taggable = False
    permissions = Permissions.of(
        # DescribeStacks without a stack name is authorized on * and also needs ListStacks (Service Authorization
        # Reference, AWS CloudFormation). Granting both keeps one paginated listing that carries the tags and the
        # termination protection; ListStacks instead would need a DescribeStacks per stack for them.
        reads=["cloudformation:DescribeStacks", "cloudformation:ListStacks", "cloudformation:ListImports"],
        writes=["cloudformation:DeleteStack"],
    )

    def statements(self, rule: KindRule) -> Sequence[Statement]:
        own = own_rule(rule, Rule)
        return (
            Statement(
                ("cloudformation:DeleteStack",),
                tuple(Arn("cloudformation", f"stack/{prefix}*/*") for prefix in own.name_prefixes or [""]),
                f"only stacks that carry the TTL tag {own.ttl_tag} and not the protect tag (stack tags cannot "
                "change without an update: their marks are in the audit table)",
                Guard.UNPROTECTED,
                conditions={"StringLike": {f"aws:ResourceTag/{own.ttl_tag}": "*"}},
                deleter=True,
            ),
        )

    # DescribeStacks has no page size and no filter; it is the one listing that gives tags and protection.
    listing = Listing("cloudformation", "describe_stacks", "Stacks")

    def find(self, scope: Scope, rule: KindRule) -> Iterator[Resource]:
        own = own_rule(rule, Rule)
        prefixes = tuple(own.name_prefixes or ("",))
        stack: StackTypeDef
        for stack in listed(scope.region, self.listing):
            if (
                not stack.get("ParentId")
                and stack["StackName"].startswith(prefixes)
                and any(tag.get("Key") == own.ttl_tag for tag in stack.get("Tags", []))
            ):
                yield _resource(scope.region, stack)

    def in_use(self, scope: Scope, rule: KindRule, found: Sequence[Resource]) -> dict[str, str]:
        used: dict[str, str] = {}
        for stack in found:
            for export in stack.details.get("exports", []):
                importers = _importers(scope.region, export)
                if importers:
                    used[stack.id] = f"export {export} imported by {', '.join(importers)}"
                    break
        return used

    def judge(self, found: Sequence[Resource], rule: KindRule, now: datetime) -> dict[str, Judgement]:
        ttl_tag = own_rule(rule, Rule).ttl_tag
        return {stack.id: judge_one(stack, ttl_tag, now) for stack in found}

    def act(self, scope: Scope, resource: Resource, candidate: Candidate, rule: KindRule) -> None:
        # Deleting a stack already gone (or being deleted) is accepted by CloudFormation: safe to run twice.
        client("cloudformation", scope.region, deleter_role()).delete_stack(StackName=resource.id)

    def mark(self, scope: Scope, resources: Sequence[Resource], tag: str, value: str) -> None:
        raise NotImplementedError("stack tags change only with a stack update: the engine keeps cfn-stack marks")


def judge_one(stack: Resource, ttl_tag: str, now: datetime) -> Judgement:
    if stack.details.get("termination_protected"):
        return Excluded("termination-protected")
    status = str(stack.details.get("status", ""))
    if status not in DELETABLE:
        return Excluded(f"status {status}")
    ttl = ttl_instant(stack.tags.get(ttl_tag))
    if ttl is None:
        return Excluded(f"{ttl_tag} is not an ISO instant: {stack.tags.get(ttl_tag)!r}")
    if ttl > now:
        return Excluded(f"TTL not past: {ttl:%Y-%m-%dT%H:%MZ}")
    return Candidate("delete", 0.0, f"TTL {ttl:%Y-%m-%dT%H:%MZ} passed")


def _importers(region: str, export: str) -> list[str]:
    try:
        return [
            name
            for page in client("cloudformation", region).get_paginator("list_imports").paginate(ExportName=export)
            for name in page.get("Imports", [])
        ]
    except ClientError as error:
        if error_code(error) == "ValidationError":  # "is not imported by any stack"
            return []
        raise


KIND = register(Stacks())
