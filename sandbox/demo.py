"""The demo framework: a scenario gets a `Demo` (the sandbox, its clients and functions) and records each
check as a `Step`; `run_demo` runs up, seed, the scenarios, the report and down, whatever happens."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import estate, runner
from .cdk import up
from .clients import sandbox_client
from .deployed import Fired, Functions, emit, resolve_function, tick
from .iam import enforce
from .output import SandboxError, say, step
from .process import Paths, down
from .status import iam_state


def seed(endpoint: str, now: datetime) -> list[str]:
    return estate.seed(endpoint, now=now).summary()


@dataclass(frozen=True)
class Setup:
    """What `run_demo` brings up before the scenarios: the policy (cdk.json's, or one `policy_for(endpoint)` writes
    once the server runs) and what `seed(endpoint, now)` adds after the deploy."""

    policy_for: Callable[[str], Path] | None = None
    seed: Callable[[str, datetime], list[str]] = seed


@dataclass
class Step:
    title: str
    expected: Any
    actual: Any
    passed: bool
    at_seconds: float


@dataclass
class Demo:
    """What a scenario gets: the sandbox, its clients and functions, and `step` to record what it checked."""

    endpoint: str
    paths: Paths
    functions: Functions
    started: float = field(default_factory=time.monotonic)
    steps: list[Step] = field(default_factory=list)
    sections: list[tuple[str, list[Step]]] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return sandbox_client(service, self.endpoint)

    def step(self, title: str, expected: Any, actual: Any) -> bool:
        passed = bool(expected == actual)
        record = Step(title, expected, actual, passed, round(time.monotonic() - self.started, 1))
        self.steps.append(record)
        if self.sections:
            self.sections[-1][1].append(record)
        mark = "✓" if passed else "✗"
        say(f"[{record.at_seconds:6.1f} s] {mark} {title}: expected {expected!r}, got {actual!r}")
        return passed

    def invoke(self, function: str, payload: Any) -> runner.Invocation:
        return self.functions.invoke(resolve_function(function, self.endpoint), payload)

    def emit(self, event: dict[str, Any]) -> list[Fired]:
        return emit(event, self.endpoint)

    def tick(self, at: datetime) -> list[Fired]:
        return tick(at, self.functions, self.paths)[1]

    def expect_denial(self, action: str, resource: str, function: str) -> None:
        """Register a denial a scenario provokes on purpose, before it does: it counts apart, the demo passes."""
        body = json.dumps({"action": action, "resource": resource, "principal": function}).encode()
        request = urllib.request.Request(  # noqa: S310 - localhost
            self.endpoint + enforce.EXPECT_ROUTE, data=body, headers={"Content-Type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - localhost

    @property
    def failed(self) -> list[Step]:
        return [s for s in self.steps if not s.passed]


Scenario = Callable[[Demo], None]


def status_of(invocation: runner.Invocation) -> Any:
    if invocation.error is not None:
        return f"{invocation.error.type}: {invocation.error.message}"
    return invocation.response.get("status") if isinstance(invocation.response, dict) else invocation.response


def run_demo(paths: Paths, scenarios: list[Scenario], *, verbose: bool = False, setup: Setup = Setup()) -> int:
    """up → seed → each scenario → report → down, whatever happens; 0 only if every step passed."""
    began = time.monotonic()
    estate_lines: list[str] = []
    timings: dict[str, float] = {}
    demo: Demo | None = None
    crashed: str | None = None
    iam: dict[str, Any] | None = None
    try:
        started = up(paths, verbose=verbose, policy_for=setup.policy_for)
        timings.update(started.timings)
        with step("seed the estate", timings, "seed"):
            estate_lines = setup.seed(started.endpoint, datetime.now(UTC))
        for line in estate_lines:
            say(f"  {line}")
        demo = Demo(started.endpoint, paths, Functions(started.endpoint, paths), started=began)
        for scenario in scenarios:
            run_scenario(demo, scenario)
        iam = iam_state(started.endpoint)
    except Exception as failed:  # the report and `down` must happen whatever broke
        crashed = f"{type(failed).__name__}: {failed}" if not isinstance(failed, SandboxError) else str(failed)
        say(f"demo stopped: {crashed}")
    finally:
        with step("stop the sandbox", timings, "down"):
            say(f"  {down(paths)}")
    timings["demo"] = round(time.monotonic() - began, 1)
    write_report(paths.report, demo, timings, estate_lines, crashed)
    say(f"report: {paths.report}")
    failed_steps = demo.failed if demo else []
    refused = enforce.unexpected(iam) if iam is not None else []
    for line in refused:
        say(f"  IAM refused, unexpected: {line}")
    passed = crashed is None and demo is not None and not failed_steps and iam is not None and not refused
    if passed and demo is not None:
        say(f"demo passed: {len(demo.steps)} steps in {timings['demo']:.1f} s")
    else:
        reasons = [f"{len(failed_steps)} step(s) failed"]
        reasons += [crashed] if crashed else []
        reasons += [f"{len(refused)} unexpected IAM refusal(s)"] if refused else []
        say("demo FAILED: " + "; ".join(reasons))
    if iam is not None:  # the last line, whatever happened
        say(enforce.cost_line(iam))
        say(enforce.summary_line(iam))
    return 0 if passed else 1


def run_scenario(demo: Demo, scenario: Scenario) -> None:
    title = (scenario.__doc__ or scenario.__name__).strip().splitlines()[0]
    say(f"▶ {scenario.__name__}: {title}")
    demo.sections.append((f"{scenario.__name__}: {title}", []))
    try:
        scenario(demo)
    except Exception as crashed:  # one broken scenario must not hide the others
        demo.step(f"{scenario.__name__} ran to the end", "no exception", f"{type(crashed).__name__}: {crashed}")


def report_row(s: Step) -> str:
    result = "pass" if s.passed else "**FAIL**"
    return f"| {s.at_seconds:.1f} | {s.title} | `{s.expected!r}` | `{s.actual!r}` | {result} |"


def write_report(
    path: Path, demo: Demo | None, timings: Mapping[str, float], estate_lines: list[str], crashed: str | None
) -> None:
    lines = ["# Deckhand sandbox demo", "", f"Run at {datetime.now(UTC).isoformat(timespec='seconds')}.", ""]
    if crashed:
        lines += ["**The demo stopped early:**", "", "```", crashed, "```", ""]
    lines += ["## Timings", "", "| step | seconds |", "| --- | ---: |"]
    lines += [f"| {name} | {seconds:.1f} |" for name, seconds in timings.items()]
    lines += ["", "## Estate", ""] + [f"- {line}" for line in estate_lines]
    for title, steps in demo.sections if demo else []:
        lines += [
            "",
            f"## {title}",
            "",
            "| at (s) | step | expected | actual | result |",
            "| ---: | --- | --- | --- | --- |",
        ]
        lines += [report_row(s) for s in steps]
    failed = len(demo.failed) if demo else 0
    total = len(demo.steps) if demo else 0
    lines += ["", f"**{total - failed} of {total} steps passed.**", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


def control(demo: Demo, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A `/_sandbox/` control route of the server: POST with a body, else GET."""
    request = urllib.request.Request(  # noqa: S310 - the local sandbox
        f"{demo.endpoint}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return dict(json.load(answer))
