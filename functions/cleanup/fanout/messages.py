"""What the fan-out's steps hand each other through the state machine: the plan, each Map item, a scope's tally.

Step Functions passes at most 256 KB between states ("Quotas related to state throughput", Step Functions Developer
Guide), so a scope's answer carries counts and the first failures, not the resources: those go to the audit, one
record per scope and invocation, as on the direct path. A stopped scope's pending ids ride in its tally to the next
invocation of the same item, or wait in S3 when there are too many (scope.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..engine import ScopeResult
from ..kinds.base import KindName

FAILURES_KEPT = 20  # failures listed per scope in its answer and the report; all are counted and audited
Action = Literal["plan", "run"]
Status = Literal["done", "planned", "stopped", "partial", "aborted", "failed"]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Share(Message):
    """The item's share of its account-region's pacing (see plan.py)."""

    per_second: float = Field(gt=0)
    burst: int = Field(ge=1)


class Item(Message):
    """One scope of the run: an account, a region and a kind; what the Map reads from items.json."""

    run_id: str
    account: str = Field(pattern=r"^[0-9]{12}$")
    region: str
    kind: KindName
    action: Action
    dry_run: bool
    pace: Share


class Failed(Message):
    id: str  # "" when the whole scope failed
    action: str
    error: str


class Tally(Message):
    """A scope's figures over the invocations it took."""

    found: int = 0
    marked: int = 0
    acted: int = 0
    skipped: dict[str, int] = Field(default_factory=dict)
    failed: int = 0
    failures: list[Failed] = Field(default=[])
    aborted: str | None = None
    monthly_usd: float = 0.0
    marked_monthly_usd: float = 0.0
    pending: list[str] = Field(default=[])
    pending_key: str | None = None  # where the pending ids wait in the cleanup bucket when too many to ride along
    invocations: int = 0
    reason: str | None = None  # the scope could not run in its account at all (its role, its access)

    def plus(self, portion: ScopeResult, reason: str | None = None) -> Tally:
        skipped = dict(self.skipped)
        for why, count in portion.skipped.items():
            skipped[why] = skipped.get(why, 0) + count
        failures = [Failed(id=f.id, action=f.action, error=f.error) for f in portion.failures]
        return Tally(
            found=self.found + portion.found,
            marked=self.marked + len(portion.marked),
            acted=self.acted + len(portion.acted),
            skipped=skipped,
            failed=self.failed + len(portion.failures),
            failures=(self.failures + failures)[:FAILURES_KEPT],
            aborted=self.aborted or portion.aborted,
            monthly_usd=round(self.monthly_usd + portion.monthly_usd, 2),
            marked_monthly_usd=round(self.marked_monthly_usd + portion.marked_monthly_usd, 2),
            pending=list(portion.pending),
            invocations=self.invocations + 1,
            reason=self.reason or reason,
        )

    def status(self, dry_run: bool) -> Status:
        if self.reason or (self.failed and not self.found and not self.acted):
            return "failed"
        if self.aborted:
            return "aborted"
        if self.pending or self.pending_key:
            return "stopped"
        if self.failed:
            return "partial"
        return "planned" if dry_run else "done"


class ScopeStep(Message):
    """The scope step's input: a Map item, or (a stopped scope, again) its own earlier answer."""

    step: Literal["scope"]
    item: Item
    tally: Tally | None = None
    status: Status | None = None


class Plan(Message):
    """The plan step's answer, which the state machine keeps at $.plan for the Map and the aggregation."""

    run_id: str
    action: Action
    dry_run: bool
    started_at: str
    accounts: list[str]
    regions: list[str]
    kinds: list[KindName]
    scopes: int
    bucket: str
    items_key: str
    results_prefix: str


class PlanStep(Message):
    step: Literal["plan"]
    command: dict[str, Any]
    execution: str  # the execution's name, the run id (the cleanup function names it so)


class AggregateStep(Message):
    step: Literal["aggregate"]
    plan: Plan
    map: dict[str, Any] = Field(default_factory=dict)  # the Map's output, or its error when the Map failed
