"""The contract of targets.Targets: the same assertions against the in-memory twin and AwsTargets on moto, so
the twin the flow tests run on cannot drift from what the boto3 adapter does."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Protocol

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.capacity import scheduler, targets
from functions.capacity.declared import ScalableId
from functions.capacity.model import Call, Levels, Suspension
from functions.capacity.policy import Capacity, Target
from functions.capacity.targets import AwsTargets, Targets, UnknownTarget, apply
from tests.functions.capacity import world
from tests.functions.capacity.twins import Group, MemoryTargets, Service
from tests.functions.capacity.world import change
from tests.support.aws import REGION

ALL = Suspension.every(True)
GROUP = "deckhand-capacity"
POLICY = Capacity.model_validate(
    {
        "targets": [
            {
                "name": "web",
                "kind": "ecs-service",
                "cluster": "main",
                "service": "web",
                "floor": 0,
                "ceiling": 40,
                "alarms": {"scale_out": ["web-cpu-high", "web-latency-high"]},
            },
            {"name": "workers", "kind": "asg", "group": "workers", "floor": 0, "ceiling": 40},
            {
                "name": "orders",
                "kind": "scalable-target",
                "namespace": "dynamodb",
                "dimension": "dynamodb:table:ReadCapacityUnits",
                "resource_id": "table/orders",
                "floor": 1,
                "ceiling": 400,
            },
        ]
    }
)
WEB_ID = ScalableId("ecs", "service/main/web", "ecs:service:DesiredCount")
ORDERS_ID = ScalableId("dynamodb", "table/orders", "dynamodb:table:ReadCapacityUnits")


def target(name: str) -> Target:
    found = POLICY.target(name)
    assert found is not None
    return found


WEB, WORKERS, ORDERS = target("web"), target("workers"), target("orders")


class Account(Protocol):
    """Sets an account up as its operator had, and says what the adapter cannot read back."""

    targets: Targets

    def cluster(self) -> None: ...

    def service(self, desired: int, tags: dict[str, str] | None = None) -> None: ...

    def register(self, ident: ScalableId, low: int, high: int) -> None: ...

    def group(self, low: int, high: int, desired: int, tags: dict[str, str]) -> None: ...

    def alarm(self, name: str, state: str) -> None: ...

    def schedule_group(self, name: str) -> None: ...

    def actions_enabled(self, alarm: str) -> bool: ...


class Twin:
    def __init__(self) -> None:
        self.twin = MemoryTargets()
        self.targets: Targets = self.twin

    def cluster(self) -> None:
        self.twin.clusters.add("main")

    def service(self, desired: int, tags: dict[str, str] | None = None) -> None:
        self.cluster()
        self.twin.services[("main", "web")] = Service(desired, dict(tags or {}))

    def register(self, ident: ScalableId, low: int, high: int) -> None:
        self.twin.register(ident, low, high)

    def group(self, low: int, high: int, desired: int, tags: dict[str, str]) -> None:
        self.twin.groups["workers"] = Group(Levels(low, high, desired), tags=tags)

    def alarm(self, name: str, state: str) -> None:
        self.twin.alarms[name] = state
        self.twin.actions_enabled[name] = True

    def schedule_group(self, name: str) -> None:
        self.twin.schedule_groups.add(name)

    def actions_enabled(self, alarm: str) -> bool:
        return self.twin.actions_enabled[alarm]


class Moto:
    def __init__(self) -> None:
        self.targets: Targets = AwsTargets()

    def cluster(self) -> None:
        boto3.client("ecs", region_name=REGION).create_cluster(clusterName="main")

    def service(self, desired: int, tags: dict[str, str] | None = None) -> None:
        world.make_service(desired, tags)

    def register(self, ident: ScalableId, low: int, high: int) -> None:
        world.register(ident, low, high)

    def group(self, low: int, high: int, desired: int, tags: dict[str, str]) -> None:
        ec2 = boto3.client("ec2", region_name=REGION)
        image = ec2.describe_images()["Images"][0]["ImageId"]
        ec2.create_launch_template(LaunchTemplateName="workers", LaunchTemplateData={"ImageId": image})
        boto3.client("autoscaling", region_name=REGION).create_auto_scaling_group(
            AutoScalingGroupName="workers",
            LaunchTemplate={"LaunchTemplateName": "workers"},
            MinSize=low,
            MaxSize=high,
            DesiredCapacity=desired,
            AvailabilityZones=[f"{REGION}a"],
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )

    def alarm(self, name: str, state: str) -> None:
        world.make_alarms(name, state=state)

    def schedule_group(self, name: str) -> None:
        boto3.client("scheduler", region_name=REGION).create_schedule_group(Name=name)

    def actions_enabled(self, alarm: str) -> bool:
        found = boto3.client("cloudwatch", region_name=REGION).describe_alarms(AlarmNames=[alarm])
        return bool(found["MetricAlarms"][0]["ActionsEnabled"])


@pytest.fixture(params=["twin", pytest.param("moto", marks=pytest.mark.aws)])
def account(request: pytest.FixtureRequest) -> Iterator[Account]:
    if request.param == "twin":
        yield Twin()
    else:
        request.getfixturevalue("aws")
        yield Moto()


def test_a_registered_ecs_service_is_read_and_moved_by_its_bounds(account: Account) -> None:
    account.service(desired=0)
    account.register(WEB_ID, 2, 10)
    live = account.targets.read(WEB)
    assert (live.owner, live.levels, live.suspended, live.deployment_in_progress) == (
        "application-autoscaling",
        Levels(2, 10),
        Suspension(),
        False,
    )
    assert live.arn
    assert account.targets.check_deployment(WEB, live) is None

    made = apply(change("web", live.levels, Levels(4, 12)), POLICY, live.owner, dry_run=False, through=account.targets)

    assert [c.method for c in made] == ["register_scalable_target"]
    assert account.targets.read(WEB).levels == Levels(4, 12)


def test_zero_and_restore_carry_each_suspended_flag_on_its_own(account: Account) -> None:
    account.service(desired=0)
    account.register(WEB_ID, 2, 10)
    only_in = Suspension(dynamic_in=True)
    zero = change("web", Levels(2, 10), Levels(0, 0), suspended_after=only_in)

    apply(zero, POLICY, "application-autoscaling", dry_run=False, through=account.targets)
    assert (account.targets.read(WEB).levels, account.targets.read(WEB).suspended) == (Levels(0, 0), only_in)

    back = change("web", Levels(0, 0), Levels(2, 10), suspended_after=only_in, restored=True)
    apply(back, POLICY, "application-autoscaling", dry_run=False, through=account.targets)
    assert (account.targets.read(WEB).levels, account.targets.read(WEB).suspended) == (Levels(2, 10), only_in)


def test_an_unregistered_ecs_service_is_raw_and_its_desired_count_is_written(account: Account) -> None:
    account.service(desired=0)
    live = account.targets.read(WEB)
    assert (live.owner, live.levels) == ("raw", Levels(0, 0, 0))

    apply(change("web", live.levels, Levels(5, 5, 5)), POLICY, "raw", dry_run=False, through=account.targets)

    assert account.targets.read(WEB).levels == Levels(5, 5, 5)


def test_an_asg_moves_min_and_max_and_desired_only_when_zeroing_or_restoring(account: Account) -> None:
    account.group(1, 4, 3, tags={"deckhand:capacity": "on"})
    live = account.targets.read(WORKERS)
    assert (live.owner, live.levels, live.suspended) == ("asg", Levels(1, 4, 3), Suspension())
    assert account.targets.tags(WORKERS, live, "") == {"deckhand:capacity": "on"}

    [step] = apply(
        change("workers", live.levels, Levels(2, 6, 5)), POLICY, "asg", dry_run=False, through=account.targets
    )
    assert "DesiredCapacity" not in step.params  # the group's own scaling owns desired
    assert account.targets.read(WORKERS).levels == Levels(2, 6, 3)

    zero = change("workers", Levels(2, 6, 3), Levels(0, 0, 0), suspended_after=ALL)
    made = apply(zero, POLICY, "asg", dry_run=False, through=account.targets)
    assert [c.method for c in made] == ["update_auto_scaling_group", "suspend_processes"]
    assert (account.targets.read(WORKERS).levels, account.targets.read(WORKERS).suspended) == (Levels(0, 0, 0), ALL)

    back = change("workers", Levels(0, 0, 0), Levels(1, 4, 3), suspended_before=ALL, restored=True)
    made = apply(back, POLICY, "asg", dry_run=False, through=account.targets)
    assert [c.method for c in made] == ["update_auto_scaling_group", "resume_processes"]
    assert (account.targets.read(WORKERS).levels, account.targets.read(WORKERS).suspended) == (
        Levels(1, 4, 3),
        Suspension(),
    )


@pytest.mark.parametrize("name", ["web", "workers", "orders"])
def test_a_target_whose_resource_is_missing_is_the_same_clear_error(account: Account, name: str) -> None:
    account.cluster()
    expected = targets.no_service(name, "main", "web") if name == "web" else targets.missing(target(name))
    with pytest.raises(UnknownTarget) as raised:
        account.targets.read(target(name))
    assert str(raised.value) == str(expected)


def test_an_ecs_service_in_a_missing_cluster_is_ecs_own_error(account: Account) -> None:
    """DescribeServices and UpdateService answer ClusterNotFoundException (botocore's ecs model lists it): the
    flow reports it as a failed call, not as a target the policy got wrong."""
    with pytest.raises(ClientError) as read:
        account.targets.read(WEB)
    assert read.value.response["Error"]["Code"] == "ClusterNotFoundException"
    with pytest.raises(ClientError) as written:
        account.targets.make(Call("ecs", "update_service", {"cluster": "main", "service": "web", "desiredCount": 2}))
    assert written.value.response["Error"]["Code"] == "ClusterNotFoundException"


@pytest.mark.parametrize("tags", [{"deckhand:capacity": "on"}, {}])
def test_the_opt_in_tag_is_seen_only_where_the_service_carries_it(account: Account, tags: dict[str, str]) -> None:
    account.service(desired=0, tags=tags)
    assert account.targets.tags(WEB, account.targets.read(WEB), "") == tags


def test_a_registered_target_without_an_arn_has_no_tags(account: Account) -> None:
    """moto 5.2.5 has no Application Auto Scaling ListTagsForResource: a tagged registration is the twin's alone
    (test_targets.py checks AwsTargets' call with a recording client)."""
    account.register(ORDERS_ID, 1, 5)
    orders = account.targets.read(ORDERS)
    assert orders.levels == Levels(1, 5)
    assert account.targets.tags(ORDERS, replace(orders, arn=""), "") == {}


def test_only_the_scale_out_alarms_in_alarm_are_firing(account: Account) -> None:
    account.alarm("web-cpu-high", "ALARM")
    account.alarm("web-latency-high", "OK")
    account.alarm("web-unhealthy", "ALARM")  # not one of the target's scale-out alarms

    assert account.targets.in_alarm(WEB) == ["web-cpu-high"]
    assert account.targets.in_alarm(WORKERS) == []


def test_muting_disables_and_unmuting_enables_alarm_actions(account: Account) -> None:
    account.alarm("web-unhealthy", "OK")
    account.targets.make(Call("cloudwatch", "disable_alarm_actions", {"AlarmNames": ["web-unhealthy"]}))
    assert not account.actions_enabled("web-unhealthy")
    account.targets.make(Call("cloudwatch", "enable_alarm_actions", {"AlarmNames": ["web-unhealthy"]}))
    assert account.actions_enabled("web-unhealthy")


def test_a_revert_schedule_is_created_once_and_deleted_once(account: Account) -> None:
    account.schedule_group(GROUP)
    create = Call(
        "scheduler",
        "create_schedule",
        {
            "Name": "web-revert-20261120090000",
            "GroupName": GROUP,
            "ScheduleExpression": "at(2026-11-20T23:00:00)",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {
                "Arn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                "RoleArn": "arn:aws:iam::123456789012:role/r",
            },
        },
    )
    account.targets.make(create)
    with pytest.raises(ClientError) as again:
        account.targets.make(create)
    assert again.value.response["Error"]["Code"] == "ConflictException"

    assert scheduler.delete("web-revert-20261120090000", GROUP, account.targets) is True
    assert scheduler.delete("web-revert-20261120090000", GROUP, account.targets) is False


def test_a_group_whose_bounds_pass_its_size_is_brought_inside_them(account: Account) -> None:
    """UpdateAutoScalingGroup: a new MinSize above the group's size raises its desired capacity to it, a new MaxSize
    below lowers it (botocore's autoscaling model documents both)."""
    account.group(1, 4, 3, tags={})
    apply(change("workers", Levels(1, 4, 3), Levels(5, 8, 3)), POLICY, "asg", dry_run=False, through=account.targets)
    assert account.targets.read(WORKERS).levels == Levels(5, 8, 5)
    apply(change("workers", Levels(5, 8, 5), Levels(1, 2, 5)), POLICY, "asg", dry_run=False, through=account.targets)
    assert account.targets.read(WORKERS).levels == Levels(1, 2, 2)
