"""A target the policy places in a member account or region is read and changed there, through the capacity member
role, and nowhere else: an alarm event moves only the target placed where the alarm is, after DescribeAlarms there
confirms the event; the revert schedule of an override stays in the hub. On the adapters' twins."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.capacity.model import Levels
from functions.shared.members import MEMBER_ROLE_VARIABLE, Place
from tests.functions.capacity.twins import MemoryTargets, Service
from tests.functions.capacity.world import GROUP, WEB, WEB_ID, TwinWorld, alarm_event, policy_of
from tests.support.places import ACCOUNT, REGION

MEMBER = "210987654321"
OTHER = "000011112222"
ROLE_NAME = "deckhand-member-capacity"
APPLY = {"action": "apply", "target": "web", "min": 10, "dry_run": False}


def role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/{ROLE_NAME}"


def seeded(twin: MemoryTargets) -> MemoryTargets:
    """The web service and its alarms, as the hub twin has them (TwinWorld)."""
    twin.clusters.add("main")
    twin.services[("main", "web")] = Service(desired=0)
    twin.register(WEB_ID, 4, 20)
    for name in ("web-cpu-high", "web-latency-high", "web-unhealthy"):
        twin.alarms[name] = "OK"
        twin.actions_enabled[name] = True
    return twin


def placed(account: str | None = MEMBER, region: str | None = None) -> tuple[TwinWorld, MemoryTargets]:
    """A world whose `web` lives in `account`/`region` (seeded there too), and the twin of that place."""
    world = TwinWorld()
    placement = {key: value for key, value in (("account", account), ("region", region)) if value is not None}
    world.policy = policy_of({**WEB, **placement})
    there = world.targets.elsewhere(account or ACCOUNT, region or REGION)
    return world, seeded(there)


def member_alarm(world: TwinWorld, there: MemoryTargets, name: str, state: str, **origin: str) -> dict[str, Any]:
    """The member alarm goes to `state` and its event, forwarded to the hub's bus, reaches the function."""
    there.alarms[name] = state
    event = alarm_event(name, state, world.clock.now)
    event.update({"account": there.account, "region": there.region, **origin})
    return world.run(event)


@pytest.fixture(autouse=True)
def member_role(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MEMBER_ROLE_VARIABLE, ROLE_NAME)  # the stack sets it when the policy has an organization


def test_a_member_target_is_changed_in_the_member_through_the_capacity_role_and_the_hub_is_untouched() -> None:
    world, there = placed()

    answer = world.run(APPLY)

    assert answer["changes"][0]["status"] == "changed"
    assert there.registered[WEB_ID].levels == Levels(10, 20)
    assert world.live() == Levels(4, 20)  # the hub's same-named service is not the target
    assert world.targets.made == []
    assert world.targets.asked == []
    assert set(world.targets.reached) == {Place(MEMBER, REGION, role(MEMBER))}


def test_a_target_in_another_region_of_the_hub_account_needs_no_role() -> None:
    world, there = placed(account=None, region="eu-west-1")

    world.run(APPLY)

    assert there.registered[WEB_ID].levels == Levels(10, 20)
    assert set(world.targets.reached) == {Place(ACCOUNT, "eu-west-1", None)}


