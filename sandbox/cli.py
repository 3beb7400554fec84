"""`python -m sandbox <command>`: deploy Deckhand into an embedded AWS on this machine and rehearse it.

up       start the sandbox server, then `cdk bootstrap` and `cdk deploy` the real app into it
seed     create a realistic estate (pipelines, alarms, services, clutter to clean)
invoke   run a deployed function's handler with a payload (or the repo's, with --here)
emit     route an EventBridge event through the deployed rules and run every target
tick     fire the scheduled rules and Scheduler schedules due up to a time
status   what is deployed and what happened
authorize whether a function (or role) may make an IAM request or an API call, by the deployed policies
down     stop the server
demo     up, seed, scenarios, report, down
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import IO, Any, TextIO

import boto3.session

from stacks.versions import REPO_ROOT

from . import ACCOUNT, REGION, runner
from .iam import authorize, deliveries, enforce

CDK = REPO_ROOT / "node_modules" / ".bin" / "cdk"
SERVER_READY_SECONDS = 30
CDK_TIMEOUT_SECONDS = 600
FIRST_TICK_WINDOW = timedelta(minutes=1)
DUMMY = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
QUIET_NODE = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED": "true",
    "CDK_DISABLE_CLI_TELEMETRY": "true",
    "CDK_DISABLE_VERSION_CHECK": "true",
}


class SandboxError(RuntimeError):
    """A failure to report in one message, without a traceback."""


# --- where things live ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paths:
    root: Path

    @classmethod
    def default(cls) -> Paths:
        # DECKHAND_SANDBOX_DIR lets the tests run a sandbox beside a developer's own.
        return cls(Path(os.environ.get("DECKHAND_SANDBOX_DIR") or REPO_ROOT / ".sandbox").resolve())

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def server_log(self) -> Path:
        return self.root / "server.log"

    @property
    def assembly(self) -> Path:
        return self.root / "cdk.out"

    @property
    def assets(self) -> Path:
        return self.root / "assets"

    @property
    def report(self) -> Path:
        return self.root / "out" / "demo-report.md"

    def cdk_log(self, step: str) -> Path:
        return self.root / f"cdk-{step}.log"


def read_state(paths: Paths) -> dict[str, Any] | None:
    try:
        return dict(json.loads(paths.state.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None


def write_state(paths: Paths, state: Mapping[str, Any]) -> None:
    paths.root.mkdir(parents=True, exist_ok=True)
    partial = paths.state.with_suffix(".tmp")
    partial.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    partial.replace(paths.state)


def running_state(paths: Paths) -> dict[str, Any]:
    state = read_state(paths)
    if state is None or not is_server(int(state["pid"])):
        raise SandboxError("no sandbox is running: start one with `python -m sandbox up`")
    return state


# --- output -----------------------------------------------------------------------------------------


_progress: list[TextIO] = []  # where `say` writes: stdout, or stderr when stdout carries --json


def say(text: str = "") -> None:
    print(text, file=_progress[-1] if _progress else sys.stdout, flush=True)


@contextlib.contextmanager
def step(title: str, timings: dict[str, float] | None = None, key: str = "") -> Iterator[None]:
    """Print what starts, then how long it took: a slow step is visible while it runs."""
    say(f"→ {title}")
    started = time.monotonic()
    yield
    took = time.monotonic() - started
    if timings is not None:
        timings[key or title] = round(took, 1)
    say(f"  done in {took:.1f} s")


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join("  | " + line for line in text.splitlines()[-lines:])


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str, ensure_ascii=False), flush=True)


# --- processes --------------------------------------------------------------------------------------


def alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        reaped, _ = os.waitpid(pid, os.WNOHANG)  # our own child: reap it if it has exited
        if reaped == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")  # a zombie is not running
    return True


def is_server(pid: int) -> bool:
    """Alive and still the sandbox server: a recycled pid must never be signalled."""
    if not alive(pid):
        return False
    try:
        return b"sandbox.server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): trust the pid


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(paths: Paths, port: int) -> subprocess.Popen[bytes]:
    paths.root.mkdir(parents=True, exist_ok=True)
    with paths.server_log.open("wb") as log:  # one log per sandbox; the server appends to it
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            [sys.executable, "-m", "sandbox.server", "--port", str(port), "--log", str(paths.server_log)],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: `down` stops it, and Ctrl-C here does not
        )


def wait_ready(process: subprocess.Popen[bytes], paths: Paths, port: int) -> None:
    deadline = time.monotonic() + SERVER_READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SandboxError(f"the sandbox server exited with {process.returncode}:\n{tail(paths.server_log)}")
        if f"listening {port}" in paths.server_log.read_text(encoding="utf-8", errors="replace"):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        time.sleep(0.1)
    raise SandboxError(f"the sandbox server was not ready after {SERVER_READY_SECONDS} s:\n{tail(paths.server_log)}")


def stop_server(pid: int, *, grace_seconds: float = 10) -> str:
    """SIGTERM the server's process group, then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not alive(pid):
            return "stopped" if sig == signal.SIGTERM else "killed"
    raise SandboxError(f"the sandbox server (pid {pid}) survived SIGKILL")


