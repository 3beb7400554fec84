"""Hypothesis strategies for gates, observations and instants, shared by the gating tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from functions.gating.model import AlarmObservation, ExecutionObservation, FreezeObservation, Observations
from functions.gating.policy import (
    CHECKS,
    AlarmCheck,
    BakeCheck,
    ErrorBudgetCheck,
    Exemption,
    FreezeCheck,
    Gate,
    WindowCheck,
)

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham"]
WEEKDAYS = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
MODES = ["enforce", "shadow", "off"]

# The instants at which the sample zones change their clocks in 2026.
DST_CHANGES = [
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # Europe/Paris springs forward, 02:00 -> 03:00
    datetime(2026, 10, 25, 1, 0, tzinfo=UTC),  # Europe/Paris falls back, 03:00 -> 02:00
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC),  # America/New_York springs forward, 02:00 -> 03:00
    datetime(2026, 11, 1, 6, 0, tzinfo=UTC),  # America/New_York falls back, 02:00 -> 01:00
    datetime(2026, 4, 4, 15, 0, tzinfo=UTC),  # Australia/Lord_Howe falls back half an hour
    datetime(2026, 10, 3, 15, 30, tzinfo=UTC),  # Australia/Lord_Howe springs forward half an hour
]

instants = st.builds(
    lambda base, minutes, zone: (base + timedelta(minutes=minutes)).astimezone(ZoneInfo(zone)),
    st.sampled_from(DST_CHANGES),
    st.integers(-4 * 24 * 60, 4 * 24 * 60),
    st.sampled_from(ZONES),
)
clock_times = st.builds(
    "{:02d}:{:02d}".format, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]) | st.integers(0, 59)
)
offsets = st.builds(lambda quarters: timezone(timedelta(minutes=15 * quarters)), st.integers(-12 * 4, 14 * 4))


def _allow(days: list[str], start: str, end: str) -> dict[str, Any]:
    return {"days": days, "start": start, "end": end}


allow_windows = st.builds(
    _allow, st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True), clock_times, clock_times
).filter(lambda window: window["start"] != window["end"])


@st.composite
def deny_periods(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(["Christmas", "Black Friday", "Launch", "Audit"]))
    if draw(st.booleans()):
        start = draw(st.dates(min_value=date(2026, 2, 20), max_value=date(2026, 11, 20)))
        return {"name": name, "start": start, "end": start + timedelta(days=draw(st.integers(0, 20)))}
    begins = draw(instants).astimezone(draw(offsets))
    return {"name": name, "start": begins, "end": begins + timedelta(minutes=draw(st.integers(0, 10 * 24 * 60)))}


@st.composite
def window_checks(draw: st.DrawFn, modes: st.SearchStrategy[str] | None = None) -> WindowCheck:
    return WindowCheck.model_validate(
        {
            "mode": "enforce" if modes is None else draw(modes),
            "timezone": draw(st.sampled_from(ZONES)),
            "allow": draw(st.lists(allow_windows, max_size=3)),
            "deny": draw(st.lists(deny_periods(), max_size=3)),
        }
    )


ALARM_NAMES = ["web-5xx", "web-latency-p99", "db-cpu", "queue-depth", "api-errors"]
BURN_MINUTES = [5, 30, 60, 360]
METRIC = {"namespace": "AWS/ApplicationELB", "name": "RequestCount"}


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def gates(draw: st.DrawFn) -> Gate:
    modes = st.sampled_from(MODES)
    alarms = AlarmCheck.model_validate(
        {
            "mode": draw(modes),
            "names": ["web-5xx"],
            "insufficient_data": draw(st.sampled_from(["block", "wait", "pass"])),
        }
    )
    min_count = draw(_maybe(st.integers(1, 1000)))
    bake = BakeCheck.model_validate(
        {
            "mode": draw(modes),
            "after_stage": "Build",
            "minutes": draw(st.integers(1, 120)),
            "min_count": min_count,
            "count_metric": None if min_count is None else METRIC,
        }
    )
    budget = ErrorBudgetCheck.model_validate(
        {
            "mode": draw(modes),
            "objective_percent": draw(st.sampled_from([99.0, 99.5, 99.9, 99.99])),
            "errors": METRIC,
            "requests": METRIC,
        }
    )
    exemption = Exemption.model_validate(
        {
            "rollbacks": draw(st.booleans()),
            "waive": draw(st.lists(st.sampled_from(CHECKS), unique=True)),
        }
    )
    return Gate.model_validate(
        {
            "pipeline": "web-app",
            "stage": "Deploy",
            "timeout_minutes": draw(st.integers(1, 24 * 60)),
            "alarms": draw(_maybe(st.just(alarms))),
            "window": draw(_maybe(window_checks(modes))),
            "freeze": FreezeCheck.model_validate({"mode": draw(modes)}),
            "bake": draw(_maybe(st.just(bake))),
            "error_budget": draw(_maybe(st.just(budget))),
            "exemption": exemption,
        }
    )


def alarm_observations(now: datetime) -> st.SearchStrategy[AlarmObservation]:
    return st.builds(
        AlarmObservation,
        name=st.sampled_from(ALARM_NAMES),
        kind=st.sampled_from(["metric", "composite"]),
        state=st.sampled_from(["OK", "ALARM", "INSUFFICIENT_DATA"]),
        reason=st.sampled_from(["Threshold Crossed: 1 datapoint [5.0] > 1.0", "Unchecked: Initial alarm creation"]),
        updated=st.just(now - timedelta(minutes=10)),
        muted_until=_maybe(st.builds(lambda m: now + timedelta(minutes=m), st.integers(-120, 120))),
    )


def _sums(draw: st.DrawFn) -> dict[int, float]:
    keys = draw(st.lists(st.sampled_from(BURN_MINUTES), unique=True))
    return {minutes: draw(st.floats(0, 1e6)) for minutes in keys}


@st.composite
def observations(draw: st.DrawFn, now: datetime) -> Observations:
    freeze = FreezeObservation("release audit", now + timedelta(hours=2), "alice")
    execution = st.builds(
        ExecutionObservation,
        id=st.just("e-1"),
        trigger=st.sampled_from(["StartPipelineExecution", "AutomatedRollback"]),
        rollback=st.booleans(),
        variables=st.sampled_from([{}, {"deckhand_exempt": "fix-forward"}, {"deckhand_exempt": "no"}]),
    )
    requests = draw(_maybe(st.floats(0, 1e9)))
    return Observations(
        alarms=tuple(draw(st.lists(alarm_observations(now), max_size=6))),
        freeze=draw(_maybe(st.just(freeze))),
        execution=draw(_maybe(execution)),
        previous_stage_succeeded_at=draw(_maybe(st.builds(lambda m: now - timedelta(minutes=m), st.integers(0, 240)))),
        bake_count=draw(_maybe(st.floats(0, 2000))),
        errors_by_window=_sums(draw),
        requests_by_window=_sums(draw),
        budget_errors=None if requests is None else draw(st.floats(0, requests)),
        budget_requests=requests,
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Gate, Observations, datetime]:
    now = draw(instants)
    return draw(gates()), draw(observations(now)), now
