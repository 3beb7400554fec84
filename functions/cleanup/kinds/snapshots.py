"""EBS snapshots: never one behind an AMI (whatever the AMI's state) nor one AWS Backup or DLM manages.

The listing is the benchmark's lower bound: DescribeSnapshots pages of 1000 (OwnerIds self, completed
only), one DescribeImages listing for what AMIs hold, one DeleteSnapshot per snapshot acted on, and marks
in CreateTags batches of 1000.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
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
    KEEP_UNTIL_TAG,
    age_days,
    already_gone,
    deleter_role,
    ec2_type,
    listed,
    marked_removal,
    own_images,
    tag_ec2,
    tag_map,
    ttl_instant,
    utc,
)
from functions.cleanup.prices import GIB, Item, monthly
from functions.shared.clients import client

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import SnapshotTypeDef

BACKUP_TAG_PREFIX = "aws:backup:"
DLM_TAG = "aws:dlm:lifecycle-policy-id"
SNAPSHOTS = ec2_type("snapshot", account=False)


class Rule(KindRule):
    pass


def image_snapshots(region: str) -> Iterator[tuple[str, str, str]]:
    """(snapshot id, AMI id, AMI state) for every snapshot behind one of the account's AMIs, in any state."""
    for image in own_images(region):
        for mapping in image.get("BlockDeviceMappings", []):
            snapshot = mapping.get("Ebs", {}).get("SnapshotId")
            if snapshot:
                yield snapshot, image["ImageId"], image.get("State", "unknown")


def _resource(region: str, snapshot: SnapshotTypeDef) -> Resource:
    tags = tag_map(snapshot.get("Tags"))
    full = snapshot.get("FullSnapshotSizeInBytes")
    return Resource(
        kind="ebs-snapshot",
        id=snapshot["SnapshotId"],
        region=region,
        created=utc(snapshot["StartTime"]),
        tags=tags,
        owner=snapshot.get("OwnerId"),
        name=tags.get("Name") or snapshot.get("Description", ""),
        details={
            "volume": snapshot.get("VolumeId", ""),
            # Billed size is the blocks no other snapshot holds; the full size is an upper bound of the saving.
            "gib": full / GIB if full else float(snapshot.get("VolumeSize", 0)),
            "tier": snapshot.get("StorageTier", "standard"),
            "description": snapshot.get("Description", ""),
        },
    )


class Snapshots:
    name: KindName = "ebs-snapshot"
    rule: type[KindRule] = Rule
    taggable = True
    permissions = Permissions.of(
        reads=["ec2:DescribeSnapshots", "ec2:DescribeImages"],
        writes=["ec2:CreateTags", "ec2:DeleteSnapshot"],
    )

    def statements(self, rule: KindRule) -> Sequence[Statement]:
        return marked_removal("ec2:DeleteSnapshot", SNAPSHOTS)

    listing = Listing(
        "ec2",
        "describe_snapshots",
        "Snapshots",
        {"OwnerIds": ["self"], "Filters": [{"Name": "status", "Values": ["completed"]}]},
        page_size=1000,
    )

    def find(self, scope: Scope, rule: KindRule) -> Iterator[Resource]:
        snapshot: SnapshotTypeDef
        for snapshot in listed(scope.region, self.listing):
            yield _resource(scope.region, snapshot)

    def in_use(self, scope: Scope, rule: KindRule, found: Sequence[Resource]) -> dict[str, str]:
        used = {resource.id: why for resource in found if (why := managed_by(resource))}
        wanted = {resource.id for resource in found}
        for snapshot, image, state in image_snapshots(scope.region):
            if snapshot in wanted:
                used.setdefault(snapshot, f"behind AMI {image} ({state})")
        return used

    def judge(self, found: Sequence[Resource], rule: KindRule, now: datetime) -> dict[str, Judgement]:
        return {resource.id: judge_one(resource, now) for resource in found}

    def act(self, scope: Scope, resource: Resource, candidate: Candidate, rule: KindRule) -> None:
        delete_snapshot(scope.region, resource.id)

    def mark(self, scope: Scope, resources: Sequence[Resource], tag: str, value: str) -> None:
        tag_ec2(scope.region, [resource.id for resource in resources], tag, value)


def managed_by(snapshot: Resource) -> str:
    """What manages the snapshot's lifecycle on its own (AWS Backup, Data Lifecycle Manager), or ''."""
    if any(key.startswith(BACKUP_TAG_PREFIX) for key in snapshot.tags) or "AWS Backup" in str(
        snapshot.details.get("description", "")
    ):
        return "managed by AWS Backup"
    if DLM_TAG in snapshot.tags:
        return f"managed by Data Lifecycle Manager policy {snapshot.tags[DLM_TAG]}"
    return ""


def judge_one(snapshot: Resource, now: datetime) -> Judgement:
    if KEEP_UNTIL_TAG in snapshot.tags:
        keep_until = ttl_instant(snapshot.tags[KEEP_UNTIL_TAG])
        if keep_until is None:
            return Excluded(f"{KEEP_UNTIL_TAG} is not an ISO instant: {snapshot.tags[KEEP_UNTIL_TAG]!r}")
        if keep_until > now:
            return Excluded(f"kept until {keep_until:%Y-%m-%d} ({KEEP_UNTIL_TAG})")
    gib = float(snapshot.details.get("gib", 0))
    item: Item = "ebs-snapshot-archive-gb" if snapshot.details.get("tier") == "archive" else "ebs-snapshot-gb"
    volume = snapshot.details.get("volume") or "a deleted volume"
    why = f"{gib:g} GiB snapshot of {volume}, {age_days(snapshot.created, now)} days old"
    return Candidate("delete", monthly(item, snapshot.region, gib), why)


def delete_snapshot(region: str, snapshot: str) -> None:
    try:
        client("ec2", region, deleter_role()).delete_snapshot(SnapshotId=snapshot)
    except ClientError as error:
        if not already_gone(error, "InvalidSnapshot.NotFound"):
            raise


KIND = register(Snapshots())
