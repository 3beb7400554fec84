"""The contract of CloudWatch.at and CloudWatch.home: the same assertions against the in-memory twin and AwsCloudWatch
on moto with two accounts (moto ties the credentials AssumeRole returns to the role's account: its "Multi-Account
support" docs), so the member tests' twin cannot drift from what the boto3 adapter does through a member role."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Protocol

import boto3
import pytest

from functions.gating.observe import AwsCloudWatch, CloudWatch
from functions.shared.members import Place
from tests.functions.gating.twins import Alarm, MemoryCloudWatch
from tests.support.aws import session_as
from tests.support.gating import put_5xx_alarm
from tests.support.places import ACCOUNT, REGION

MEMBER = "210987654321"
ROLE = f"arn:aws:iam::{MEMBER}:role/deckhand-member-gating"
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class Organization(Protocol):
    cloudwatch: CloudWatch  # the hub's

    def alarm(self, account: str, name: str, state: str) -> None: ...


class Twin:
    def __init__(self) -> None:
        self.twin = MemoryCloudWatch()
        self.cloudwatch: CloudWatch = self.twin

    def alarm(self, account: str, name: str, state: str) -> None:
        there = self.twin if account == ACCOUNT else self.twin.elsewhere(account, REGION)
        there.alarms_by_name[name] = Alarm(state, f"set to {state}")  # type: ignore[arg-type]


class Moto:
    def __init__(self) -> None:
        self.cloudwatch: CloudWatch = AwsCloudWatch()

    def alarm(self, account: str, name: str, state: str) -> None:
        # In a member, its operator as the member role itself.
        session = boto3.session.Session(region_name=REGION) if account == ACCOUNT else session_as(ROLE, REGION)
        cloudwatch = session.client("cloudwatch")
        put_5xx_alarm(cloudwatch, name)
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"set to {state}")


@pytest.fixture(params=["twin", pytest.param("moto", marks=pytest.mark.aws)])
def organization(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Organization]:
    monkeypatch.setenv("AWS_REGION", REGION)  # Lambda sets it
    if request.param == "twin":
        yield Twin()
    else:
        request.getfixturevalue("aws")
        yield Moto()


def test_home_is_the_functions_own_partition_account_and_region(organization: Organization) -> None:
    home = organization.cloudwatch.home()

    assert (home.partition, home.account, home.region) == ("aws", ACCOUNT, REGION)


def test_alarms_are_read_in_the_member_through_its_role_and_the_hubs_stay_apart(organization: Organization) -> None:
    organization.alarm(ACCOUNT, "web-app-5xx", "OK")
    organization.alarm(MEMBER, "web-app-5xx", "ALARM")
    organization.alarm(MEMBER, "web-app-latency", "OK")

    there = organization.cloudwatch.at(Place(MEMBER, REGION, ROLE))

    assert [(a.name, a.state) for a in there.alarms(NOW, names=["web-app-5xx"])] == [("web-app-5xx", "ALARM")]
    assert sorted(a.name for a in there.alarms(NOW, prefix="web-app-")) == ["web-app-5xx", "web-app-latency"]
    assert [(a.name, a.state) for a in organization.cloudwatch.alarms(NOW, prefix="web-app-")] == [
        ("web-app-5xx", "OK")
    ]
