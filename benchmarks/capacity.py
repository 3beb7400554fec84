"""The AWS calls of one alarm-driven capacity change: an ECS service registered with Application Auto Scaling.

In moto, in-process: the audit table, topic and switches the stack deploys, the example policy's `web`
target (cluster web-app, service web, scalable 2..10), then web-cpu-high going to ALARM. The switch cache
is warmed first (a warm container reads the switches at most every cache_seconds), so the counted run is
what one alarm costs; the cold read is reported beside it.
"""

from __future__ import annotations

import contextlib
import io
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from benchmarks.calls import counted_aws_calls, print_calls

# The change path, in the order the function makes them; everything else it calls is bookkeeping.
CHANGE_PATH = (
    "dynamodb.GetItem",
    "application-auto-scaling.DescribeScalableTargets",
    "application-auto-scaling.RegisterScalableTarget",
    "dynamodb.PutItem",
)
CHANGE_PATH_BUDGET = 4
ALARM = "web-cpu-high"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:deckhand-capacity"


@dataclass
class CapacityBench:
    change_path: Counter[str]
    bookkeeping: Counter[str]
    cold_switch_read: Counter[str]
    status: str
    bounds: tuple[int, int]


def alarm_event(name: str, state: str, at: datetime) -> dict[str, Any]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return {
        "version": "0",
        "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"],
        "detail": {
            "alarmName": name,
            "state": {"value": state, "reason": "bench", "timestamp": stamp},
            "previousState": {"value": "OK", "reason": "bench", "timestamp": stamp},
            "configuration": {"metrics": []},
        },
    }


def split(calls: Counter[str]) -> tuple[Counter[str], Counter[str]]:
    """The change path's calls (with the audit record's PutItem moved to bookkeeping) and the rest."""
    path: Counter[str] = Counter()
    rest = Counter(calls)
    for name in CHANGE_PATH:
        if rest[name]:
            path[name] += 1
            rest[name] -= 1
    return path, +rest


def alarm_change() -> CapacityBench:
    import os

    import boto3
    from moto import mock_aws

    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from functions.capacity.config import CapacityConfig
    from functions.capacity.invocation import run
    from functions.shared.runtime import Runtime
    from stacks.policy import load_policy
    from stacks.versions import REPO_ROOT
    from tests.support.deployed import deploy
    from tests.support.gating import captured_logs

    policy = load_policy(REPO_ROOT / "deckhand.yaml")
    web = policy.capacity.target("web")
    if web is None or web.kind != "ecs-service":
        raise LookupError("deckhand.yaml has no ecs-service target named web")
    resource = f"service/{web.cluster}/{web.service}"
    now = datetime.now(UTC)
    # The function's JSON logs and EMF metrics would drown the figures.
    with mock_aws(), captured_logs(), contextlib.redirect_stdout(io.StringIO()):
        deployed = deploy()
        ecs = boto3.client("ecs")
        ecs.create_cluster(clusterName=str(web.cluster))
        task = ecs.register_task_definition(
            family=str(web.service), containerDefinitions=[{"name": "web", "image": "web", "memory": 512}]
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster=str(web.cluster), serviceName=str(web.service), taskDefinition=task, desiredCount=2)
        boto3.client("application-autoscaling").register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId=resource,
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=2,
            MaxCapacity=10,
        )
        settings = replace(deployed.runtime.settings, default_dry_run=False)
        config = CapacityConfig(policy.capacity, "deckhand-capacity", "arn:aws:iam::123456789012:role/bench")
        with counted_aws_calls() as cold:
            rt = Runtime.build(settings, clock=lambda: datetime.now(UTC))  # a cold container's runtime
            rt.switches.read()
        with counted_aws_calls() as calls:
            answer = run(alarm_event(ALARM, "ALARM", now), rt, config, function_arn=FUNCTION_ARN)
        [found] = boto3.client("application-autoscaling").describe_scalable_targets(
            ServiceNamespace="ecs", ResourceIds=[resource]
        )["ScalableTargets"]
    path, bookkeeping = split(calls)
    return CapacityBench(
        path, bookkeeping, Counter(cold), str(answer["status"]), (found["MinCapacity"], found["MaxCapacity"])
    )


def report() -> None:
    bench = alarm_change()
    path, rest = sum(bench.change_path.values()), sum(bench.bookkeeping.values())
    print(
        f"capacity: {ALARM} in ALARM for web (ECS, registered with Application Auto Scaling, moto in-process): "
        f"{bench.status}, bounds now {bench.bounds[0]}..{bench.bounds[1]}"
    )
    print("  change path:")
    print_calls(bench.change_path)
    print("  bookkeeping (audit record, notice; the switches come from the warm cache):")
    print_calls(bench.bookkeeping)
    print(f"  a cold container first reads the switches: {sum(bench.cold_switch_read.values())} call(s)")
    print_calls(bench.cold_switch_read)
    print(
        f"capacity: one alarm-driven change = {path} AWS calls on the change path "
        f"(at most {CHANGE_PATH_BUDGET}), {path + rest} with bookkeeping"
    )
