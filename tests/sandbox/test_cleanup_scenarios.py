"""What the cleanup scenario expects of the seeded estate, and how it tells what is still there."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sandbox.cleanup_scenarios import Expected, expected, missing, present, removed, without_grant
from sandbox.cli import Demo, Functions, Paths
from sandbox.estate import Estate, recorded, seed


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
