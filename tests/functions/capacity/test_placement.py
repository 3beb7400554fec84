"""A target placed in another account or region than the function's is never read or acted on: the organization
fan-out (issue 13) is not built, and a same-named resource in the hub is not that target."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.capacity.model import Levels
from tests.functions.capacity.twins import ACCOUNT, REGION
from tests.functions.capacity.world import WEB, TwinWorld, policy_of

MEMBER = "210987654321"
APPLY = {"action": "apply", "target": "web", "min": 10, "dry_run": False}


def placed(**placement: str) -> TwinWorld:
    world = TwinWorld()
    world.policy = policy_of({**WEB, **placement})
    return world


@pytest.fixture(autouse=True)
def home_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)  # Lambda sets it; the function's ARN gives the account


def test_a_target_in_a_member_account_is_skipped_untouched_and_audited_naming_the_key() -> None:
    world = placed(account=MEMBER)

    answer = world.run(APPLY)

    [change] = answer["changes"]
    assert (answer["status"], change["status"]) == ("skipped", "skipped")
    assert f"capacity.targets[0].account {MEMBER}" in change["reason"]
    assert "fan-out" in change["reason"]
    assert world.targets.made == []
    assert world.targets.asked == []
    assert world.live() == Levels(4, 20)
    [record] = world.memory.audit.records
    assert (record.outcome, record.reason) == ("skipped", change["reason"])


def test_an_alarm_of_a_target_in_another_region_moves_nothing() -> None:
    world = placed(region="eu-west-1")

    answer = world.alarm("web-cpu-high", "ALARM")

    [change] = answer["changes"]
    assert change["status"] == "skipped"
    assert "capacity.targets[0].region eu-west-1" in change["reason"]
    assert world.targets.made == []
    assert world.targets.asked == []


def test_status_shows_a_member_target_without_reading_the_hub() -> None:
    world = placed(account=MEMBER, region="eu-west-1")

    [shown] = world.run({"action": "status"})["targets"]

    assert "capacity.targets[0].account" in shown["skipped"]
    assert ".region eu-west-1" in shown["skipped"]
    assert "live" not in shown
    assert world.targets.asked == []


def test_a_target_naming_the_functions_own_account_and_region_acts_as_without_them() -> None:
    world = placed(account=ACCOUNT, region=REGION)

    answer = world.run(APPLY)

    assert answer["changes"][0]["status"] == "changed"
    assert world.live() == Levels(10, 20)


OTHER_ACCOUNTS = st.sampled_from([MEMBER, "000000000000", "999999999999"])
OTHER_REGIONS = st.sampled_from(["eu-west-1", "us-west-2", "ap-southeast-2"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    account=st.none() | st.just(ACCOUNT) | OTHER_ACCOUNTS,
    region=st.none() | st.just(REGION) | OTHER_REGIONS,
    event=st.sampled_from(
        [
            APPLY,
            {"action": "pause", "target": "web", "dry_run": False},
            {"action": "apply", "target": "web", "profile": "zero", "dry_run": False},
        ]
    )
    | st.sampled_from(["ALARM", "OK"]),
)
def test_nothing_is_ever_read_or_changed_outside_the_functions_account_and_region(
    account: str | None, region: str | None, event: dict[str, Any] | str
) -> None:
    placement = {key: value for key, value in (("account", account), ("region", region)) if value is not None}
    world = placed(**placement)

    answer = world.alarm("web-cpu-high", event) if isinstance(event, str) else world.run(event)

    home = account in (None, ACCOUNT) and region in (None, REGION)
    [change] = answer["changes"]
    if home:
        assert change["status"] != "skipped"
    else:
        assert change["status"] == "skipped"
        assert world.targets.made == []
        assert world.targets.asked == []
        assert world.live() == Levels(4, 20)