# --- the CDK CLI ------------------------------------------------------------------------------------


def cdk_environment(endpoint: str) -> dict[str, str]:
    """The shell's environment without its AWS settings: the CLI must only ever reach the sandbox."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    return {
        **kept,
        **QUIET_NODE,
        **DUMMY,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "CDK_DEFAULT_ACCOUNT": ACCOUNT,
        "CDK_DEFAULT_REGION": REGION,
    }


@dataclass
class CdkRun:
    name: str
    process: subprocess.Popen[str]
    log: Path
    pump: threading.Thread
    started: float = field(default_factory=time.monotonic)

    def finish(self) -> float:
        try:
            code = self.process.wait(timeout=CDK_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = -1
        self.pump.join()
        if code != 0:
            raise SandboxError(f"cdk {self.name} failed ({code}); the end of {self.log}:\n{tail(self.log)}")
        return time.monotonic() - self.started


def start_cdk(name: str, args: list[str], endpoint: str, paths: Paths, verbose: bool) -> CdkRun:
    """Run the CDK CLI in the background, its output to .sandbox/cdk-NAME.log (and the terminal if verbose).

    Bootstrap runs in the sandbox folder, away from cdk.json; the other commands in the repository.
    """
    if not CDK.exists():
        raise SandboxError(f"the CDK CLI is missing ({CDK}): run `make demo`, or `npm ci` in {REPO_ROOT}")
    cwd = paths.root if name == "bootstrap" else REPO_ROOT
    log = paths.cdk_log(name)
    process = subprocess.Popen(  # noqa: S603 - the pinned CDK CLI with our arguments, no shell
        [str(CDK), *args, "--no-notices"],
        cwd=cwd,
        env=cdk_environment(endpoint),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    pump = threading.Thread(target=copy_output, args=(process.stdout, log, f"  {name} │ " if verbose else None))
    pump.start()
    return CdkRun(name, process, log, pump)


def copy_output(stream: IO[str] | None, log: Path, prefix: str | None) -> None:
    if stream is None:
        return
    with log.open("w", encoding="utf-8") as out:
        for line in stream:
            out.write(line)
            out.flush()
            if prefix is not None:
                say(prefix + line.rstrip("\n"))


# --- AWS clients for the sandbox --------------------------------------------------------------------


@cache
def sandbox_session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=DUMMY["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=DUMMY["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )


@cache
def sandbox_client(service: str, endpoint: str) -> Any:
    return sandbox_session().client(service, endpoint_url=endpoint)  # type: ignore[call-overload]  # named at run time


def pages(method: Callable[..., Any], key: str, cursor: str = "NextToken", **request: Any) -> Iterator[Any]:
    """Every item of a paginated list call; `cursor` names the field that carries the next page's start."""
    while True:
        page = method(**request)
        yield from page.get(key, [])
        if not page.get(cursor):
            return
        request["ExclusiveStartKey" if cursor == "LastEvaluatedKey" else cursor] = page[cursor]


# --- up / down --------------------------------------------------------------------------------------


@dataclass
class Up:
    endpoint: str
    timings: dict[str, float]
    refused: list[str]  # the delivery paths AWS would refuse, as `up` printed them


def up(paths: Paths, *, verbose: bool = False) -> Up:
    """Start the server, then bootstrap and deploy the app into it; on any failure, leave nothing running."""
    refuse_a_second_sandbox(paths)
    paths.root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    endpoint = f"http://localhost:{port}"
    timings: dict[str, float] = {}
    started = time.monotonic()
    # The synth needs no AWS: it runs while the server starts and the environment is bootstrapped.
    synth = start_cdk("synth", ["synth", "--quiet", "--output", str(paths.assembly)], endpoint, paths, verbose)
    say(f"→ cdk synth of the Deckhand app, with cdk-nag (log: {synth.log})")
    server: subprocess.Popen[bytes] | None = None
    try:
        with step(f"start the sandbox server on {endpoint} (log: {paths.server_log})", timings, "server start"):
            server = start_server(paths, port)
            wait_ready(server, paths, port)
        write_state(paths, new_state(endpoint, port, server.pid))
        deploy_app(paths, endpoint, synth, timings, verbose)
        refused = check_wiring(endpoint, timings)
    except BaseException as failed:
        # A failed deploy leaves moto in a state no retry recovers from: start again from scratch.
        with contextlib.suppress(Exception):
            synth.process.kill()
            synth.finish()
        if server is not None:
            stop_server(server.pid)
        paths.state.unlink(missing_ok=True)
        if isinstance(failed, SandboxError):
            raise SandboxError(f"{failed}{server_errors(paths.server_log)}") from None
        raise
    timings["up"] = round(time.monotonic() - started, 1)
    say(f"sandbox ready at {endpoint} in {timings['up']:.1f} s")
    say(f"  AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION={REGION}")
    if refused:
        say(f"{len(refused)} delivery path(s) AWS would refuse (the sandbox runs; `status` lists them)")
    return Up(endpoint, timings, refused)


