"""What the kinds share: tag conversions, TTL instants, batching, EC2 tagging, rule checks, the deleter role, and
the IAM statements of an EC2 kind that marks a resource with a tag and removes it whole."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from botocore.exceptions import ClientError
from pydantic import Field

from functions.cleanup.declared import DELETER_ROLE_VARIABLE
from functions.cleanup.kinds.base import Arn, Guard, KindRule, Listing, Statement
from functions.shared.clients import client

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import ImageTypeDef

T = TypeVar("T")
Days = Annotated[int, Field(ge=0, le=3650)]


def tag_map(tags: Iterable[Mapping[str, object]] | None) -> dict[str, str]:
    """EC2/CloudFormation style [{"Key", "Value"}] (each TagTypeDef of the stubs) as a plain mapping."""
    return {str(tag.get("Key", "")): str(tag.get("Value", "")) for tag in tags or ()}


def utc(instant: datetime) -> datetime:
    """A service timestamp in UTC (botocore gives aware datetimes; a naive one is taken as UTC)."""
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def ttl_instant(value: str | None) -> datetime | None:
    """The instant a TTL tag names (ISO 8601, e.g. 2026-03-01T18:00:00Z); None when absent or unreadable."""
    if not value:
        return None
    try:
        return utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        return None


def listed(region: str, listing: Listing, parent: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """Every item the listing declares (of the parent item, for a per-parent listing), page after page; the caller
    names the item's type (a TypeDef of the stubs)."""
    if (parent is None) != (listing.parent is None):
        raise ValueError(f"{listing.operation}: a per-parent listing takes one item of its parent, and only it does")
    given = {name: (parent or {})[key] for name, key in listing.per_parent.items()}
    any_client: Any = client  # the service is data here, so the stubs cannot check the call: the kinds' tests do
    service = any_client(listing.service, region)
    if not listing.paginated:
        yield from getattr(service, listing.operation)(**listing.parameters, **given).get(listing.items, [])
        return
    paging = {"PaginationConfig": {"PageSize": listing.page_size}} if listing.page_size else {}
    pages = service.get_paginator(listing.operation).paginate(**listing.parameters, **given, **paging)
    yield from (item for item in pages.search(listing.items) if item is not None)  # None: a page without the key


def per_parent(region: str, listing: Listing) -> Iterator[tuple[Any, Iterator[Any]]]:
    """Each item of the listing's parent, with the listing of its children: lazy, so a parent the caller skips costs
    no call."""
    if listing.parent is None:
        raise ValueError(f"{listing.operation} is not listed per parent")
    for parent in listed(region, listing.parent):
        yield parent, listed(region, listing, parent)


# Every AMI the account owns, disabled and deprecated ones too: each may still hold snapshots.
OWN_IMAGES = Listing(
    "ec2",
    "describe_images",
    "Images",
    {"Owners": ["self"], "IncludeDisabled": True, "IncludeDeprecated": True},
    page_size=1000,
)


def own_images(region: str) -> Iterator[ImageTypeDef]:
    yield from listed(region, OWN_IMAGES)


# Every version of every Lambda function, $LATEST included, listed function by function.
FUNCTION_VERSIONS = Listing(
    "lambda",
    "list_versions_by_function",
    "Versions",
    page_size=50,
    parent=Listing("lambda", "list_functions", "Functions", page_size=50),
    per_parent={"FunctionName": "FunctionName"},
)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


R = TypeVar("R", bound=KindRule)


def own_rule(rule: KindRule, expected: type[R]) -> R:
    """The kind's own rule class; the engine passes the one KindRules holds for the kind."""
    if not isinstance(rule, expected):
        raise TypeError(f"expected a {expected.__module__}.{expected.__qualname__}, got {type(rule).__name__}")
    return rule


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def already_gone(error: ClientError, *codes: str) -> bool:
    """The resource no longer exists: acting again is a no-op, so a run twice is safe."""
    return error_code(error) in codes


def deleter_role() -> str | None:
    """The role a kind's `act` calls AWS with: `client(service, region, deleter_role())`."""
    return os.environ.get(DELETER_ROLE_VARIABLE) or None


EC2_TAG_BATCH = 1000  # CreateTags takes up to 1000 resource ids


def tag_ec2(region: str, ids: Sequence[str], tag: str, value: str) -> None:
    """Tag EC2 resources (snapshots, volumes, AMIs, addresses, instances), 1000 ids a call."""
    ec2 = client("ec2", region)
    for batch in chunks(ids, EC2_TAG_BATCH):
        ec2.create_tags(Resources=list(batch), Tags=[{"Key": tag, "Value": value}])


# A snapshot carrying this tag (an ISO instant) is kept until then: the final snapshot of a deleted volume.
KEEP_UNTIL_TAG = "deckhand:keep-until"


def age_days(created: datetime, now: datetime) -> int:
    return max(0, (now - created).days)


DESTROY = "destructive, so only on resources that carry the mark tag and not the protect tag"
MARK = "writes the mark tag, and only that tag, on the kinds' own resource types, never on a protected one"


def ec2_type(resource_type: str, *, account: bool = True) -> Arn:
    """Every EC2 resource of the type; snapshots and AMIs have no account in their ARN."""
    return Arn("ec2", f"{resource_type}/*", account=account)


def marked_removal(action: str, *resources: Arn) -> tuple[Statement, Statement]:
    """The deleter removes only marked, unprotected resources; the function's role marks them (CreateTags)."""
    return (
        Statement((action,), resources, DESTROY, Guard.MARKED, deleter=True),
        Statement(("ec2:CreateTags",), resources, MARK, Guard.ONLY_THE_MARK),
    )
