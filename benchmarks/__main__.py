"""`make bench`: cold-import cost of each handler against boto3 alone, and AWS calls per action."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

RUNS = 7
HANDLERS = ["functions.switches.handler"]


def cold_import_ms(module: str) -> float:
    """Median wall time of a fresh interpreter importing `module`, minus the bare interpreter start."""
    code = f"import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
    # As in Lambda: the X-Ray SDK starts far faster when it sees a Lambda environment.
    env = {"LAMBDA_TASK_ROOT": "/var/task", "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    samples = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout)
        for _ in range(RUNS)
    ]
    return statistics.median(samples)


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


def switch_command_calls() -> Counter[str]:
    import os

    from moto import mock_aws

    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from functions.switches.handler import run
    from tests.support.deployed import deploy

    with mock_aws():
        deployed = deploy()
        with counted_aws_calls() as calls:
            run(
                {"action": "set", "switch": "freeze", "reason": "bench", "for": "1h", "dry_run": False},
                deployed.runtime,
            )
    return calls


def main() -> None:
    base = cold_import_ms("boto3")
    print(f"cold import, median of {RUNS} fresh interpreters")
    print(f"  boto3 alone                         {base:7.1f} ms")
    for module in HANDLERS:
        ms = cold_import_ms(module)
        print(f"  {module:<35} {ms:7.1f} ms  ({ms - base:+.1f} ms over boto3, ratio {ms / base:.2f})")
    started = time.perf_counter()
    calls = switch_command_calls()
    elapsed = (time.perf_counter() - started) * 1000
    print(f"switches 'set freeze' (moto, in-process {elapsed:.0f} ms incl. setup): {sum(calls.values())} AWS calls")
    for name, count in sorted(calls.items()):
        print(f"  {count} x {name}")


if __name__ == "__main__":
    main()
