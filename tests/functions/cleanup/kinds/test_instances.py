"""Stopped instances against moto: listing with the storage terminating deletes, what holds them (a group,
termination protection), termination (twice is safe); the TTL and stopped-for rules are pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.cleanup.kinds.base import Candidate, Excluded, Resource
from functions.cleanup.kinds.instances import KIND, Rule, stopped_at
from tests.support.aws import REGION

from .support import scope, setup_client, whole_cycle

SCOPE = scope("stopped-instance")
RULE = Rule()
NOW = datetime(2026, 6, 1, tzinfo=UTC)
TTL = "deckhand:ttl"


@pytest.fixture
def instances(aws: None) -> dict[str, str]:
    ec2 = setup_client("ec2")
    image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]

    def launch(tags: dict[str, str]) -> str:
        spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
        launched = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=spec)
        return str(launched["Instances"][0]["InstanceId"])

    made = {
        "expired": launch({"Name": "report-batch", TTL: "2020-01-01T00:00:00Z"}),
        "protected": launch({"Name": "keep"}),
        "running": launch({"Name": "web"}),
    }
    # moto ignores RunInstances' DisableApiTermination; ModifyInstanceAttribute sets it.
    ec2.modify_instance_attribute(InstanceId=made["protected"], DisableApiTermination={"Value": True})
    ec2.stop_instances(InstanceIds=[made["expired"], made["protected"]])
    return made


def test_find_lists_stopped_instances_with_the_storage_they_take_along(instances: dict[str, str]) -> None:
    found = {instance.id: instance for instance in KIND.find(SCOPE, RULE)}

    assert set(found) == {instances["expired"], instances["protected"]}
    expired = found[instances["expired"]]
    assert expired.tags[TTL] == "2020-01-01T00:00:00Z"
    assert expired.details["stopped_at"] is not None
    assert expired.details["volumes"]  # the root volume goes with the instance
    assert expired.created.utcoffset() == timedelta(0)


def test_in_use_holds_termination_protected_and_group_instances(instances: dict[str, str]) -> None:
    found = list(KIND.find(SCOPE, RULE))
    grouped = Resource(
        kind="stopped-instance",
        id="i-warm",
        region=REGION,
        created=NOW,
        tags={"aws:autoscaling:groupName": "workers"},
    )

    used = KIND.in_use(SCOPE, RULE, [*found, grouped])

    assert used == {instances["protected"]: "termination-protected", "i-warm": "Auto Scaling group workers"}


def test_act_terminates_and_twice_is_safe(instances: dict[str, str]) -> None:
    expired = next(i for i in KIND.find(SCOPE, RULE) if i.id == instances["expired"])
    candidate = Candidate("terminate", 0.8, "TTL passed")

    KIND.act(SCOPE, expired, candidate, RULE)
    KIND.act(SCOPE, expired, candidate, RULE)

    assert {i.id for i in KIND.find(SCOPE, RULE)} == {instances["protected"]}


def test_mark_tags_the_instances(instances: dict[str, str]) -> None:
    KIND.mark(SCOPE, list(KIND.find(SCOPE, RULE)), "deckhand:cleanup-after", "2026-06-08")

    assert {i.tags.get("deckhand:cleanup-after") for i in KIND.find(SCOPE, RULE)} == {"2026-06-08"}


def instance(tags: dict[str, str], stopped: datetime | None = None) -> Resource:
    details = {"stopped_at": stopped.isoformat() if stopped else None, "volumes": [("gp3", 100)]}
    return Resource(
        kind="stopped-instance", id="i-1", region=REGION, created=NOW - timedelta(days=90), tags=tags, details=details
    )


@given(st.integers(-2000, 2000), st.integers(0, 400), st.one_of(st.none(), st.integers(1, 365)))
def test_a_ttl_tag_decides_when_there_is_one(hours: int, stopped_days: int, stopped_for: int | None) -> None:
    ttl = NOW + timedelta(hours=hours)
    rule = Rule(stopped_for_days=stopped_for)
    tagged = instance({TTL: ttl.strftime("%Y-%m-%dT%H:%M:%SZ")}, NOW - timedelta(days=stopped_days))

    judged = KIND.judge([tagged], rule, NOW)["i-1"]

    assert isinstance(judged, Candidate) == (hours <= 0)


@given(st.integers(0, 400), st.integers(1, 365))
def test_without_a_ttl_tag_only_the_stopped_time_can_qualify(stopped_days: int, stopped_for: int) -> None:
    untagged = instance({}, NOW - timedelta(days=stopped_days))

    assert isinstance(KIND.judge([untagged], Rule(), NOW)["i-1"], Excluded)
    judged = KIND.judge([untagged], Rule(stopped_for_days=stopped_for), NOW)["i-1"]
    assert isinstance(judged, Candidate) == (stopped_days >= stopped_for)


def test_judge_prices_the_deleted_volumes_and_refuses_an_unreadable_ttl() -> None:
    judged = KIND.judge([instance({TTL: "2026-05-01T00:00:00Z"})], RULE, NOW)["i-1"]
    assert judged == Candidate("terminate", 8.0, "TTL passed: 2026-05-01T00:00Z")
    assert KIND.judge([instance({TTL: "soon"})], RULE, NOW)["i-1"] == Excluded(f"{TTL} is not an ISO instant: 'soon'")
    assert KIND.judge([instance({}, None)], Rule(stopped_for_days=3), NOW)["i-1"] == Excluded(
        "stopped, but since when is unknown"
    )


def test_stopped_at_reads_aws_and_moto_reasons() -> None:
    assert stopped_at("User initiated (2026-01-05 10:00:00 GMT)") == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert stopped_at("User initiated (2026-01-05 10:00:00 UTC)") == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert stopped_at("Server.ScheduledStop: Stopped due to scheduled retirement") is None


def test_a_whole_cycle_calls_only_what_the_kind_declares(instances: object) -> None:
    whole_cycle(KIND, RULE)
