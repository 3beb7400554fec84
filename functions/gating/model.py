"""What the gate sees and what it decides: plain data, so the decision is pure and testable without AWS."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from .policy import Check, Mode

AlarmValue = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
Outcome = Literal["pass", "block", "wait"]  # wait: blocked now, but may clear by itself (re-check later)
Verdict = Literal["proceed", "block", "wait"]


@dataclass(frozen=True)
class AlarmObservation:
    name: str
    kind: Literal["metric", "composite"]
    state: AlarmValue
    reason: str
    updated: datetime
    muted_until: datetime | None = None  # a muted alarm cannot say the service is healthy


@dataclass(frozen=True)
class FreezeObservation:
    reason: str
    expires_at: datetime | None
    set_by: str


@dataclass(frozen=True)
class ExecutionObservation:
    """The pipeline execution being gated."""

    id: str
    trigger: str  # e.g. StartPipelineExecution, Webhook, ManualRollback, AutomatedRollback
    rollback: bool = False
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Observations:
    """Everything the adapters gathered for one decision. Sequences are order-free: the decision sorts."""

    alarms: tuple[AlarmObservation, ...] = ()
    alarms_unread: str | None = None  # why the selection was not read (it names another account or region)
    freeze: FreezeObservation | None = None
    execution: ExecutionObservation | None = None
    previous_stage_succeeded_at: datetime | None = None  # of the bake check's after_stage
    bake_count: float | None = None  # sum of the bake count metric since that success
    # Sums of the error budget's errors and requests metrics, keyed by window length in minutes.
    errors_by_window: Mapping[int, float] = field(default_factory=dict)
    requests_by_window: Mapping[int, float] = field(default_factory=dict)
    budget_errors: float | None = None  # over the whole budget period, for the remaining budget
    budget_requests: float | None = None


@dataclass(frozen=True)
class CheckResult:
    check: Check
    mode: Mode
    outcome: Outcome
    reason: str
    exempted: bool = False
    next_open: datetime | None = None  # window check: when it opens next, if blocked

    @property
    def blocking(self) -> bool:
        """Only an enforced check blocks; shadow logs "would have blocked"; an exempted one is waived."""
        return self.mode == "enforce" and not self.exempted and self.outcome != "pass"

    @property
    def would_have_blocked(self) -> bool:
        return self.mode == "shadow" and self.outcome != "pass"


@dataclass(frozen=True)
class Decision:
    id: str
    pipeline: str
    stage: str
    verdict: Verdict
    checks: tuple[CheckResult, ...]
    decided_at: datetime
    exemption: str = ""  # why checks were waived, if they were

    @property
    def reasons(self) -> list[str]:
        """What blocks (enforced) first, then what would have blocked (shadow)."""
        blocking = [f"{c.check}: {c.reason}" for c in self.checks if c.blocking]
        shadow = [f"{c.check} (shadow, would have blocked): {c.reason}" for c in self.checks if c.would_have_blocked]
        return blocking + shadow

    @property
    def next_open(self) -> datetime | None:
        opens = [c.next_open for c in self.checks if c.blocking and c.next_open is not None]
        return max(opens) if opens else None
