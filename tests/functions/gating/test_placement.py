"""Alarms selected in another account or region than the function's are never read here: a same-named alarm in the
hub is not theirs, and the organization fan-out (issue 13) is not built. The gate fails closed on them; the watchdog
never acts on them. On the adapters' twins (tests/functions/gating/world.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.gating.gate import bindings
from functions.gating.policy import Gating
from functions.gating.watchdog.flow import run as watchdog
from tests.functions.gating.twins import ACCOUNT, REGION
from tests.functions.gating.world import PIPELINE, TwinEstate
from tests.support.gating import fake_context, gating, web_app_gate

MEMBER = "210987654321"
EVALUATE = {"action": "evaluate", "pipeline": PIPELINE, "stage": "Deploy"}
WATCHED = {"alarms": ["web-app-5xx"], "action": "rollback"}


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


def evaluate(estate: TwinEstate, policy: Gating) -> dict[str, Any]:
    return bindings.route(EVALUATE, lambda: estate.memory.runtime, lambda: policy, fake_context(), estate.aws)


def alarmed(estate: TwinEstate, policy: Gating) -> dict[str, Any]:
    event = estate.alarm_event("web-app-5xx", "ALARM")
    return watchdog(event, estate.memory.runtime, policy, slots=estate.slots, aws=estate.aws)


@pytest.fixture
def estate() -> TwinEstate:
    return TwinEstate()


# --- the gate -------------------------------------------------------------------------------------------


def test_the_gate_blocks_on_alarms_in_a_member_account_without_reading_the_hubs_same_named_alarm(
    estate: TwinEstate,
) -> None:
    estate.alarm("web-app-5xx", "OK")  # the hub's alarm of the same name is healthy: it must not vouch

    result = evaluate(estate, gated(account=MEMBER))

    assert result["decision"]["verdict"] == "block"
    [reason] = result["decision"]["reasons"]
    assert f"alarms.account {MEMBER} is not where this function runs" in reason
    assert "alarms" not in estate.cloudwatch.asked
    assert result["observed"]["alarms_unread"] in reason


def test_the_gate_blocks_on_another_region_even_where_a_missing_alarm_would_pass(estate: TwinEstate) -> None:
    # insufficient_data "pass" lets a missing alarm through; an unread selection never goes through
    result = evaluate(estate, gated(region="eu-west-1", names=["no-such-alarm"], insufficient_data="pass"))

    assert result["decision"]["verdict"] == "block"
    assert "alarms.region eu-west-1" in result["decision"]["reasons"][0]


def test_a_selection_naming_the_functions_own_account_and_region_is_read_as_without_them(
    estate: TwinEstate,
) -> None:
    estate.alarm("web-app-5xx", "OK")

    result = evaluate(estate, gated(account=ACCOUNT, region=REGION))

    assert result["decision"]["verdict"] == "proceed"
    assert "alarms" in estate.cloudwatch.asked


# --- the watchdog ---------------------------------------------------------------------------------------


def test_the_watchdog_never_acts_on_an_alarm_it_watches_in_a_member_account(estate: TwinEstate) -> None:
    estate.deployed(120)
    estate.deployed(10)

    result = alarmed(estate, watching({"account": MEMBER}))

    assert result["status"] == "ignored"
    assert f"gating.gates[0].watchdog.account {MEMBER}" in result["reason"]
    assert estate.pipelines.made == []
    assert estate.cloudwatch.asked == []
    assert estate.records() == []


def test_the_watchdog_acts_for_the_gate_watching_here_and_leaves_the_member_ones_alone(estate: TwinEstate) -> None:
    good = estate.deployed(120)
    estate.deployed(10)

    result = alarmed(estate, watching({}, {"region": "eu-west-1"}))

    deploy, approve = result["stages"]
    assert (deploy["stage"], deploy["outcome"], deploy["target"]) == ("Deploy", "rolled-back", good)
    assert (approve["stage"], approve["outcome"]) == ("Approve", "skipped")
    assert "gating.gates[1].watchdog.region eu-west-1" in approve["reason"]
    assert estate.pipelines.made == ["RollbackStage"]


# --- nothing outside the function's account and region --------------------------------------------------

ACCOUNTS = st.none() | st.just(ACCOUNT) | st.sampled_from([MEMBER, "000000000000"])
REGIONS = st.none() | st.just(REGION) | st.sampled_from(["eu-west-1", "ap-southeast-2"])
PLACEMENTS = st.builds(placement, ACCOUNTS, REGIONS)


def away(placed: dict[str, str]) -> bool:
    return placed.get("account", ACCOUNT) != ACCOUNT or placed.get("region", REGION) != REGION


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gate=PLACEMENTS, watchdogs=st.lists(PLACEMENTS, min_size=1, max_size=3), state=st.sampled_from(["OK", "ALARM"]))
def test_nothing_is_read_or_acted_on_outside_the_functions_account_and_region(
    gate: dict[str, str], watchdogs: list[dict[str, str]], state: str
) -> None:
    decided = TwinEstate()
    decided.alarm("web-app-5xx", state)
    verdict = evaluate(decided, gated(**gate))["decision"]["verdict"]
    if away(gate):
        assert verdict == "block"
        assert "alarms" not in decided.cloudwatch.asked
    else:
        assert verdict == ("proceed" if state == "OK" else "wait")

    watched = TwinEstate()
    watched.deployed(120)
    watched.deployed(10)
    result = alarmed(watched, watching(*watchdogs))
    if all(away(placed) for placed in watchdogs):
        assert result["status"] == "ignored"
        assert watched.pipelines.made == []
        assert watched.cloudwatch.asked == []
    else:
        said = {stage["stage"]: stage for stage in result["stages"]}
        for stage, placed in zip(["Deploy", "Approve", "Gate"], watchdogs, strict=False):
            left_alone = "not where this function runs" in said[stage]["reason"]
            assert left_alone == away(placed)
            if left_alone:
                assert said[stage]["outcome"] == "skipped"
        acted = [stage for stage in result["stages"] if stage["outcome"] in ("rolled-back", "stopped")]
        assert len(watched.pipelines.made) == len(acted)
