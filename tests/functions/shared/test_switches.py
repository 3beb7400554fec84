"""Runtime switches: the stored document, fail-safe parsing, expiry, precedence, and SSM reads with caching."""

import json
from datetime import UTC, datetime, timedelta, timezone

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.shared.switch_parameters import SwitchReader, store
from functions.shared.switches import (
    FREEZE,
    PAUSE_ALL,
    SWITCH_NAMES,
    SwitchBoard,
    SwitchState,
    parameter_name,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
PATH = "/deckhand/switches"


def test_switch_names_are_freeze_pause_all_and_one_pause_per_duty() -> None:
    assert SWITCH_NAMES == ("freeze", "pause-all", "pause-gating", "pause-capacity", "pause-cleanup")
    assert parameter_name(PATH, FREEZE) == "/deckhand/switches/freeze"


# The stored document ---------------------------------------------------------------------------


def test_document_is_what_an_operator_reads_and_writes() -> None:
    state = SwitchState(
        name=FREEZE,
        on=True,
        reason="release week",
        expires_at=datetime(2026, 12, 1, 18, 0, tzinfo=timezone(timedelta(hours=1))),
        set_by="alice",
        set_at=NOW,
    )
    assert state.document() == {
        "on": True,
        "reason": "release week",
        "expires_at": "2026-12-01T18:00:00+01:00",
        "set_by": "alice",
        "set_at": "2026-11-21T12:00:00+00:00",
        "change_id": "",
    }


def test_an_off_switch_document_has_null_times() -> None:
    assert SwitchState(name=PAUSE_ALL).document() == {
        "on": False,
        "reason": "",
        "expires_at": None,
        "set_by": "",
        "set_at": None,
        "change_id": "",
    }


def test_a_hand_written_document_with_z_times_parses() -> None:
    raw = '{"on": true, "reason": "incident", "expires_at": "2026-11-21T18:00:00Z"}'
    state = SwitchState.from_document("pause-cleanup", raw)
    assert state == SwitchState(
        name="pause-cleanup", on=True, reason="incident", expires_at=datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
    )


aware_times = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(9000, 1, 1),
    timezones=st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes))),
)
states = st.builds(
    SwitchState,
    name=st.sampled_from(SWITCH_NAMES),
    on=st.booleans(),
    reason=st.text(max_size=40),
    expires_at=st.none() | aware_times,
    set_by=st.text(max_size=20),
    set_at=st.none() | aware_times,
)


@given(states)
def test_any_state_round_trips_through_its_json_document(state: SwitchState) -> None:
    raw = json.dumps(state.document(), sort_keys=True)
    parsed = SwitchState.from_document(state.name, raw)
    assert parsed == state
    for moment in (parsed.expires_at, parsed.set_at):
        assert moment is None or moment.tzinfo is UTC


UNREADABLE = [
    pytest.param("", id="empty"),
    pytest.param("on", id="not json"),
    pytest.param("null", id="null"),
    pytest.param("[true]", id="list"),
    pytest.param("1", id="number"),
    pytest.param('"on"', id="string"),
    pytest.param("{}", id="no on key"),
    pytest.param('{"reason": "forgot on"}', id="reason only"),
    pytest.param('{"on": "false"}', id="on a string"),
    pytest.param('{"on": 0}', id="on a number"),
    pytest.param('{"on": false, "expires_at": "2026-12-01T18:00:00"}', id="expiry without offset"),
    pytest.param('{"on": false, "expires_at": "next friday"}', id="expiry not a time"),
    pytest.param('{"on": false, "expires_at": 1764612000}', id="expiry a number"),
    pytest.param('{"on": false, "set_at": ["2026-11-21T12:00:00Z"]}', id="set_at a list"),
    pytest.param('{"on": false, "expires_at": "0001-01-01T00:00:00+01:00"}', id="expiry before year 1 in UTC"),
]


@pytest.mark.parametrize("raw", UNREADABLE)
def test_an_unreadable_switch_counts_as_on_with_a_reason(raw: str) -> None:
    state = SwitchState.from_document(FREEZE, raw)

    assert state.name == FREEZE
    assert state.on is True
    assert state.active(NOW)
    assert state.expires_at is None
    assert state.reason.startswith("switch parameter is unreadable (")
    assert state.reason.endswith("); fix or clear it")


