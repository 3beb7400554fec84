"""CloudWatch log groups: set the retention where there is none; remove empty groups of deleted functions.

A group is a deleted function's when it is named /aws/lambda/<name>, no function of the region has that
name and no function logs to it (LoggingConfig); Lambda@Edge replicas (/aws/lambda/<region>.<name>) are
never taken for one. Emptiness is stored bytes 0 and no log stream. DescribeLogGroups gives no tags,
so each group's are read with ListTagsForResource (the protect tag must be seen); marks are tags
(TagResource, one group a call). The saving of a retention is an estimate: the share of the stored
bytes older than the retention, were the group written evenly since it was created.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

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
from functions.cleanup.kinds.common import age_days, already_gone, deleter_role, listed, own_rule
from functions.cleanup.prices import GIB, monthly
from functions.shared.clients import client
from functions.shared.policy_base import LogRetentionDays

if TYPE_CHECKING:
    from mypy_boto3_logs.type_defs import LogGroupTypeDef

FUNCTION_PREFIX = "/aws/lambda/"
GROUPS = Arn("logs", "log-group:*")
_EDGE_REPLICA = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d\.")


class Rule(KindRule):
    retention_days: LogRetentionDays = 30  # what a group without retention gets
    remove_empty_of_deleted_functions: bool = True


def function_of(group: str) -> str | None:
    """The function a /aws/lambda/<name> group belongs to; None for other groups and Lambda@Edge replicas."""
    name = group.removeprefix(FUNCTION_PREFIX)
    if name == group or not name or _EDGE_REPLICA.match(name):
        return None
    return name


class LogGroups:
    name: KindName = "log-group"
    rule: type[KindRule] = Rule
    taggable = True
    permissions = Permissions.of(
        reads=[
            "logs:DescribeLogGroups",
            "logs:ListTagsForResource",
            "logs:DescribeLogStreams",
            "lambda:ListFunctions",
        ],
        writes=["logs:TagResource", "logs:PutRetentionPolicy", "logs:DeleteLogGroup"],
    )

    def statements(self, rule: KindRule) -> Sequence[Statement]:
        # logs:DescribeLogGroups has no resource type (Service Authorization Reference, Amazon CloudWatch Logs): it
        # is authorized on *, so it stays with the reads there.
        return (
            Statement(
                ("logs:ListTagsForResource", "logs:DescribeLogStreams"),
                (GROUPS,),
                "the tags of the log groups of the policy's regions, and whether one is empty",
            ),
            Statement(
                ("logs:PutRetentionPolicy", "logs:DeleteLogGroup"),
                (GROUPS,),
                "sets a retention or removes an empty group of a deleted function, only on marked, unprotected groups",
                Guard.MARKED,
                deleter=True,
            ),
            Statement(
                ("logs:TagResource",),
                (GROUPS,),
                "writes the mark tag, and only that tag, on log groups",
                Guard.ONLY_THE_MARK,
            ),
        )

    listing = Listing("logs", "describe_log_groups", "logGroups", page_size=50)

    def find(self, scope: Scope, rule: KindRule) -> list[Resource]:
        groups: list[LogGroupTypeDef] = list(listed(scope.region, self.listing))
        functions, logged_to = _functions(scope.region) if any(_orphan_candidate(g) for g in groups) else (set(), set())
        logs = client("logs", scope.region)
        found = []
        for group in groups:
            name, function = group["logGroupName"], function_of(group["logGroupName"])
            deleted = function is not None and function not in functions and name not in logged_to
            found.append(
                Resource(
                    kind="log-group",
                    id=name,
                    region=scope.region,
                    created=datetime.fromtimestamp(group["creationTime"] / 1000, tz=UTC),
                    tags=logs.list_tags_for_resource(resourceArn=_arn(group)).get("tags", {}),
                    name=name,
                    details={
                        "arn": _arn(group),
                        "retention_days": group.get("retentionInDays"),
                        "gib": int(group.get("storedBytes", 0)) / GIB,
                        "function": function,
                        "function_deleted": deleted,
                        "empty": deleted and _empty(scope.region, group),
                    },
                )
            )
        return found

    def in_use(self, scope: Scope, rule: KindRule, found: Sequence[Resource]) -> dict[str, str]:
        return {}  # a log group is never in use in the sense that would keep its retention unset

    def judge(self, found: Sequence[Resource], rule: KindRule, now: datetime) -> dict[str, Judgement]:
        own = own_rule(rule, Rule)
        return {group.id: judge_one(group, own, now) for group in found}

    def act(self, scope: Scope, resource: Resource, candidate: Candidate, rule: KindRule) -> None:
        logs = client("logs", scope.region, deleter_role())
        try:
            if candidate.action == "delete":
                logs.delete_log_group(logGroupName=resource.id)
            else:
                logs.put_retention_policy(logGroupName=resource.id, retentionInDays=own_rule(rule, Rule).retention_days)
        except ClientError as error:
            if not already_gone(error, "ResourceNotFoundException"):
                raise

    def mark(self, scope: Scope, resources: Sequence[Resource], tag: str, value: str) -> None:
        logs = client("logs", scope.region)
        for group in resources:  # TagResource takes one resource a call
            logs.tag_resource(resourceArn=group.details["arn"], tags={tag: value})


def judge_one(group: Resource, rule: Rule, now: datetime) -> Judgement:
    if group.details.get("function_deleted") and group.details.get("empty") and rule.remove_empty_of_deleted_functions:
        return Candidate("delete", 0.0, f"empty log group of deleted function {group.details['function']}")
    retention = group.details.get("retention_days")
    if retention is not None:
        return Excluded(f"retention already {retention} days")
    age = age_days(group.created, now)
    older = max(0.0, 1 - rule.retention_days / age) if age else 0.0
    saving = monthly("logs-gb", group.region, float(group.details.get("gib", 0)) * older)
    return Candidate("set-retention", saving, f"kept forever, {age} days old; keep {rule.retention_days} days")


def _arn(group: LogGroupTypeDef) -> str:
    return str(group.get("logGroupArn") or str(group["arn"]).removesuffix(":*"))


def _orphan_candidate(group: LogGroupTypeDef) -> bool:
    return function_of(group["logGroupName"]) is not None


def _functions(region: str) -> tuple[set[str], set[str]]:
    """The region's function names, and the log groups functions log to (LoggingConfig)."""
    names: set[str] = set()
    groups: set[str] = set()
    for page in client("lambda", region).get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 50}):
        for function in page.get("Functions", []):
            names.add(function["FunctionName"])
            groups.add(function.get("LoggingConfig", {}).get("LogGroup", ""))
    return names, groups


def _empty(region: str, group: LogGroupTypeDef) -> bool:
    if int(group.get("storedBytes", 0)):
        return False
    streams = client("logs", region).describe_log_streams(logGroupName=group["logGroupName"], limit=1)
    return not streams.get("logStreams")


KIND = register(LogGroups())
