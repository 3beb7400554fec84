"""AWS calls counted and printed, for the benches that report calls per action."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def counted_aws_calls() -> Iterator[Counter[str]]:
    """Count every AWS API call botocore makes, by service and operation."""
    import boto3

    calls: Counter[str] = Counter()

    def count(event_name: str, **_: Any) -> None:
        calls[event_name.removeprefix("before-call.")] += 1

    boto3.DEFAULT_SESSION = None
    from functions.shared import clients

    clients.reset()
    session = clients._session()
    session.events.register("before-call", count)
    try:
        yield calls
    finally:
        session.events.unregister("before-call", count)


def print_calls(calls: Counter[str]) -> None:
    for name, count in sorted(calls.items()):
        print(f"  {count} x {name}")
