"""The `gating` section of the policy file: which pipeline stages are gated, and by which checks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from functions.shared.policy_base import Duty, Placed, Section
from functions.shared.times import ClockTime, TimeZone, Weekday

Mode = Literal["enforce", "shadow", "off"]
Check = Literal["alarms", "window", "freeze", "bake", "error_budget"]
CHECKS: tuple[Check, ...] = ("alarms", "window", "freeze", "bake", "error_budget")

_NAME = re.compile(r"^[A-Za-z0-9.@\-_]{1,100}$")


class Metric(Section):
    """One CloudWatch metric, summed per period, e.g. a load balancer's 5xx count."""

    namespace: str
    name: str
    dimensions: dict[str, str] = Field(default_factory=dict)
    stat: Literal["Sum", "SampleCount"] = "Sum"


class AlarmCheck(Placed):
    """The alarms selected in the hub's account and region, or in the member `account` and `region` named."""

    mode: Mode = "enforce"
    names: list[str] = Field(default=[])
    prefixes: list[str] = Field(default=[])
    tags: dict[str, str] = Field(default_factory=dict)
    insufficient_data: Literal["block", "wait", "pass"] = "wait"

    @model_validator(mode="after")
    def _selects_something(self) -> AlarmCheck:
        if not (self.names or self.prefixes or self.tags):
            raise ValueError("select alarms by at least one of names, prefixes or tags")
        return self


class AllowWindow(Section):
    days: list[Weekday] = Field(min_length=1)
    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _not_empty(self) -> AllowWindow:
        if self.start == self.end:
            raise ValueError("start and end are equal: the window would be empty")
        return self


class DenyPeriod(Section):
    """A holiday or freeze with its year: whole days (dates, end inclusive) or instants (with offset)."""

    name: str = Field(min_length=1, max_length=100)
    start: date | datetime
    end: date | datetime

    @model_validator(mode="after")
    def _ordered(self) -> DenyPeriod:
        if type(self.start) is not type(self.end):
            raise ValueError("start and end must both be dates or both be date-times")
        if isinstance(self.start, datetime) and isinstance(self.end, datetime):
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError("date-times need an offset, like 2026-12-24T18:00:00+01:00")
            if self.end < self.start:
                raise ValueError("end is before start")
        elif self.end < self.start:
            raise ValueError("end is before start")
        return self


class WindowCheck(Section):
    mode: Mode = "enforce"
    timezone: TimeZone = "UTC"
    allow: list[AllowWindow] = Field(default=[])
    deny: list[DenyPeriod] = Field(default=[])


class FreezeCheck(Section):
    mode: Mode = "enforce"


class BakeCheck(Section):
    mode: Mode = "enforce"
    after_stage: str
    minutes: Annotated[int, Field(ge=1, le=24 * 60)]
    min_count: Annotated[int, Field(ge=1)] | None = None
    count_metric: Metric | None = None

    @model_validator(mode="after")
    def _count_needs_metric(self) -> BakeCheck:
        if (self.min_count is None) != (self.count_metric is None):
            raise ValueError("min_count and count_metric go together")
        return self


class BurnWindow(Section):
    """Block when the error budget burns faster than `burn_rate` over both windows (multi-window alert)."""

    long_minutes: Annotated[int, Field(ge=5, le=7 * 24 * 60)]
    short_minutes: Annotated[int, Field(ge=1, le=24 * 60)]
    burn_rate: Annotated[float, Field(gt=0)]

    @model_validator(mode="after")
    def _short_is_shorter(self) -> BurnWindow:
        if self.short_minutes >= self.long_minutes:
            raise ValueError("short_minutes must be shorter than long_minutes")
        return self


def _default_burn_windows() -> list[BurnWindow]:
    # The two fast-burn pairs of the Google SRE workbook for a 30-day budget.
    return [
        BurnWindow(long_minutes=60, short_minutes=5, burn_rate=14.4),
        BurnWindow(long_minutes=360, short_minutes=30, burn_rate=6.0),
    ]


