"""A moto account with what the capacity function works on: an ECS service registered with Application Auto
Scaling, its alarms, the scheduler group, the audit table, topic and switches; and a movable clock."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.capacity.config import CapacityConfig
from functions.capacity.invocation import run
from functions.capacity.model import Levels
from functions.capacity.policy import Capacity
from functions.capacity.store import StateStore, Stored
from functions.shared import clients
from functions.shared.runtime import Runtime
from tests.support.aws import REGION
from tests.support.clock import Clock
from tests.support.deployed import Deployed, deploy

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # a Friday
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:deckhand-capacity"
ROLE_ARN = "arn:aws:iam::123456789012:role/deckhand-capacity-scheduler"
GROUP = "deckhand-capacity"
ALARM_SAMPLE = json.loads(Path("tests/events/cloudwatch-alarm-state-change-metric.json").read_text())
MUTATING = ("Register", "Update", "Put", "Delete", "Create", "Disable", "Enable", "Suspend", "Resume", "Publish")

WEB: dict[str, Any] = {
    "name": "web",
    "kind": "ecs-service",
    "cluster": "main",
    "service": "web",
    "floor": 0,
    "ceiling": 40,
    "max_step": 10,
    "cooldown_minutes": 5,
    "flap": {"max_changes": 4, "window_minutes": 60},
    "alarms": {"scale_out": ["web-cpu-high", "web-latency-high"], "step": 2},
    "profiles": {"day": {"min": 4, "max": 20}, "night": {"min": 1, "max": 4}, "zero": {"min": 0, "max": 0}},
    "schedules": [
        {"profile": "day", "at": "08:00", "timezone": "Europe/Paris"},
        {"profile": "zero", "at": "22:00", "timezone": "Europe/Paris", "except_dates": ["2026-12-31"]},
        {"profile": "night", "at": "20:00", "timezone": "Europe/Paris", "except_dates": ["2026-11-20"]},
    ],
    "mute_at_zero": ["web-unhealthy"],
}


def policy_of(*targets: dict[str, Any]) -> Capacity:
    return Capacity.model_validate({"targets": list(targets) or [WEB]})


@dataclass
class Recorded:
    """Every AWS call Deckhand's clients make, as (service.Operation, params); faults to inject by operation."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    faults: dict[str, list[int]] = field(default_factory=dict)  # operation -> which occurrences fail (1-based)

    def hook(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        name = event_name.removeprefix("before-parameter-build.")
        self.calls.append((name, params))
        seen = sum(1 for made, _ in self.calls if made == name)
        if seen in self.faults.get(name, []):
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, name.split(".")[1])

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def mutating(self) -> list[str]:
        """Writes other than the audit trail's own records."""
        writes = [(n, p) for n, p in self.calls if n.split(".")[1].startswith(MUTATING)]
        return [n for n, p in writes if not (n == "dynamodb.PutItem" and p["Item"]["sk"]["S"] != "state")]

    def clear(self) -> None:
        self.calls.clear()


@dataclass
class World:
    deployed: Deployed
    clock: Clock
    recorded: Recorded
    policy: Capacity = field(default_factory=policy_of)
    dry_run_default: bool = False

    @property
    def runtime(self) -> Runtime:
        settings = replace(self.deployed.runtime.settings, default_dry_run=self.dry_run_default)
        return Runtime.build(settings, clock=self.clock)

    def run(self, event: Any, *, runtime: Runtime | None = None) -> dict[str, Any]:
        config = CapacityConfig(self.policy, GROUP, ROLE_ARN)
        return run(event, runtime or self.runtime, config, function_arn=FUNCTION_ARN, correlation_id="req-1")

    def alarm(self, name: str, state: str, **detail: Any) -> dict[str, Any]:
        event = copy.deepcopy(ALARM_SAMPLE)
        event["time"] = self.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        event["detail"].pop("muteDetail")
        event["detail"]["alarmName"] = name
        event["detail"]["state"]["value"] = state
        event["detail"]["state"]["timestamp"] = self.clock.now.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        event["detail"].update(detail)
        boto3.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")
        return self.run(event)

    def schedule(self, index: int, target: str = "web") -> dict[str, Any]:
        profile = self.policy.target(target).schedules[index].profile  # type: ignore[union-attr]
        return self.run({"trigger": "schedule", "target": target, "profile": profile, "schedule": index})

    def live(self) -> Levels:
        found = boto3.client("application-autoscaling").describe_scalable_targets(
            ServiceNamespace="ecs", ResourceIds=["service/main/web"]
        )["ScalableTargets"][0]
        return Levels(found["MinCapacity"], found["MaxCapacity"])

    def stored(self, target: str = "web") -> Stored:
        return StateStore(self.deployed.runtime.settings.audit_table).load(target)

    def audit(self) -> list[dict[str, Any]]:
        items = [i for i in self.deployed.audit_items() if i["sk"]["S"] != "state"]
        return sorted(items, key=lambda i: i["sk"]["S"])

    def actions_enabled(self, alarm: str) -> bool:
        return bool(boto3.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["ActionsEnabled"])

    def schedules(self) -> list[dict[str, Any]]:
        scheduler = boto3.client("scheduler")
        names = [s["Name"] for s in scheduler.list_schedules(GroupName=GROUP)["Schedules"]]
        return [scheduler.get_schedule(Name=name, GroupName=GROUP) for name in names]


def make_service(desired: int = 0) -> None:
    """moto's deployment is COMPLETED only with no task wanted: desired 0 means no deployment in progress."""
    ecs = boto3.client("ecs")
    ecs.create_cluster(clusterName="main")
    ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "nginx", "memory": 64}])
    ecs.create_service(cluster="main", serviceName="web", taskDefinition="web", desiredCount=desired)


def register_web(low: int, high: int) -> None:
    boto3.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId="service/main/web",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=low,
        MaxCapacity=high,
    )


def make_alarms(*names: str) -> None:
    cloudwatch = boto3.client("cloudwatch")
    for name in names:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            MetricName="CPUUtilization",
            Namespace="AWS/ECS",
            Statistic="Average",
            Period=60,
            EvaluationPeriods=1,
            Threshold=80,
            ComparisonOperator="GreaterThanThreshold",
            AlarmActions=["arn:aws:sns:us-east-1:123456789012:pager"],
        )
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test")


@pytest.fixture
def recorded(aws: None) -> Iterator[Recorded]:
    record = Recorded()
    clients.reset()
    session = clients._session()
    session.events.register("before-parameter-build", record.hook)
    yield record
    session.events.unregister("before-parameter-build", record.hook)


@pytest.fixture
def world(aws: None, recorded: Recorded) -> World:
    deployed = deploy()
    boto3.client("scheduler").create_schedule_group(Name=GROUP)
    make_service(desired=0)
    register_web(4, 20)
    make_alarms("web-cpu-high", "web-latency-high", "web-unhealthy")
    return World(deployed, Clock(NOW), recorded)
