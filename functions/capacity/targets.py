"""Read a target's live levels and apply a planned Change, through whoever owns its capacity.

Never fight the autoscaler: a target registered with Application Auto Scaling moves by
RegisterScalableTarget min/max, an Auto Scaling group by UpdateAutoScalingGroup min/max (desired only
when going to zero or restoring), and raw capacity (an ECS service's desired count, a Lambda alias's
provisioned concurrency) is written only where no scalable target is registered.

What to call is decided by pure functions (`calls`, and the `to_*` conversions of responses); `apply`
only runs those calls through a `Targets`, and in dry-run runs none of them. The flow sees AWS through the
`Targets` interface: `AwsTargets` is boto3's (the handler's), the tests have an in-memory twin. Its `read`
makes one call where it can (the owner's describe); whether a deployment keeps the target busy
(`check_deployment`) and its opt-in tags (`tags`) cost more calls and are asked only when they matter.
`at(place)` is the same interface in a member account and region of the organization, through the member role.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import ClientError

from functions.shared.clients import client
from functions.shared.members import Place

from . import alarms
from .declared import ScalableId, resource, scalable_id
from .model import NOT_SUSPENDED, Call, Change, Levels, Owner, Suspension
from .policy import Capacity, Target

if TYPE_CHECKING:  # a planned call's parameters are typed as its request, so the service model checks them
    from mypy_boto3_application_autoscaling.type_defs import (
        RegisterScalableTargetRequestTypeDef,
        ScalableTargetTypeDef,
        SuspendedStateTypeDef,
    )
    from mypy_boto3_autoscaling.type_defs import (
        AutoScalingGroupTypeDef,
        InstanceRefreshTypeDef,
        ScalingProcessQueryRequestTypeDef,
        UpdateAutoScalingGroupTypeTypeDef,
    )
    from mypy_boto3_ecs.type_defs import ServiceTypeDef, UpdateServiceRequestTypeDef
    from mypy_boto3_lambda.type_defs import (
        DeleteProvisionedConcurrencyConfigRequestTypeDef,
        PutProvisionedConcurrencyConfigRequestTypeDef,
    )

# The ASG processes that scale it on its own: alarms (both dynamic flags) and scheduled actions.
DYNAMIC_PROCESS = "AlarmNotification"
SCHEDULED_PROCESS = "ScheduledActions"
REFRESH_BUSY = ("Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking")
APPLICATION_AUTOSCALING: Owner = "application-autoscaling"


class UnknownTarget(LookupError):
    """The policy has no such target, or its resource does not exist."""


class ApplyFailed(RuntimeError):
    """A call failed: `made` lists the calls that succeeded before it (the live levels may be partly changed)."""

    def __init__(self, target: str, failed: Call, made: list[Call], cause: Exception) -> None:
        super().__init__(f"target {target!r}: {failed.service}.{failed.method} failed: {cause}")
        self.target = target
        self.failed = failed
        self.made = made
        self.cause = cause


@dataclass(frozen=True)
class Live:
    """What the live resource says: its levels, owner and whether a deployment keeps it busy."""

    target: str
    owner: Owner
    levels: Levels
    suspended: Suspension = NOT_SUSPENDED
    deployment_in_progress: bool = False
    busy: str | None = None  # why it is busy, said to the operator
    tags: Mapping[str, str] = field(default_factory=dict)
    arn: str = ""  # the scalable target's ARN, where its tags live


# --- resolving --------------------------------------------------------------------------------------


def find(policy: Capacity, name: str) -> Target:
    target = policy.target(name)
    if target is None:
        known = ", ".join(sorted(t.name for t in policy.targets)) or "none"
        raise UnknownTarget(f"unknown capacity target {name!r}; known: {known}")
    return target


def missing(target: Target) -> UnknownTarget:
    """What reading a target whose resource does not exist raises, whoever reads it (an ECS service: `no_service`)."""
    if target.kind == "asg":
        return UnknownTarget(f"capacity target {target.name!r}: no Auto Scaling group {target.group!r}")
    if target.kind == "lambda-provisioned-concurrency":
        return UnknownTarget(
            f"capacity target {target.name!r}: no Lambda function {target.function}:{target.qualifier}"
        )
    ident = scalable_id(target)
    return UnknownTarget(
        f"capacity target {target.name!r}: no scalable target {ident.resource_id} ({ident.dimension}) is registered"
    )


def no_service(name: str, cluster: str, service: str) -> UnknownTarget:
    return UnknownTarget(f"capacity target {name!r}: no ECS service {service!r} in cluster {cluster!r}")


def ecs_service_of(resource_id: str) -> tuple[str, str] | None:
    """service/CLUSTER/SERVICE -> (cluster, service)."""
    parts = resource_id.split("/")
    return (parts[1], parts[2]) if len(parts) == 3 and parts[0] == "service" else None


# --- pure conversions of responses ------------------------------------------------------------------


def to_suspension(state: SuspendedStateTypeDef) -> Suspension:
    return Suspension(
        dynamic_in=state.get("DynamicScalingInSuspended", False),
        dynamic_out=state.get("DynamicScalingOutSuspended", False),
        scheduled=state.get("ScheduledScalingSuspended", False),
    )


def suspended_state(suspension: Suspension) -> SuspendedStateTypeDef:
    return {
        "DynamicScalingInSuspended": suspension.dynamic_in,
        "DynamicScalingOutSuspended": suspension.dynamic_out,
        "ScheduledScalingSuspended": suspension.scheduled,
    }


def to_scalable(name: str, raw: ScalableTargetTypeDef) -> Live:
    return Live(
        target=name,
        owner=APPLICATION_AUTOSCALING,
        levels=Levels(raw["MinCapacity"], raw["MaxCapacity"]),
        suspended=to_suspension(raw.get("SuspendedState", {})),
        arn=raw.get("ScalableTargetARN", ""),
    )


def to_group(name: str, raw: AutoScalingGroupTypeDef) -> Live:
    processes = {p.get("ProcessName") for p in raw.get("SuspendedProcesses", [])}
    dynamic = DYNAMIC_PROCESS in processes
    return Live(
        target=name,
        owner="asg",
        levels=Levels(raw["MinSize"], raw["MaxSize"], raw["DesiredCapacity"]),
        suspended=Suspension(dynamic, dynamic, SCHEDULED_PROCESS in processes),
        tags={t.get("Key", ""): t.get("Value", "") for t in raw.get("Tags", [])},
    )


def group_processes(suspension: Suspension) -> dict[str, bool]:
    """Whether each of the group's own scaling processes is to be suspended: one dynamic flag is enough."""
    return {DYNAMIC_PROCESS: suspension.dynamic_in or suspension.dynamic_out, SCHEDULED_PROCESS: suspension.scheduled}


