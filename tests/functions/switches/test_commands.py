from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.shared.refusal import Refused
from functions.shared.switches import SWITCH_NAMES, SwitchState
from functions.switches.commands import parse_command, plan

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
MAX_HOURS = 72


def parse_and_plan(payload: object) -> None:
    command = parse_command(payload)
    plan(command, SwitchState(name=command.switch or "freeze"), NOW, MAX_HOURS)


def rejected(payload: object) -> str:
    with pytest.raises(Refused) as error:
        parse_and_plan(payload)
    return str(error.value)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("freeze", "expected a JSON object"),
        ({}, "action: required key is missing"),
        ({"action": "toggle"}, "action: got 'toggle'"),
        ({"action": "show", "switch": "freeze"}, "'show' takes no switch"),
        ({"action": "show", "verbose": True}, "verbose: unknown key"),
        ({"action": "set", "reason": "release"}, "'set' needs 'switch'"),
        ({"action": "set", "switch": "freeze", "for": "2h"}, "'set' needs a 'reason'"),
        ({"action": "set", "switch": "frozen", "reason": "x-mas", "for": "2h"}, "switch: got 'frozen'"),
        ({"action": "set", "switch": "freeze", "reason": "x-mas"}, "exactly one of 'expires_at'"),
        (
            {"action": "set", "switch": "freeze", "reason": "x-mas", "for": "2h", "expires_at": "2026-11-22T00:00Z"},
            "exactly one of 'expires_at'",
        ),
        ({"action": "set", "switch": "freeze", "reason": "x-mas", "for": "2 weeks"}, "for: got '2 weeks'"),
        ({"action": "set", "switch": "freeze", "reason": "x-mas", "expires_at": "2026-11-22T10:00"}, "no UTC offset"),
        ({"action": "set", "switch": "freeze", "reason": "x-mas", "expires_at": "tomorrow"}, "expires_at: got"),
        ({"action": "set", "switch": "freeze", "reason": "x-mas", "expires_at": "2026-11-21T11:00Z"}, "not in the"),
        ({"action": "set", "switch": "freeze", "reason": "x-mas", "for": "4d"}, "switches.max_hours=72"),
        ({"action": "set", "switch": "freeze", "reason": "no", "for": "2h"}, "reason: got 'no'"),
        ({"action": "clear", "switch": "freeze", "for": "2h"}, "'clear' takes no"),
        ({"action": "set", "switch": "pause-all", "reason": "x-mas", "for": "2h", "dry_run": "maybe"}, "dry_run"),
    ],
)
def test_bad_commands_are_rejected_with_what_was_wrong(payload: object, expected: str) -> None:
    assert expected in rejected(payload)


@pytest.mark.parametrize("dry_run", ["false", "no", "off", 0, "False", "0", 0.0, "yes", 1])
@pytest.mark.parametrize("action", ["set", "clear", "sweep", "show"])
def test_dry_run_takes_only_a_json_boolean(action: str, dry_run: object) -> None:
    payload = {"set": {"switch": "freeze", "reason": "release", "for": "2h"}, "clear": {"switch": "freeze"}}
    assert "dry_run: got" in rejected({"action": action, **payload.get(action, {}), "dry_run": dry_run})


@pytest.mark.parametrize(
    ("timing", "expected"),
    [
        ({"for": "999999999d"}, "max_hours=72"),
        ({"for": "9999999999d"}, "for: got"),
        ({"expires_at": "0001-01-01T00:00:00+14:00"}, "expires_at: got"),
        ({"expires_at": "0001-01-01T00:00:00-14:00"}, "not in the future"),
        ({"expires_at": "9999-12-31T23:59:59-14:00"}, "expires_at: got"),
        ({"expires_at": "9999-12-31T23:59:59+14:00"}, "max_hours=72"),
        ({"for": "\u0663h"}, "for: got"),
    ],
)
def test_expiries_past_the_calendar_are_rejected_not_raised(timing: dict[str, str], expected: str) -> None:
    assert expected in rejected({"action": "set", "switch": "freeze", "reason": "release", **timing})


def test_set_plans_the_switch_on_until_its_expiry() -> None:
    command = parse_command({"action": "set", "switch": "freeze", "reason": "quarter close", "for": "90m"})
    change = plan(command, SwitchState(name="freeze"), NOW, MAX_HOURS)
    assert change.changed
    assert change.after.on
    assert change.after.expires_at == NOW + timedelta(minutes=90)
    assert change.after.set_at == NOW
    assert change.after.reason == "quarter close"


def test_expires_at_in_another_zone_is_stored_in_utc() -> None:
    command = parse_command(
        {"action": "set", "switch": "freeze", "reason": "release", "expires_at": "2026-11-21T20:00:00+01:00"}
    )
    change = plan(command, SwitchState(name="freeze"), NOW, MAX_HOURS)
    assert change.after.expires_at == datetime(2026, 11, 21, 19, 0, tzinfo=UTC)


def test_setting_the_same_switch_twice_changes_nothing_the_second_time() -> None:
    command = parse_command(
        {"action": "set", "switch": "pause-cleanup", "reason": "audit week", "expires_at": "2026-11-23T00:00:00Z"}
    )
    first = plan(command, SwitchState(name="pause-cleanup"), NOW, MAX_HOURS)
    second = plan(command, first.after, NOW + timedelta(minutes=5), MAX_HOURS)
    assert first.changed
    assert not second.changed


def test_clearing_a_switch_that_is_off_changes_nothing() -> None:
    command = parse_command({"action": "clear", "switch": "pause-all"})
    assert not plan(command, SwitchState(name="pause-all"), NOW, MAX_HOURS).changed


def test_clearing_an_expired_switch_still_turns_it_off() -> None:
    expired = SwitchState(name="freeze", on=True, reason="old", expires_at=NOW - timedelta(hours=1))
    change = plan(parse_command({"action": "clear", "switch": "freeze"}), expired, NOW, MAX_HOURS)
    assert change.changed
    assert not change.after.on


@given(
    switch=st.sampled_from(SWITCH_NAMES),
    minutes=st.integers(min_value=1, max_value=MAX_HOURS * 60),
    unit=st.sampled_from(["m", "h", "d"]),
)
def test_every_accepted_expiry_is_in_the_future_and_within_the_policy_limit(
    switch: str, minutes: int, unit: str
) -> None:
    amount = {"m": minutes, "h": max(1, minutes // 60), "d": max(1, minutes // 1440)}[unit]
    payload = {"action": "set", "switch": switch, "reason": "property", "for": f"{amount}{unit}"}
    requested = {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[unit]
    if requested > timedelta(hours=MAX_HOURS):
        assert "max_hours" in rejected(payload)
        return
    change = plan(parse_command(payload), SwitchState(name=switch), NOW, MAX_HOURS)
    assert change.after.expires_at is not None
    assert NOW < change.after.expires_at <= NOW + timedelta(hours=MAX_HOURS)
