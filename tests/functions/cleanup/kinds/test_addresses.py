"""Elastic IPs against moto: listing, release (twice is safe), marks; judge is pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.cleanup.kinds.addresses import KIND, Rule
from functions.cleanup.kinds.base import Candidate, Excluded, Resource
from tests.support.aws import REGION

from .support import record_calls, scope, setup_client, whole_cycle

SCOPE = scope("elastic-ip")
RULE = Rule()
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def addresses(aws: None) -> dict[str, str]:
    ec2 = setup_client("ec2")
    image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    spec = [{"ResourceType": "elastic-ip", "Tags": [{"Key": "Name", "Value": "old-nat"}]}]
    idle = ec2.allocate_address(Domain="vpc", TagSpecifications=spec)["AllocationId"]
    bound = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=bound, InstanceId=instance)
    return {"idle": idle, "bound": bound, "instance": instance}


def test_find_and_judge_tell_an_idle_address_from_an_associated_one(addresses: dict[str, str]) -> None:
    found = {address.id: address for address in KIND.find(SCOPE, RULE)}
    judged = KIND.judge(list(found.values()), RULE, NOW)

    assert found[addresses["idle"]].name == "old-nat"
    idle = found[addresses["idle"]]
    assert judged[idle.id] == Candidate("release", 3.65, f"{idle.details['public_ip']} is associated with nothing")
    bound = judged[addresses["bound"]]
    assert isinstance(bound, Excluded)
    assert addresses["instance"] in bound.why
    assert KIND.in_use(SCOPE, RULE, list(found.values())) == {}


def test_act_releases_and_twice_is_safe(addresses: dict[str, str]) -> None:
    idle = next(address for address in KIND.find(SCOPE, RULE) if address.id == addresses["idle"])

    KIND.act(SCOPE, idle, Candidate("release", 3.65, "idle"), RULE)
    KIND.act(SCOPE, idle, Candidate("release", 3.65, "idle"), RULE)

    assert {address.id for address in KIND.find(SCOPE, RULE)} == {addresses["bound"]}


def test_mark_tags_the_addresses_in_one_call(addresses: dict[str, str]) -> None:
    calls = record_calls("ec2")

    KIND.mark(SCOPE, list(KIND.find(SCOPE, RULE)), "deckhand:cleanup-after", "2026-06-08")

    assert calls.count() == {"DescribeAddresses": 1, "CreateTags": 1}
    assert {a.tags.get("deckhand:cleanup-after") for a in KIND.find(SCOPE, RULE)} == {"2026-06-08"}


def test_judge_counts_no_saving_for_a_byoip_address() -> None:
    address = Resource(
        kind="elastic-ip",
        id="eipalloc-1",
        region=REGION,
        created=NOW,
        details={"public_ip": "198.51.100.7", "associated_with": [], "pool": "ipv4pool-ec2-0123"},
    )

    assert KIND.judge([address], RULE, NOW)["eipalloc-1"] == Candidate(
        "release", 0.0, "198.51.100.7 is associated with nothing"
    )


def test_a_whole_cycle_calls_only_what_the_kind_declares(addresses: object) -> None:
    whole_cycle(KIND, RULE)