def wiring(endpoint: str) -> deliveries.Wiring:
    return deliveries.Wiring(lambda service: sandbox_client(service, endpoint), ACCOUNT, REGION)


def check_wiring(endpoint: str, timings: dict[str, float]) -> list[str]:
    """Every delivery path the deployed stacks wire, authorized as its service would: the refused ones."""
    with step("authorize every delivery path the stacks wire", timings, "deliveries"):
        wired = wiring(endpoint).discover()
        refused = [r.line() for r in deliveries.ask(endpoint, wired, phase="deploy") if r is not None]
        say(f"  {len(wired) - len(refused)} of {len(wired)} paths authorized")
    for line in refused:
        say(f"  REFUSED {line}")
    return refused


def authorized(endpoint: str, planned: list[deliveries.Delivery]) -> list[bool]:
    """Whether each delivery may be made; a refused one is not made, and counted where its service counts it."""
    refusals = deliveries.ask(endpoint, planned, phase="delivery")
    for refusal in refusals:
        if refusal is not None:
            say(f"  not delivered: {refusal.line()}")
            deliveries.put_failure_metric(sandbox_client("cloudwatch", endpoint), refusal.delivery)
    return [refusal is None for refusal in refusals]


def refuse_a_second_sandbox(paths: Paths) -> None:
    existing = read_state(paths)
    if existing is None:
        return
    if is_server(int(existing["pid"])):
        raise SandboxError(
            f"a sandbox already runs at {existing['endpoint']} (pid {existing['pid']}): "
            "use it, or stop it with `python -m sandbox down`"
        )
    paths.state.unlink()
    say(f"(removed the state of a sandbox that is no longer running: pid {existing['pid']})")


def new_state(endpoint: str, port: int, pid: int) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "port": port,
        "pid": pid,
        "account": ACCOUNT,
        "region": REGION,
        "started_at": datetime.now(UTC).isoformat(),
        "last_tick": None,
    }


def deploy_app(paths: Paths, endpoint: str, synth: CdkRun, timings: dict[str, float], verbose: bool) -> None:
    bootstrap = start_cdk("bootstrap", ["bootstrap", f"aws://{ACCOUNT}/{REGION}"], endpoint, paths, verbose)
    say(f"→ cdk bootstrap aws://{ACCOUNT}/{REGION} (log: {bootstrap.log})")
    timings["cdk bootstrap"] = round(bootstrap.finish(), 1)
    say(f"  bootstrapped in {timings['cdk bootstrap']:.1f} s")
    timings["cdk synth"] = round(synth.finish(), 1)
    say(f"  synthesized in {timings['cdk synth']:.1f} s")
    with step(f"cdk deploy --all --method=direct (log: {paths.cdk_log('deploy')})", timings, "cdk deploy"):
        # Change sets are broken in moto, and UsePreviousValue breaks updates.
        deploy = ["deploy", "--all", "--require-approval", "never", "--method=direct", "--no-previous-parameters"]
        start_cdk("deploy", [*deploy, "--app", str(paths.assembly)], endpoint, paths, verbose).finish()


def server_errors(log: Path, frames: int = 8) -> str:
    """The last traceback the server logged: the CDK CLI only sees moto's 500, not why."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
    if not starts:
        return ""
    block = [line for line in lines[starts[-1] :] if line.strip(" ^~")]  # without caret-only lines
    end = next((i for i, line in enumerate(block) if i and not line.startswith((" ", "Traceback"))), len(block) - 1)
    shown = block[max(1, end - 2 * frames) : end + 1]
    return f"\nthe sandbox server's last error (from {log}):\n" + "\n".join("  | " + line for line in shown)


def down(paths: Paths) -> str:
    state = read_state(paths)
    if state is None:
        return "nothing running"
    pid = int(state["pid"])
    outcome = f"{stop_server(pid)} the sandbox server (pid {pid})" if is_server(pid) else "nothing running"
    paths.state.unlink(missing_ok=True)
    return outcome


# --- functions --------------------------------------------------------------------------------------


def function_names(endpoint: str) -> list[str]:
    return [f["FunctionName"] for f in pages(sandbox_client("lambda", endpoint).list_functions, "Functions")]


def resolve_function(name: str, endpoint: str) -> str:
    """The deployed name from itself or its service's (`switches` -> `deckhand-switches`)."""
    names = function_names(endpoint)
    if name in names:
        return name
    matches = [n for n in names if n.endswith(f"-{name}")]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SandboxError(f"no deployed function {name!r}; deployed: {', '.join(sorted(names)) or 'none'}")
    raise SandboxError(f"{name!r} is ambiguous: {', '.join(sorted(matches))}")


