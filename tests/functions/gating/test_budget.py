"""Error budget math: ratios, burn rates, the budget left, and multi-window burn alerts."""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.gating.budget import (
    allowed_ratio,
    assess,
    burn_rate,
    error_ratio,
    remaining_budget,
    window_minutes,
)
from functions.gating.policy import ErrorBudgetCheck

METRIC = {"namespace": "AWS/ApplicationELB", "name": "RequestCount"}


def budget_check(**overrides: Any) -> ErrorBudgetCheck:
    return ErrorBudgetCheck.model_validate(
        {"objective_percent": 99.9, "errors": METRIC, "requests": METRIC} | overrides
    )


def test_error_ratio_is_errors_per_request_and_zero_without_traffic() -> None:
    assert error_ratio(5, 1000) == 0.005
    assert error_ratio(0, 0) == 0.0
    assert error_ratio(3, 0) == 0.0


def test_burn_rate_is_the_ratio_over_the_allowed_ratio() -> None:
    assert allowed_ratio(99.9) == pytest.approx(0.001)
    assert burn_rate(0.001, 99.9) == pytest.approx(1.0)
    assert burn_rate(0.0144, 99.9) == pytest.approx(14.4)
    assert burn_rate(0.0, 99.0) == 0.0


def test_remaining_budget_is_the_share_of_allowed_errors_not_spent() -> None:
    assert remaining_budget(500, 1_000_000, 99.9) == pytest.approx(0.5)
    assert remaining_budget(0, 1_000_000, 99.9) == 1.0
    assert remaining_budget(1500, 1_000_000, 99.9) == pytest.approx(-0.5)
    assert remaining_budget(10, 0, 99.9) == 1.0


def test_the_default_windows_need_four_window_lengths() -> None:
    assert window_minutes(budget_check()) == [5, 30, 60, 360]


def test_a_window_trips_only_when_long_and_short_both_burn_fast() -> None:
    # 99.9%: 14.4x is an error ratio of 1.44%.
    errors = {60: 2000.0, 5: 200.0, 360: 100.0, 30: 10.0}
    requests = {60: 100_000.0, 5: 10_000.0, 360: 600_000.0, 30: 50_000.0}

    assessed = assess(budget_check(), errors, requests, 5000.0, 10_000_000.0)

    assert [w.tripped for w in assessed.burns] == [True, False]
    (tripped,) = assessed.tripped
    assert tripped.summary == "burning 20.0x over 1h and 20.0x over 5m (limit 14.4x)"
    assert assessed.remaining == pytest.approx(0.5)
    assert assessed.remaining_label == "remaining budget 50.0% over 30 days"
    assert assessed.notes == []


@pytest.mark.parametrize(
    ("long_errors", "short_errors", "tripped"),
    [
        pytest.param(2000.0, 100.0, False, id="long only: it already stopped"),
        pytest.param(100.0, 200.0, False, id="short only: a blip"),
        pytest.param(1440.0, 144.0, True, id="exactly at the burn rate"),
    ],
)
def test_one_window_alone_does_not_trip(long_errors: float, short_errors: float, tripped: bool) -> None:
    check = budget_check(windows=[{"long_minutes": 60, "short_minutes": 5, "burn_rate": 14.4}])

    assessed = assess(check, {60: long_errors, 5: short_errors}, {60: 100_000.0, 5: 10_000.0}, None, None)

    assert bool(assessed.tripped) is tripped


def test_missing_data_is_no_traffic_and_said_so() -> None:
    check = budget_check()

    assessed = assess(check, {60: 10.0}, {60: 0.0, 5: 100.0}, None, None)

    assert assessed.tripped == ()
    assert assessed.notes == [
        "no data over 5m (taken as no traffic)",
        "no data over 30m (taken as no traffic)",
        "no traffic over 1h",
        "no data over 6h (taken as no traffic)",
    ]
    assert assessed.remaining is None
    assert assessed.remaining_label == "remaining budget unknown (no data over 30 days)"


def test_budget_days_appear_in_the_remaining_label() -> None:
    assessed = assess(budget_check(budget_days=7), {}, {}, 0.0, 0.0)
    assert assessed.remaining_label == "remaining budget 100.0% over 7 days"


def test_a_budget_spent_exactly_reads_zero_not_minus_zero() -> None:
    assessed = assess(budget_check(objective_percent=99.9), {}, {}, 1.0, 1000.0)
    assert assessed.remaining is not None
    assert assessed.remaining <= 0
    assert assessed.remaining_label == "remaining budget 0.0% over 30 days"


counts = st.floats(0, 1e9, allow_nan=False)
objectives = st.floats(90, 99.999)


@given(errors=counts, more=counts, requests=counts, objective=objectives)
def test_remaining_budget_falls_with_errors_and_stays_finite(
    errors: float, more: float, requests: float, objective: float
) -> None:
    left = remaining_budget(errors, requests, objective)

    assert 1 - 1 / allowed_ratio(objective) <= left <= 1
    assert remaining_budget(errors + more, requests, objective) <= left


def test_errors_cannot_outnumber_requests() -> None:
    assert error_ratio(20, 10) == 1.0
    assert error_ratio(1.0, 5e-324) == 1.0
    assert remaining_budget(20, 10, 99.0) == pytest.approx(-99.0)


@given(
    long_rate=st.floats(0, 100),
    short_rate=st.floats(0, 100),
    limit=st.floats(0.5, 50),
)
def test_a_window_trips_exactly_when_both_rates_reach_the_limit(
    long_rate: float, short_rate: float, limit: float
) -> None:
    check = budget_check(objective_percent=99.0, windows=[{"long_minutes": 60, "short_minutes": 5, "burn_rate": limit}])
    # With 99% and 1e6 requests, a burn rate r is r * 10_000 errors.
    errors = {60: long_rate * 10_000, 5: short_rate * 10_000}
    requests = {60: 1e6, 5: 1e6}

    (burn,) = assess(check, errors, requests, None, None).burns

    assert burn.long.rate == pytest.approx(long_rate)
    expected = burn.long.rate >= limit and burn.short.rate >= limit
    assert burn.tripped is expected
