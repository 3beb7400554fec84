"""Cold-import cost of each handler against boto3 alone (`python -m benchmarks coldstart` runs this part only).

`python -m benchmarks coldstart --instructions` counts instructions instead of timing (valgrind's callgrind, one
interpreter per path after one that writes the bytecode caches): the same figure on a quiet machine and on one
that others load, which wall time is not. It does not replace the timed bench the budget is judged on.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from stacks.versions import REPO_ROOT

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
# every function, stacks/core.py), Deckhand's init phase the runtime API's address (functions/shared/init_phase.py).
ENV = {
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    "LAMBDA_TASK_ROOT": "/var/task",
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
}


def _imports(modules: tuple[str, ...]) -> str:
    return "; ".join(f"import {module}" for module in modules)


def _cold_import_sample(
    modules: tuple[str, ...], *, source_only: Path | None = None, collector_paused: bool = False
) -> float:
    """One fresh interpreter's wall time importing `modules`, minus the bare interpreter start. With `source_only`,
    Deckhand's modules load from that copy, compiled from source as Lambda does with the asset (which ships no
    bytecode, stacks/core.py ASSET_EXCLUDE)."""
    pause = "import gc; gc.disable(); " if collector_paused else ""
    code = f"{pause}import time; t = time.perf_counter(); {_imports(modules)}; print((time.perf_counter() - t) * 1000)"
    env = ENV if source_only is None else {**ENV, "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=source_only
    )
    return float(run.stdout)


@dataclass
class Paired:
    """One handler's samples, each the difference to the boto3 run just before it: a round runs, for every handler in
    turn, boto3 alone and then the handler's paths, back to back. A machine slowing down for a while moves both sides
    of a difference, and a burst that spans a whole round is one of seven samples for every handler."""

    boto3: list[float] = field(default_factory=list)
    init: list[float] = field(default_factory=list)
    path: list[float] = field(default_factory=list)
    from_source: list[float] = field(default_factory=list)

    def sample(self, module: str, first: str, source_copy: Path) -> None:
        base = _cold_import_sample(("boto3",))
        self.boto3.append(base)
        self.init.append(_cold_import_sample((module,)) - base)
        self.path.append(_cold_import_sample((module, first)) - base)
        self.from_source.append(_cold_import_sample((module, first), source_only=source_copy) - base)


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
    with tempfile.TemporaryDirectory() as copy:
        shutil.copytree(REPO_ROOT / "functions", Path(copy) / "functions", ignore=shutil.ignore_patterns("__pycache__"))
        figures = {module: Paired() for module in HANDLERS}
        for module, first in HANDLERS.items():  # unmeasured: writes the bytecode caches a fresh install lacks
            _cold_import_sample((module, first))
        paused: list[float] = []
        for _ in range(RUNS):
            paused.append(_cold_import_sample(("boto3",), collector_paused=True))
            for module, first in HANDLERS.items():
                figures[module].sample(module, first, Path(copy))
    base = statistics.median(sample for figure in figures.values() for sample in figure.boto3)
    print(f"cold import, median of {RUNS} rounds of fresh interpreters; in each, every handler paired with boto3 alone")
    print(f"  boto3 alone (median of every round's runs)  {base:7.1f} ms")
    print(
        f"  boto3 alone, the collector paused as Deckhand's init phase pauses it  {statistics.median(paused):7.1f} ms: "
        "the figures below are over boto3 as any Python imports it, the pause's saving on boto3 included"
    )
    print(
        "  over boto3: handler module (Lambda's init) | with what its first invocation loads (the whole cold path, "
        f"budget +{BUDGET_MS} ms) | the same compiled from source, as the asset ships"
    )
    for module, figure in figures.items():
        init, path, from_source = (
            statistics.median(samples) for samples in (figure.init, figure.path, figure.from_source)
        )
        verdict = "" if path <= BUDGET_MS else f"  cold path OVER the +{BUDGET_MS} ms budget"
        print(
            f"  {module:<42} {init:+6.1f} ms | {path:+6.1f} ms (ratio {(base + path) / base:.2f})"
            f" | {from_source:+6.1f} ms{verdict}"
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