@given(st.text(max_size=80))
def test_no_stored_text_makes_from_document_raise(raw: str) -> None:
    state = SwitchState.from_document(PAUSE_ALL, raw)
    assert state.name == PAUSE_ALL
    assert state.on or not state.reason.startswith("switch parameter is unreadable")


@given(
    st.dictionaries(
        st.sampled_from(["on", "reason", "expires_at", "set_by", "set_at", "other"]),
        st.none() | st.booleans() | st.integers() | st.text(max_size=30) | st.lists(st.integers(), max_size=2),
    )
)
def test_no_json_object_makes_from_document_raise(data: dict[str, object]) -> None:
    state = SwitchState.from_document(FREEZE, json.dumps(data))
    if "on" not in data:
        assert state.on is True


# Expiry and precedence -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "active"),
    [
        pytest.param(SwitchState(name=FREEZE), False, id="off"),
        pytest.param(SwitchState(name=FREEZE, on=False, expires_at=NOW + timedelta(hours=1)), False, id="off, future"),
        pytest.param(SwitchState(name=FREEZE, on=True), True, id="on, no expiry"),
        pytest.param(SwitchState(name=FREEZE, on=True, expires_at=NOW + timedelta(seconds=1)), True, id="on, future"),
        pytest.param(SwitchState(name=FREEZE, on=True, expires_at=NOW), False, id="on, expires right now"),
        pytest.param(SwitchState(name=FREEZE, on=True, expires_at=NOW - timedelta(days=1)), False, id="on, past"),
    ],
)
def test_active_means_on_and_not_yet_expired(state: SwitchState, active: bool) -> None:
    assert state.active(NOW) is active


def test_expiry_compares_instants_across_offsets() -> None:
    paris = timezone(timedelta(hours=1))
    state = SwitchState(name=FREEZE, on=True, expires_at=datetime(2026, 11, 21, 13, 0, 1, tzinfo=paris))
    assert state.active(NOW)
    assert not state.active(NOW + timedelta(seconds=1))


def on(name: str, **changes: object) -> SwitchState:
    return SwitchState(name=name, on=True, reason=f"{name} reason", **changes)  # type: ignore[arg-type]


def board(*states: SwitchState) -> SwitchBoard:
    return SwitchBoard(states={state.name: state for state in states})


def test_pause_prefers_pause_all_over_the_duty_pause() -> None:
    found = board(on("pause-gating"), on(PAUSE_ALL)).pause("gating", NOW)
    assert found is not None
    assert found.name == PAUSE_ALL


def test_pause_falls_back_to_the_duty_pause() -> None:
    found = board(on("pause-gating"), SwitchState(name=PAUSE_ALL)).pause("gating", NOW)
    assert found is not None
    assert found.name == "pause-gating"


def test_an_expired_pause_all_leaves_the_duty_pause() -> None:
    found = board(on(PAUSE_ALL, expires_at=NOW), on("pause-cleanup")).pause("cleanup", NOW)
    assert found is not None
    assert found.name == "pause-cleanup"


def test_another_duty_pause_or_a_freeze_does_not_pause_a_duty() -> None:
    switches = board(on("pause-capacity"), on(FREEZE))
    assert switches.pause("gating", NOW) is None
    assert switches.pause("cleanup", NOW) is None
    found = switches.pause("capacity", NOW)
    assert found is not None
    assert found.reason == "pause-capacity reason"


def test_nothing_set_pauses_nothing() -> None:
    empty = SwitchBoard(states={})
    assert empty.pause("gating", NOW) is None
    assert empty.freeze(NOW) is None
    assert empty.get("pause-gating") == SwitchState(name="pause-gating")


def test_freeze_is_returned_only_while_active() -> None:
    frozen = on(FREEZE, expires_at=NOW + timedelta(hours=2))
    assert board(frozen).freeze(NOW) == frozen
    assert board(frozen).freeze(NOW + timedelta(hours=2)) is None
    assert board(SwitchState(name=FREEZE, reason="lifted")).freeze(NOW) is None
    assert board(on(PAUSE_ALL)).freeze(NOW) is None


# SSM Parameter Store (moto) --------------------------------------------------------------------


def ssm_put(name: str, value: str) -> None:
    boto3.client("ssm", region_name="us-east-1").put_parameter(Name=name, Value=value, Type="String", Overwrite=True)


