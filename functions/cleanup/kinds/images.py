"""AMIs no instance, launch template, Auto Scaling group or launch configuration uses, with their snapshots.

A launch template counts through its default and latest versions, and through any other version an Auto
Scaling group names. An image given as `resolve:ssm:...` cannot be matched without reading the parameter,
so such templates hold nothing here: keep an AMI they resolve to with the protect tag.

An AMI shows the tags of its own snapshots (those no other AMI was registered from) under its own, which
win: so a protected snapshot protects its AMI, and the engine's protect check covers both. Marking an AMI
marks those snapshots with it, in the same CreateTags batch: they go when it goes, and the role deletes
only marked snapshots.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from functions.cleanup.kinds.base import (
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
from functions.cleanup.kinds.common import (
    DESTROY,
    MARK,
    OWN_IMAGES,
    age_days,
    already_gone,
    chunks,
    deleter_role,
    ec2_type,
    error_code,
    own_images,
    tag_ec2,
    tag_map,
)
from functions.cleanup.kinds.snapshots import SNAPSHOTS, delete_snapshot
from functions.cleanup.prices import monthly
from functions.shared.clients import client

if TYPE_CHECKING:
    from mypy_boto3_autoscaling.type_defs import AutoScalingGroupTypeDef, LaunchTemplateSpecificationTypeDef
    from mypy_boto3_ec2.type_defs import FilterTypeDef, ImageTypeDef

LIVE_INSTANCE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]  # all but terminated
DELETABLE_STATES = frozenset({"available", "failed", "invalid", "error", "disabled"})
FILTER_VALUES = 200  # the most values one EC2 filter takes
IMAGES = ec2_type("image", account=False)
RELEASE_DELAYS = (1.0, 2.0, 4.0, 8.0)  # seconds between tries of a snapshot its AMI held until just now


class Rule(KindRule):
    pass


def _snapshots(image: ImageTypeDef) -> list[tuple[str, int]]:
    return [
        (m["Ebs"]["SnapshotId"], int(m["Ebs"].get("VolumeSize", 0)))
        for m in image.get("BlockDeviceMappings", [])
        if m.get("Ebs", {}).get("SnapshotId")
    ]


def _created(image: ImageTypeDef) -> datetime:
    return datetime.fromisoformat(str(image["CreationDate"]).replace("Z", "+00:00"))


class Images:
    name: KindName = "ami"
    rule: type[KindRule] = Rule
    taggable = True
    permissions = Permissions.of(
        reads=[
            "ec2:DescribeImages",
            "ec2:DescribeSnapshots",
            "ec2:DescribeInstances",
            "ec2:DescribeLaunchTemplateVersions",
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:DescribeLaunchConfigurations",
        ],
        writes=["ec2:CreateTags", "ec2:DeregisterImage", "ec2:DeleteSnapshot"],
    )

    def statements(self, rule: KindRule) -> Sequence[Statement]:
        # The AMI's own snapshots carry its mark (mark() tags them with it), so they need it here too.
        return (
            Statement(("ec2:DeregisterImage",), (IMAGES,), DESTROY, Guard.MARKED, deleter=True),
            Statement(("ec2:DeleteSnapshot",), (SNAPSHOTS,), DESTROY, Guard.MARKED, deleter=True),
            Statement(("ec2:CreateTags",), (IMAGES, SNAPSHOTS), MARK, Guard.ONLY_THE_MARK),
        )

    listing = OWN_IMAGES

    def find(self, scope: Scope, rule: KindRule) -> list[Resource]:
        images = list(own_images(scope.region))
        # A snapshot two AMIs were registered from stays with the one that is left.
        holders = Counter(snapshot for image in images for snapshot, _ in _snapshots(image))
        snapshot_tags = _snapshot_tags(scope.region, sorted(holders))
        found = []
        for image in images:
            own = [(snapshot, gib) for snapshot, gib in _snapshots(image) if holders[snapshot] == 1]
            tags = {k: v for snapshot, _ in own for k, v in snapshot_tags.get(snapshot, {}).items()}
            tags |= tag_map(image.get("Tags"))
            found.append(
                Resource(
                    kind="ami",
                    id=image["ImageId"],
                    region=scope.region,
                    created=_created(image),
                    tags=tags,
                    owner=image.get("OwnerId"),
                    name=tags.get("Name") or image.get("Name", ""),
                    details={
                        "state": image.get("State", "unknown"),
                        "snapshots": [snapshot for snapshot, _ in own],
                        "gib": sum(gib for _, gib in own),
                    },
                )
            )
        return found

    def in_use(self, scope: Scope, rule: KindRule, found: Sequence[Resource]) -> dict[str, str]:
        wanted = {image.id for image in found}
        used: dict[str, str] = {}
        for image, user in users(scope.region, sorted(wanted)):
            if image in wanted:
                used.setdefault(image, user)
        return used

    def judge(self, found: Sequence[Resource], rule: KindRule, now: datetime) -> dict[str, Judgement]:
        return {image.id: judge_one(image, now) for image in found}

    def act(self, scope: Scope, resource: Resource, candidate: Candidate, rule: KindRule) -> None:
        try:
            client("ec2", scope.region, deleter_role()).deregister_image(ImageId=resource.id)
        except ClientError as error:
            if not already_gone(error, "InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"):
                raise
        for snapshot in resource.details.get("snapshots", []):
            delete_released_snapshot(scope.region, snapshot)

    def mark(self, scope: Scope, resources: Sequence[Resource], tag: str, value: str) -> None:
        # The AMI's own snapshots carry its mark too: they go with it, and the role deletes only marked snapshots.
        ids = [ident for image in resources for ident in (image.id, *image.details.get("snapshots", []))]
        tag_ec2(scope.region, ids, tag, value)


def delete_released_snapshot(region: str, snapshot: str) -> None:
    """Delete a snapshot of a just deregistered AMI: EC2 may answer InvalidSnapshot.InUse for a moment after
    DeregisterImage returns, so that answer is retried, a bounded number of times. (DeregisterImage's
    DeleteAssociatedSnapshots would do it in one call, but the botocore model Deckhand pins lacks it.)"""
    for delay in (*RELEASE_DELAYS, None):
        try:
            delete_snapshot(region, snapshot)
            return
        except ClientError as error:
            if delay is None or error_code(error) != "InvalidSnapshot.InUse":
                raise
        time.sleep(delay)


def _snapshot_tags(region: str, snapshots: Sequence[str]) -> dict[str, dict[str, str]]:
    """The tags of the given snapshots, in as few calls as a filter's values allow."""
    tags: dict[str, dict[str, str]] = {}
    for chunk in chunks(snapshots, FILTER_VALUES):
        listing = (
            client("ec2", region)
            .get_paginator("describe_snapshots")
            .paginate(
                OwnerIds=["self"],
                Filters=[{"Name": "snapshot-id", "Values": list(chunk)}],
                PaginationConfig={"PageSize": 1000},
            )
        )
        for page in listing:
            for snapshot in page.get("Snapshots", []):
                tags[snapshot["SnapshotId"]] = tag_map(snapshot.get("Tags"))
    return tags


