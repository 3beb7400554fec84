"""In-memory twins of capacity's AWS adapters (targets.Targets, store.Store): the flow runs on them without moto.

They answer as AWS does, misuse included (test_targets_contract.py and test_store_contract.py run the same
assertions on them and on the boto3 adapters against moto): a missing resource is the same `UnknownTarget`, a
stale version the same `Conflict`, a duplicate or missing schedule the same ClientError code. A fault is
injected by naming the operation (`faults`): its next call fails with Throttling, as the moto tests' recorder
does.

The organization's member accounts and regions are twins of their own (`at`), each reached through a role; a role
listed in `denied` fails every call with AssumeRole's AccessDenied, as botocore's assumed-role credentials do on
the first call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from functions.capacity import targets
from functions.capacity.declared import ScalableId, resource, scalable_id
from functions.capacity.model import NOT_SUSPENDED, Call, Levels, Suspension
from functions.capacity.policy import Target
from functions.capacity.store import Stored, conflict, from_json, to_json
from functions.capacity.targets import APPLICATION_AUTOSCALING, Live
from tests.support.errors import client_error
from tests.support.places import PlacedTwin


@dataclass
class Faults:
    """Operations (an adapter's method, or a planned call's method) whose next call fails with Throttling."""

    failing: set[str] = field(default_factory=set)

    def check(self, operation: str) -> None:
        if operation in self.failing:
            self.failing.discard(operation)
            raise client_error("Throttling", operation, "Rate exceeded")


@dataclass
class Registration:
    """An Application Auto Scaling scalable target."""

    levels: Levels
    suspended: Suspension = NOT_SUSPENDED
    tags: dict[str, str] = field(default_factory=dict)
    arn: str = ""


@dataclass
class Group:
    levels: Levels  # min, max and desired
    suspended: Suspension = NOT_SUSPENDED
    tags: dict[str, str] = field(default_factory=dict)
    refreshing: str | None = None  # what DescribeInstanceRefreshes would say keeps it busy


@dataclass
class Service:
    desired: int
    tags: dict[str, str] = field(default_factory=dict)
    deploying: str | None = None  # what DescribeServices' deployments would say keeps it busy


@dataclass
class MemoryTargets(PlacedTwin):
    """The live side of capacity in memory: scalable targets, groups, ECS services, alarms and schedules.

    Lambda provisioned concurrency is not modelled (moto has none, so no contract could hold the twin to it): an
    unregistered Lambda target reads as missing."""

    principal: ClassVar[str] = "deckhand-capacity"

    registered: dict[ScalableId, Registration] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    clusters: set[str] = field(default_factory=set)
    services: dict[tuple[str, str], Service] = field(default_factory=dict)  # (cluster, service)
    alarms: dict[str, str] = field(default_factory=dict)  # name -> state
    actions_enabled: dict[str, bool] = field(default_factory=dict)
    schedule_groups: set[str] = field(default_factory=set)
    schedules: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)  # (group, name) -> params
    made: list[Call] = field(default_factory=list)  # every call made, in order
    asked: list[str] = field(default_factory=list)  # every read, in order
    faults: Faults = field(default_factory=Faults)

    # --- seeding, as an operator would have set the account up ---

    def register(self, ident: ScalableId, low: int, high: int, tags: Mapping[str, str] | None = None) -> None:
        arn = f"arn:aws:application-autoscaling:{self.region}:{self.account}:scalable-target/{len(self.registered):04d}"
        self.registered[ident] = Registration(Levels(low, high), tags=dict(tags or {}), arn=arn)

    # --- targets.Targets ---

    def read(self, target: Target) -> Live:
        self._ask("read")
        if target.kind == "asg":
            group = self.groups.get(resource(target, "group"))
            if group is None:
                raise targets.missing(target)
            return Live(target.name, "asg", group.levels, group.suspended, tags=dict(group.tags))
        ident = scalable_id(target)
        registration = self.registered.get(ident)
        if registration is not None:
            return Live(
                target.name,
                APPLICATION_AUTOSCALING,
                registration.levels,
                registration.suspended,
                arn=registration.arn,
            )
        if target.kind == "ecs-service":
            service = self._service(target.name, resource(target, "cluster"), resource(target, "service"))
            count = service.desired
            busy = service.deploying
            return Live(
                target.name, "raw", Levels(count, count, count), deployment_in_progress=busy is not None, busy=busy
            )
        raise targets.missing(target)

    def check_deployment(self, target: Target, live: Live) -> str | None:
        self._ask("check_deployment")
        if target.kind == "asg":
            group = self.groups.get(resource(target, "group"))
            return group.refreshing if group is not None else None
        if live.owner == APPLICATION_AUTOSCALING:
            ident = scalable_id(target)
            ecs = targets.ecs_service_of(ident.resource_id) if ident.namespace == "ecs" else None
            return None if ecs is None else self._service(target.name, *ecs).deploying
        return live.busy

    def tags(self, target: Target, live: Live, home_arn: str) -> Mapping[str, str]:
        self._ask("tags")
        if target.kind == "asg":
            return live.tags
        if target.kind == "ecs-service":
            service = self._service(target.name, resource(target, "cluster"), resource(target, "service"))
            return dict(service.tags)
        found = next((r for r in self.registered.values() if live.arn and r.arn == live.arn), None)
        return dict(found.tags) if found is not None else {}

    def in_alarm(self, target: Target) -> list[str]:
        self._ask("in_alarm")
        names = target.alarms.scale_out if target.alarms is not None else []
        return sorted(name for name in names if self.alarms.get(name) == "ALARM")

    def alarm_state(self, name: str) -> str | None:
        self._ask("alarm_state")
        return self.alarms.get(name)

    def make(self, planned: Call) -> None:
        if self.refusal is not None:
            raise self.refusal
        self.faults.check(planned.method)
        getattr(self, f"_{planned.method}")(**planned.params)
        self.made.append(planned)

    # --- the calls a plan makes, as their services answer them ---

    def _ask(self, operation: str) -> None:
        if self.refusal is not None:
            raise self.refusal
        self.asked.append(operation)
        self.faults.check(operation)

    def _service(self, name: str, cluster: str, service: str) -> Service:
        if cluster not in self.clusters:
            raise client_error("ClusterNotFoundException", "DescribeServices", "Cluster not found.")
        found = self.services.get((cluster, service))
        if found is None:
            raise targets.no_service(name, cluster, service)
        return found

    def _register_scalable_target(self, **params: Any) -> None:
        ident = ScalableId(params["ServiceNamespace"], params["ResourceId"], params["ScalableDimension"])
        if ident not in self.registered:
            self.register(ident, params["MinCapacity"], params["MaxCapacity"])
        registration = self.registered[ident]
        registration.levels = Levels(params["MinCapacity"], params["MaxCapacity"])
        if "SuspendedState" in params:
            registration.suspended = targets.to_suspension(params["SuspendedState"])

    def _update_auto_scaling_group(self, **params: Any) -> None:
        group = self.groups.get(params["AutoScalingGroupName"])
        if group is None:
            raise client_error("ValidationError", "UpdateAutoScalingGroup", "AutoScalingGroup name not found")
        low, high = params.get("MinSize", group.levels.min), params.get("MaxSize", group.levels.max)
        # UpdateAutoScalingGroup: a new MinSize above the group's size raises DesiredCapacity to it, a new MaxSize
        # below lowers it (botocore's autoscaling model, the operation's documentation).
        desired = params.get("DesiredCapacity", min(max(group.levels.desired or 0, low), high))
        group.levels = Levels(low, high, desired)

    def _suspend_processes(self, **params: Any) -> None:
        self._processes(params["AutoScalingGroupName"], params["ScalingProcesses"], suspended=True)

    def _resume_processes(self, **params: Any) -> None:
        self._processes(params["AutoScalingGroupName"], params["ScalingProcesses"], suspended=False)

    def _processes(self, name: str, processes: list[str], *, suspended: bool) -> None:
        group = self.groups[name]
        now = targets.group_processes(group.suspended) | dict.fromkeys(processes, suspended)
        dynamic = now[targets.DYNAMIC_PROCESS]
        group.suspended = Suspension(dynamic, dynamic, now[targets.SCHEDULED_PROCESS])

    def _update_service(self, **params: Any) -> None:
        if params["cluster"] not in self.clusters:
            raise client_error("ClusterNotFoundException", "UpdateService", "Cluster not found.")
        found = self.services.get((params["cluster"], params["service"]))
        if found is None:
            raise client_error("ServiceNotFoundException", "UpdateService", "Service not found.")
        found.desired = params["desiredCount"]

    def _disable_alarm_actions(self, **params: Any) -> None:
        self.actions_enabled.update(dict.fromkeys(params["AlarmNames"], False))

    def _enable_alarm_actions(self, **params: Any) -> None:
        self.actions_enabled.update(dict.fromkeys(params["AlarmNames"], True))

    def _create_schedule(self, **params: Any) -> None:
        key = (params["GroupName"], params["Name"])
        if params["GroupName"] not in self.schedule_groups:
            raise client_error(
                "ResourceNotFoundException", "CreateSchedule", f"Schedule group {key[0]} does not exist."
            )
        if key in self.schedules:
            raise client_error("ConflictException", "CreateSchedule", f"Schedule {key[1]} already exists.")
        self.schedules[key] = params

    def _delete_schedule(self, **params: Any) -> None:
        key = (params["GroupName"], params["Name"])
        if self.schedules.pop(key, None) is None:
            raise client_error("ResourceNotFoundException", "DeleteSchedule", f"Schedule {key[1]} does not exist.")


@dataclass
class MemoryStore:
    """store.Store in memory: each item kept as the table keeps it (its JSON and its version)."""

    items: dict[str, tuple[int, str]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)

    def load(self, target_id: str) -> Stored:
        self.faults.check("load")
        found = self.items.get(target_id)
        return Stored() if found is None else from_json(found[1], found[0])

    def save(self, target_id: str, stored: Stored, expected_version: int) -> Stored:
        self.faults.check("save")
        found = self.items.get(target_id)
        if (found[0] if found is not None else 0) != expected_version:
            raise conflict(target_id, expected_version)
        self.items[target_id] = (expected_version + 1, to_json(stored))
        return replace(stored, version=expected_version + 1)