@pytest.mark.usefixtures("aws")
def test_store_writes_the_sorted_json_document_as_a_string_parameter() -> None:
    state = on(FREEZE, expires_at=NOW + timedelta(days=1), set_by="alice", set_at=NOW)

    store(PATH, state)

    stored = boto3.client("ssm", region_name="us-east-1").get_parameter(Name=f"{PATH}/freeze")["Parameter"]
    assert stored["Type"] == "String"
    assert stored["Value"] == json.dumps(state.document(), sort_keys=True)


@pytest.mark.usefixtures("aws")
def test_store_then_fresh_read_returns_the_states() -> None:
    frozen = on(FREEZE, expires_at=NOW + timedelta(days=1), set_by="alice", set_at=NOW)
    paused = on("pause-cleanup", set_by="bob", set_at=NOW)
    store(PATH, frozen)
    store(PATH, paused)

    switches = SwitchReader(PATH, cache_seconds=30).read(fresh=True)

    assert dict(switches.states) == {FREEZE: frozen, "pause-cleanup": paused}
    assert switches.freeze(NOW) == frozen
    assert switches.pause("cleanup", NOW) == paused
    assert switches.pause("gating", NOW) is None


@pytest.mark.usefixtures("aws")
def test_store_overwrites_a_switch() -> None:
    store(PATH, on(PAUSE_ALL))
    store(PATH, SwitchState(name=PAUSE_ALL, reason="back to work"))

    state = SwitchReader(PATH, cache_seconds=0).read(fresh=True).get(PAUSE_ALL)

    assert state == SwitchState(name=PAUSE_ALL, reason="back to work")


@pytest.mark.usefixtures("aws")
def test_parameters_not_named_as_switches_are_ignored() -> None:
    store(PATH, on(FREEZE))
    ssm_put(f"{PATH}/pause-everything", '{"on": true}')
    ssm_put(f"{PATH}/notes", "not json at all")
    ssm_put(f"{PATH}/nested/pause-all", '{"on": true}')
    ssm_put("/other/switches/pause-all", '{"on": true}')

    switches = SwitchReader(PATH, cache_seconds=30).read(fresh=True)

    assert set(switches.states) == {FREEZE}
    assert switches.pause("gating", NOW) is None


@pytest.mark.usefixtures("aws")
def test_an_unreadable_parameter_reads_as_on() -> None:
    ssm_put(f"{PATH}/pause-gating", "{broken")

    state = SwitchReader(PATH, cache_seconds=30).read(fresh=True).pause("gating", NOW)

    assert state is not None
    assert state.on
    assert "unreadable" in state.reason


@pytest.mark.usefixtures("aws")
def test_no_parameters_means_no_switch_is_on() -> None:
    switches = SwitchReader(PATH, cache_seconds=30).read()
    assert switches.states == {}
    assert switches.freeze(NOW) is None


@pytest.mark.usefixtures("aws")
def test_a_read_within_the_cache_time_does_not_see_a_change_until_fresh() -> None:
    store(PATH, SwitchState(name=FREEZE))
    reader = SwitchReader(PATH, cache_seconds=30)
    assert reader.read().freeze(NOW) is None

    ssm_put(f"{PATH}/freeze", json.dumps({"on": True, "reason": "set in the console"}))

    assert reader.read().freeze(NOW) is None  # still the cached read
    frozen = reader.read(fresh=True).freeze(NOW)
    assert frozen is not None
    assert frozen.reason == "set in the console"
    assert reader.read().freeze(NOW) == frozen  # the fresh read refilled the cache


@pytest.mark.usefixtures("aws")
def test_a_zero_cache_time_reads_every_time() -> None:
    store(PATH, SwitchState(name=PAUSE_ALL))
    reader = SwitchReader(PATH, cache_seconds=0)
    assert reader.read().pause("capacity", NOW) is None

    store(PATH, on(PAUSE_ALL))

    paused = reader.read().pause("capacity", NOW)
    assert paused is not None
    assert paused.name == PAUSE_ALL


@pytest.mark.usefixtures("aws")
def test_each_reader_has_its_own_cache() -> None:
    store(PATH, SwitchState(name=FREEZE))
    first = SwitchReader(PATH, cache_seconds=30)
    assert first.read().freeze(NOW) is None

    store(PATH, on(FREEZE))

    assert first.read().freeze(NOW) is None
    assert SwitchReader(PATH, cache_seconds=30).read().freeze(NOW) is not None
