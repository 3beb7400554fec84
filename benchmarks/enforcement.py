"""What the sandbox's IAM enforcement adds to each request a deployed function makes.

The same role session sends the same mix of calls to the sandbox's server with enforcement on and off,
in alternating rounds so that both see the same machine; the difference per request is the authorizer's
cost (parse the call, map it to IAM requests, read the policies, ask the simulator or its cache). The
cleanup bench itself runs with enforcement off: Custodian, which it is compared with, has no role there.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import boto3

from benchmarks.server import HOST
from sandbox.gaps.app import make_app, serving

ROUNDS = 6
CALLS_PER_ROUND = 60
ADMIN = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
READS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ec2:DescribeSnapshots", "ec2:DescribeVolumes"], "Resource": "*"},
        {"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "arn:aws:ec2:*:*:snapshot/*"},
    ],
}


def role_session(endpoint: str) -> tuple[Any, list[str]]:
    """An EC2 client of an assumed role that may read and tag snapshots, and three snapshots to tag."""
    admin = boto3.session.Session(**ADMIN)
    iam, sts, ec2 = (admin.client(s, endpoint_url=endpoint) for s in ("iam", "sts", "ec2"))  # type: ignore[call-overload]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName="bench-reader", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName="bench-reader", PolicyName="reads", PolicyDocument=json.dumps(READS))
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    snapshots = [ec2.create_snapshot(VolumeId=volume)["SnapshotId"] for _ in range(3)]
    credentials = sts.assume_role(RoleArn=role, RoleSessionName="bench")["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="us-east-1",
    )
    return session.client("ec2", endpoint_url=endpoint), snapshots


def one_round(ec2: Any, snapshots: list[str]) -> float:
    """Milliseconds per call of reads and tag writes (a tag write is authorized with the snapshot's own tags).

    No DescribeSnapshots: moto's lists every public snapshot of its built-in AMIs, 0.4 s a call.
    """
    calls: list[Callable[[], Any]] = [
        lambda: ec2.describe_volumes(MaxResults=5),
        *(lambda s=s: ec2.create_tags(Resources=[s], Tags=[{"Key": "bench", "Value": "1"}]) for s in snapshots),
    ]
    started = time.perf_counter()
    for index in range(CALLS_PER_ROUND):
        calls[index % len(calls)]()
    return (time.perf_counter() - started) * 1000 / CALLS_PER_ROUND


def measure() -> dict[str, float]:
    app = make_app()
    assert app.enforcer is not None
    with serving(app, named=HOST) as endpoint:
        ec2, snapshots = role_session(endpoint)
        one_round(ec2, snapshots)  # warm the connection pool and the simulator's process
        on: list[float] = []
        off: list[float] = []
        for _ in range(ROUNDS):
            app.enforcer.enabled = True
            on.append(one_round(ec2, snapshots))
            app.enforcer.enabled = False
            off.append(one_round(ec2, snapshots))
        document = app.enforcer.document()
    cost = document["simulator"]
    return {
        "requests": ROUNDS * CALLS_PER_ROUND * 2,
        "on_ms": statistics.median(on),
        "off_ms": statistics.median(off),
        "simulated": float(cost["requests"]),
        "cache_hits": float(cost["cache_hits"]),
        "ms_per_distinct": float(cost["ms_per_distinct"]),
    }


def report() -> None:
    figures = measure()
    overhead = figures["on_ms"] - figures["off_ms"]
    print(
        f"sandbox IAM enforcement, one role session, {int(figures['requests'])} EC2 calls in {ROUNDS} alternating "
        f"rounds: {figures['on_ms']:.2f} ms per request enforced, {figures['off_ms']:.2f} ms not; "
        f"overhead {overhead:+.2f} ms per request ({figures['on_ms'] / figures['off_ms']:.2f}x); "
        f"{int(figures['simulated'])} simulations, {int(figures['cache_hits'])} from the cache, "
        f"{figures['ms_per_distinct']:.2f} ms per distinct request"
    )
    print("  the cleanup bench below runs with enforcement off: Custodian, compared with it, has no role there")