def judge_one(image: Resource, now: datetime) -> Judgement:
    state = str(image.details.get("state", "unknown"))
    if state not in DELETABLE_STATES:
        return Excluded(f"state {state}")
    snapshots, gib = len(image.details.get("snapshots", [])), int(image.details.get("gib", 0))
    why = f"unused AMI, {age_days(image.created, now)} days old, with {snapshots} snapshot(s) of {gib} GiB"
    return Candidate("deregister", monthly("ebs-snapshot-gb", image.region, gib), why)


def users(region: str, images: Sequence[str]) -> Iterator[tuple[str, str]]:
    """(AMI id, what uses it) from instances, launch templates, Auto Scaling groups and launch configurations."""
    yield from _instance_users(region, images)
    yield from _template_users(region)
    listing = (
        client("autoscaling", region)
        .get_paginator("describe_launch_configurations")
        .paginate(PaginationConfig={"PageSize": 100})
    )
    for page in listing:
        for configuration in page.get("LaunchConfigurations", []):
            yield configuration.get("ImageId", ""), f"launch configuration {configuration['LaunchConfigurationName']}"


def _instance_users(region: str, images: Sequence[str]) -> Iterator[tuple[str, str]]:
    for batch in chunks(images, FILTER_VALUES):
        filters: list[FilterTypeDef] = [
            {"Name": "image-id", "Values": list(batch)},
            {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES},
        ]
        for page in (
            client("ec2", region)
            .get_paginator("describe_instances")
            .paginate(Filters=filters, PaginationConfig={"PageSize": 1000})
        ):
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    yield instance["ImageId"], f"instance {instance['InstanceId']} ({instance['State']['Name']})"


def _template_users(region: str) -> Iterator[tuple[str, str]]:
    """Every template's default and latest versions (one listing), then the versions groups pin, per template."""
    by_id: dict[str, set[str]] = {}  # template id -> versions groups pin
    by_name: dict[str, set[str]] = {}
    for group in _groups(region):
        for template in _templates_of(group):
            version = template.get("Version") or "$Default"
            if version in {"$Default", "$Latest"}:
                continue
            if ident := template.get("LaunchTemplateId"):
                by_id.setdefault(ident, set()).add(version)
            elif name := template.get("LaunchTemplateName"):
                by_name.setdefault(name, set()).add(version)
    paginator = client("ec2", region).get_paginator("describe_launch_template_versions")
    listings = [paginator.paginate(Versions=["$Default", "$Latest"])]
    listings += [paginator.paginate(LaunchTemplateId=ident, Versions=sorted(pins)) for ident, pins in by_id.items()]
    listings += [paginator.paginate(LaunchTemplateName=name, Versions=sorted(pins)) for name, pins in by_name.items()]
    for listing in listings:
        for page in listing:
            for held in page.get("LaunchTemplateVersions", []):
                image = held.get("LaunchTemplateData", {}).get("ImageId", "")
                number = held.get("VersionNumber")
                yield image, f"launch template {held.get('LaunchTemplateName', '')} version {number}"


def _groups(region: str) -> Iterator[AutoScalingGroupTypeDef]:
    listing = (
        client("autoscaling", region)
        .get_paginator("describe_auto_scaling_groups")
        .paginate(PaginationConfig={"PageSize": 100})
    )
    for page in listing:
        yield from page.get("AutoScalingGroups", [])


def _templates_of(group: AutoScalingGroupTypeDef) -> list[LaunchTemplateSpecificationTypeDef]:
    mixed = group.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {})
    overrides = [o.get("LaunchTemplateSpecification") for o in mixed.get("Overrides", [])]
    specified = [group.get("LaunchTemplate"), mixed.get("LaunchTemplateSpecification"), *overrides]
    return [template for template in specified if template]


KIND = register(Images())