class ErrorBudgetCheck(Section):
    mode: Mode = "enforce"
    objective_percent: Annotated[float, Field(gt=0, lt=100)]
    errors: Metric
    requests: Metric
    budget_days: Annotated[int, Field(ge=1, le=90)] = 30
    windows: list[BurnWindow] = Field(default_factory=_default_burn_windows, min_length=1)


class Exemption(Section):
    """Rollbacks and fix-forwards may skip checks that would hold back the cure; it is recorded."""

    rollbacks: bool = True
    variable: str | None = "deckhand_exempt"
    values: list[str] = Field(default_factory=lambda: ["fix-forward"])
    waive: list[Check] = Field(default_factory=lambda: list[Check](["alarms", "bake", "error_budget", "window"]))


class Watchdog(Placed):
    """After the stage deploys, an alarm in ALARM within the horizon stops or rolls back the stage, once; the alarms
    are the hub's, or those of the member `account` and `region` named."""

    alarms: list[str] = Field(min_length=1)
    horizon_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 60
    action: Literal["rollback", "stop"] = "rollback"
    max_actions_per_hour: Annotated[int, Field(ge=1, le=10)] = 1


class Gate(Section):
    pipeline: str
    stage: str
    timeout_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 60
    alarms: AlarmCheck | None = None
    window: WindowCheck | None = None
    freeze: FreezeCheck = Field(default_factory=FreezeCheck)
    bake: BakeCheck | None = None
    error_budget: ErrorBudgetCheck | None = None
    exemption: Exemption = Field(default_factory=Exemption)
    # The manual approval actions, as STAGE/ACTION, standing before this stage that Deckhand may answer: the
    # stack grants PutApprovalResult on exactly these (PIPELINE/STAGE/ACTION), so IAM alone keeps the approver
    # off every other approval. `false` (or none listed) leaves every approval to humans.
    approvals: list[str] = Field(default=[])
    watchdog: Watchdog | None = None

    @field_validator("approvals", mode="before")
    @classmethod
    def _approvals(cls, value: Any) -> Any:
        if value is False:
            return []
        if value is True:
            raise ValueError(
                'name the manual approval actions that stand before this stage, as ["STAGE/ACTION", ...] '
                '(e.g. ["Approve/Approve"]): the stack grants PutApprovalResult on those only'
            )
        return value

    @field_validator("approvals")
    @classmethod
    def _approval_names(cls, approvals: list[str]) -> list[str]:
        for approval in approvals:
            stage, _, action = approval.partition("/")
            if not (_NAME.fullmatch(stage) and _NAME.fullmatch(action)):
                raise ValueError(f"{approval!r}: expected STAGE/ACTION, two CodePipeline names")
        return approvals

    def answers(self, stage: str, action: str) -> bool:
        """Whether the policy lets Deckhand answer the approval action `action` of stage `stage`."""
        return f"{stage}/{action}" in self.approvals

    @field_validator("pipeline", "stage")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError("expected a CodePipeline name: 1-100 letters, digits or . @ - _")
        return name


class Gating(Duty):
    gates: list[Gate] = Field(default=[])

    @model_validator(mode="after")
    def _one_gate_per_stage(self) -> Gating:
        seen: set[tuple[str, str]] = set()
        for gate in self.gates:
            key = (gate.pipeline, gate.stage)
            if key in seen:
                raise ValueError(f"pipeline {gate.pipeline!r} stage {gate.stage!r} is gated twice; merge the gates")
            seen.add(key)
        return self

    def gate(self, pipeline: str, stage: str) -> Gate | None:
        return next((g for g in self.gates if (g.pipeline, g.stage) == (pipeline, stage)), None)


def gate_after(gates: Sequence[Gate], stages: Sequence[str], stage: str) -> Gate | None:
    """Of the gates of one pipeline, the one whose stage comes first after `stage` in the pipeline's `stages`;
    None when `stage` is not one of them or no gated stage follows it."""
    if stage not in stages:
        return None
    by_stage = {gate.stage: gate for gate in gates}
    following = stages[stages.index(stage) + 1 :]
    return next((by_stage[name] for name in following if name in by_stage), None)
