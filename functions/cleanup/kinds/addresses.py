"""Elastic IP addresses associated with nothing: each costs a public IPv4 address-month.

DescribeAddresses gives no allocation time, so `created` is the epoch and min_age_days never holds an
address back (its default is 0 to say so): the mark and its grace period are what give an owner time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from functions.cleanup.kinds.base import (
    Candidate,
    Excluded,
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
    already_gone,
    deleter_role,
    ec2_type,
    listed,
    marked_removal,
    tag_ec2,
    tag_map,
)
from functions.cleanup.prices import monthly
from functions.shared.clients import client

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import AddressTypeDef

UNKNOWN_ALLOCATION_TIME = datetime(1970, 1, 1, tzinfo=UTC)


class Rule(KindRule):
    min_age_days: Days = 0


def _resource(region: str, address: AddressTypeDef) -> Resource:
    tags = tag_map(address.get("Tags"))
    users = [address.get(key) for key in ("AssociationId", "InstanceId", "NetworkInterfaceId")]
    return Resource(
        kind="elastic-ip",
        id=address["AllocationId"],
        region=region,
        created=UNKNOWN_ALLOCATION_TIME,
        tags=tags,
        name=tags.get("Name") or address.get("PublicIp", ""),
        details={
            "public_ip": address.get("PublicIp", ""),
            "associated_with": [str(user) for user in users if user],
            "pool": address.get("PublicIpv4Pool", "amazon"),
        },
    )


class Addresses:
    name: KindName = "elastic-ip"
    rule: type[KindRule] = Rule
    taggable = True
    permissions = Permissions.of(
        reads=["ec2:DescribeAddresses"],
        writes=["ec2:CreateTags", "ec2:ReleaseAddress"],
    )

    def statements(self, rule: KindRule) -> Sequence[Statement]:
        return marked_removal("ec2:ReleaseAddress", ec2_type("elastic-ip"))

    # DescribeAddresses is not paginated: it answers every address of the region at once (botocore's EC2 model gives
    # it no paginator, and its request no NextToken nor MaxResults).
    listing = Listing("ec2", "describe_addresses", "Addresses", paginated=False)

    def find(self, scope: Scope, rule: KindRule) -> list[Resource]:
        addresses: list[AddressTypeDef] = list(listed(scope.region, self.listing))
        return [_resource(scope.region, address) for address in addresses if address.get("AllocationId")]

    def in_use(self, scope: Scope, rule: KindRule, found: Sequence[Resource]) -> dict[str, str]:
        return {}  # an association is the only use, and the listing says it (judge)

    def judge(self, found: Sequence[Resource], rule: KindRule, now: datetime) -> dict[str, Judgement]:
        return {address.id: judge_one(address) for address in found}

    def act(self, scope: Scope, resource: Resource, candidate: Candidate, rule: KindRule) -> None:
        try:
            client("ec2", scope.region, deleter_role()).release_address(AllocationId=resource.id)
        except ClientError as error:
            if not already_gone(error, "InvalidAllocationID.NotFound"):
                raise

    def mark(self, scope: Scope, resources: Sequence[Resource], tag: str, value: str) -> None:
        tag_ec2(scope.region, [resource.id for resource in resources], tag, value)


def judge_one(address: Resource) -> Judgement:
    associated = address.details.get("associated_with") or []
    if associated:
        return Excluded(f"associated with {', '.join(associated)}")
    # Addresses from a BYOIP pool are not charged as Amazon's public IPv4 addresses are.
    amazon = address.details.get("pool", "amazon") in {"amazon", "", None}
    saving = monthly("public-ipv4-month", address.region, 1) if amazon else 0.0
    return Candidate("release", saving, f"{address.details.get('public_ip', '')} is associated with nothing")


KIND = register(Addresses())
