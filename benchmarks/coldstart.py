"""Cold-import cost of each handler against boto3 alone (`python -m benchmarks coldstart` runs this part only)."""

from __future__ import annotations

import statistics
import subprocess
import sys

RUNS = 7
# Each handler module, and the module it loads on its first invocation: a cold start pays for both.
HANDLERS = {
    "functions.gating.gate.handler": "functions.gating.gate.bindings",
    "functions.gating.approver.handler": "functions.gating.approver.flow",
    "functions.gating.watchdog.handler": "functions.gating.watchdog.flow",
    "functions.gating.pipeline_notices.handler": "functions.gating.pipeline_notices.flow",
    "functions.capacity.handler": "functions.capacity.invocation",
    "functions.cleanup.handler": "functions.cleanup.flow",
    "functions.switches.handler": "functions.switches.flow",
}
BUDGET_MS = 80  # a handler's cold import over boto3's


def cold_import_ms(*modules: str) -> float:
    """Median wall time of a fresh interpreter importing `modules`, minus the bare interpreter start."""
    imports = "; ".join(f"import {module}" for module in modules)
    code = f"import time; t = time.perf_counter(); {imports}; print((time.perf_counter() - t) * 1000)"
    # As in Lambda: Powertools and botocore read these at import time.
    env = {"LAMBDA_TASK_ROOT": "/var/task", "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    samples = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout)
        for _ in range(RUNS)
    ]
    return statistics.median(samples)


def report() -> None:
    base = cold_import_ms("boto3")
    print(f"cold import, median of {RUNS} fresh interpreters")
    print(f"  boto3 alone                         {base:7.1f} ms")
    print("  handler module (Lambda's init) | with what its first invocation loads (the whole cold path)")
    for module, first in HANDLERS.items():
        init, path = cold_import_ms(module), cold_import_ms(module, first)
        verdict = "" if path - base <= BUDGET_MS else f"  cold path OVER the +{BUDGET_MS} ms budget"
        print(
            f"  {module:<42} {init:6.1f} ms ({init - base:+.1f}) | {path:6.1f} ms "
            f"({path - base:+.1f} over boto3, ratio {path / base:.2f}){verdict}"
        )
