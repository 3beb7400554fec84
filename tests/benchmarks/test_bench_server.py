from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from benchmarks import estate
from benchmarks.cleanup import reset
from benchmarks.plan import plan
from benchmarks.server import Conditions, Limits, Meter, TokenBucket, action_of, serve


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_refuses_once_empty_and_refills_at_its_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(capacity=2, rate=4, clock=clock)
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    clock.now += 0.25
    assert [bucket.take(), bucket.take()] == [True, False]
    clock.now += 10
    assert sum(bucket.take() for _ in range(5)) == 2  # never more than its capacity


def test_requests_are_named_by_service_and_action() -> None:
    auth = "AWS4-HMAC-SHA256 Credential=bench/20261121/us-east-1/{}/aws4_request, SignedHeaders=host"
    ec2 = {"HTTP_AUTHORIZATION": auth.format("ec2"), "REQUEST_METHOD": "POST"}
    assert action_of(ec2, b"Action=DeleteSnapshot&Version=2016-11-15") == ("ec2", "DeleteSnapshot")
    dynamodb = {"HTTP_AUTHORIZATION": auth.format("dynamodb"), "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem"}
    assert action_of(dynamodb, b"{}") == ("dynamodb", "PutItem")
    assert action_of({"HTTP_AUTHORIZATION": auth.format("s3"), "REQUEST_METHOD": "PUT"}, b"data") == ("s3", "PUT")


def test_the_gap_fillers_leave_moto_as_it_was() -> None:
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.responses.elastic_block_store import ElasticBlockStore

    from benchmarks.server import filled_gaps

    before = ElasticBlockStore.describe_snapshots, TaggedEC2Resource.get_tags
    with filled_gaps():
        assert ElasticBlockStore.describe_snapshots is not before[0]
    assert (ElasticBlockStore.describe_snapshots, TaggedEC2Resource.get_tags) == before


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Meter]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        with serve() as running:
            yield running


def ec2(endpoint: str, **config: Any) -> Any:
    return boto3.client(
        "ec2",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(**config),
    )


def test_describe_snapshots_pages_by_owner_and_lists_shared_ones_without_owner(server: tuple[str, Meter]) -> None:
    endpoint, meter = server
    reset(endpoint)
    specs = plan(60, 3)
    ids = estate.seed(specs, datetime.now(UTC))
    own = {ids[s.index] for s in specs if not s.foreign}
    tally = meter.start(None)
    client = ec2(endpoint)
    pages = list(client.get_paginator("describe_snapshots").paginate(OwnerIds=["self"], MaxResults=5))
    assert [len(p["Snapshots"]) for p in pages[:-1]] == [5] * (len(pages) - 1)
    assert {s["SnapshotId"] for p in pages for s in p["Snapshots"]} == own
    assert tally.calls["ec2:DescribeSnapshots"] == len(pages) == -(-len(own) // 5)
    everything = client.describe_snapshots()["Snapshots"]
    assert {s["SnapshotId"] for s in everything} == set(ids.values())
    tagged = {s["SnapshotId"]: {t["Key"] for t in s.get("Tags", [])} for s in everything}
    assert all((estate.PROTECT_TAG in tagged[ids[s.index]]) == s.protected for s in specs)
    images = client.describe_images(Owners=["self"])["Images"]
    behind = {m["Ebs"]["SnapshotId"] for image in images for m in image["BlockDeviceMappings"]}
    assert behind == {ids[s.index] for s in specs if s.behind_image}
    with pytest.raises(ClientError, match=r"InvalidSnapshot\.InUse"):
        client.delete_snapshot(SnapshotId=next(iter(behind)))


def test_calls_over_the_limits_are_refused_as_ec2_refuses_them(server: tuple[str, Meter]) -> None:
    endpoint, meter = server
    tally = meter.start(Conditions(limits=Limits(mutating=(1, 0.001), describe=(2, 0.001))))
    client = ec2(endpoint, retries={"total_max_attempts": 1})
    client.describe_volumes()
    client.describe_volumes()
    with pytest.raises(ClientError) as refused:
        client.describe_volumes()
    assert refused.value.response["Error"]["Code"] == "RequestLimitExceeded"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    meter.start(None)
    assert tally.throttled == {"ec2:DescribeVolumes": 1}
    assert tally.calls == {"ec2:DescribeVolumes": 3}


def test_requests_in_flight_each_wait_the_latency_and_overlap(server: tuple[str, Meter]) -> None:
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    import benchmarks.server

    endpoint, meter = server
    meter.start(Conditions(latency_s=0.3))
    client = ec2(endpoint)
    started = time.monotonic()
    client.describe_volumes()
    one = time.monotonic() - started
    # Four requests at once must all be in their latency wait together: a Meter that answered one after the other
    # would never fill the barrier (and its requests would fail). A barrier, not a stopwatch: a loaded machine
    # stretches any duration.
    together = threading.Barrier(4, timeout=60)
    waits: list[float] = []

    def wait_together(seconds: float) -> None:
        waits.append(seconds)
        together.wait()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(benchmarks.server, "time", SimpleNamespace(monotonic=time.monotonic, sleep=wait_together))
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: client.describe_volumes(), range(4)))
    meter.start(None)

    assert one >= 0.3
    assert waits == [0.3] * 4
    assert [a["ResponseMetadata"]["HTTPStatusCode"] for a in answers] == [200] * 4


def test_a_measured_child_reports_its_own_peak_memory_not_the_benchmarks() -> None:
    import os
    import sys

    from benchmarks.measured import measured

    ballast = bytearray(200 * 1024 * 1024)  # the parent's peak, which ru_maxrss would hand down
    ballast[::4096] = b"x" * len(ballast[::4096])
    result = measured(sys.executable, "timeit:main", ["-n", "1", "pass"], {"PATH": os.defpath}).check("timeit")
    assert "1 loop" in result.stdout
    assert 1 < result.peak_rss_mb < 100
    assert result.wall_s > 0
