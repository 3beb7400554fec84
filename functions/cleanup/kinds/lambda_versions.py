"""Lambda function versions beyond the last K, never $LATEST nor one an alias or an event source uses.

An alias holds its version and, with weighted routing, its additional version; an event source mapping
bound to a version's ARN holds that version. Versions carry no tags of their own: a version's protect
tag is its function's (ListTags, one call a function), and marks live in the engine's state table
(taggable False). Lambda does not bill the storage of a version's code, so the saving is 0: the point
is the 75 GB code storage quota (https://aws.amazon.com/lambda/pricing/).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
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
    Permissions,
    Resource,
    Scope,
    Statement,
    register,
)
from functions.cleanup.kinds.common import FUNCTION_VERSIONS, already_gone, deleter_role, own_rule, per_parent, utc
from functions.shared.clients import client

if TYPE_CHECKING:
    from mypy_boto3_lambda.type_defs import FunctionConfigurationTypeDef

LATEST = "$LATEST"


class Rule(KindRule):
    keep_last: Annotated[int, Field(ge=0, le=10_000)] = 3  # the newest K published versions of each function stay


def _resource(
    region: str, function: FunctionConfigurationTypeDef, tags: Mapping[str, str], version: FunctionConfigurationTypeDef
) -> Resource:
    ident = f"{function['FunctionName']}:{version['Version']}"
    return Resource(
        kind="lambda-version",
        id=ident,
        region=region,
        created=utc(datetime.fromisoformat(str(version["LastModified"]))),
        tags=tags,
        name=ident,
        details={
            "function": function["FunctionName"],
            "version": version["Version"],
            "arn": version.get("FunctionArn", ""),
            "description": version.get("Description", ""),
        },
    )


class Versions:
    name: KindName = "lambda-version"
    rule: type[KindRule] = Rule
    taggable = False
    permissions = Permissions.of(
        reads=[
            "lambda:ListFunctions",
            "lambda:ListTags",
            "lambda:ListVersionsByFunction",
            "lambda:ListAliases",
            "lambda:ListEventSourceMappings",
        ],
        writes=["lambda:DeleteFunction"],
    )

    def statements(self, rule: KindRule) -> Sequence[Statement]:
        return (
            Statement(
                ("lambda:ListVersionsByFunction", "lambda:ListAliases", "lambda:ListTags"),
                (Arn("lambda", "function:*"),),
                "the versions of every function, the aliases that keep some of them, and the function's tags",
            ),
            Statement(
                ("lambda:DeleteFunction",),
                (Arn("lambda", "function:*:*"),),
                "deletes published versions only: the ARN must carry a version qualifier, so no function as a "
                "whole, and never one of a function tagged protect (versions cannot be tagged; their marks are in "
                "the audit table; DeleteFunction takes aws:ResourceTag: Service Authorization Reference, AWS Lambda)",
                Guard.UNPROTECTED,
                deleter=True,
            ),
        )

    listing = FUNCTION_VERSIONS

    def find(self, scope: Scope, rule: KindRule) -> Iterator[Resource]:
        awslambda = client("lambda", scope.region)
        function: FunctionConfigurationTypeDef
        versions: Iterator[FunctionConfigurationTypeDef]
        for function, versions in per_parent(scope.region, self.listing):
            tags = awslambda.list_tags(Resource=function["FunctionArn"]).get("Tags", {})
            for version in versions:
                yield _resource(scope.region, function, tags, version)

    def in_use(self, scope: Scope, rule: KindRule, found: Sequence[Resource]) -> dict[str, str]:
        wanted = {version.id for version in found}
        used: dict[str, str] = {}
        functions = sorted({str(version.details["function"]) for version in found})
        for held, user in [*_aliased(scope.region, functions), *_mapped(scope.region)]:
            if held in wanted:
                used.setdefault(held, user)
        return used

    def judge(self, found: Sequence[Resource], rule: KindRule, now: datetime) -> dict[str, Judgement]:
        keep_last = own_rule(rule, Rule).keep_last
        by_function: dict[str, list[Resource]] = defaultdict(list)
        for version in found:
            by_function[str(version.details["function"])].append(version)
        judged: dict[str, Judgement] = {}
        for versions in by_function.values():
            published = sorted((v for v in versions if v.details["version"] != LATEST), key=_number, reverse=True)
            for rank, version in enumerate(published):
                judged[version.id] = judge_one(version, rank, keep_last)
            for version in versions:
                judged.setdefault(version.id, Excluded(f"{LATEST} is the function's current code"))
        return judged

    def act(self, scope: Scope, resource: Resource, candidate: Candidate, rule: KindRule) -> None:
        version = str(resource.details["version"])
        if version == LATEST:  # deleting without a version would delete the function itself
            raise ValueError(f"refusing to delete {resource.id}: {LATEST} is never cleaned")
        try:
            client("lambda", scope.region, deleter_role()).delete_function(
                FunctionName=resource.details["function"], Qualifier=version
            )
        except ClientError as error:
            if not already_gone(error, "ResourceNotFoundException"):
                raise

    def mark(self, scope: Scope, resources: Sequence[Resource], tag: str, value: str) -> None:
        raise NotImplementedError("Lambda versions carry no tags: the engine keeps lambda-version marks")


def judge_one(version: Resource, rank: int, keep_last: int) -> Judgement:
    if rank < keep_last:
        return Excluded(f"one of the last {keep_last} versions of {version.details['function']}")
    why = f"version {version.details['version']}, beyond the last {keep_last}"
    return Candidate("delete", 0.0, why)


def _number(version: Resource) -> int:
    return int(str(version.details["version"]))


def _aliased(region: str, functions: Sequence[str]) -> Iterator[tuple[str, str]]:
    """('function:version', 'alias NAME') for each version an alias routes to."""
    for function in functions:
        for page in (
            client("lambda", region)
            .get_paginator("list_aliases")
            .paginate(FunctionName=function, PaginationConfig={"PageSize": 50})
        ):
            for alias in page.get("Aliases", []):
                weighted = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
                for version in (alias["FunctionVersion"], *weighted):
                    yield f"{function}:{version}", f"alias {alias['Name']}"


def _mapped(region: str) -> Iterator[tuple[str, str]]:
    """('function:version', 'event source mapping UUID') for mappings bound to a version's ARN."""
    for page in (
        client("lambda", region)
        .get_paginator("list_event_source_mappings")
        .paginate(PaginationConfig={"PageSize": 100})
    ):
        for mapping in page.get("EventSourceMappings", []):
            # arn:aws:lambda:region:account:function:NAME[:QUALIFIER]
            parts = str(mapping.get("FunctionArn", "")).split(":")
            if len(parts) == 8 and parts[7].isdigit():
                yield f"{parts[6]}:{parts[7]}", f"event source mapping {mapping['UUID']}"


KIND = register(Versions())