def refresh_busy(refreshes: Sequence[InstanceRefreshTypeDef]) -> str | None:
    for refresh in refreshes:
        status = refresh.get("Status")
        if status in REFRESH_BUSY:
            return f"instance refresh {refresh.get('InstanceRefreshId', '?')} is {status}"
    return None


def deployment_busy(service: ServiceTypeDef) -> str | None:
    deployments = service.get("deployments", [])
    if len(deployments) > 1:
        return f"ECS service {service.get('serviceName', '?')} has {len(deployments)} deployments"
    rolling = [d for d in deployments if d.get("rolloutState") == "IN_PROGRESS"]
    if rolling:
        return f"ECS deployment {rolling[0].get('id', '?')} is IN_PROGRESS"
    return None


def lambda_arn(function: str, home_arn: str, place: Place | None = None) -> str:
    """A function name as an ARN in `place`, by default the account and region of `home_arn` (Deckhand's own
    function), in the partition of `home_arn`."""
    if function.startswith("arn:"):
        return function
    parts = home_arn.split(":")
    if len(parts) < 5 or parts[0] != "arn":
        raise ValueError(f"cannot place Lambda function {function!r}: {home_arn!r} is not an ARN")
    region, account = (parts[3], parts[4]) if place is None else (place.region, place.account)
    return f"arn:{parts[1]}:lambda:{region}:{account}:function:{function}"


def raw_count(levels: Levels) -> int:
    """Raw capacity is one number: the desired count, or min when the plan has none."""
    return levels.desired if levels.desired is not None else levels.min


# --- the live side: the interface the flow uses, and AWS's ----------------------------------------


class Targets(Protocol):
    """What the flow reads of a target and its alarms, and how a planned call is made."""

    def read(self, target: Target) -> Live: ...

    def check_deployment(self, target: Target, live: Live) -> str | None: ...

    def tags(self, target: Target, live: Live, home_arn: str) -> Mapping[str, str]: ...

    def in_alarm(self, target: Target) -> list[str]: ...

    def alarm_state(self, name: str) -> str | None:
        """The alarm's state as DescribeAlarms says it, or None when there is no such alarm."""
        ...

    def make(self, planned: Call) -> None: ...

    def at(self, place: Place) -> Targets:
        """The targets of another account or region, read and changed through `place.role`."""
        ...


def _with_deployment(live: Live, busy: str | None) -> Live:
    return replace(live, deployment_in_progress=busy is not None, busy=busy)


