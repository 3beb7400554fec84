"""What the cleanup scenario expects of the seeded estate, and how it tells what is still there."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from functions.cleanup.declared import DELETER_ROLE_VARIABLE
from functions.cleanup.kinds import images
from functions.cleanup.kinds.base import Candidate, Resource, Scope
from functions.cleanup.kinds.images import Rule
from functions.shared import clients
from sandbox import REGION
from sandbox.cleanup_scenarios import Expected, expected, missing, present, removed, without_grant
from sandbox.demo import Demo
from sandbox.deployed import Functions
from sandbox.estate import Estate, recorded, seed
from sandbox.process import Paths
from tests.support.sandbox_server import Client, control


@pytest.fixture(scope="module")
def estate(endpoint: str) -> Estate:
    seed(endpoint, now=datetime.now(UTC))
    return recorded(endpoint)


@pytest.fixture(scope="module")
def demo(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    paths = Paths(Path(tmp_path_factory.mktemp("sandbox")))
    return Demo(endpoint, paths, Functions(endpoint, paths))


@pytest.fixture(scope="module")
def want(estate: Estate) -> Expected:
    return expected(estate)


def test_the_estate_holds_a_candidate_of_every_kind_and_something_to_keep_for_each_reason(want: Expected) -> None:
    assert want.candidates() == {
        "ebs-snapshot": 3,
        "ebs-volume": 1,
        "ami": 1,
        "ecr-image": 2,
        "log-group": 4,
        "lambda-version": 3,
        "elastic-ip": 1,
        "cfn-stack": 2,
        "stopped-instance": 1,
    }
    assert set(want.kept) == {"protected", "in use", "too young"}
    assert all(want.kept.values())


def test_nothing_is_both_to_remove_and_to_keep(want: Expected) -> None:
    going = {ident for _, ident in removed(want)}
    staying = {ident for resources in want.kept.values() for _, ident in resources}
    assert not going & staying
    assert not going & set(want.retention_set)


def test_every_expected_resource_is_found_by_id_after_seeding(demo: Demo, want: Expected) -> None:
    everything = removed(want) + [r for resources in want.kept.values() for r in resources]
    assert missing(demo, everything) == []


def test_a_removed_resource_is_no_longer_present(demo: Demo, estate: Estate) -> None:
    [address] = [a for a in estate.unassociated_addresses if a not in estate.protected]
    demo.client("ec2").release_address(AllocationId=address)
    assert not present(demo, "elastic-ip", address)
    [stack, *_] = estate.expired_stacks
    demo.client("cloudformation").delete_stack(StackName=stack)
    assert not present(demo, "cfn-stack", stack)
    version = estate.function_versions[0]
    name, _, number = version.rpartition(":")
    demo.client("lambda").delete_function(FunctionName=name, Qualifier=number)
    assert not present(demo, "lambda-version", version)


def test_a_removed_grant_leaves_the_statements_other_actions() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ec2:ReleaseAddress", "Resource": "*"},
            {"Effect": "Allow", "Action": ["ec2:ReleaseAddress", "ec2:DeleteVolume"], "Resource": "*"},
        ],
    }

    assert without_grant(document, "ec2:ReleaseAddress")["Statement"] == [
        {"Effect": "Allow", "Action": ["ec2:DeleteVolume"], "Resource": "*"}
    ]


def test_an_amis_snapshot_the_sandbox_holds_in_use_right_after_deregistration_is_deleted_on_a_retry(
    endpoint: str, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    ec2 = client("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    mappings = [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}]
    image = ec2.register_image(Name="released", RootDeviceName="/dev/xvda", BlockDeviceMappings=mappings)["ImageId"]
    after = {"action": "DeregisterImage", "id": image}
    failure = {"action": "DeleteSnapshot", "id": snapshot, "code": "InvalidSnapshot.InUse", "after": after}
    assert control(endpoint, "POST", "/_sandbox/failures", failure)[0] == 200
    for name, value in (("AWS_ENDPOINT_URL", endpoint), ("AWS_ACCESS_KEY_ID", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv(DELETER_ROLE_VARIABLE, raising=False)
    slept: list[float] = []
    monkeypatch.setattr(images.time, "sleep", slept.append)
    clients.reset()
    resource = Resource("ami", image, REGION, datetime.now(UTC), details={"snapshots": [snapshot], "gib": 8})

    try:
        images.KIND.act(Scope("123456789012", REGION, "ami"), resource, Candidate("deregister", 0.4, "unused"), Rule())
    finally:
        clients.reset()

    assert slept == [images.RELEASE_DELAYS[0]]  # refused once, deleted on the first retry
    assert snapshot not in {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    answered = control(endpoint, "GET", "/_sandbox/failures")[1]["answered"]
    assert [f["code"] for f in answered if f["id"] == snapshot] == ["InvalidSnapshot.InUse"]
