"""Pacing per account-region: never send an account and region more mutating calls than its rate, whatever the number
of workers, and slow down on a throttling answer without collapsing.

AWS throttles per account and region, whatever the number of callers: EC2 keeps a token bucket of 50 mutating
requests refilled at 5 a second ("Request throttling for the Amazon EC2 API",
https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html). botocore's adaptive retry mode
(botocore/retries/adaptive.py) limits one client only after its first throttle, then cuts that client's rate to
0.7 of the measured rate on *every* throttled answer: a burst of concurrent requests throttled together cuts it
once each, and each of them also backs off exponentially, so the rate collapses far below what the bucket allows.

Here every send of a mutating call reserves its instant in the account-region's schedule (GCRA: a virtual token
bucket of the configured size and refill, kept by `Tokens`), so concurrent workers share one budget. On a
throttling answer the pace is cut once per congestion (answers to requests sent before the cut do not cut again)
and the schedule waits one refill before the next send; each success adds a step back, up to the configured rate,
never below a floor (AIMD). The hooks every client carries (pacing_hooks.py) do the reserving and the learning
inside `Pacer.pacing`.

`InProcess` keeps the schedules of one process (the threads of one invocation). A store shared by several Lambda
workers (a DynamoDB item per account-region holding the schedule, advanced by conditional writes) would implement
`Tokens` too; it is not built yet.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from .pacing_hooks import IN_FORCE

CUT = 0.5  # a throttling answer halves the pace...
FLOOR_SHARE = 0.05  # ...never below this share of the configured rate...
STEPS_BACK = 50  # ...and this many successes bring a halved pace back to the configured rate.
HEADROOM_SHARE = 0.2  # of the bucket left unspent, so that a late request never meets an empty bucket


@dataclass(frozen=True)
class Key:
    """Whose budget a call spends: AWS throttles each account in each region on its own."""

    account: str
    region: str


@dataclass(frozen=True)
class Pace:
    """The account-region's budget of mutating calls: `rate` a second, refilled into a bucket of `burst`."""

    rate: float
    burst: int

    @property
    def tolerance_s(self) -> float:
        """How far ahead of its even spacing the schedule may run: the bucket's spendable part, in seconds."""
        spendable = max(1.0, self.burst * (1 - HEADROOM_SHARE))
        return (spendable - 1) / self.rate


class Tokens(Protocol):
    """Where the account-regions' schedules are kept: one process's memory, or a store shared by workers."""

    def reserve(self, key: Key, now: float, interval_s: float, tolerance_s: float) -> float:
        """Take the next send instant of `key` (at or after `now`), the one after it `interval_s` later."""

    def hold(self, key: Key, next_at: float) -> None:
        """Put `key`'s next scheduled instant no earlier than `next_at`."""


class InProcess:
    """The schedules (theoretical arrival times, GCRA) of the account-regions this process calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[Key, float] = {}

    def reserve(self, key: Key, now: float, interval_s: float, tolerance_s: float) -> float:
        with self._lock:
            due = max(self._next.get(key, now), now)
            self._next[key] = due + interval_s
            return max(now, due - tolerance_s)

    def hold(self, key: Key, next_at: float) -> None:
        with self._lock:
            self._next[key] = max(self._next.get(key, next_at), next_at)


@dataclass
class _Rate:
    now: float
    cut_at: float = float("-inf")


class Pacer:
    """Paces the mutating calls of each account-region to `pace`, adapting to throttling answers (AIMD)."""

    def __init__(
        self,
        pace: Pace,
        tokens: Tokens | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.pace = pace
        self.tokens: Tokens = tokens or InProcess()
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._rates: dict[Key, _Rate] = {}

    def rate(self, key: Key) -> float:
        """The pace `key` is sent at now: the configured rate, or less after throttling."""
        with self._lock:
            return self._rate(key).now

    def _rate(self, key: Key) -> _Rate:
        return self._rates.setdefault(key, _Rate(self.pace.rate))

    def send(self, key: Key) -> float:
        """Wait for `key`'s next send instant; that instant."""
        now = self.clock()
        at = self.tokens.reserve(key, now, 1 / self.rate(key), self.pace.tolerance_s)
        if at > now:
            self.sleep(at - now)
        return at

    def answered(self, key: Key, sent_at: float, *, throttled: bool) -> None:
        """Learn from the answer to a call sent at `sent_at`."""
        with self._lock:
            rate = self._rate(key)
            if not throttled:
                rate.now = min(self.pace.rate, rate.now + self.pace.rate * (1 - CUT) / STEPS_BACK)
                return
            if sent_at >= rate.cut_at:  # one cut per congestion: earlier sends met the bucket before the cut
                rate.now = max(self.pace.rate * FLOOR_SHARE, rate.now * CUT)
                rate.cut_at = self.clock()
            refilled = self.clock() + 1 / rate.now
        # The bucket is empty: the next send waits for its refill, and the burst must be saved again.
        self.tokens.hold(key, refilled + self.pace.tolerance_s)

    @contextmanager
    def pacing(self, key: Key) -> Iterator[None]:
        """The mutating calls this thread makes in the block spend `key`'s budget (clients made by
        `functions.shared.clients` are watched)."""
        token = IN_FORCE.set((self, key))
        try:
            yield
        finally:
            IN_FORCE.reset(token)
