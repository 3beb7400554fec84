"""Unattached EBS volumes against moto: listing, final snapshot then delete (twice is safe), marks; judge is pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.cleanup.kinds.base import Candidate, Excluded, Resource
from functions.cleanup.kinds.common import KEEP_UNTIL_TAG, tag_map, ttl_instant
from functions.cleanup.kinds.volumes import FINAL_SNAPSHOT_TAG, KIND, Rule
from tests.support.aws import REGION

from .support import record_calls, scope, setup_client, whole_cycle

SCOPE = scope("ebs-volume")
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def volumes(aws: None) -> dict[str, str]:
    ec2 = setup_client("ec2")
    image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, Placement={"AvailabilityZone": f"{REGION}a"})
    spec = [{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "old-build-cache"}]}]
    loose = ec2.create_volume(Size=200, AvailabilityZone=f"{REGION}a", VolumeType="gp2", TagSpecifications=spec)
    attached = ec2.create_volume(Size=50, AvailabilityZone=f"{REGION}a")["VolumeId"]
    ec2.attach_volume(VolumeId=attached, InstanceId=instance["Instances"][0]["InstanceId"], Device="/dev/sdf")
    return {"loose": loose["VolumeId"], "attached": attached}


def test_find_lists_only_available_volumes(volumes: dict[str, str]) -> None:
    calls = record_calls("ec2")
    found = {volume.id: volume for volume in KIND.find(SCOPE, Rule())}

    assert set(found) == {volumes["loose"]}
    loose = found[volumes["loose"]]
    assert (loose.name, loose.details["gib"], loose.details["type"]) == ("old-build-cache", 200, "gp2")
    assert loose.created.utcoffset() == timedelta(0)
    (request,) = calls.params("DescribeVolumes")
    assert request["MaxResults"] == 500
    assert KIND.in_use(SCOPE, Rule(), list(found.values())) == {}


def test_act_takes_one_final_snapshot_kept_for_a_while_then_deletes(volumes: dict[str, str]) -> None:
    (loose,) = KIND.find(SCOPE, Rule())
    candidate = Candidate("snapshot-then-delete", 20.0, "unattached")

    KIND.act(SCOPE, loose, candidate, Rule(final_snapshot_keep_days=30))
    KIND.act(SCOPE, loose, candidate, Rule(final_snapshot_keep_days=30))

    ec2 = setup_client("ec2")
    assert list(KIND.find(SCOPE, Rule())) == []
    finals = ec2.describe_snapshots(Filters=[{"Name": f"tag:{FINAL_SNAPSHOT_TAG}", "Values": [loose.id]}])
    (final,) = finals["Snapshots"]
    tags = tag_map(final["Tags"])
    kept = ttl_instant(tags[KEEP_UNTIL_TAG])
    assert kept is not None
    assert timedelta(days=29) < kept - datetime.now(UTC) <= timedelta(days=30)
    assert tags["Name"] == "old-build-cache"


def test_act_without_final_snapshot_only_deletes(volumes: dict[str, str]) -> None:
    (loose,) = KIND.find(SCOPE, Rule())
    calls = record_calls("ec2")

    KIND.act(SCOPE, loose, Candidate("delete", 20.0, "unattached"), Rule(final_snapshot=False))

    assert calls.count() == {"DeleteVolume": 1}


def test_mark_tags_the_volumes(volumes: dict[str, str]) -> None:
    KIND.mark(SCOPE, list(KIND.find(SCOPE, Rule())), "deckhand:cleanup-after", "2026-06-15")

    (loose,) = KIND.find(SCOPE, Rule())
    assert loose.tags["deckhand:cleanup-after"] == "2026-06-15"


def volume(attached: list[str], gib: int = 100, kind: str = "gp3") -> Resource:
    details = {"gib": gib, "type": kind, "attached_to": attached}
    return Resource(kind="ebs-volume", id="vol-1", region=REGION, created=NOW - timedelta(days=40), details=details)


def test_judge_excludes_an_attached_volume_and_prices_a_loose_one() -> None:
    assert KIND.judge([volume(["i-1"])], Rule(), NOW)["vol-1"] == Excluded("attached to i-1")
    assert KIND.judge([volume([], 100, "gp2")], Rule(final_snapshot=False), NOW)["vol-1"] == Candidate(
        "delete", 10.0, "100 GiB gp2 volume, unattached, 40 days old"
    )


@given(st.integers(1, 16_384), st.sampled_from(["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"]))
def test_judge_saving_grows_with_size(gib: int, kind: str) -> None:
    small, large = (KIND.judge([volume([], size, kind)], Rule(), NOW)["vol-1"] for size in (gib, gib + 1))

    assert isinstance(small, Candidate)
    assert isinstance(large, Candidate)
    assert small.action == "snapshot-then-delete"
    assert 0 < small.monthly_usd < large.monthly_usd


def test_a_whole_cycle_calls_only_what_the_kind_declares(volumes: object) -> None:
    whole_cycle(KIND, Rule())
