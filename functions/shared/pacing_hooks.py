"""The hooks every client made by `functions.shared.clients` carries: inside `pacing.Pacer.pacing`, each attempt of a
mutating call (retries included) spends the account-region's budget and tells the pacer how it was answered.

Every function's clients carry them, and only cleanup paces: the pacer itself (pacing.py) loads where one paces, not on
every cold start (9 M instructions, ~1 ms, on the paths of the six other functions).
"""

from __future__ import annotations

from collections.abc import Hashable
from contextvars import ContextVar
from typing import Any, Protocol

from botocore.retries.standard import RetryEventAdapter, ThrottlingErrorDetector

READS = ("Describe", "Get", "List", "Search", "Lookup", "BatchGet", "Head")  # EC2's non-mutating families and kin


class Budget(Protocol):
    """What the hooks ask of the pacer in force (pacing.Pacer)."""

    def send(self, key: Any) -> float: ...

    def answered(self, key: Any, sent_at: float, *, throttled: bool) -> None: ...


IN_FORCE: ContextVar[tuple[Budget, Hashable] | None] = ContextVar("deckhand_pacing", default=None)
_SENT: ContextVar[float] = ContextVar("deckhand_paced_send", default=float("-inf"))
_THROTTLING = ThrottlingErrorDetector(RetryEventAdapter())


def mutating(operation: str) -> bool:
    return not operation.startswith(READS)


def _before_send(event_name: str, **_: Any) -> None:
    active = IN_FORCE.get()
    if active is not None and mutating(event_name.rsplit(".", 1)[-1]):
        pacer, key = active
        _SENT.set(pacer.send(key))


def _needs_retry(event_name: str, **kwargs: Any) -> None:
    active = IN_FORCE.get()
    if active is not None and mutating(event_name.rsplit(".", 1)[-1]):
        pacer, key = active
        pacer.answered(key, _SENT.get(), throttled=_THROTTLING.is_throttling_error(**kwargs))


def watch(events: Any) -> None:
    """Pace a client's attempts (retries included) inside `Pacer.pacing`; `events` is its `meta.events`.
    Both handlers answer None, so botocore sends and retries as it would."""
    events.register("before-send", _before_send)
    events.register("needs-retry", _needs_retry)
