"""The cleanup fan-out's Distributed Map in process, for tests: every item through the scope step, again while it
answers "stopped" (the state machine's Choice), retried on DeckhandThrottled as the state machine retries it, and
recorded as a child execution record in the ResultWriter's format (Input and Output as JSON text, Status, and Error
and Cause for a failed child), which the aggregation reads.

Each item's calls run on a clock of its own that starts at 0: the items of an account-region may all run at once,
and this is the worst case of it. A kind's mutating call is an instant its item's Pacer allows, recorded per
account-region.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from functions.cleanup.config import CleanupConfig
from functions.cleanup.fanout.messages import Item, ScopeStep
from functions.cleanup.fanout.scope import DeckhandThrottled, scope
from functions.cleanup.kinds.base import Candidate, KindName, KindRule, Resource, Scope
from functions.shared.clients import Acting
from functions.shared.pacing import Key, Pace, Pacer
from functions.shared.runtime import Runtime
from stacks.cleanup_fanout import RETRIED
from tests.functions.cleanup.fakes import Countdown, FakeKind, throttled

ATTEMPTS = 6  # the state machine's MaxAttempts on the retried errors
MARK_TAG = "deckhand:cleanup-after"
DELETE = Candidate(action="delete", monthly_usd=1.5, why="old")


@dataclass
class WorkerClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class PacedKind(FakeKind):
    """A fake kind whose every act is a mutating call sent at the instant the item's Pacer allows."""

    def __init__(self, resources: Sequence[Resource], sent: list[float], **more: Any) -> None:
        super().__init__(resources, dict.fromkeys((r.id for r in resources), DELETE), **more)  # type: ignore[arg-type]
        self.sent = sent
        self.pacer: Pacer | None = None

    def act(self, scope: Scope, resource: Resource, candidate: object, rule: KindRule) -> None:
        assert self.pacer is not None
        self.sent.append(self.pacer.send(Key(scope.account, scope.region)))
        super().act(scope, resource, candidate, rule)


class BrokenKind(FakeKind):
    def __init__(self, error: Exception) -> None:
        super().__init__([], {})
        self.error = error

    def find(self, scope: Scope, rule: KindRule) -> list[Resource]:
        raise self.error


def due_resources(item: Item, count: int, now: datetime) -> list[Resource]:
    """`count` resources of the item's scope, owned by its account, marked and due yesterday: each is acted on."""
    due = (now.date() - timedelta(days=1)).isoformat()
    return [
        Resource(
            kind=item.kind,
            id=f"{item.account}-{item.region}-{item.kind}-{index}",
            region=item.region,
            created=now - timedelta(days=400),
            tags={MARK_TAG: due},
            owner=item.account,
        )
        for index in range(count)
    ]


@dataclass
class MapRun:
    """One organization's run of the Map. `failing[account]`: "unreachable" (its role cannot be assumed),
    "throttled" (AWS throttles it whatever the retries) or "broken" (its listing fails)."""

    rt: Runtime
    cfg: CleanupConfig
    resources: Callable[[Item], int]  # how many due resources the item's scope holds
    failing: Mapping[str, str] = field(default_factory=dict)
    looks: int = 3  # deadline looks an invocation gets before its time runs short
    sent: dict[Key, list[float]] = field(default_factory=dict)
    invocations: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def reach(self, item: Item, roles: Acting) -> str | None:
        if self.failing.get(item.account) == "unreachable":
            return f"account {item.account}: cannot assume its member role {roles.role}: AccessDenied"
        return None

    def kind_of(self, item: Item, clock: WorkerClock) -> FakeKind:
        failure = self.failing.get(item.account)
        if failure == "throttled":
            return BrokenKind(throttled("DescribeSnapshots"))
        if failure == "broken":
            return BrokenKind(RuntimeError("listing failed"))
        sent = self.sent.setdefault(Key(item.account, item.region), [])
        return PacedKind(due_resources(item, self.resources(item), self.rt.clock()), sent)

    def child(self, item: Item) -> dict[str, Any]:
        """One child execution: Scope, then Scope again while it answers stopped; its ResultWriter record."""
        clock = WorkerClock()
        kind = self.kind_of(item, clock)
        first = {"step": "scope", "item": item.model_dump()}
        state: dict[str, Any] = first
        while True:
            attempts = 0
            while True:
                attempts += 1
                try:
                    state = self.invoke(state, kind, clock)
                    break
                except DeckhandThrottled as error:
                    if type(error).__name__ not in RETRIED or attempts >= ATTEMPTS:
                        return {"Input": json.dumps(first), "Status": "FAILED", "Error": type(error).__name__,
                                "Cause": str(error)}  # fmt: skip
            if state["status"] != "stopped":
                return {"Input": json.dumps(first), "Output": json.dumps(state), "Status": "SUCCEEDED"}

    def invoke(self, state: dict[str, Any], kind: FakeKind, clock: WorkerClock) -> dict[str, Any]:
        step = ScopeStep.model_validate(state)
        where = (step.item.account, step.item.region, step.item.kind)
        self.invocations[where] = self.invocations.get(where, 0) + 1

        def paced(pace: Pace) -> Pacer:
            made = Pacer(pace, clock=clock, sleep=clock.sleep)
            if isinstance(kind, PacedKind):
                kind.pacer = made
            return made

        kinds: dict[KindName, Any] = {step.item.kind: kind}
        return scope(
            step,
            self.rt,
            self.cfg,
            partition="aws",
            remaining_ms=Countdown(self.looks),
            kinds=kinds,
            reach=self.reach,
            pacer=paced,
        )

    def run(self, items: Sequence[Item]) -> list[dict[str, Any]]:
        return [self.child(item) for item in items]