def test_the_revert_schedule_of_a_member_override_stays_in_the_hub_and_invokes_the_hub_function() -> None:
    world, there = placed()

    world.run({**APPLY, "until": "23:00 Europe/Paris"})

    [schedule] = world.schedules()
    assert schedule["GroupName"] == GROUP
    assert schedule["Target"]["Arn"].startswith(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:")
    assert there.schedules == {}
    assert [call.method for call in there.made] == ["register_scalable_target"]


def test_a_members_confirmed_alarm_steps_out_the_target_placed_there() -> None:
    world, there = placed()

    answer = member_alarm(world, there, "web-cpu-high", "ALARM")

    assert answer["changes"][0]["status"] == "changed"
    assert there.registered[WEB_ID].levels == Levels(6, 20)
    assert there.asked[0] == "alarm_state"


def test_a_member_event_that_describe_alarms_there_contradicts_moves_nothing() -> None:
    world, there = placed()
    event = alarm_event("web-cpu-high", "ALARM", world.clock.now)
    event.update({"account": MEMBER, "region": REGION})  # the alarm there is OK: the event is not CloudWatch's word

    answer = world.run(event)

    [change] = answer["changes"]
    assert change["status"] == "skipped"
    assert f"alarm web-cpu-high of account {MEMBER} region {REGION} is ALARM" in change["reason"]
    assert "DescribeAlarms there says it is OK" in change["reason"]
    assert there.made == []
    assert world.audit()[0].outcome == "skipped"


def test_an_event_claiming_another_account_than_the_targets_is_ignored() -> None:
    world, there = placed()
    other = world.targets.elsewhere(OTHER)
    other.alarms["web-cpu-high"] = "ALARM"

    answer = member_alarm(world, other, "web-cpu-high", "ALARM")

    assert answer["status"] == "ignored"
    assert f"of account {OTHER} region {REGION}" in answer["reason"]
    assert world.targets.reached == []
    assert there.registered[WEB_ID].levels == Levels(4, 20)


def test_a_same_named_alarm_at_home_never_moves_a_member_target() -> None:
    world, there = placed()

    answer = world.alarm("web-cpu-high", "ALARM")

    assert answer["status"] == "ignored"
    assert world.targets.reached == []
    assert there.registered[WEB_ID].levels == Levels(4, 20)


def test_a_members_alarm_never_moves_the_home_target_of_the_same_alarm_name() -> None:
    world = TwinWorld()
    there = seeded(world.targets.elsewhere(MEMBER))

    answer = member_alarm(world, there, "web-cpu-high", "ALARM")

    assert answer["status"] == "ignored"
    assert world.live() == Levels(4, 20)
    assert world.targets.asked == []


def test_assume_role_denied_is_a_failure_naming_account_and_role_audited_with_nothing_changed() -> None:
    world, there = placed()
    world.targets.denied.add(role(MEMBER))

    answer = world.run(APPLY)

    [change] = answer["changes"]
    assert (answer["status"], change["status"]) == ("failed", "failed")
    assert "AssumeRole" in change["reason"]
    assert f"in account {MEMBER} region {REGION}, through {role(MEMBER)}" in change["reason"]
    assert there.registered[WEB_ID].levels == Levels(4, 20)
    assert there.made == []
    assert world.targets.made == []
    [record] = world.audit()
    assert (record.outcome, record.reason) == ("failed", change["reason"])


def test_a_member_target_without_the_member_role_fails_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MEMBER_ROLE_VARIABLE)
    world, there = placed()

    change = world.run(APPLY)["changes"][0]

    assert change["status"] == "failed"
    assert (
        f"account {MEMBER} is not this function's ({ACCOUNT}) and {MEMBER_ROLE_VARIABLE} is not set"
        in (change["reason"])
    )
    assert there.made == []
    assert world.targets.reached == []


def test_status_reads_a_member_target_in_the_member() -> None:
    world, there = placed()
    there.registered[WEB_ID].levels = Levels(7, 9)

    [shown] = world.run({"action": "status"})["targets"]

    assert shown["live"]["min"] == 7
    assert world.targets.asked == []


# --- the property: nothing is read or changed anywhere but where the policy places the target ------------------

ACCOUNTS = st.sampled_from([None, ACCOUNT, MEMBER, OTHER])
REGIONS = st.sampled_from([None, REGION, "eu-west-1"])
EVENTS = st.sampled_from(
    [
        APPLY,
        {"action": "pause", "target": "web", "dry_run": False},
        {"action": "apply", "target": "web", "profile": "zero", "dry_run": False},
        {"action": "status"},
    ]
) | st.tuples(st.sampled_from(["ALARM", "OK"]), st.sampled_from([ACCOUNT, MEMBER, OTHER]), REGIONS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(account=ACCOUNTS, region=REGIONS, event=EVENTS, denied=st.booleans())
def test_nothing_is_ever_read_or_changed_outside_the_place_the_policy_names(
    account: str | None, region: str | None, event: dict[str, Any] | tuple[str, str, str | None], denied: bool
) -> None:
    world = TwinWorld()
    world.policy = policy_of(
        {**WEB, **({"account": account} if account else {}), **({"region": region} if region else {})}
    )
    place = (account or ACCOUNT, region or REGION)
    everywhere = {
        (a, r): seeded(world.targets.elsewhere(a, r)) for a in (ACCOUNT, MEMBER, OTHER) for r in (REGION, "eu-west-1")
    }
    everywhere[(ACCOUNT, REGION)] = world.targets
    if denied:
        world.targets.denied.add(role(place[0]))
    for twin in everywhere.values():
        twin.alarms["web-cpu-high"] = "ALARM"

    if isinstance(event, tuple):
        state, origin_account, origin_region = event
        alarmed = alarm_event("web-cpu-high", state, world.clock.now)
        alarmed.update({"account": origin_account, "region": origin_region or REGION})
        world.run(alarmed)
    else:
        world.run(event)

    for where, twin in everywhere.items():
        if where != place:
            assert twin.registered[WEB_ID].levels == Levels(4, 20), where
            assert [call for call in twin.made if call.service != "scheduler"] == [], where
            assert twin.asked == [], where
    assert all((p.account, p.region) == place for p in world.targets.reached)
    if place != (ACCOUNT, REGION):
        assert all(p.role == (role(place[0]) if place[0] != ACCOUNT else None) for p in world.targets.reached)
