"""EBS snapshots: the listing, what AMIs and backup services hold, deletion and marks, against moto; judge is pure.

moto 5.2.5 ignores OwnerIds and MaxResults on DescribeSnapshots (it answers every snapshot, its own public
AMI snapshots of other owners included, in one page): the tests keep the account's own and check that the
request asks for what AWS needs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.cleanup.kinds.base import Candidate, Excluded, Resource
from functions.cleanup.kinds.common import KEEP_UNTIL_TAG
from functions.cleanup.kinds.snapshots import KIND, Rule
from tests.support.aws import REGION

from .support import ACCOUNT, record_calls, scope, setup_client, whole_cycle

SCOPE = scope("ebs-snapshot")
RULE = Rule()
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def own(found: list[Resource]) -> dict[str, Resource]:
    return {resource.id: resource for resource in found if resource.owner == ACCOUNT}


@pytest.fixture
def estate(aws: None) -> dict[str, str]:
    ec2 = setup_client("ec2")
    volume = ec2.create_volume(Size=8, AvailabilityZone=f"{REGION}a")["VolumeId"]

    def snapshot(tags: dict[str, str] | None = None, description: str = "") -> str:
        spec = [{"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}]
        return ec2.create_snapshot(VolumeId=volume, Description=description, TagSpecifications=spec if tags else [])[
            "SnapshotId"
        ]

    behind: dict[str, str] = {}
    for name in ("golden", "legacy"):
        # moto ignores RegisterImage's BlockDeviceMappings and backs the AMI with a snapshot of its own.
        image = ec2.register_image(Name=name, RootDeviceName="/dev/xvda")["ImageId"]
        (described,) = ec2.describe_images(ImageIds=[image])["Images"]
        behind[name] = described["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    ec2.disable_image(ImageId=image)
    return {
        "free": snapshot({"Name": "old build cache"}),
        "behind_ami": behind["golden"],
        "behind_disabled_ami": behind["legacy"],
        "backup": snapshot(description="This snapshot is created by the AWS Backup service."),
        "dlm": snapshot({"aws:dlm:lifecycle-policy-id": "policy-0123"}),
    }


def test_find_lists_own_completed_snapshots_in_pages_of_1000(estate: dict[str, str]) -> None:
    calls = record_calls("ec2")
    found = own(list(KIND.find(SCOPE, RULE)))

    assert set(estate.values()) <= set(found)
    free = found[estate["free"]]
    assert free.name == "old build cache"
    assert free.created.tzinfo is not None
    assert free.created.utcoffset() == timedelta(0)
    assert free.details["gib"] == 8.0
    (request,) = calls.params("DescribeSnapshots")
    assert request["OwnerIds"] == ["self"]
    assert request["MaxResults"] == 1000
    assert request["Filters"] == [{"Name": "status", "Values": ["completed"]}]


def test_in_use_reads_only_the_ami_listing(estate: dict[str, str]) -> None:
    found = list(own(list(KIND.find(SCOPE, RULE))).values())
    calls = record_calls("ec2")

    used = KIND.in_use(SCOPE, RULE, found)

    assert used[estate["behind_ami"]].startswith("behind AMI ami-")
    assert "disabled" in used[estate["behind_disabled_ami"]]
    assert used[estate["backup"]] == "managed by AWS Backup"
    assert used[estate["dlm"]] == "managed by Data Lifecycle Manager policy policy-0123"
    assert estate["free"] not in used
    assert set(calls.count()) == {"DescribeImages"}
    (request,) = calls.params("DescribeImages")
    assert request["Owners"] == ["self"]
    assert request["IncludeDisabled"] is True
    assert request["MaxResults"] == 1000


def test_act_deletes_and_a_second_time_is_a_no_op(estate: dict[str, str]) -> None:
    found = own(list(KIND.find(SCOPE, RULE)))
    free = found[estate["free"]]
    candidate = Candidate("delete", 0.4, "old")

    KIND.act(SCOPE, free, candidate, RULE)
    KIND.act(SCOPE, free, candidate, RULE)

    assert estate["free"] not in own(list(KIND.find(SCOPE, RULE)))


def test_mark_tags_many_snapshots_in_one_call(estate: dict[str, str]) -> None:
    found = list(own(list(KIND.find(SCOPE, RULE))).values())
    calls = record_calls("ec2")

    KIND.mark(SCOPE, found, "deckhand:cleanup-after", "2026-06-08")

    assert calls.count() == {"CreateTags": 1}
    assert all(r.tags["deckhand:cleanup-after"] == "2026-06-08" for r in own(list(KIND.find(SCOPE, RULE))).values())


def snapshot(tags: dict[str, str] | None = None, gib: float = 100, tier: str = "standard") -> Resource:
    return Resource(
        kind="ebs-snapshot",
        id="snap-1",
        region=REGION,
        created=NOW - timedelta(days=90),
        tags=tags or {},
        details={"gib": gib, "tier": tier, "volume": "vol-1"},
    )


def test_judge_prices_the_snapshot_by_its_tier() -> None:
    standard = KIND.judge([snapshot()], RULE, NOW)["snap-1"]
    archived = KIND.judge([snapshot(tier="archive")], RULE, NOW)["snap-1"]

    assert standard == Candidate("delete", 5.0, "100 GiB snapshot of vol-1, 90 days old")
    assert isinstance(archived, Candidate)
    assert archived.monthly_usd == 1.25


@given(st.integers(-1000, 1000))
def test_judge_keeps_a_final_snapshot_until_its_keep_until_instant(hours: int) -> None:
    until = NOW + timedelta(hours=hours)
    judged = KIND.judge([snapshot({KEEP_UNTIL_TAG: until.strftime("%Y-%m-%dT%H:%M:%SZ")})], RULE, NOW)["snap-1"]

    assert isinstance(judged, Excluded if hours > 0 else Candidate)


def test_judge_keeps_a_snapshot_whose_keep_until_is_unreadable() -> None:
    judged = KIND.judge([snapshot({KEEP_UNTIL_TAG: "next spring"})], RULE, NOW)["snap-1"]

    assert judged == Excluded(f"{KEEP_UNTIL_TAG} is not an ISO instant: 'next spring'")


def test_a_whole_cycle_calls_only_what_the_kind_declares(estate: dict[str, str]) -> None:
    whole_cycle(KIND, RULE, among=set(estate.values()))  # not the snapshots of moto's own AMIs
