"""evaluate: each check's outcome and reason, the verdict, exemptions, and the properties that must always hold."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.gating.decide import evaluate, verdict_of
from functions.gating.model import AlarmObservation, ExecutionObservation, FreezeObservation, Observations
from functions.gating.policy import Check, Gate

from .strategies import scenarios

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # Monday 11:00 in Paris
METRIC = {"namespace": "AWS/ApplicationELB", "name": "RequestCount"}
THRESHOLD = "Threshold Crossed: 1 out of the last 1 datapoints [12.0] was greater than the threshold (5.0)."


def make_gate(**checks: Any) -> Gate:
    return Gate.model_validate({"pipeline": "web-app", "stage": "Deploy"} | checks)


def alarm(name: str, state: str = "OK", **fields: Any) -> AlarmObservation:
    values: dict[str, Any] = {"kind": "metric", "reason": THRESHOLD, "updated": NOW - timedelta(minutes=3)} | fields
    return AlarmObservation(name=name, state=state, **values)  # type: ignore[arg-type]


def decide(gate: Gate, seen: Observations | None = None, now: datetime = NOW) -> Any:
    return evaluate(gate, seen or Observations(), now, decision_id="d-1")


ALARMS = {"names": ["web-5xx", "web-latency"], "prefixes": ["web-error"], "tags": {"deckhand:gate": "web-app"}}


def test_a_gate_with_nothing_wrong_proceeds_and_says_who_decided() -> None:
    decision = decide(make_gate())

    assert decision.verdict == "proceed"
    assert (decision.id, decision.pipeline, decision.stage, decision.decided_at) == ("d-1", "web-app", "Deploy", NOW)
    assert [(c.check, c.mode, c.outcome, c.reason) for c in decision.checks] == [
        ("freeze", "enforce", "pass", "not frozen")
    ]
    assert decision.reasons == []
    assert decision.exemption == ""


def test_the_decision_time_is_recorded_in_utc() -> None:
    paris_fold = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Paris"))

    decision = decide(make_gate(), now=paris_fold)

    assert decision.decided_at.tzinfo is UTC
    assert decision.decided_at == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(make_gate(), Observations(), datetime(2026, 11, 23, 10, 0), decision_id="d")


# Alarms ---------------------------------------------------------------------------------------------


def test_an_alarm_in_alarm_waits_and_names_the_alarm_and_its_reason() -> None:
    seen = Observations(alarms=(alarm("web-latency"), alarm("web-5xx", "ALARM")))

    decision = decide(make_gate(alarms=ALARMS), seen)

    assert decision.verdict == "wait"
    assert decision.reasons == [f"alarms: web-5xx in ALARM: {THRESHOLD}"]


def test_every_alarm_in_alarm_is_named_in_name_order() -> None:
    seen = Observations(alarms=(alarm("web-5xx", "ALARM", reason="five"), alarm("api", "ALARM", kind="composite")))

    (result,) = [c for c in decide(make_gate(alarms=ALARMS), seen).checks if c.check == "alarms"]

    assert result.reason == f"api (composite) in ALARM: {THRESHOLD}; web-5xx in ALARM: five"


def test_a_long_state_reason_is_shortened() -> None:
    seen = Observations(alarms=(alarm("web-5xx", "ALARM", reason="x" * 1000),))

    (reason,) = decide(make_gate(alarms=ALARMS), seen).reasons

    assert reason == "alarms: web-5xx in ALARM: " + "x" * 159 + "…"


@pytest.mark.parametrize(
    ("policy", "verdict", "reason"),
    [
        ("block", "block", "web-5xx has insufficient data"),
        ("wait", "wait", "web-5xx has insufficient data"),
        ("pass", "proceed", "2 alarms OK (1 with insufficient data, passed by policy)"),
    ],
)
def test_insufficient_data_follows_the_policy(policy: str, verdict: str, reason: str) -> None:
    seen = Observations(alarms=(alarm("web-5xx", "INSUFFICIENT_DATA"), alarm("web-latency")))

    decision = decide(make_gate(alarms=ALARMS | {"insufficient_data": policy}), seen)

    assert decision.verdict == verdict
    assert decision.checks[0].reason == reason


def test_a_muted_alarm_is_not_healthy_until_the_mute_ends() -> None:
    muted = alarm("web-5xx", "OK", muted_until=NOW + timedelta(hours=2))

    decision = decide(make_gate(alarms=ALARMS), Observations(alarms=(muted,)))
    later = decide(make_gate(alarms=ALARMS), Observations(alarms=(muted,)), NOW + timedelta(hours=2))

    assert decision.verdict == "wait"
    assert decision.reasons == ["alarms: web-5xx muted until 2026-11-23 12:00 UTC (state OK)"]
    assert later.verdict == "proceed"
    assert later.checks[0].reason == "1 alarm OK"


def test_a_selection_that_matches_no_alarm_blocks() -> None:
    decision = decide(make_gate(alarms=ALARMS))

    assert decision.verdict == "block"
    assert decision.reasons == [
        "alarms: the selection (names web-5xx, web-latency; prefixes web-error; tags deckhand:gate=web-app) "
        "matched no alarm; check the names, prefixes and tags"
    ]


# Window ---------------------------------------------------------------------------------------------

OFFICE = {
    "timezone": "Europe/Paris",
    "allow": [{"days": ["MON", "TUE", "WED", "THU", "FRI"], "start": "09:00", "end": "17:00"}],
    "deny": [{"name": "Christmas freeze", "start": date(2026, 12, 24), "end": date(2026, 12, 27)}],
}


def test_an_open_window_passes() -> None:
    decision = decide(make_gate(window=OFFICE))

    assert decision.verdict == "proceed"
    assert decision.checks[0].reason == "open now (Europe/Paris)"
    assert decision.next_open is None


def test_a_window_opening_within_the_timeout_waits_and_later_blocks() -> None:
    gate = make_gate(window=OFFICE, timeout_minutes=30)
    monday_0830_paris = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
    monday_0829_paris = datetime(2026, 11, 23, 7, 29, tzinfo=UTC)

    soon = decide(gate, now=monday_0830_paris)
    later = decide(gate, now=monday_0829_paris)

    assert soon.verdict == "wait"
    assert soon.next_open == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert soon.reasons == ["window: outside the allow windows; next open window: Mon 2026-11-23 09:00 Europe/Paris"]
    assert later.verdict == "block"
    assert later.checks[0].next_open == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_a_closed_window_on_the_weekend_names_monday_in_the_zone() -> None:
    decision = decide(make_gate(window=OFFICE), now=datetime(2026, 11, 21, 12, 0, tzinfo=UTC))

    assert decision.verdict == "block"
    assert decision.reasons == [
        "window: outside the allow windows; next open window: Mon 2026-11-23 09:00 Europe/Paris"
    ]


def test_a_deny_period_blocks_and_names_itself_and_the_next_window() -> None:
    decision = decide(make_gate(window=OFFICE), now=datetime(2026, 12, 24, 10, 0, tzinfo=UTC))

    assert decision.verdict == "block"
    assert decision.reasons == [
        "window: in deny period 'Christmas freeze' (2026-12-24 to 2026-12-27); "
        "next open window: Mon 2026-12-28 09:00 Europe/Paris"
    ]


def test_a_window_that_never_opens_blocks() -> None:
    closed = OFFICE | {"deny": [{"name": "Moratorium", "start": date(2026, 1, 1), "end": date(2028, 1, 1)}]}

    decision = decide(make_gate(window=closed))

    assert decision.verdict == "block"
    assert decision.reasons == [
        "window: in deny period 'Moratorium' (2026-01-01 to 2028-01-01); no open window in the next 400 days"
    ]


# Freeze ---------------------------------------------------------------------------------------------


def test_a_freeze_blocks_with_who_why_and_until_when() -> None:
    frozen = FreezeObservation("release audit", NOW + timedelta(hours=8), "alice")

    decision = decide(make_gate(), Observations(freeze=frozen))
    open_ended = decide(make_gate(), Observations(freeze=replace(frozen, expires_at=None)))

    assert decision.verdict == "block"
    assert decision.reasons == ["freeze: frozen by alice until 2026-11-23 18:00 UTC: release audit"]
    assert open_ended.reasons == ["freeze: frozen by alice until someone lifts it: release audit"]


# Bake -----------------------------------------------------------------------------------------------

BAKE = {"after_stage": "Build", "minutes": 30}


@pytest.mark.parametrize(
    ("succeeded_ago", "verdict", "reason"),
    [
        (None, "wait", "Build has not succeeded yet"),
        (timedelta(minutes=12, seconds=30), "wait", "Build succeeded 12 min ago; 18 min of bake time left (of 30 min)"),
        (timedelta(minutes=30), "proceed", "Build succeeded 30 min ago"),
        (timedelta(hours=2, minutes=5), "proceed", "Build succeeded 2 h 5 min ago"),
    ],
)
def test_bake_time_waits_after_the_previous_stage(succeeded_ago: timedelta | None, verdict: str, reason: str) -> None:
    succeeded = None if succeeded_ago is None else NOW - succeeded_ago

    decision = decide(make_gate(bake=BAKE), Observations(previous_stage_succeeded_at=succeeded))

    assert decision.verdict == verdict
    assert decision.checks[-1].reason == reason


@pytest.mark.parametrize(
    ("count", "verdict", "reason"),
    [
        (None, "wait", "Build succeeded 45 min ago; 0 RequestCount seen since (need 100)"),
        (40.0, "wait", "Build succeeded 45 min ago; 40 RequestCount seen since (need 100)"),
        (150.0, "proceed", "Build succeeded 45 min ago; 150 RequestCount seen since (need 100)"),
    ],
)
def test_bake_can_require_a_minimum_count(count: float | None, verdict: str, reason: str) -> None:
    bake = BAKE | {"min_count": 100, "count_metric": METRIC}
    seen = Observations(previous_stage_succeeded_at=NOW - timedelta(minutes=45), bake_count=count)

    decision = decide(make_gate(bake=bake), seen)

    assert decision.verdict == verdict
    assert decision.checks[-1].reason == reason


# Error budget ---------------------------------------------------------------------------------------

BUDGET = {"objective_percent": 99.9, "errors": METRIC, "requests": METRIC}


def budget_seen(errors: dict[int, float], requests: dict[int, float]) -> Observations:
    return Observations(
        errors_by_window=errors, requests_by_window=requests, budget_errors=7000.0, budget_requests=10_000_000.0
    )


def test_a_burning_error_budget_blocks_with_the_rates_and_the_budget_left() -> None:
    seen = budget_seen(
        {60: 2000.0, 5: 200.0, 360: 100.0, 30: 10.0}, {60: 100_000.0, 5: 10_000.0, 360: 600_000.0, 30: 50_000.0}
    )

    decision = decide(make_gate(error_budget=BUDGET), seen)

    assert decision.verdict == "block"
    assert decision.reasons == [
        "error_budget: burning 20.0x over 1h and 20.0x over 5m (limit 14.4x); remaining budget 30.0% over 30 days"
    ]


def test_a_healthy_error_budget_still_reports_what_is_left_and_missing_data() -> None:
    seen = budget_seen({60: 1.0, 5: 0.0, 360: 3.0}, {60: 100_000.0, 5: 0.0, 360: 600_000.0})

    decision = decide(make_gate(error_budget=BUDGET), seen)

    assert decision.verdict == "proceed"
    assert decision.checks[-1].reason == (
        "no burn window tripped; remaining budget 30.0% over 30 days; "
        "no traffic over 5m; no data over 30m (taken as no traffic)"
    )


# Modes, verdict and exemptions ------------------------------------------------------------------


def test_a_shadow_check_logs_would_have_blocked_without_blocking() -> None:
    shadow = make_gate(error_budget=BUDGET | {"mode": "shadow"})
    seen = replace(budget_seen({60: 2000.0, 5: 200.0}, {60: 100_000.0, 5: 10_000.0}), freeze=None)

    decision = decide(shadow, seen)

    assert decision.verdict == "proceed"
    assert decision.checks[-1].would_have_blocked
    assert decision.reasons == [
        "error_budget (shadow, would have blocked): burning 20.0x over 1h and 20.0x over 5m (limit 14.4x); "
        "remaining budget 30.0% over 30 days; no data over 30m (taken as no traffic); "
        "no data over 6h (taken as no traffic)"
    ]


def test_an_off_check_is_not_evaluated() -> None:
    gate = make_gate(alarms=ALARMS | {"mode": "off"}, freeze={"mode": "off"}, window=OFFICE | {"mode": "off"})

    decision = decide(gate, Observations(freeze=FreezeObservation("x", None, "bob")))

    assert decision.checks == ()
    assert decision.verdict == "proceed"


def test_block_outranks_wait_and_reasons_list_blocking_then_shadow() -> None:
    gate = make_gate(alarms=ALARMS, bake=BAKE | {"mode": "shadow"})
    seen = Observations(
        alarms=(alarm("web-5xx", "ALARM", reason="high"),), freeze=FreezeObservation("audit", None, "al")
    )

    decision = decide(gate, seen)

    assert decision.verdict == "block"
    assert decision.reasons == [
        "alarms: web-5xx in ALARM: high",
        "freeze: frozen by al until someone lifts it: audit",
        "bake (shadow, would have blocked): Build has not succeeded yet",
    ]


def test_verdict_of_nothing_is_proceed() -> None:
    assert verdict_of(()) == "proceed"


def test_a_rollback_is_exempt_from_the_waived_checks_but_not_the_freeze() -> None:
    gate = make_gate(alarms=ALARMS, bake=BAKE)
    rollback = ExecutionObservation("e-42", "AutomatedRollback", rollback=True)
    seen = Observations(alarms=(alarm("web-5xx", "ALARM"),), execution=rollback)

    decision = decide(gate, seen)
    frozen = decide(gate, replace(seen, freeze=FreezeObservation("audit", None, "al")))

    assert decision.verdict == "proceed"
    assert (
        decision.exemption == "rollback execution e-42 (AutomatedRollback); waives alarms, window, bake, error_budget"
    )
    assert {c.check: c.exempted for c in decision.checks} == {"alarms": True, "freeze": False, "bake": True}
    assert decision.checks[0].outcome == "wait"  # still evaluated and recorded
    assert frozen.verdict == "block"


def test_a_fix_forward_variable_exempts_the_execution() -> None:
    execution = ExecutionObservation("e-7", "StartPipelineExecution", variables={"deckhand_exempt": "fix-forward"})

    decision = decide(make_gate(alarms=ALARMS), Observations(execution=execution))

    assert decision.verdict == "proceed"
    assert decision.exemption.startswith("variable deckhand_exempt=fix-forward on execution e-7; waives alarms")


@pytest.mark.parametrize(
    ("exemption", "execution"),
    [
        pytest.param(
            {}, ExecutionObservation("e-1", "Webhook", variables={"deckhand_exempt": "yes"}), id="other value"
        ),
        pytest.param({}, ExecutionObservation("e-1", "Webhook"), id="no variable"),
        pytest.param(
            {"rollbacks": False}, ExecutionObservation("e-1", "ManualRollback", rollback=True), id="rollbacks off"
        ),
        pytest.param(
            {"variable": None},
            ExecutionObservation("e-1", "Webhook", variables={"deckhand_exempt": "fix-forward"}),
            id="variable off",
        ),
    ],
)
def test_no_exemption_without_a_matching_rule(exemption: dict[str, Any], execution: ExecutionObservation) -> None:
    decision = decide(make_gate(alarms=ALARMS, exemption=exemption), Observations(execution=execution))

    assert decision.verdict == "block"
    assert decision.exemption == ""
    assert not any(c.exempted for c in decision.checks)


# Properties -----------------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_an_enforced_unexempted_check_that_does_not_pass_never_proceeds(
    scenario: tuple[Gate, Observations, datetime],
) -> None:
    gate, seen, now = scenario

    decision = evaluate(gate, seen, now, decision_id="p")

    held = [c for c in decision.checks if c.mode == "enforce" and not c.exempted and c.outcome != "pass"]
    if held:
        assert decision.verdict != "proceed"
        assert decision.verdict == ("block" if any(c.outcome == "block" for c in held) else "wait")
    else:
        assert decision.verdict == "proceed"
    assert all(c.mode != "off" for c in decision.checks)


def _with_mode(gate: Gate, check: Check, mode: str) -> Gate:
    section = getattr(gate, check)
    return gate.model_copy(update={check: section.model_copy(update={"mode": mode})})


@PROPERTY_SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_shadow_and_off_never_change_the_verdict(
    scenario: tuple[Gate, Observations, datetime], data: st.DataObject
) -> None:
    gate, seen, now = scenario
    configured = [check for check in ("alarms", "window", "freeze", "bake", "error_budget") if getattr(gate, check)]
    check: Check = data.draw(st.sampled_from(configured))

    verdicts = {
        mode: evaluate(_with_mode(gate, check, mode), seen, now, decision_id="p")
        for mode in ("enforce", "shadow", "off")
    }

    assert verdicts["shadow"].verdict == verdicts["off"].verdict
    (enforced,) = [c for c in verdicts["enforce"].checks if c.check == check]
    if not enforced.blocking:
        assert verdicts["enforce"].verdict == verdicts["off"].verdict
    assert not any(c.blocking for c in verdicts["shadow"].checks if c.check == check)


@PROPERTY_SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_the_decision_does_not_depend_on_the_order_of_alarms(
    scenario: tuple[Gate, Observations, datetime], data: st.DataObject
) -> None:
    gate, seen, now = scenario
    shuffled = replace(seen, alarms=tuple(data.draw(st.permutations(seen.alarms))))

    decision = evaluate(gate, seen, now, decision_id="p")
    again = evaluate(gate, shuffled, now, decision_id="p")

    assert again == decision
    assert again.reasons == decision.reasons
