"""The contract of observe.CloudWatch: the same assertions against the in-memory twin and AwsCloudWatch on the
sandbox's moto server (mute rules are its gap), so the twin the flow tests run on cannot drift."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest

from functions.gating import observe
from functions.gating.observe import AwsCloudWatch, CloudWatch, observe_alarms, observe_metrics, plan_metrics
from functions.gating.policy import AlarmCheck, Gate
from tests.functions.gating.twins import Alarm, MemoryCloudWatch, MuteRule
from tests.support import places
from tests.support.gating import REGION, GatingSandbox, put_5xx_alarm

NOW = datetime(2026, 11, 21, 12, 0, 30, tzinfo=UTC)
BALANCER = {"LoadBalancer": "app/web/1"}
ELB = {"namespace": "AWS/ApplicationELB", "dimensions": BALANCER}
BUDGET = {
    "objective_percent": 99.9,
    "errors": {**ELB, "name": "HTTPCode_Target_5XX_Count"},
    "requests": {**ELB, "name": "RequestCount"},
}


class Account(Protocol):
    cloudwatch: CloudWatch
    home: tuple[str, str]  # the account and region its alarms live in

    def alarm(self, name: str, state: str = "OK", reason: str = "", tags: dict[str, str] | None = None) -> None: ...

    def mute(self, rule: str, alarms: list[str], began: datetime, duration: timedelta) -> None: ...

    def put(self, name: str, at: datetime, value: float) -> None: ...


class Twin:
    def __init__(self) -> None:
        self.twin = MemoryCloudWatch()
        self.cloudwatch: CloudWatch = self.twin
        self.home = (places.ACCOUNT, places.REGION)

    def alarm(self, name: str, state: str = "OK", reason: str = "", tags: dict[str, str] | None = None) -> None:
        self.twin.alarms_by_name[name] = Alarm(state, reason, tags=dict(tags or {}))  # type: ignore[arg-type]

    def mute(self, rule: str, alarms: list[str], began: datetime, duration: timedelta) -> None:
        self.twin.mute_rules[rule] = MuteRule(alarms, began, duration)

    def put(self, name: str, at: datetime, value: float) -> None:
        self.twin.put("AWS/ApplicationELB", name, BALANCER, at, value)


class Sandbox:
    def __init__(self, sandbox: GatingSandbox) -> None:
        self.client = sandbox.client("cloudwatch")
        self.cloudwatch: CloudWatch = AwsCloudWatch()
        self.home = (sandbox.account, REGION)

    def alarm(self, name: str, state: str = "OK", reason: str = "", tags: dict[str, str] | None = None) -> None:
        put_5xx_alarm(self.client, name, tags)
        self.client.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason or "set by a test")

    def mute(self, rule: str, alarms: list[str], began: datetime, duration: timedelta) -> None:
        minutes = int(duration.total_seconds() // 60)
        self.client.put_alarm_mute_rule(
            Name=rule,
            Rule={"Schedule": {"Expression": f"at({began:%Y-%m-%dT%H:%M})", "Duration": f"PT{minutes}M"}},
            MuteTargets={"AlarmNames": alarms},
        )

    def put(self, name: str, at: datetime, value: float) -> None:
        self.client.put_metric_data(
            Namespace="AWS/ApplicationELB",
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in BALANCER.items()],
                    "Timestamp": at,
                    "Value": value,
                }
            ],
        )


@pytest.fixture(params=["twin", pytest.param("sandbox", marks=pytest.mark.aws)])
def account(request: pytest.FixtureRequest) -> Iterator[Account]:
    if request.param == "twin":
        yield Twin()
    else:
        yield Sandbox(request.getfixturevalue("sandbox"))


def seen(observations: Any) -> dict[str, tuple[str, str, str]]:
    return {a.name: (a.kind, a.state, a.reason) for a in observations}


def test_alarms_are_described_by_name_and_by_prefix_with_their_state_and_reason(account: Account) -> None:
    account.alarm("web-5xx")
    account.alarm("web-latency", "ALARM", "p99 above 2 s")
    account.alarm("db-cpu", "INSUFFICIENT_DATA", "no data")

    assert seen(account.cloudwatch.alarms(NOW, names=["web-latency", "gone"])) == {
        "web-latency": ("metric", "ALARM", "p99 above 2 s")
    }
    assert set(seen(account.cloudwatch.alarms(NOW, prefix="web-"))) == {"web-5xx", "web-latency"}
    assert seen(account.cloudwatch.alarms(NOW, names=["db-cpu"]))["db-cpu"][1:] == ("INSUFFICIENT_DATA", "no data")


def test_it_says_the_account_and_region_whose_alarms_it_reads(account: Account) -> None:
    # what a selection placed elsewhere is told apart from (observe.reach)
    home = account.cloudwatch.home()
    assert (home.partition, home.account, home.region) == ("aws", *account.home)


def test_alarms_are_found_by_every_tag_they_carry(account: Account) -> None:
    account.alarm("canary", tags={"deckhand:gate": "web-app", "team": "web"})
    account.alarm("other", tags={"deckhand:gate": "api"})
    account.alarm("untagged")

    assert account.cloudwatch.tagged_alarm_names({"deckhand:gate": "web-app"}) == ["canary"]
    assert account.cloudwatch.tagged_alarm_names({"deckhand:gate": "web-app", "team": "db"}) == []


def test_an_active_mute_rule_mutes_its_alarms_until_its_window_ends(account: Account) -> None:
    account.alarm("web-5xx")
    account.alarm("web-latency")
    now = datetime.now(UTC)
    began = now.replace(second=0, microsecond=0) - timedelta(minutes=10)
    account.mute("release", ["web-5xx"], began, timedelta(hours=1))
    account.mute("over", ["web-latency"], began - timedelta(hours=3), timedelta(hours=1))

    muted = account.cloudwatch.active_mutes({"web-5xx", "web-latency"}, now)

    assert set(muted) == {"web-5xx"}
    assert muted["web-5xx"].until == began + timedelta(hours=1)
    assert muted["web-5xx"].rule.endswith(":alarm-mute-rule:release")
    observed = {
        a.name: a for a in observe_alarms(AlarmCheck(names=["web-5xx", "web-latency"]), now, account.cloudwatch)
    }
    assert (observed["web-5xx"].muted_until, observed["web-latency"].muted_until) == (began + timedelta(hours=1), None)


def test_an_error_budget_sums_the_same_buckets(account: Account) -> None:
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    moments = [now - timedelta(minutes=ago + 1) for ago in range(90)]
    for ago, at in enumerate(moments):
        account.put("RequestCount", at, 100.0)
        account.put("HTTPCode_Target_5XX_Count", at, 2.0 if ago < 10 else 0.0)
    made = plan_metrics(
        Gate.model_validate({"pipeline": "web-app", "stage": "Deploy", "error_budget": BUDGET}), now, None
    )

    sums = observe_metrics(made, account.cloudwatch)

    assert made.recent is not None
    before_end = [at for at in moments if at < made.recent.end]
    assert sums.requests_by_window[5] == 500.0
    assert sums.requests_by_window[60] == 6000.0
    assert sums.requests_by_window[360] == 100.0 * len(before_end)
    assert sums.errors_by_window[360] == 2.0 * sum(at >= now - timedelta(minutes=10) for at in before_end)
    budget_end = (made.budget or made.recent).end  # the hour's sums end at StartTime's 5-minute rounding
    in_budget = [at for at in before_end if at < budget_end]
    assert sums.budget_requests == 100.0 * len(in_budget)
    assert math.isclose(sums.budget_errors or 0, 2.0 * sum(at >= now - timedelta(minutes=10) for at in in_budget))


def test_a_missing_named_alarm_is_insufficient_data_saying_why(account: Account) -> None:
    [gone] = observe_alarms(AlarmCheck(names=["gone"]), NOW, account.cloudwatch)
    assert (gone.state, gone.reason) == ("INSUFFICIENT_DATA", observe.missing_alarm("gone", NOW).reason)