class Functions:
    """Deployed functions, loaded once per command."""

    def __init__(self, endpoint: str, paths: Paths) -> None:
        self.endpoint = endpoint
        self.paths = paths
        self.loaded: dict[str, runner.DeployedFunction] = {}

    def get(self, name: str) -> runner.DeployedFunction:
        if name not in self.loaded:
            self.loaded[name] = runner.load(
                name,
                lambda_client=sandbox_client("lambda", self.endpoint),
                s3_client=sandbox_client("s3", self.endpoint),
                sts_client=sandbox_client("sts", self.endpoint),
                cache_dir=self.paths.assets,
            )
        return self.loaded[name]

    def invoke(self, name: str, payload: Any) -> runner.Invocation:
        return runner.invoke(self.get(name), payload, endpoint=self.endpoint)


def response_summary(invocation: runner.Invocation) -> str:
    if invocation.error is not None:
        return f"ERROR {invocation.error.type}: {invocation.error.message}"
    response = invocation.response
    if isinstance(response, dict) and "status" in response:
        extra = f" ({'; '.join(map(str, response['errors']))})" if response.get("errors") else ""
        return f"status={response['status']}{extra}"
    text = json.dumps(response, default=str)
    return text if len(text) <= 100 else text[:97] + "..."


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SandboxError(f"{path} does not exist") from None
    except ValueError as bad:
        raise SandboxError(f"{path} is not JSON: {bad}") from None


# --- emit / tick ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fired:
    """One target run: by which rule or schedule, at what (scheduled) time, with what result."""

    source: str
    target_id: str
    invocation: runner.Invocation
    at: str | None = None

    def line(self) -> str:
        when = f"{self.at} " if self.at else ""
        took = f"{self.invocation.duration_ms:.0f} ms"
        return f"  {when}{self.source} → {self.invocation.function_name}: {response_summary(self.invocation)} ({took})"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target_id": self.target_id, "at": self.at, **self.invocation.to_dict()}


