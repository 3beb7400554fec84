"""The contract of Targets.at: the same assertions against the in-memory twin and AwsTargets on moto with two
accounts (moto ties the credentials AssumeRole returns to the role's account: its "Multi-Account support" docs), so
the member tests' twin cannot drift from what the boto3 adapter does through a member role."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import boto3
import pytest

from functions.capacity.model import Levels
from functions.capacity.targets import AwsTargets, Targets, apply
from functions.shared.members import Place
from tests.functions.capacity.test_targets_contract import POLICY, WEB, WEB_ID
from tests.functions.capacity.twins import MemoryTargets, Service
from tests.functions.capacity.world import change, make_alarms
from tests.support.aws import REGION, session_as

MEMBER = "210987654321"
ROLE = f"arn:aws:iam::{MEMBER}:role/deckhand-member-capacity"
HOME = "123456789012"


class Organization(Protocol):
    targets: Targets  # the hub's

    def seed(self, account: str, low: int, high: int, alarm: str) -> None:
        """In `account`: the web service registered at low..high, and web-cpu-high in state `alarm`."""
        ...


class Twin:
    def __init__(self) -> None:
        self.twin = MemoryTargets()
        self.targets: Targets = self.twin

    def seed(self, account: str, low: int, high: int, alarm: str) -> None:
        there = self.twin if account == HOME else self.twin.elsewhere(account, REGION)
        there.clusters.add("main")
        there.services[("main", "web")] = Service(0)
        there.register(WEB_ID, low, high)
        there.alarms["web-cpu-high"] = alarm


class Moto:
    def __init__(self) -> None:
        self.targets: Targets = AwsTargets()

    def seed(self, account: str, low: int, high: int, alarm: str) -> None:
        # In the member, its operator as the member role itself.
        session = boto3.session.Session(region_name=REGION) if account == HOME else session_as(ROLE)
        if account != HOME:
            session.client("iam").create_role(RoleName=ROLE.rsplit("/", 1)[1], AssumeRolePolicyDocument="{}")
        ecs: Any = session.client("ecs")
        ecs.create_cluster(clusterName="main")
        ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "x", "memory": 64}])
        ecs.create_service(cluster="main", serviceName="web", taskDefinition="web", desiredCount=0)
        session.client("application-autoscaling").register_scalable_target(
            ServiceNamespace=WEB_ID.namespace,
            ResourceId=WEB_ID.resource_id,
            ScalableDimension=WEB_ID.dimension,
            MinCapacity=low,
            MaxCapacity=high,
        )
        make_alarms("web-cpu-high", state=alarm, cloudwatch=session.client("cloudwatch"))


@pytest.fixture(params=["twin", pytest.param("moto", marks=pytest.mark.aws)])
def organization(request: pytest.FixtureRequest) -> Iterator[Organization]:
    if request.param == "twin":
        yield Twin()
    else:
        request.getfixturevalue("aws")
        yield Moto()


def test_a_member_target_is_read_and_moved_in_the_member_only(organization: Organization) -> None:
    organization.seed(HOME, 1, 3, "OK")
    organization.seed(MEMBER, 2, 10, "ALARM")
    there = organization.targets.at(Place(MEMBER, REGION, ROLE))

    live = there.read(WEB)
    assert (live.owner, live.levels) == ("application-autoscaling", Levels(2, 10))
    assert f":{MEMBER}:" in live.arn
    assert there.alarm_state("web-cpu-high") == "ALARM"
    assert there.alarm_state("no-such-alarm") is None

    apply(change("web", live.levels, Levels(4, 12)), POLICY, live.owner, dry_run=False, through=there)

    assert there.read(WEB).levels == Levels(4, 12)
    assert organization.targets.read(WEB).levels == Levels(1, 3)
    assert organization.targets.alarm_state("web-cpu-high") == "OK"
