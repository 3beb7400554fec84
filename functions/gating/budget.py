"""Error budget arithmetic: error ratios, burn rates and the budget left, for multi-window burn alerts.

A burn rate of 1 spends the budget exactly over the budget period; 14.4 spends a 30-day budget in
about two days. A burn window trips only when its long AND short windows both burn that fast: the
long one proves it matters, the short one proves it is still happening.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .policy import BurnWindow, ErrorBudgetCheck


def error_ratio(errors: float, requests: float) -> float:
    """Errors per request, at most 1; no traffic is no error."""
    if requests <= 0:
        return 0.0
    # Errors counted in a period whose requests were not (metric skew) must not make the rate explode.
    return errors / requests if errors < requests else 1.0


def allowed_ratio(objective_percent: float) -> float:
    return 1 - objective_percent / 100


def burn_rate(ratio: float, objective_percent: float) -> float:
    return ratio / allowed_ratio(objective_percent)


def remaining_budget(errors: float, requests: float, objective_percent: float) -> float:
    """The fraction of the period's error budget left: 1 untouched, 0 spent, below 0 overspent."""
    return 1 - burn_rate(error_ratio(errors, requests), objective_percent)


@dataclass(frozen=True)
class Burn:
    minutes: int
    errors: float
    requests: float
    rate: float
    missing: bool  # no datapoints: treated as no traffic

    @property
    def label(self) -> str:
        return f"{self.rate:.1f}x over {_duration(self.minutes)}"

    @property
    def note(self) -> str:
        if self.missing:
            return f"no data over {_duration(self.minutes)} (taken as no traffic)"
        if self.requests <= 0:
            return f"no traffic over {_duration(self.minutes)}"
        return ""


@dataclass(frozen=True)
class WindowBurn:
    window: BurnWindow
    long: Burn
    short: Burn

    @property
    def tripped(self) -> bool:
        return self.long.rate >= self.window.burn_rate and self.short.rate >= self.window.burn_rate

    @property
    def summary(self) -> str:
        return f"burning {self.long.label} and {self.short.label} (limit {self.window.burn_rate:g}x)"


@dataclass(frozen=True)
class BudgetAssessment:
    burns: tuple[WindowBurn, ...]
    remaining: float | None  # None when the budget period has no data
    budget_days: int

    @property
    def tripped(self) -> tuple[WindowBurn, ...]:
        return tuple(burn for burn in self.burns if burn.tripped)

    @property
    def remaining_label(self) -> str:
        if self.remaining is None:
            return f"remaining budget unknown (no data over {self.budget_days} days)"
        percent = round(self.remaining * 100, 1) + 0.0  # + 0.0 turns a rounded -0.0 into 0.0
        return f"remaining budget {percent:.1f}% over {self.budget_days} days"

    @property
    def notes(self) -> list[str]:
        seen: dict[int, str] = {}
        for window_burn in self.burns:
            for burn in (window_burn.long, window_burn.short):
                if burn.note:
                    seen.setdefault(burn.minutes, burn.note)
        return [seen[minutes] for minutes in sorted(seen)]


def _duration(minutes: int) -> str:
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def _burn(minutes: int, errors: Mapping[int, float], requests: Mapping[int, float], objective_percent: float) -> Burn:
    missing = minutes not in errors or minutes not in requests
    error_count = 0.0 if missing else errors[minutes]
    request_count = 0.0 if missing else requests[minutes]
    rate = burn_rate(error_ratio(error_count, request_count), objective_percent)
    return Burn(minutes, error_count, request_count, rate, missing)


def assess(
    check: ErrorBudgetCheck,
    errors_by_window: Mapping[int, float],
    requests_by_window: Mapping[int, float],
    budget_errors: float | None,
    budget_requests: float | None,
) -> BudgetAssessment:
    def burn(minutes: int) -> Burn:
        return _burn(minutes, errors_by_window, requests_by_window, check.objective_percent)

    burns = tuple(WindowBurn(w, burn(w.long_minutes), burn(w.short_minutes)) for w in check.windows)
    remaining = None
    if budget_errors is not None and budget_requests is not None:
        remaining = remaining_budget(budget_errors, budget_requests, check.objective_percent)
    return BudgetAssessment(burns, remaining, check.budget_days)


def window_minutes(check: ErrorBudgetCheck) -> list[int]:
    """The window lengths the adapter must sum errors and requests over."""
    return sorted({minutes for w in check.windows for minutes in (w.long_minutes, w.short_minutes)})
