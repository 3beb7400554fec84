"""Alarms a gate or a watchdog selects in a member account or region are read there, through the gating member role,
and nowhere else: a same-named alarm in the hub never vouches for them, a selection that cannot be read blocks the
gate, and the watchdog acts on the hub's pipeline only on an alarm confirmed where it lives. On the adapters' twins
(tests/functions/gating/world.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.gating.gate import bindings
from functions.gating.policy import Gating
from functions.gating.watchdog.flow import run as watchdog
from functions.shared.members import MEMBER_ROLE_VARIABLE, Place
from tests.functions.gating.twins import Alarm, MemoryCloudWatch
from tests.functions.gating.world import PIPELINE, TwinEstate
from tests.support.gating import fake_context, gating, web_app_gate
from tests.support.places import ACCOUNT, REGION

MEMBER = "210987654321"
OTHER = "000011112222"
ROLE_NAME = "deckhand-member-gating"
EVALUATE = {"action": "evaluate", "pipeline": PIPELINE, "stage": "Deploy"}
WATCHED = {"alarms": ["web-app-5xx"], "action": "rollback"}


def role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/{ROLE_NAME}"


def placement(account: str | None, region: str | None) -> dict[str, str]:
    return {key: value for key, value in (("account", account), ("region", region)) if value is not None}


def gated(account: str | None = None, region: str | None = None, **alarms: Any) -> Gating:
    selection = {"names": ["web-app-5xx"], **alarms, **placement(account, region)}
    return gating(web_app_gate(alarms=selection))


def watching(*placements: dict[str, str]) -> Gating:
    """One gate per placement, on Deploy then on the stages before it, each watching web-app-5xx."""
    stages = ["Deploy", "Approve", "Gate"]
    return gating(
        *(
            web_app_gate(stage=stage, approvals=[], alarms=None, watchdog={**WATCHED, **placed})
            for stage, placed in zip(stages, placements, strict=False)
        )
    )


def set_alarm(cloudwatch: MemoryCloudWatch, state: str) -> None:
    cloudwatch.alarms_by_name["web-app-5xx"] = Alarm(state, f"set to {state}")  # type: ignore[arg-type]


def evaluate(estate: TwinEstate, policy: Gating) -> dict[str, Any]:
    return bindings.route(EVALUATE, lambda: estate.memory.runtime, lambda: policy, fake_context(), estate.aws)


def alarmed(estate: TwinEstate, policy: Gating, account: str = ACCOUNT, region: str = REGION) -> dict[str, Any]:
    """web-app-5xx goes to ALARM in the hub; its event, as `account`/`region` would have it forwarded."""
    event = estate.alarm_event("web-app-5xx", "ALARM")
    event.update({"account": account, "region": region})
    return watchdog(event, estate.memory.runtime, policy, slots=estate.slots, aws=estate.aws)


@pytest.fixture(autouse=True)
def member_role(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MEMBER_ROLE_VARIABLE, ROLE_NAME)  # the stack sets it when the policy has an organization


@pytest.fixture
def estate() -> TwinEstate:
    return TwinEstate()


# --- the gate -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("state", "verdict"), [("OK", "proceed"), ("ALARM", "wait")])
def test_the_gate_decides_on_the_members_alarm_never_on_the_hubs_same_named_one(
    estate: TwinEstate, state: str, verdict: str
) -> None:
    estate.alarm("web-app-5xx", "ALARM" if state == "OK" else "OK")  # the hub's says the opposite
    set_alarm(estate.cloudwatch.elsewhere(MEMBER, "eu-west-1"), state)

    result = evaluate(estate, gated(account=MEMBER, region="eu-west-1"))

    assert result["decision"]["verdict"] == verdict
    assert estate.cloudwatch.reached == [Place(MEMBER, "eu-west-1", role(MEMBER))]
    assert "alarms" not in estate.cloudwatch.asked


def test_assume_role_denied_blocks_the_gate_naming_the_account_and_the_role(estate: TwinEstate) -> None:
    estate.cloudwatch.denied.add(role(MEMBER))

    # insufficient_data "pass" lets a missing alarm through; an unread selection never goes through
    result = evaluate(estate, gated(account=MEMBER, insufficient_data="pass"))

    assert result["decision"]["verdict"] == "block"
    [reason] = result["decision"]["reasons"]
    assert f"alarms in account {MEMBER} region {REGION} could not be read through {role(MEMBER)}" in reason
    assert "AssumeRole" in reason
    assert result["observed"]["alarms_unread"] in reason


def test_without_the_member_role_a_member_selection_blocks_by_name(
    estate: TwinEstate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MEMBER_ROLE_VARIABLE)

    result = evaluate(estate, gated(account=MEMBER))

    assert result["decision"]["verdict"] == "block"
    assert f"{MEMBER_ROLE_VARIABLE} is not set" in result["decision"]["reasons"][0]
    assert estate.cloudwatch.reached == []


def test_a_selection_naming_the_functions_own_account_and_region_is_read_at_home(estate: TwinEstate) -> None:
    estate.alarm("web-app-5xx", "OK")

    result = evaluate(estate, gated(account=ACCOUNT, region=REGION))

    assert result["decision"]["verdict"] == "proceed"
    assert estate.cloudwatch.reached == []


# --- the watchdog ---------------------------------------------------------------------------------------


def test_the_watchdog_rolls_the_hub_stage_back_on_an_alarm_confirmed_in_the_member(estate: TwinEstate) -> None:
    good = estate.deployed(120)
    estate.deployed(10)
    set_alarm(estate.cloudwatch.elsewhere(MEMBER), "ALARM")

    result = alarmed(estate, watching({"account": MEMBER}), account=MEMBER)

    [deploy] = result["stages"]
    assert (deploy["outcome"], deploy["target"]) == ("rolled-back", good)
    assert estate.pipelines.made == ["RollbackStage"]
    assert estate.cloudwatch.elsewhere(MEMBER).asked == ["alarms", "active_mutes"]
    assert "alarms" not in estate.cloudwatch.asked


def test_the_watchdog_does_nothing_on_a_member_event_that_describe_alarms_there_contradicts(
    estate: TwinEstate,
) -> None:
    estate.deployed(120)
    estate.deployed(10)
    set_alarm(estate.cloudwatch.elsewhere(MEMBER), "OK")

    result = alarmed(estate, watching({"account": MEMBER}), account=MEMBER)

    assert result["status"] == "ignored"
    assert f"in account {MEMBER} region {REGION}, but DescribeAlarms says it is OK" in result["reason"]
    assert estate.pipelines.made == []


def test_the_watchdog_does_nothing_when_the_member_cannot_be_read(estate: TwinEstate) -> None:
    estate.deployed(120)
    estate.deployed(10)
    estate.cloudwatch.denied.add(role(MEMBER))

    result = alarmed(estate, watching({"account": MEMBER}), account=MEMBER)

    assert result["status"] == "ignored"
    assert role(MEMBER) in result["reason"]
    assert "AssumeRole" in result["reason"]
    assert estate.pipelines.made == []


def test_a_member_watchdog_without_the_member_role_acts_on_nothing_and_says_why(
    estate: TwinEstate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MEMBER_ROLE_VARIABLE)
    estate.deployed(120)
    estate.deployed(10)

    result = alarmed(estate, watching({"account": MEMBER}), account=MEMBER)

    assert result["status"] == "ignored"
    assert f"gating.gates[0].watchdog: account {MEMBER} is not this function's" in result["reason"]
    assert estate.pipelines.made == []
    assert estate.cloudwatch.reached == []


def test_a_hub_alarm_never_triggers_a_member_watchdog_and_a_member_alarm_never_a_hub_one(estate: TwinEstate) -> None:
    estate.deployed(120)
    estate.deployed(10)
    set_alarm(estate.cloudwatch.elsewhere(MEMBER), "ALARM")
    set_alarm(estate.cloudwatch.elsewhere(OTHER), "ALARM")

    from_hub = alarmed(estate, watching({"account": MEMBER}))
    from_other = alarmed(estate, watching({"account": MEMBER}), account=OTHER)
    member_only = alarmed(estate, watching({}, {"account": MEMBER}), account=MEMBER)

    assert from_hub["status"] == from_other["status"] == "ignored"
    assert f"of account {OTHER} region {REGION}" in from_other["reason"]
    [approve] = member_only["stages"]
    assert approve["stage"] == "Approve"
    assert estate.cloudwatch.elsewhere(OTHER).asked == []


# --- nothing read anywhere but where the policy places the selection -----------------------------------

ACCOUNTS = st.sampled_from([None, ACCOUNT, MEMBER, OTHER])
REGIONS = st.sampled_from([None, REGION, "eu-west-1"])
PLACEMENTS = st.builds(placement, ACCOUNTS, REGIONS)
EVERYWHERE = [(a, r) for a in (ACCOUNT, MEMBER, OTHER) for r in (REGION, "eu-west-1")]


def where(placed: dict[str, str]) -> tuple[str, str]:
    return placed.get("account", ACCOUNT), placed.get("region", REGION)


def seeded(estate: TwinEstate, state: str) -> dict[tuple[str, str], MemoryCloudWatch]:
    twins = {place: estate.cloudwatch.elsewhere(*place) for place in EVERYWHERE if place != (ACCOUNT, REGION)}
    twins[(ACCOUNT, REGION)] = estate.cloudwatch
    for twin in twins.values():
        set_alarm(twin, state)
    return twins


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    gate=PLACEMENTS,
    watchdogs=st.lists(PLACEMENTS, min_size=1, max_size=3),
    state=st.sampled_from(["OK", "ALARM"]),
    origin=st.sampled_from(EVERYWHERE),
)
def test_alarms_are_read_only_where_their_selection_is_placed(
    gate: dict[str, str], watchdogs: list[dict[str, str]], state: str, origin: tuple[str, str]
) -> None:
    decided = TwinEstate()
    twins = seeded(decided, state)
    verdict = evaluate(decided, gated(**gate))["decision"]["verdict"]
    assert verdict == ("proceed" if state == "OK" else "wait")
    for place, twin in twins.items():
        assert ("alarms" in twin.asked) == (place == where(gate)), place
    assert all((p.account, p.region) == where(gate) for p in decided.cloudwatch.reached)

    watched = TwinEstate()
    watched.deployed(120)
    watched.deployed(10)
    twins = seeded(watched, "ALARM")
    result = alarmed(watched, watching(*watchdogs), *origin)
    named = list(zip(["Deploy", "Approve", "Gate"], watchdogs, strict=False))
    for place, twin in twins.items():
        if place not in {where(placed) for placed in watchdogs}:
            assert "alarms" not in twin.asked, place
    if any(placed for placed in watchdogs):
        # a member's event concerns the watchdogs placed where it comes from only, and is read there only
        assert all("alarms" not in twin.asked for place, twin in twins.items() if place != origin), origin
        expected = {stage for stage, placed in named if where(placed) == origin}
    else:
        expected = {stage for stage, _ in named}  # the hub's alarm, as DescribeAlarms at home confirms it
    if expected:
        assert {stage["stage"] for stage in result["stages"]} == expected
    else:
        assert result["status"] == "ignored"
        assert watched.pipelines.made == []
