"""A moto account with what the capacity function works on: an ECS service registered with Application Auto
Scaling, its alarms, the scheduler group, the audit table, topic and switches; and a movable clock. `twin` is
the same account on the adapters' in-memory twins, for the flow tests that need no moto."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from functions.capacity.config import CapacityConfig
from functions.capacity.declared import ScalableId
from functions.capacity.invocation import run
from functions.capacity.model import Change, Levels, Trigger
from functions.capacity.policy import Capacity
from functions.capacity.store import StateStore, Stored
from functions.shared import clients
from functions.shared.audit import AuditRecord
from functions.shared.notify import Notice
from functions.shared.runtime import Runtime
from tests.support.aws import REGION
from tests.support.clock import Clock
from tests.support.deployed import Deployed, deploy
from tests.support.errors import throttling
from tests.support.runtime import MemoryRuntime

from .twins import MemoryStore, MemoryTargets, Service

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # a Friday
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:deckhand-capacity"
ROLE_ARN = "arn:aws:iam::123456789012:role/deckhand-capacity-scheduler"
GROUP = "deckhand-capacity"
WEB_ID = ScalableId("ecs", "service/main/web", "ecs:service:DesiredCount")
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


def alarm_event(name: str, state: str, now: datetime, **detail: Any) -> dict[str, Any]:
    """EventBridge's alarm state change (the sample from AWS's documentation) for `name` going to `state`."""
    event = copy.deepcopy(ALARM_SAMPLE)
    event["time"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    event["detail"].pop("muteDetail")
    event["detail"]["alarmName"] = name
    event["detail"]["state"]["value"] = state
    event["detail"]["state"]["timestamp"] = now.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    event["detail"].update(detail)
    return event


def schedule_event(policy: Capacity, index: int, target: str) -> dict[str, Any]:
    """What the deployed schedule `index` of `target` sends."""
    profile = policy.target(target).schedules[index].profile  # type: ignore[union-attr]
    return {"trigger": "schedule", "target": target, "profile": profile, "schedule": index}


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
            raise throttling(name.split(".")[1])

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
        boto3.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")
        return self.run(alarm_event(name, state, self.clock.now, **detail))

    def schedule(self, index: int, target: str = "web") -> dict[str, Any]:
        return self.run(schedule_event(self.policy, index, target))

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


def make_service(desired: int = 0, tags: Mapping[str, str] | None = None) -> None:
    """The cluster `main` and its service `web`. moto's deployment is COMPLETED only with no task wanted: desired 0
    means no deployment in progress."""
    ecs = boto3.client("ecs")
    ecs.create_cluster(clusterName="main")
    ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "nginx", "memory": 64}])
    ecs.create_service(
        cluster="main",
        serviceName="web",
        taskDefinition="web",
        desiredCount=desired,
        tags=[{"key": k, "value": v} for k, v in (tags or {}).items()],
    )


def register(ident: ScalableId, low: int, high: int) -> None:
    boto3.client("application-autoscaling").register_scalable_target(
        ServiceNamespace=ident.namespace,
        ResourceId=ident.resource_id,
        ScalableDimension=ident.dimension,
        MinCapacity=low,
        MaxCapacity=high,
    )


def register_web(low: int, high: int) -> None:
    register(WEB_ID, low, high)


def make_alarms(*names: str, state: str = "OK", cloudwatch: Any = None) -> None:
    """Scale-out alarms in `state`, made with `cloudwatch` (default: the home account's client)."""
    cloudwatch = cloudwatch or boto3.client("cloudwatch")
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
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")


def change(target: str, before: Levels, after: Levels, **more: Any) -> Change:
    """A manual change of `target` (`more`: the rest of Change's fields)."""
    return Change(
        target=target,
        before=before,
        after=after,
        reason="test",
        refused=more.pop("refused", None),
        trigger=Trigger("manual"),
        precedence=4,
        **more,
    )


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


# --- the same account in memory: the adapters' twins and an in-memory runtime ------------------------------


@dataclass
class TwinWorld:
    """What `world` sets up, on the twins of the capacity adapters: no moto, no AWS call at all."""

    clock: Clock = field(default_factory=lambda: Clock(NOW))
    targets: MemoryTargets = field(default_factory=MemoryTargets)
    store: MemoryStore = field(default_factory=MemoryStore)
    policy: Capacity = field(default_factory=policy_of)
    memory: MemoryRuntime = field(init=False)

    def __post_init__(self) -> None:
        self.memory = MemoryRuntime(self.clock, default_dry_run=False)
        self.targets.clusters.add("main")
        self.targets.services[("main", "web")] = Service(desired=0)
        self.targets.register(WEB_ID, 4, 20)
        for name in ("web-cpu-high", "web-latency-high", "web-unhealthy"):
            self.targets.alarms[name] = "OK"
            self.targets.actions_enabled[name] = True
        self.targets.schedule_groups.add(GROUP)

    def run(self, event: Any) -> dict[str, Any]:
        config = CapacityConfig(self.policy, GROUP, ROLE_ARN)
        return run(
            event,
            self.memory.runtime,
            config,
            function_arn=FUNCTION_ARN,
            correlation_id="req-1",
            targets=self.targets,
            store=self.store,
        )

    def alarm(self, name: str, state: str, **detail: Any) -> dict[str, Any]:
        self.targets.alarms[name] = state
        return self.run(alarm_event(name, state, self.clock.now, **detail))

    def schedule(self, index: int, target: str = "web") -> dict[str, Any]:
        return self.run(schedule_event(self.policy, index, target))

    def live(self, ident: ScalableId = WEB_ID) -> Levels:
        return self.targets.registered[ident].levels

    def stored(self, target: str = "web") -> Stored:
        return self.store.load(target)

    def audit(self) -> list[AuditRecord]:
        return self.memory.audit.records

    def notices(self) -> list[Notice]:
        return self.memory.notifier.sent

    def schedules(self) -> list[Mapping[str, Any]]:
        return [params for (group, _), params in sorted(self.targets.schedules.items()) if group == GROUP]


@pytest.fixture
def twin() -> TwinWorld:
    return TwinWorld()