class AwsTargets:
    """Targets through the shared boto3 clients: the function's own account and region, or `place`."""

    def __init__(self, place: Place | None = None) -> None:
        self.place = place

    def at(self, place: Place) -> AwsTargets:
        return AwsTargets(place)

    @property
    def where(self) -> tuple[str | None, str | None]:
        """The region and role of the clients: the function's own (None, None), or the place's."""
        return (None, None) if self.place is None else (self.place.region, self.place.role)

    def read(self, target: Target) -> Live:
        """The live levels of one target, from whoever owns its capacity: one describe call (two for an
        unregistered ECS service or Lambda alias, whose registration is looked up first).

        The deployment state comes with it only where the same call says it (raw ECS, Lambda); for a
        registered ECS service and an Auto Scaling group ask `check_deployment`.
        """
        if target.kind == "asg":
            return self._read_group(target)
        ident = scalable_id(target)
        registered = self._describe_scalable(ident)
        if registered is not None:
            return to_scalable(target.name, registered)
        if target.kind == "scalable-target":
            raise missing(target)
        if target.kind == "ecs-service":
            service = self._describe_service(target.name, resource(target, "cluster"), resource(target, "service"))
            count = service.get("desiredCount", 0)
            live = Live(target.name, "raw", Levels(count, count, count))
            return _with_deployment(live, deployment_busy(service))
        return self._read_provisioned(target)

    def check_deployment(self, target: Target, live: Live) -> str | None:
        """Why a deployment or instance refresh keeps the target busy, or None; one call where `read` did not say."""
        if target.kind == "asg":
            refreshes = client("autoscaling", *self.where).describe_instance_refreshes(
                AutoScalingGroupName=resource(target, "group"), MaxRecords=5
            )
            return refresh_busy(refreshes.get("InstanceRefreshes", []))
        if live.owner == APPLICATION_AUTOSCALING:
            ident = scalable_id(target)
            ecs = ecs_service_of(ident.resource_id) if ident.namespace == "ecs" else None
            return None if ecs is None else deployment_busy(self._describe_service(target.name, ecs[0], ecs[1]))
        return live.busy

    def tags(self, target: Target, live: Live, home_arn: str) -> Mapping[str, str]:
        """The resource's tags, for a target that opts in by tag; `home_arn` places a Lambda function by name."""
        if target.kind == "asg":
            return live.tags
        if target.kind == "ecs-service":
            service = self._describe_service(
                target.name, resource(target, "cluster"), resource(target, "service"), tags=True
            )
            return {t.get("key", ""): t.get("value", "") for t in service.get("tags", [])}
        if target.kind == "lambda-provisioned-concurrency":
            found = client("lambda", *self.where).list_tags(
                Resource=lambda_arn(resource(target, "function"), home_arn, self.place)
            )
            return dict(found.get("Tags", {}))
        if not live.arn:
            return {}
        found = client("application-autoscaling", *self.where).list_tags_for_resource(ResourceARN=live.arn)
        return dict(found.get("Tags", {}))

    def in_alarm(self, target: Target) -> list[str]:
        """The target's scale-out alarms now in ALARM (one call for up to 100 alarms)."""
        names = target.alarms.scale_out if target.alarms is not None else []
        cloudwatch = client("cloudwatch", *self.where)
        return [
            name
            for batch in alarms.batches(names)
            for name in alarms.firing(
                cloudwatch.describe_alarms(AlarmNames=batch, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
            )
        ]

    def alarm_state(self, name: str) -> str | None:
        found = client("cloudwatch", *self.where).describe_alarms(
            AlarmNames=[name], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        )
        alarm = next(iter([*found.get("MetricAlarms", []), *found.get("CompositeAlarms", [])]), None)
        return None if alarm is None else alarm.get("StateValue")

    def make(self, planned: Call) -> None:
        getattr(client(planned.service, *self.where), planned.method)(**planned.params)

    def _describe_scalable(self, ident: ScalableId) -> ScalableTargetTypeDef | None:
        response = client("application-autoscaling", *self.where).describe_scalable_targets(
            ServiceNamespace=ident.namespace, ResourceIds=[ident.resource_id], ScalableDimension=ident.dimension
        )
        found = response.get("ScalableTargets", [])
        return found[0] if found else None

    def _describe_service(self, name: str, cluster: str, service: str, *, tags: bool = False) -> ServiceTypeDef:
        ecs = client("ecs", *self.where)
        response = (
            ecs.describe_services(cluster=cluster, services=[service], include=["TAGS"])
            if tags
            else ecs.describe_services(cluster=cluster, services=[service])
        )
        found = [s for s in response.get("services", []) if s.get("status") != "INACTIVE"]
        if not found:
            raise no_service(name, cluster, service)
        return found[0]

    def _read_group(self, target: Target) -> Live:
        autoscaling = client("autoscaling", *self.where)
        group = resource(target, "group")
        groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
        if not groups:
            raise missing(target)
        return to_group(target.name, groups[0])

    def _read_provisioned(self, target: Target) -> Live:
        lam = client("lambda", *self.where)
        try:
            config = lam.get_provisioned_concurrency_config(
                FunctionName=resource(target, "function"), Qualifier=resource(target, "qualifier")
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "ProvisionedConcurrencyConfigNotFoundException":
                return Live(target.name, "raw", Levels(0, 0, 0))
            if code == "ResourceNotFoundException":
                raise missing(target) from error
            raise
        count = config.get("RequestedProvisionedConcurrentExecutions", 0)
        busy = "provisioned concurrency is being allocated" if config.get("Status") == "IN_PROGRESS" else None
        return Live(target.name, "raw", Levels(count, count, count), deployment_in_progress=busy is not None, busy=busy)


# --- applying ---------------------------------------------------------------------------------------


def calls(change: Change, target: Target, owner: Owner) -> list[Call]:
    """The calls that carry out `change` on `target` owned by `owner`: pure, and empty when nothing changes."""
    if change.target != target.name:
        raise ValueError(f"the change is for {change.target!r}, not {target.name!r}")
    if not change.changes_anything:
        return []
    after = change.after
    if owner == APPLICATION_AUTOSCALING:
        if target.kind == "asg":
            raise ValueError(f"target {target.name!r}: an Auto Scaling group is not an Application Auto Scaling target")
        ident = scalable_id(target)
        params: RegisterScalableTargetRequestTypeDef = {
            "ServiceNamespace": ident.namespace,
            "ResourceId": ident.resource_id,
            "ScalableDimension": ident.dimension,
            "MinCapacity": after.min,
            "MaxCapacity": after.max,
        }
        if change.suspended_after != change.suspended_before:
            params["SuspendedState"] = suspended_state(change.suspended_after)
        return [Call("application-autoscaling", "register_scalable_target", params)]
    if owner == "asg":
        return _group_calls(change, target)
    # raw: nothing else owns it
    count = raw_count(after)
    if target.kind == "ecs-service":
        service: UpdateServiceRequestTypeDef = {
            "cluster": resource(target, "cluster"),
            "service": resource(target, "service"),
            "desiredCount": count,
        }
        return [Call("ecs", "update_service", service)]
    if target.kind == "lambda-provisioned-concurrency":
        function, qualifier = resource(target, "function"), resource(target, "qualifier")
        if count == 0:
            gone: DeleteProvisionedConcurrencyConfigRequestTypeDef = {"FunctionName": function, "Qualifier": qualifier}
            return [Call("lambda", "delete_provisioned_concurrency_config", gone)]
        provisioned: PutProvisionedConcurrencyConfigRequestTypeDef = {
            "FunctionName": function,
            "Qualifier": qualifier,
            "ProvisionedConcurrentExecutions": count,
        }
        return [Call("lambda", "put_provisioned_concurrency_config", provisioned)]
    raise ValueError(f"target {target.name!r}: an {target.kind} has no raw capacity to write")


def _group_calls(change: Change, target: Target) -> list[Call]:
    if target.kind != "asg":
        raise ValueError(f"target {target.name!r} is an {target.kind}, not an Auto Scaling group")
    after, group = change.after, resource(target, "group")
    update: UpdateAutoScalingGroupTypeTypeDef = {
        "AutoScalingGroupName": group,
        "MinSize": after.min,
        "MaxSize": after.max,
    }
    if (after.max == 0 or change.restored) and after.desired is not None:
        update["DesiredCapacity"] = after.desired
    made = [Call("autoscaling", "update_auto_scaling_group", update)]
    was, will = group_processes(change.suspended_before), group_processes(change.suspended_after)
    for method, moved in (
        ("suspend_processes", [p for p in will if will[p] and not was[p]]),
        ("resume_processes", [p for p in will if was[p] and not will[p]]),
    ):
        if moved:
            processes: ScalingProcessQueryRequestTypeDef = {"AutoScalingGroupName": group, "ScalingProcesses": moved}
            made.append(Call("autoscaling", method, processes))
    return made


def apply(change: Change, policy: Capacity, owner: Owner, *, dry_run: bool, through: Targets) -> list[Call]:
    """Carry out `change`; returns the calls made, or in dry-run the calls it would make (and makes none)."""
    target = find(policy, change.target)
    planned = calls(change, target, owner)
    if dry_run:
        return planned
    made: list[Call] = []
    for planned_call in planned:
        try:
            through.make(planned_call)
        except ClientError as error:
            raise ApplyFailed(target.name, planned_call, made, error) from error
        made.append(planned_call)
    return made
