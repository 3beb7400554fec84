"""`make bench`: cold-import cost of each handler against boto3 alone, and AWS calls per action.

`python -m benchmarks coldstart` runs the cold imports only (`coldstart --instructions` counts their instructions);
`python -m benchmarks org [options]` the organization bench only (benchmarks/organization.py).
"""

from __future__ import annotations

import contextlib
import io
import logging
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass

from benchmarks import capacity, coldstart, enforcement, organization
from benchmarks.calls import counted_aws_calls, print_calls

DECISIONS = 5  # warm gate decisions timed after the first


def switch_command_calls() -> Counter[str]:
    import os

    from moto import mock_aws

    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from functions.switches.flow import run
    from tests.support.deployed import deploy

    with mock_aws():
        deployed = deploy()
        with counted_aws_calls() as calls:
            run(
                {"action": "set", "switch": "freeze", "reason": "bench", "for": "1h", "dry_run": False},
                deployed.runtime,
            )
    return calls


@dataclass
class GateBench:
    first_decision_calls: Counter[str]
    first_decision_ms: float
    warm_decision_ms: float
    job_calls: Counter[str]
    job_ms: float
    verdict: str


def gate_decision() -> GateBench:
    """One gate with 10 alarms by name, a window, the freeze switch and an error budget, on the sandbox's gaps."""
    import pytest

    from functions.gating.core import decide
    from functions.gating.gate import handler
    from functions.gating.observe import Adapters
    from functions.shared.runtime import Runtime
    from tests.support.gating import (
        captured_logs,
        fake_context,
        gating,
        open_sandbox,
        serve,
        web_app_gate,
    )

    balancer = {"LoadBalancer": "app/web-app/50dc6c495c0c9188"}
    metric = {"namespace": "AWS/ApplicationELB", "dimensions": balancer}
    gate = web_app_gate(
        alarms={"names": [f"web-app-{n:02}" for n in range(10)]},
        window={
            "timezone": "Europe/Paris",
            "allow": [{"days": ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"], "start": "00:00", "end": "23:59"}],
        },
        freeze={"mode": "enforce"},
        error_budget={
            "objective_percent": 99.9,
            "errors": {**metric, "name": "HTTPCode_Target_5XX_Count"},
            "requests": {**metric, "name": "RequestCount"},
        },
    )
    policy = gating(gate)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server's request lines
    server = serve()
    endpoint = next(server)
    try:
        # The functions' JSON logs and EMF metrics would drown the figures.
        with pytest.MonkeyPatch.context() as patch, captured_logs(), contextlib.redirect_stdout(io.StringIO()):
            sandbox = open_sandbox(patch, endpoint)
            for name in gate["alarms"]["names"]:
                sandbox.metric_alarm(name)
            sandbox.put_counts("RequestCount", 1000, 60, balancer)
            sandbox.put_counts("HTTPCode_Target_5XX_Count", 1, 60, balancer)
            sandbox.create_pipeline()  # the gate places its job with GetJobDetails, not UserParameters
            _, job = sandbox.at_gate()
            [checked] = policy.gates
            with counted_aws_calls() as calls:
                rt = Runtime.build(sandbox.runtime.settings, clock=sandbox.clock)  # a cold container's runtime
                started = time.perf_counter()
                decided = decide(checked, rt.switches.read(fresh=True), rt.clock(), Adapters.of_aws())
                first_ms = (time.perf_counter() - started) * 1000
            first_calls = Counter(calls)
            warm = []
            for _ in range(DECISIONS):
                started = time.perf_counter()
                decide(checked, rt.switches.read(fresh=True), rt.clock(), Adapters.of_aws())
                warm.append((time.perf_counter() - started) * 1000)
            with counted_aws_calls() as calls:
                rt = Runtime.build(sandbox.runtime.settings, clock=sandbox.clock)
                started = time.perf_counter()
                handler.run(job, lambda: rt, lambda: policy, fake_context())
                job_ms = (time.perf_counter() - started) * 1000
            return GateBench(
                first_calls, first_ms, statistics.median(warm), Counter(calls), job_ms, decided.decision.verdict
            )
    finally:
        server.close()


def main() -> None:
    coldstart.report()
    started = time.perf_counter()
    calls = switch_command_calls()
    elapsed = (time.perf_counter() - started) * 1000
    print(f"switches 'set freeze' (moto, in-process {elapsed:.0f} ms incl. setup): {sum(calls.values())} AWS calls")
    print_calls(calls)
    gate = gate_decision()
    print(
        f"one gate decision (10 alarms by name, window, freeze switch, error budget; verdict {gate.verdict}), "
        f"on the sandbox's gap-filled server in a thread: {sum(gate.first_decision_calls.values())} AWS calls, "
        f"{gate.first_decision_ms:.0f} ms cold, {gate.warm_decision_ms:.1f} ms warm (median of {DECISIONS})"
    )
    print_calls(gate.first_decision_calls)
    print(
        f"the whole Invoke action job (idempotency, decision, audit, answer): {sum(gate.job_calls.values())} "
        f"AWS calls, {gate.job_ms:.0f} ms"
    )
    print_calls(gate.job_calls)
    capacity.report()
    enforcement.report()
    organization.main([])
    # Last: its closing `bench:` line must be the last line `make bench` prints; before it, the same bench under
    # EC2's token buckets, ending on its `throttled:` line.
    from benchmarks import cleanup

    cleanup.main(["--throttle"])
    cleanup.main([])


if __name__ == "__main__":
    if sys.argv[1:] == ["coldstart"]:
        coldstart.report()
    elif sys.argv[1:] == ["coldstart", "--instructions"]:
        coldstart.report_instructions()
    elif sys.argv[1:2] == ["org"]:
        organization.main(sys.argv[2:])
    else:
        main()
