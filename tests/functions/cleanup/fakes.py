"""An in-memory kind and mark store for engine tests: they record every call and keep what a real run changes."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime

from botocore.exceptions import ClientError

from functions.cleanup.kinds.base import Judgement, KindName, KindRule, Resource, Scope

MUTATING = ("act", "mark", "write", "forget")


class FakeKind:
    """A kind over a dict of resources: acting removes one (or raises for a failing id), marking tags them."""

    name: KindName = "ebs-snapshot"
    rule: type[KindRule] = KindRule

    def __init__(
        self,
        resources: Sequence[Resource],
        judgements: Mapping[str, Judgement],
        users: Mapping[str, str] | None = None,
        *,
        taggable: bool = True,
        failing: Mapping[str, Exception] | None = None,
        act_seconds: float = 0.0,
    ) -> None:
        self.resources = {resource.id: resource for resource in resources}
        self.judgements = dict(judgements)
        self.users = dict(users or {})
        self.taggable = taggable
        self.failing = dict(failing or {})
        self.act_seconds = act_seconds
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def _record(self, call: str, *ids: str) -> None:
        with self._lock:
            self.calls.append((call, ids))

    def acted(self) -> list[str]:
        return [ids[0] for call, ids in self.calls if call == "act"]

    def find(self, scope: Scope, rule: KindRule) -> list[Resource]:
        self._record("find")
        return list(self.resources.values())

    def in_use(self, scope: Scope, rule: KindRule, found: Sequence[Resource]) -> dict[str, str]:
        self._record("in_use")
        return {resource.id: self.users[resource.id] for resource in found if resource.id in self.users}

    def judge(self, found: Sequence[Resource], rule: KindRule, now: datetime) -> dict[str, Judgement]:
        return {resource.id: self.judgements[resource.id] for resource in found if resource.id in self.judgements}

    def act(self, scope: Scope, resource: Resource, candidate: object, rule: KindRule) -> None:
        self._record("act", resource.id)
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.act_seconds)
            if resource.id in self.failing:
                raise self.failing[resource.id]
            with self._lock:
                del self.resources[resource.id]
        finally:
            with self._lock:
                self.in_flight -= 1

    def mark(self, scope: Scope, resources: Sequence[Resource], tag: str, value: str) -> None:
        self._record("mark", *(resource.id for resource in resources))
        for resource in resources:
            current = self.resources[resource.id]
            self.resources[resource.id] = replace(current, tags={**current.tags, tag: value})


class FakeMarks:
    """The mark store of untaggable kinds, in memory, counting reads per scope."""

    def __init__(self, marks: Mapping[str, str] | None = None) -> None:
        self.marks = dict(marks or {})
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def read(self, scope: Scope) -> dict[str, str]:
        self.calls.append(("read", ()))
        return dict(self.marks)

    def write(self, scope: Scope, ids: Sequence[str], due: date) -> None:
        self.calls.append(("write", tuple(ids)))
        self.marks.update(dict.fromkeys(ids, due.isoformat()))

    def forget(self, scope: Scope, ids: Sequence[str]) -> None:
        self.calls.append(("forget", tuple(ids)))
        for id_ in ids:
            self.marks.pop(id_, None)


def throttled(operation: str = "DeleteSnapshot") -> ClientError:
    return ClientError(
        {"Error": {"Code": "RequestLimitExceeded", "Message": "Request limit exceeded."}}, operation_name=operation
    )


class Countdown:
    """A Lambda context's remaining time that runs out after `calls` looks (one look per act submitted)."""

    def __init__(self, calls: int) -> None:
        self.left = calls

    def __call__(self) -> int:
        self.left -= 1
        return 600_000 if self.left >= 0 else 1_000
