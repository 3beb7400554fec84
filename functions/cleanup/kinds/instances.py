"""Stopped EC2 instances past their TTL tag, or stopped for longer than N days.

A TTL tag, where the instance has one, decides: an owner who wrote a date meant it. An instance without
one qualifies when stopped_for_days is set and it has been stopped that long (read from the
StateTransitionReason AWS writes when a user stops it). Instances of an Auto Scaling group (warm pools
keep stopped ones) and termination-protected ones are in use. A stopped instance costs its volumes; the
saving counts those that terminating it deletes (DeleteOnTermination).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

from botocore.exceptions import ClientError
from pydantic import Field, model_validator

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
    age_days,
    already_gone,
    chunks,
    deleter_role,
    ec2_type,
    listed,
    marked_removal,
    own_rule,
    tag_ec2,
    tag_map,
    ttl_instant,
    utc,
)
from functions.cleanup.prices import ebs_volume_item, monthly
from functions.shared.clients import client

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import FilterTypeDef, InstanceTypeDef
from functions.shared.policy_base import TagKey

GROUP_TAG = "aws:autoscaling:groupName"
FILTER_VALUES = 200
_STOPPED_AT = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?:GMT|UTC)\)")


class Rule(KindRule):
    min_age_days: Days = 0  # the TTL tag or the stopped time is what says when an instance may go
    ttl_tag: TagKey | None = "deckhand:ttl"  # value: the expiry instant, ISO 8601 UTC
    stopped_for_days: Annotated[int, Field(ge=1, le=3650)] | None = None  # for instances without a TTL tag

    @model_validator(mode="after")
    def _some_criterion(self) -> Rule:
        if self.ttl_tag is None and self.stopped_for_days is None:
            raise ValueError("set ttl_tag, stopped_for_days or both: otherwise no stopped instance ever qualifies")
        return self


def stopped_at(reason: str) -> datetime | None:
    """When a user stopped the instance, from e.g. 'User initiated (2026-01-05 10:00:00 GMT)'."""
    found = _STOPPED_AT.search(reason or "")
    return datetime.fromisoformat(found.group(1)).replace(tzinfo=UTC) if found else None


def _resource(region: str, instance: InstanceTypeDef, volumes: list[tuple[str, int]]) -> Resource:
    tags = tag_map(instance.get("Tags"))
    stopped = stopped_at(str(instance.get("StateTransitionReason", "")))
    return Resource(
        kind="stopped-instance",
        id=instance["InstanceId"],
        region=region,
        created=utc(instance["LaunchTime"]),
        tags=tags,
        name=tags.get("Name", ""),
        details={
            "stopped_at": stopped.isoformat() if stopped else None,
            "volumes": volumes,  # (type, GiB) of the volumes terminating it deletes
        },
    )


class Instances:
    name: KindName = "stopped-instance"
    rule: type[KindRule] = Rule
    taggable = True
    permissions = Permissions.of(
        reads=["ec2:DescribeInstances", "ec2:DescribeInstanceAttribute", "ec2:DescribeVolumes"],
        writes=["ec2:CreateTags", "ec2:TerminateInstances"],
    )

    def statements(self, rule: KindRule) -> Sequence[Statement]:
        return marked_removal("ec2:TerminateInstances", ec2_type("instance"))

    listing = Listing(
        "ec2",
        "describe_instances",
        "Reservations[].Instances[]",
        {"Filters": [{"Name": "instance-state-name", "Values": ["stopped"]}]},
        page_size=1000,
    )

    def find(self, scope: Scope, rule: KindRule) -> list[Resource]:
        instances: list[InstanceTypeDef] = list(listed(scope.region, self.listing))
        storage = _deleted_storage(scope.region, instances)
        return [_resource(scope.region, instance, storage.get(instance["InstanceId"], [])) for instance in instances]

    def in_use(self, scope: Scope, rule: KindRule, found: Sequence[Resource]) -> dict[str, str]:
        used = {i.id: f"Auto Scaling group {i.tags[GROUP_TAG]}" for i in found if GROUP_TAG in i.tags}
        ec2 = client("ec2", scope.region)
        for instance in found:
            if instance.id not in used:
                attribute = ec2.describe_instance_attribute(InstanceId=instance.id, Attribute="disableApiTermination")
                if attribute.get("DisableApiTermination", {}).get("Value"):
                    used[instance.id] = "termination-protected"
        return used

    def judge(self, found: Sequence[Resource], rule: KindRule, now: datetime) -> dict[str, Judgement]:
        own = own_rule(rule, Rule)
        return {instance.id: judge_one(instance, own, now) for instance in found}

    def act(self, scope: Scope, resource: Resource, candidate: Candidate, rule: KindRule) -> None:
        try:
            client("ec2", scope.region, deleter_role()).terminate_instances(InstanceIds=[resource.id])
        except ClientError as error:
            if not already_gone(error, "InvalidInstanceID.NotFound"):
                raise

    def mark(self, scope: Scope, resources: Sequence[Resource], tag: str, value: str) -> None:
        tag_ec2(scope.region, [resource.id for resource in resources], tag, value)


def _deleted_storage(region: str, instances: Sequence[InstanceTypeDef]) -> dict[str, list[tuple[str, int]]]:
    """Instance id -> (volume type, GiB) of the volumes terminating it deletes (DeleteOnTermination)."""
    owners = {
        mapping["Ebs"]["VolumeId"]: instance["InstanceId"]
        for instance in instances
        for mapping in instance.get("BlockDeviceMappings", [])
        if mapping.get("Ebs", {}).get("DeleteOnTermination") and mapping["Ebs"].get("VolumeId")
    }
    storage: dict[str, list[tuple[str, int]]] = {}
    for batch in chunks(sorted(owners), FILTER_VALUES):
        filters: list[FilterTypeDef] = [{"Name": "volume-id", "Values": list(batch)}]
        for page in (
            client("ec2", region)
            .get_paginator("describe_volumes")
            .paginate(Filters=filters, PaginationConfig={"PageSize": 500})
        ):
            for volume in page.get("Volumes", []):
                entry = (str(volume.get("VolumeType", "gp3")), int(volume.get("Size", 0)))
                storage.setdefault(owners[volume["VolumeId"]], []).append(entry)
    return storage


def judge_one(instance: Resource, rule: Rule, now: datetime) -> Judgement:
    qualifies, why = expiry(instance, rule, now)
    if not qualifies:
        return Excluded(why)
    volumes = instance.details.get("volumes", [])
    saving = sum(monthly(ebs_volume_item(kind), instance.region, gib) for kind, gib in volumes)
    return Candidate("terminate", round(saving, 4), why)


def expiry(instance: Resource, rule: Rule, now: datetime) -> tuple[bool, str]:
    """Whether the stopped instance's time is up, and why (or why not)."""
    if rule.ttl_tag is not None and rule.ttl_tag in instance.tags:
        ttl = ttl_instant(instance.tags[rule.ttl_tag])
        if ttl is None:
            return False, f"{rule.ttl_tag} is not an ISO instant: {instance.tags[rule.ttl_tag]!r}"
        return ttl <= now, f"TTL {'passed' if ttl <= now else 'not past'}: {ttl:%Y-%m-%dT%H:%MZ}"
    if rule.stopped_for_days is None:
        return False, f"no {rule.ttl_tag} tag"
    stopped = instance.details.get("stopped_at")
    if not stopped:
        return False, "stopped, but since when is unknown"
    days = age_days(datetime.fromisoformat(str(stopped)), now)
    return days >= rule.stopped_for_days, f"stopped for {days} days (limit {rule.stopped_for_days})"


KIND = register(Instances())