def complete_event(event: dict[str, Any]) -> dict[str, Any]:
    """What PutEvents adds to an entry: id, time, account, region."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "time": iso_z(datetime.now(UTC)),
        "account": ACCOUNT,
        "region": REGION,
        "resources": [],
        "detail": {},
        **event,
    }


def emit(event: dict[str, Any], functions: Functions) -> list[Fired]:
    from . import router  # noqa: PLC0415 - keeps `up`/`down` free of moto's import time

    endpoint = functions.endpoint
    routes = router.route(complete_event(event), events_client=sandbox_client("events", endpoint))
    paths = wiring(endpoint)
    allowed = authorized(endpoint, [paths.rule_to_function(r.rule_name, r.target_arn) for r in routes])
    return [
        Fired(f"rule {r.rule_name}", r.target_id, functions.invoke(r.function_name, r.payload))
        for r, delivered in zip(routes, allowed, strict=True)
        if delivered
    ]


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_at(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SandboxError(f"--at {text!r} is not an ISO-8601 time like 2026-11-22T09:00:00+01:00") from None
    if moment.tzinfo is None:
        raise SandboxError(f"--at {text!r} has no offset: add Z or +HH:MM")
    return moment.astimezone(UTC)


def tick(at: datetime, functions: Functions, paths: Paths) -> tuple[datetime, list[Fired]]:
    """Fire what is due in (last tick, at], in time order; the first tick looks one minute back."""
    state = running_state(paths)
    start = datetime.fromisoformat(state["last_tick"]) if state.get("last_tick") else at - FIRST_TICK_WINDOW
    if at <= start:
        raise SandboxError(f"--at {iso_z(at)} is not after the last tick {iso_z(start)}: time only moves forward")
    endpoint = functions.endpoint
    dues = sorted([*due_rule_targets(start, at, endpoint), *due_schedule_targets(start, at, endpoint)])
    allowed = authorized(endpoint, [d.delivery for d in dues])
    fired = [
        Fired(d.source, d.target_id, functions.invoke(d.function, d.payload), iso_z(d.at))
        for d, delivered in zip(dues, allowed, strict=True)
        if delivered
    ]
    finish_one_time_schedules(dues, endpoint)
    write_state(paths, {**state, "last_tick": at.isoformat()})
    return start, fired


@dataclass(frozen=True, order=True)
class Due:
    """One Lambda target due to run at a time, with the payload it gets."""

    at: datetime
    source: str
    target_id: str
    function: str
    payload: Any = field(compare=False)
    delivery: deliveries.Delivery = field(compare=False)  # what the service must be allowed to do
    one_time: tuple[str, str] | None = field(default=None, compare=False)  # (group, name) to delete after


def due_rule_targets(start: datetime, end: datetime, endpoint: str) -> Iterator[Due]:
    """EventBridge rules with a ScheduleExpression (UTC); each target gets what EventBridge would send."""
    from . import router, schedules  # noqa: PLC0415

    paths = wiring(endpoint)
    for name, expression, targets in router.scheduled_rules(sandbox_client("events", endpoint)):
        arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"
        for moment in schedules.due(expression, None, start, end):
            event = complete_event(
                {"source": "aws.events", "detail-type": "Scheduled Event", "time": iso_z(moment), "resources": [arn]}
            )
            for target in targets:
                function = router.lambda_function_name(target["Arn"])
                if function is not None:
                    payload = router.target_payload(target, event, rule_name=name, rule_arn=arn)
                    delivery = paths.rule_to_function(name, target["Arn"])
                    yield Due(moment, f"rule {name}", target["Id"], function, payload, delivery)


def due_schedule_targets(start: datetime, end: datetime, endpoint: str) -> Iterator[Due]:
    """EventBridge Scheduler schedules (with their time zones, start and end dates) that invoke a function."""
    from . import router, schedules  # noqa: PLC0415

    scheduler = sandbox_client("scheduler", endpoint)
    paths = wiring(endpoint)
    for summary in pages(scheduler.list_schedules, "Schedules"):
        group = summary.get("GroupName", "default")
        schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=group)
        function = router.lambda_function_name(schedule["Target"]["Arn"])
        if schedule.get("State") == "DISABLED" or function is None:
            continue
        expression, zone = schedule["ScheduleExpression"], schedule.get("ScheduleExpressionTimezone")
        one_time = expression.startswith("at(") and schedule.get("ActionAfterCompletion") == "DELETE"
        for moment in schedules.due(
            expression,
            zone,
            max(start, schedule["StartDate"]) if schedule.get("StartDate") else start,
            min(end, schedule["EndDate"]) if schedule.get("EndDate") else end,
            anchor=schedule.get("StartDate") or schedule.get("CreationDate") or schedules.EPOCH,
        ):
            source = f"schedule {group}/{schedule['Name']}"
            payload = schedule_payload(schedule, moment)
            yield Due(
                moment,
                source,
                schedule["Arn"],
                function,
                payload,
                paths.schedule_to_function(schedule),
                (group, schedule["Name"]) if one_time else None,
            )


def finish_one_time_schedules(dues: list[Due], endpoint: str) -> None:
    """A one-time schedule with ActionAfterCompletion DELETE is gone once it ran, as in Scheduler."""
    scheduler = sandbox_client("scheduler", endpoint)
    for group, name in {d.one_time for d in dues if d.one_time}:
        scheduler.delete_schedule(Name=name, GroupName=group)


def schedule_payload(schedule: dict[str, Any], moment: datetime) -> Any:
    """The target's Input with Scheduler's context attributes filled in; {} without one."""
    text = schedule["Target"].get("Input")
    if not text:
        return {}
    for name, value in {
        "<aws.scheduler.schedule-arn>": schedule["Arn"],
        "<aws.scheduler.scheduled-time>": iso_z(moment),
        "<aws.scheduler.execution-id>": str(uuid.uuid4()),
        "<aws.scheduler.attempt-number>": "1",
    }.items():
        text = text.replace(name, value)
    try:
        return json.loads(text)
    except ValueError:
        return text


# --- status -----------------------------------------------------------------------------------------


def status(endpoint: str) -> dict[str, Any]:
    cfn = sandbox_client("cloudformation", endpoint)
    lam = sandbox_client("lambda", endpoint)
    events = sandbox_client("events", endpoint)
    scheduler = sandbox_client("scheduler", endpoint)
    configs = list(pages(lam.list_functions, "Functions"))
    return {
        "endpoint": endpoint,
        "stacks": [{"name": s["StackName"], "status": s["StackStatus"]} for s in cfn.describe_stacks()["Stacks"]],
        "functions": [
            {"name": f["FunctionName"], "handler": f.get("Handler"), "runtime": f.get("Runtime")} for f in configs
        ],
        "rules": [
            {
                "name": rule["Name"],
                "state": rule.get("State"),
                "schedule": rule.get("ScheduleExpression"),
                "pattern": json.loads(rule["EventPattern"]) if rule.get("EventPattern") else None,
                "targets": [
                    t["Arn"].rsplit(":", 1)[-1]
                    for t in pages(events.list_targets_by_rule, "Targets", Rule=rule["Name"])
                ],
            }
            for rule in pages(events.list_rules, "Rules")
        ],
        "schedules": [
            {
                "name": f"{s.get('GroupName', 'default')}/{s['Name']}",
                "state": s.get("State"),
                "target": s.get("Target", {}).get("Arn"),
            }
            for s in pages(scheduler.list_schedules, "Schedules")
        ],
        "pipelines": sandbox_state(endpoint),
        "deliveries": delivery_ledger(endpoint),
        "audit": audit_records(endpoint, configs),
    }


def delivery_ledger(endpoint: str) -> dict[str, Any]:
    try:
        return deliveries.ledger(endpoint)
    except (urllib.error.URLError, ValueError) as failed:
        return {"error": f"GET {endpoint}{deliveries.LEDGER_ROUTE} failed: {failed}"}


def iam_state(endpoint: str) -> dict[str, Any]:
    """What the server's authorizer counted (`enforce.Enforcer.document`), with the deliveries' counts."""
    with urllib.request.urlopen(endpoint + enforce.ROUTE, timeout=10) as answer:  # noqa: S310 - localhost
        return dict(json.load(answer))


def sandbox_state(endpoint: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"{endpoint}/_sandbox/state", timeout=10) as answer:  # noqa: S310 - localhost
            return dict(json.load(answer))
    except (urllib.error.URLError, ValueError) as failed:
        return {"error": f"GET {endpoint}/_sandbox/state failed: {failed}"}


def audit_records(endpoint: str, configs: list[dict[str, Any]], limit: int = 10) -> list[dict[str, Any]]:
    tables = {f.get("Environment", {}).get("Variables", {}).get("DECKHAND_AUDIT_TABLE") for f in configs} - {None}
    dynamodb = sandbox_client("dynamodb", endpoint)
    items = [
        item
        for table in sorted(t for t in tables if t)
        for item in pages(dynamodb.scan, "Items", "LastEvaluatedKey", TableName=table)
    ]
    items.sort(key=lambda item: item.get("sk", {}).get("S", ""), reverse=True)
    return [{name: next(iter(value.values())) for name, value in item.items()} for item in items[:limit]]


def print_status(report: dict[str, Any]) -> None:
    say(f"sandbox at {report['endpoint']}")
    say("stacks:")
    for stack in report["stacks"]:
        say(f"  {stack['name']}: {stack['status']}")
    say("functions:")
    for fn in report["functions"]:
        say(f"  {fn['name']}  ({fn['handler']}, {fn['runtime']})")
    say("rules:")
    for rule in report["rules"]:
        trigger = rule["schedule"] or json.dumps(rule["pattern"])
        say(f"  {rule['name']} [{rule['state']}] {trigger} → {', '.join(rule['targets']) or 'no targets'}")
    say("schedules:" if report["schedules"] else "schedules: none")
    for schedule in report["schedules"]:
        say(f"  {schedule['name']} [{schedule['state']}] → {schedule['target']}")
    pipelines = report["pipelines"]
    say("pipelines:")
    if "error" in pipelines:
        say(f"  {pipelines['error']}")
    for execution in pipelines.get("executions", []):
        stages = ", ".join(f"{s['name']}={s['status']}" for s in execution.get("stages", []))
        say(f"  {execution['pipeline']} {execution.get('pipelineExecutionId')}: {execution.get('status')} ({stages})")
    for job in pipelines.get("jobs", []):
        say(f"  job {job['id']} {job.get('pipeline')}/{job.get('stage')}/{job.get('action')}: {job.get('status')}")
    for approval in pipelines.get("approvals", []):
        say(f"  approval {json.dumps(approval, default=str)}")
    ledger = report["deliveries"]
    if "error" in ledger:
        say(f"deliveries: {ledger['error']}")
    else:
        say(f"deliveries: {ledger['deliveries']} authorized, {ledger['refused']} refused")
    for refusal in ledger.get("refusals", []):
        say(f"  REFUSED at {refusal['phase']}: {refusal['line']}")
    say(f"audit (newest {len(report['audit'])}):" if report["audit"] else "audit: no records")
    for record in report["audit"]:
        when = str(record.get("sk", "")).split("#", 1)[0]
        dry = " (dry run)" if record.get("dry_run") else ""
        what = f"{record.get('duty')} {record.get('action')} {record.get('subject')}"
        say(f"  {when} {what}: {record.get('outcome')}{dry} — {record.get('reason')}")


# --- seed -------------------------------------------------------------------------------------------


def seed(endpoint: str, now: datetime) -> list[str]:
    from . import estate  # noqa: PLC0415

    return estate.seed(endpoint, now=now).summary()


# --- demo -------------------------------------------------------------------------------------------


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
        return emit(event, self.functions)

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


def run_demo(paths: Paths, scenarios: list[Scenario], *, verbose: bool = False) -> int:
    """up → seed → each scenario → report → down, whatever happens; 0 only if every step passed."""
    began = time.monotonic()
    estate_lines: list[str] = []
    timings: dict[str, float] = {}
    demo: Demo | None = None
    crashed: str | None = None
    iam: dict[str, Any] | None = None
    try:
        started = up(paths, verbose=verbose)
        timings.update(started.timings)
        with step("seed the estate", timings, "seed"):
            estate_lines = seed(started.endpoint, datetime.now(UTC))
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


# --- the command line -------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m sandbox", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in (("up", "start and deploy"), ("demo", "up, seed, scenarios, report, down")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--verbose", action="store_true", help="stream the CDK CLI's output")
    commands.add_parser("down", help="stop the sandbox server")
    commands.add_parser("status", help="what is deployed and what happened").add_argument("--json", action="store_true")
    seed_cmd = commands.add_parser("seed", help="create a realistic estate")
    seed_cmd.add_argument("--now", help="the estate's present, ISO-8601 with offset (default: now)")
    invoke_cmd = commands.add_parser("invoke", help="run a function's handler with a payload")
    invoke_cmd.add_argument("function", help="deployed name (deckhand-switches) or service (switches)")
    invoke_cmd.add_argument("payload", type=Path, help="a JSON file, e.g. events/switches/show.json")
    invoke_cmd.add_argument(
        "--here", action="store_true", help="run the repo's handler on the AWS this shell points to"
    )
    invoke_cmd.add_argument("--policy", type=Path, help="policy file for --here (default: cdk.json's deckhand:policy)")
    invoke_cmd.add_argument("--logs", action="store_true", help="print the function's log lines too")
    invoke_cmd.add_argument("--json", action="store_true", help="the whole invocation as JSON")
    emit_cmd = commands.add_parser("emit", help="route an EventBridge event to the deployed rules' targets")
    emit_cmd.add_argument("event", type=Path, help="a JSON file holding one EventBridge event")
    emit_cmd.add_argument("--json", action="store_true")
    tick_cmd = commands.add_parser("tick", help="fire the schedules due up to a time")
    tick_cmd.add_argument("--at", required=True, help="ISO-8601 time with offset, e.g. 2026-11-22T09:00:00Z")
    tick_cmd.add_argument("--json", action="store_true")
    authorize_cmd = commands.add_parser(
        "authorize", help="decide an IAM request or an API call of a function or role by the deployed policies"
    )
    authorize_cmd.add_argument("asker", help="deployed function name (its execution role's session) or role name")
    authorize_cmd.add_argument("request", nargs="*", metavar="ACTION RESOURCE", help="an IAM request")
    authorize_cmd.add_argument("--context", action="append", default=[], metavar="KEY=VALUE", help="a context key")
    authorize_cmd.add_argument(
        "--call",
        nargs=2,
        metavar=("SERVICE:OPERATION", "JSON"),
        help="an API call and its input, as botocore names them",
    )
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    paths = Paths.default()
    _progress[:] = [sys.stderr if getattr(args, "json", False) else sys.stdout]
    try:
        return COMMANDS[args.command](args, paths)
    except SandboxError as failed:
        print(f"sandbox {args.command}: {failed}", file=sys.stderr, flush=True)
        return 1
    except runner.AssetError as broken:
        print(f"sandbox {args.command}: {broken}", file=sys.stderr, flush=True)
        return 1
    except BrokenPipeError:  # `... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def cmd_up(args: argparse.Namespace, paths: Paths) -> int:
    return 1 if up(paths, verbose=args.verbose).refused else 0


def cmd_down(args: argparse.Namespace, paths: Paths) -> int:
    started = time.monotonic()
    say(f"{down(paths)} ({time.monotonic() - started:.1f} s)")
    return 0


def cmd_status(args: argparse.Namespace, paths: Paths) -> int:
    report = status(running_state(paths)["endpoint"])
    if args.json:
        print_json(report)
    else:
        print_status(report)
    return 0


def cmd_seed(args: argparse.Namespace, paths: Paths) -> int:
    endpoint = running_state(paths)["endpoint"]
    with step(f"seed the estate into {endpoint}"):
        lines = seed(endpoint, parse_at(args.now) if args.now else datetime.now(UTC))
    for line in lines:
        say(f"  {line}")
    return 0


def cmd_invoke(args: argparse.Namespace, paths: Paths) -> int:
    payload = load_json(args.payload)
    if args.here:
        policy = args.policy or default_policy()
        handler = repo_handler(args.function, policy)
        os.environ.update(QUIET_NODE)  # --here imports the stacks, and with them the CDK's jsii runtime
        say(f"→ invoke {handler} from this repository with {policy.name}'s settings, on the shell's AWS")
        invocation = runner.invoke_here(args.function, handler, payload, policy_path=policy)
    else:
        endpoint = running_state(paths)["endpoint"]
        name = resolve_function(args.function, endpoint)
        functions = Functions(endpoint, paths)
        say(f"→ invoke {name} ({functions.get(name).handler}) in the sandbox")
        invocation = functions.invoke(name, payload)
    return report_invocation(invocation, as_json=args.json, logs=args.logs)


def report_invocation(invocation: runner.Invocation, *, as_json: bool, logs: bool) -> int:
    if as_json:
        print_json(invocation.to_dict())
        return 0 if invocation.ok else 1
    say(f"  {invocation.duration_ms:.0f} ms, request {invocation.request_id}")
    if logs and invocation.logs:
        say(invocation.logs.rstrip("\n"))
    if invocation.error is not None:
        say(f"{invocation.error.type}: {invocation.error.message}")
        say(invocation.error.traceback.rstrip("\n"))
        return 1
    print_json(invocation.response)
    return 0


def repo_handler(function: str, policy_path: Path) -> str:
    """The repository's handler of a function, by the stack's own convention."""
    from stacks.function import handler_path  # noqa: PLC0415 - the CDK loads only for --here
    from stacks.gating import DUTY, SERVICES  # noqa: PLC0415
    from stacks.policy import load_policy  # noqa: PLC0415

    service = function.removeprefix(f"{load_policy(policy_path).name_prefix}-")
    return handler_path(service, DUTY if service in SERVICES else None)


def default_policy() -> Path:
    context = json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8")).get("context", {})
    named = Path(str(context.get("deckhand:policy", "deckhand.yaml")))
    return named if named.is_absolute() else REPO_ROOT / named


def cmd_emit(args: argparse.Namespace, paths: Paths) -> int:
    event = load_json(args.event)
    if not isinstance(event, dict):
        raise SandboxError(f"{args.event} holds no JSON object")
    endpoint = running_state(paths)["endpoint"]
    say(f"→ route {event.get('source')} / {event.get('detail-type')} through the deployed rules")
    fired = emit(event, Functions(endpoint, paths))
    return report_fired(fired, as_json=args.json, none="no rule matched the event")


def cmd_tick(args: argparse.Namespace, paths: Paths) -> int:
    at = parse_at(args.at)
    endpoint = running_state(paths)["endpoint"]
    say(f"→ tick to {iso_z(at)}")
    start, fired = tick(at, Functions(endpoint, paths), paths)
    say(f"  window ({iso_z(start)}, {iso_z(at)}]")
    return report_fired(fired, as_json=args.json, none="nothing was due")


def report_fired(fired: list[Fired], *, as_json: bool, none: str) -> int:
    failed = any(not f.invocation.ok for f in fired)
    if as_json:
        print_json([f.to_dict() for f in fired])
    elif not fired:
        say(f"  {none}")
    for f in [] if as_json else fired:
        say(f.line())
    return 1 if failed else 0


def cmd_authorize(args: argparse.Namespace, paths: Paths) -> int:
    """Exit 0 when Allowed, 1 otherwise."""
    endpoint = running_state(paths)["endpoint"]
    try:
        question = authorize.question(args.request, args.context, args.call)
        answer = authorize.ask(endpoint, authorize.asker(args.asker, lambda s: sandbox_client(s, endpoint)), question)
    except authorize.AuthorizeError as bad:
        raise SandboxError(str(bad)) from None
    for line in authorize.render(answer):
        print(line, flush=True)
    return 0 if answer["decision"] == "Allowed" else 1


def cmd_demo(args: argparse.Namespace, paths: Paths) -> int:
    from .scenarios import SCENARIOS  # noqa: PLC0415 - scenarios import the cli's Demo

    return run_demo(paths, SCENARIOS, verbose=args.verbose)


COMMANDS: dict[str, Callable[[argparse.Namespace, Paths], int]] = {
    "up": cmd_up,
    "down": cmd_down,
    "status": cmd_status,
    "seed": cmd_seed,
    "invoke": cmd_invoke,
    "emit": cmd_emit,
    "tick": cmd_tick,
    "authorize": cmd_authorize,
    "demo": cmd_demo,
}
