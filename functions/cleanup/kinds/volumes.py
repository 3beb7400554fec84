"""Unattached EBS volumes, with an optional final snapshot before deleting one.

A final snapshot carries KEEP_UNTIL_TAG (now + final_snapshot_keep_days), which the ebs-snapshot kind
honours, and FINAL_SNAPSHOT_TAG naming its volume, so a second run after a failed delete does not take
another one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

from botocore.exceptions import ClientError
from pydantic import Field

from functions.cleanup.kinds.base import (
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
    DESTROY,
    KEEP_UNTIL_TAG,
    MARK,
    Days,
    age_days,
    already_gone,
    deleter_role,
    ec2_type,
    listed,
    own_rule,
    tag_ec2,
    tag_map,
    utc,
)
from functions.cleanup.kinds.snapshots import SNAPSHOTS
from functions.cleanup.prices import ebs_volume_item, monthly
from functions.shared.clients import client

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import VolumeTypeDef

FINAL_SNAPSHOT_TAG = "deckhand:final-snapshot-of"
FINAL_SNAPSHOT_TAGS = (FINAL_SNAPSHOT_TAG, KEEP_UNTIL_TAG, "Name")  # what a final snapshot is tagged with
VOLUMES = ec2_type("volume")


class Rule(KindRule):
    min_age_days: Days = 14
    final_snapshot: bool = True  # snapshot the volume before deleting it
    final_snapshot_keep_days: Annotated[int, Field(ge=1, le=3650)] = 90  # the ebs-snapshot kind leaves it that long


def _resource(region: str, volume: VolumeTypeDef) -> Resource:
    tags = tag_map(volume.get("Tags"))
    return Resource(
        kind="ebs-volume",
        id=volume["VolumeId"],
        region=region,
        created=utc(volume["CreateTime"]),
        tags=tags,
        name=tags.get("Name", ""),
        details={
            "gib": int(volume.get("Size", 0)),
            "type": volume.get("VolumeType", "gp3"),
            "attached_to": [a["InstanceId"] for a in volume.get("Attachments", []) if a.get("InstanceId")],
        },
    )


class Volumes:
    name: KindName = "ebs-volume"
    rule: type[KindRule] = Rule
    taggable = True
    permissions = Permissions.of(
        reads=["ec2:DescribeVolumes", "ec2:DescribeSnapshots"],
        writes=["ec2:CreateTags", "ec2:CreateSnapshot", "ec2:DeleteVolume"],
    )

    def statements(self, rule: KindRule) -> Sequence[Statement]:
        return (
            Statement(("ec2:DeleteVolume", "ec2:CreateSnapshot"), (VOLUMES,), DESTROY, Guard.MARKED, deleter=True),
            Statement(
                ("ec2:CreateSnapshot",), (SNAPSHOTS,), "the final snapshot of a volume before it goes", deleter=True
            ),
            Statement(
                ("ec2:CreateTags",),
                (SNAPSHOTS,),
                "tags a final snapshot as it is created, with the final snapshot's own tags only (never the mark)",
                conditions={
                    "StringEquals": {"ec2:CreateAction": "CreateSnapshot"},
                    "ForAllValues:StringEquals": {"aws:TagKeys": FINAL_SNAPSHOT_TAGS},
                },
                deleter=True,
            ),
            Statement(("ec2:CreateTags",), (VOLUMES,), MARK, Guard.ONLY_THE_MARK),
        )

    listing = Listing(
        "ec2", "describe_volumes", "Volumes", {"Filters": [{"Name": "status", "Values": ["available"]}]}, page_size=500
    )

    def find(self, scope: Scope, rule: KindRule) -> Iterator[Resource]:
        volume: VolumeTypeDef
        for volume in listed(scope.region, self.listing):
            yield _resource(scope.region, volume)

    def in_use(self, scope: Scope, rule: KindRule, found: Sequence[Resource]) -> dict[str, str]:
        return {}  # an attachment is the only use, and the listing says it (judge)

    def judge(self, found: Sequence[Resource], rule: KindRule, now: datetime) -> dict[str, Judgement]:
        final = own_rule(rule, Rule).final_snapshot
        return {volume.id: judge_one(volume, final, now) for volume in found}

    def act(self, scope: Scope, resource: Resource, candidate: Candidate, rule: KindRule) -> None:
        own = own_rule(rule, Rule)
        if own.final_snapshot:
            take_final_snapshot(scope.region, resource, own.final_snapshot_keep_days)
        try:
            client("ec2", scope.region, deleter_role()).delete_volume(VolumeId=resource.id)
        except ClientError as error:
            if not already_gone(error, "InvalidVolume.NotFound"):
                raise

    def mark(self, scope: Scope, resources: Sequence[Resource], tag: str, value: str) -> None:
        tag_ec2(scope.region, [resource.id for resource in resources], tag, value)


def judge_one(volume: Resource, final_snapshot: bool, now: datetime) -> Judgement:
    attached = volume.details.get("attached_to") or []
    if attached:
        return Excluded(f"attached to {', '.join(attached)}")
    gib, kind = int(volume.details.get("gib", 0)), str(volume.details.get("type", "gp3"))
    action = "snapshot-then-delete" if final_snapshot else "delete"
    why = f"{gib} GiB {kind} volume, unattached, {age_days(volume.created, now)} days old"
    return Candidate(action, monthly(ebs_volume_item(kind), volume.region, gib), why)


def take_final_snapshot(region: str, volume: Resource, keep_days: int) -> str:
    """The volume's final snapshot: the one an earlier run took, or a new one."""
    ec2 = client("ec2", region)
    earlier = ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": f"tag:{FINAL_SNAPSHOT_TAG}", "Values": [volume.id]}]
    ).get("Snapshots", [])
    if earlier:
        return str(earlier[0]["SnapshotId"])
    keep_until = (datetime.now(UTC) + timedelta(days=keep_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    tags = {FINAL_SNAPSHOT_TAG: volume.id, KEEP_UNTIL_TAG: keep_until, "Name": volume.name or volume.id}
    created = client("ec2", region, deleter_role()).create_snapshot(
        VolumeId=volume.id,
        Description=f"final snapshot of {volume.id} ({volume.name or 'no name'}) before Deckhand deleted it",
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )
    return str(created["SnapshotId"])


KIND = register(Volumes())
