"""Cold-import cost of each handler against boto3 alone (`python -m benchmarks coldstart` runs this part only).

`python -m benchmarks coldstart --instructions` counts instructions instead of timing (valgrind's callgrind, one
interpreter per path after one that writes the bytecode caches): the same figure on a quiet machine and on one
that others load, which wall time is not. It does not replace the timed bench the budget is judged on.
"""

from __future__ import annotations

import re
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
    "functions.cleanup.fanout.handler": "functions.cleanup.fanout.steps",
    "functions.switches.handler": "functions.switches.flow",
}
BUDGET_MS = 80  # a handler's cold import over boto3's
# As in Lambda: Powertools and botocore read these at import time, pydantic its plugin switch (set by the stacks on
# every function, stacks/core.py).
ENV = {
    "LAMBDA_TASK_ROOT": "/var/task",
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
}


def _imports(modules: tuple[str, ...]) -> str:
    return "; ".join(f"import {module}" for module in modules)


def cold_import_ms(*modules: str) -> float:
    """Median wall time of a fresh interpreter importing `modules`, minus the bare interpreter start."""
    code = f"import time; t = time.perf_counter(); {_imports(modules)}; print((time.perf_counter() - t) * 1000)"
    samples = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=ENV).stdout)
        for _ in range(RUNS)
    ]
    return statistics.median(samples)


def cold_import_instructions(*modules: str) -> int:
    """Instructions a fresh interpreter spends starting and importing `modules` (fixed hash seed: the same count
    on every run)."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-c",
        _imports(modules),
    ]
    counted = ""
    for _ in range(2):  # the first may write bytecode caches
        run = subprocess.run(command, capture_output=True, text=True, check=True, env={**ENV, "PYTHONHASHSEED": "0"})
        counted = run.stderr
    found = re.search(r"Collected : (\d+)", counted)
    if found is None:
        raise RuntimeError(f"callgrind printed no instruction count: {counted[-500:]}")
    return int(found.group(1))


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


def report_instructions() -> None:
    base = cold_import_instructions("boto3") / 1e6
    print("cold import in instructions (callgrind), one interpreter each")
    print(f"  boto3 alone                         {base:7.0f} M")
    print("  handler module (Lambda's init) | with what its first invocation loads (the whole cold path)")
    for module, first in HANDLERS.items():
        init, path = cold_import_instructions(module) / 1e6, cold_import_instructions(module, first) / 1e6
        print(
            f"  {module:<42} {init:6.0f} M ({init - base:+.0f}) | {path:6.0f} M "
            f"({path - base:+.0f} over boto3, ratio {path / base:.2f})"
        )
