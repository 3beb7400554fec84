"""AMIs against moto: what instances, launch templates (default, latest, pinned by a group) and launch
configurations use; deregistration takes the AMI's own snapshots with it; judge is pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from functions.cleanup.kinds import images as images_module
from functions.cleanup.kinds.base import Candidate, Excluded, Resource
from functions.cleanup.kinds.images import KIND, Rule
from tests.support.aws import REGION

from .support import record_calls, scope, setup_client, whole_cycle

SCOPE = scope("ami")
RULE = Rule()
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def images(aws: None) -> dict[str, str]:
    ec2, autoscaling = setup_client("ec2"), setup_client("autoscaling")
    made = {
        name: ec2.register_image(Name=f"image-{name}", RootDeviceName="/dev/xvda")["ImageId"]
        for name in ("free", "instance", "default", "latest", "pinned", "configuration", "old-version")
    }
    instance = ec2.run_instances(ImageId=made["instance"], MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[instance])
    template = ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": made["default"]})
    ident = template["LaunchTemplate"]["LaunchTemplateId"]
    for name in ("pinned", "old-version", "latest"):  # versions 2, 3, 4; the default stays 1
        ec2.create_launch_template_version(LaunchTemplateId=ident, LaunchTemplateData={"ImageId": made[name]})
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="workers",
        LaunchTemplate={"LaunchTemplateId": ident, "Version": "2"},
        MinSize=0,
        MaxSize=0,
        AvailabilityZones=[f"{REGION}a"],
    )
    autoscaling.create_launch_configuration(
        LaunchConfigurationName="legacy", ImageId=made["configuration"], InstanceType="t3.micro"
    )
    return made


def test_find_lists_own_images_with_their_snapshots(images: dict[str, str]) -> None:
    calls = record_calls("ec2")
    found = {image.id: image for image in KIND.find(SCOPE, RULE)}

    assert set(found) == set(images.values())
    free = found[images["free"]]
    assert free.name == "image-free"
    assert free.details["state"] == "available"
    assert len(free.details["snapshots"]) == 1
    assert free.created.utcoffset() == timedelta(0)
    (request,) = calls.params("DescribeImages")
    assert (request["Owners"], request["IncludeDisabled"], request["MaxResults"]) == (["self"], True, 1000)


def test_an_image_shows_its_own_snapshots_tags_under_its_own_so_a_protected_snapshot_protects_it(
    images: dict[str, str],
) -> None:
    ec2 = setup_client("ec2")
    free = next(image for image in KIND.find(SCOPE, RULE) if image.id == images["free"])
    (snapshot,) = free.details["snapshots"]
    ec2.create_tags(
        Resources=[snapshot], Tags=[{"Key": "deckhand:protect", "Value": ""}, {"Key": "team", "Value": "a"}]
    )
    ec2.create_tags(Resources=[images["free"]], Tags=[{"Key": "team", "Value": "b"}])

    shown = next(image for image in KIND.find(SCOPE, RULE) if image.id == images["free"])

    assert shown.tags == {"deckhand:protect": "", "team": "b"}


def test_in_use_sees_instances_templates_pinned_versions_and_configurations(images: dict[str, str]) -> None:
    found = list(KIND.find(SCOPE, RULE))

    used = KIND.in_use(SCOPE, RULE, found)

    assert used[images["instance"]].endswith("(stopped)")
    assert used[images["default"]] == "launch template web version 1"
    assert used[images["latest"]] == "launch template web version 4"
    assert used[images["pinned"]] == "launch template web version 2"
    assert used[images["configuration"]] == "launch configuration legacy"
    assert set(images.values()) - set(used) == {images["free"], images["old-version"]}


def test_act_deregisters_and_deletes_the_snapshots_and_twice_is_safe(images: dict[str, str]) -> None:
    free = next(image for image in KIND.find(SCOPE, RULE) if image.id == images["free"])
    (snapshot,) = free.details["snapshots"]
    candidate = Candidate("deregister", 0.4, "unused")

    KIND.act(SCOPE, free, candidate, RULE)
    KIND.act(SCOPE, free, candidate, RULE)

    assert images["free"] not in {image.id for image in KIND.find(SCOPE, RULE)}
    assert snapshot not in own_snapshots()


def test_a_snapshot_its_ami_held_until_just_now_is_retried_until_released(
    images: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    free = next(image for image in KIND.find(SCOPE, RULE) if image.id == images["free"])
    (snapshot,) = free.details["snapshots"]
    slept: list[float] = []
    monkeypatch.setattr(images_module.time, "sleep", slept.append)
    still_held = iter([True, True])  # EC2 answers InUse twice after DeregisterImage, then releases it
    delete = images_module.delete_snapshot

    def released_later(region: str, snapshot_id: str) -> None:
        if next(still_held, False):
            raise ClientError({"Error": {"Code": "InvalidSnapshot.InUse", "Message": "in use"}}, "DeleteSnapshot")
        delete(region, snapshot_id)

    monkeypatch.setattr(images_module, "delete_snapshot", released_later)

    KIND.act(SCOPE, free, Candidate("deregister", 0.4, "unused"), RULE)

    assert slept == list(images_module.RELEASE_DELAYS[:2])
    assert snapshot not in own_snapshots()


def test_a_snapshot_held_past_every_retry_fails_the_act_and_an_ami_already_gone_does_not(
    images: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    free = next(image for image in KIND.find(SCOPE, RULE) if image.id == images["free"])
    monkeypatch.setattr(images_module.time, "sleep", lambda _: None)

    def held(region: str, snapshot_id: str) -> None:
        raise ClientError({"Error": {"Code": "InvalidSnapshot.InUse", "Message": "in use"}}, "DeleteSnapshot")

    with monkeypatch.context() as patched:
        patched.setattr(images_module, "delete_snapshot", held)
        with pytest.raises(ClientError, match=r"InvalidSnapshot\.InUse"):
            KIND.act(SCOPE, free, Candidate("deregister", 0.4, "unused"), RULE)

    KIND.act(SCOPE, free, Candidate("deregister", 0.4, "unused"), RULE)  # the AMI is gone: its snapshots go now

    assert not set(free.details["snapshots"]) & own_snapshots()


def test_mark_tags_the_images_and_their_own_snapshots_in_one_call(images: dict[str, str]) -> None:
    found = {image.id: image for image in KIND.find(SCOPE, RULE)}
    marked = [found[images["free"]], found[images["old-version"]]]
    calls = record_calls("ec2")

    KIND.mark(SCOPE, marked, "deckhand:cleanup-after", "2026-06-08")

    assert calls.count() == {"CreateTags": 1}
    tagged = {
        ident
        for kind in ("images", "snapshots")
        for ident, tags in tags_of(kind).items()
        if tags.get("deckhand:cleanup-after") == "2026-06-08"
    }
    # the role deletes only marked snapshots: those that go with a marked AMI carry its mark, no other does
    assert tagged == {image.id for image in marked} | {s for image in marked for s in image.details["snapshots"]}


def tags_of(kind: str) -> dict[str, dict[str, str]]:
    ec2 = setup_client("ec2")
    if kind == "images":
        listed = ec2.describe_images(Owners=["self"])["Images"]
        return {i["ImageId"]: {t["Key"]: t["Value"] for t in i.get("Tags", [])} for i in listed}
    listed = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    return {s["SnapshotId"]: {t["Key"]: t["Value"] for t in s.get("Tags", [])} for s in listed}


def own_snapshots() -> set[str]:
    return set(tags_of("snapshots"))


def image(state: str, snapshots: list[str], gib: int) -> Resource:
    details = {"state": state, "snapshots": snapshots, "gib": gib}
    return Resource(kind="ami", id="ami-1", region=REGION, created=NOW - timedelta(days=500), details=details)


def test_judge_prices_the_snapshots_and_leaves_a_pending_image() -> None:
    assert KIND.judge([image("available", ["snap-1", "snap-2"], 40)], RULE, NOW)["ami-1"] == Candidate(
        "deregister", 2.0, "unused AMI, 500 days old, with 2 snapshot(s) of 40 GiB"
    )
    assert KIND.judge([image("pending", [], 0)], RULE, NOW)["ami-1"] == Excluded("state pending")


def test_a_whole_cycle_calls_only_what_the_kind_declares(images: object) -> None:
    whole_cycle(KIND, RULE)
