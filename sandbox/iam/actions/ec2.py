"""Amazon EC2: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html

Snapshots and AMIs have no account in their ARN. Tagging on create is authorized as ec2:CreateTags with
ec2:CreateAction (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html).
Every EC2 action takes ec2:Region, and each resource type EC2 tags takes ec2:ResourceTag/<key> beside
aws:ResourceTag/<key>.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from moto.ec2.models import ec2_backends

from sandbox.iam.actions.rows import Also, Context, Row, Table, arn, pairs, request_tags, resource_tags
from sandbox.iam.model import Call, IamRequest

TAG_ON_CREATE = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html"
# id prefix -> (resource type, whether its ARN names the account)
KINDS: Mapping[str, tuple[str, bool]] = {
    "snap-": ("snapshot", False),
    "ami-": ("image", False),
    "vol-": ("volume", True),
    "i-": ("instance", True),
    "eipalloc-": ("elastic-ip", True),
    "lt-": ("launch-template", True),
}


def of_id(call: Call, resource_id: str) -> str:
    for prefix, (kind, account) in KINDS.items():
        if resource_id.startswith(prefix):
            return arn(call, "ec2", f"{kind}/{resource_id}", account=account)
    return arn(call, "ec2", f"*/{resource_id}")  # a kind no row maps: a resource no grant names


def by(member: str) -> Callable[[Call], Sequence[str]]:
    """The resources of the ids in `member` (one id or a list of them)."""

    def resources(call: Call) -> Sequence[str]:
        ids = call.params[member]
        return [of_id(call, i) for i in (ids if isinstance(ids, list) else [ids])]

    return resources


def current_tags(call: Call, resource: str) -> Context:
    found = ec2_backends[call.account][call.region].tags.get(resource.rpartition("/")[2], {})
    return resource_tags(found, "ec2")


def tagging(call: Call, resource: str) -> Context:
    """CreateTags/DeleteTags: the tags sent (DeleteTags sends keys, maybe values) and the resource's own."""
    sent = pairs(call.params.get("Tags"))
    return {**current_tags(call, resource), **request_tags(sent)}


def new_snapshot(call: Call) -> Sequence[str]:
    """CreateSnapshot acts on the volume and on the snapshot to be, whose id is not known yet."""
    return (arn(call, "ec2", "snapshot/*", account=False), of_id(call, call.params["VolumeId"]))


def _specified_tags(call: Call, kind: str) -> dict[str, str]:
    return {
        key: value
        for spec in call.params.get("TagSpecifications") or []
        if spec.get("ResourceType") == kind
        for key, value in pairs(spec.get("Tags")).items()
    }


def creating_snapshot(call: Call, resource: str) -> Context:
    if resource.endswith("snapshot/*"):
        tags = _specified_tags(call, "snapshot")
        return request_tags(tags) if tags else {}
    return current_tags(call, resource)


def tags_on_create(call: Call) -> Sequence[IamRequest]:
    tags = _specified_tags(call, "snapshot")
    if not tags:
        return []
    context = {"ec2:Region": call.region, "ec2:CreateAction": call.operation, **request_tags(tags)}
    return [IamRequest("ec2:CreateTags", arn(call, "ec2", "snapshot/*", account=False), context)]


def regional(context: Callable[[Call, str], Context]) -> Callable[[Call, str], Context]:
    """The row's own context and ec2:Region, the request's region."""

    def found(call: Call, resource: str) -> Context:
        return {"ec2:Region": call.region, **context(call, resource)}

    return found


ROWS: Table = {
    **{
        name: Row(f"ec2:{name}")
        for name in (
            "DescribeAddresses",
            "DescribeImages",
            "DescribeInstances",
            "DescribeLaunchTemplateVersions",
            "DescribeSnapshots",
            "DescribeVolumes",
        )
    },
    "DescribeInstanceAttribute": Row("ec2:DescribeInstanceAttribute", by("InstanceId"), current_tags),
    "CreateTags": Row("ec2:CreateTags", by("Resources"), tagging),
    "DeleteTags": Row("ec2:DeleteTags", by("Resources"), tagging),
    "CreateSnapshot": Row(
        "ec2:CreateSnapshot", new_snapshot, creating_snapshot, also=(Also(tags_on_create, TAG_ON_CREATE),)
    ),
    "DeleteSnapshot": Row("ec2:DeleteSnapshot", by("SnapshotId"), current_tags),
    "DeleteVolume": Row("ec2:DeleteVolume", by("VolumeId"), current_tags),
    # With DeleteAssociatedSnapshots, a snapshot the caller may not delete is kept and reported
    # (DeleteSnapshotResults ReturnCode `missing-permissions`, botocore's ec2 model): the call is not denied.
    "DeregisterImage": Row("ec2:DeregisterImage", by("ImageId"), current_tags),
    "ReleaseAddress": Row("ec2:ReleaseAddress", by("AllocationId"), current_tags),
    "TerminateInstances": Row("ec2:TerminateInstances", by("InstanceIds"), current_tags),
}

TABLE: Table = {name: replace(row, context=regional(row.context)) for name, row in ROWS.items()}
