"""`python -m sandbox <command>`: deploy Deckhand into an embedded AWS on this machine and rehearse it.

up       start the sandbox server, then `cdk bootstrap` and `cdk deploy` the real app into it
seed     create a realistic estate (pipelines, alarms, services, clutter to clean)
invoke   run a deployed function's handler with a payload (or the repo's, with --here)
emit     put an EventBridge event on the server's bus, which routes it through the deployed rules to every target
tick     fire the scheduled rules and Scheduler schedules due up to a time
status   what is deployed and what happened
authorize whether a function (or role) may make an IAM request or an API call, by the deployed policies
pipeline how executions run by themselves: fail an action's next run, a source change, the runner's settings
down     stop the server
demo     up, seed, scenarios, report, down
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stacks.policy import load_policy

from . import runner
from .cdk import QUIET_NODE, default_policy, up
from .clients import sandbox_client
from .demo import run_demo, seed
from .deployed import Fired, Functions, emit, iso_z, parse_at, resolve_function, tick
from .gaps.bus import event_refusal
from .iam import authorize
from .output import InputRefused, SandboxError, print_json, progress_on_stderr, say, step
from .process import Paths, down, running_state
from .status import print_status, status


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputRefused(f"{path} does not exist") from None
    except ValueError as bad:
        raise InputRefused(f"{path} is not JSON: {bad}") from None


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m sandbox", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in (("up", "start and deploy"), ("demo", "up, seed, scenarios, report, down")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--verbose", action="store_true", help="stream the CDK CLI's output")
    commands.choices["demo"].add_argument(
        "--organization",
        action="store_true",
        help="the organization's demo instead, on a sandbox of its own (.sandbox/organization)",
    )
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
    pipeline_cmd = commands.add_parser("pipeline", help="how executions run by themselves")
    pipeline_asks = pipeline_cmd.add_subparsers(dest="ask", required=True, metavar="ASK")
    fail_cmd = pipeline_asks.add_parser("fail", help="the next run of an action fails")
    fail_cmd.add_argument("action", help="the action's name, e.g. Build")
    fail_cmd.add_argument("--stage", help="only in this stage")
    fail_cmd.add_argument("--pipeline", help="only in this pipeline")
    fail_cmd.add_argument("--message", help="the failure's message")
    change_cmd = pipeline_asks.add_parser("source-change", help="a change reached a pipeline's source: it starts")
    change_cmd.add_argument("pipeline")
    change_cmd.add_argument("--revision", help="the source revision (default: a random commit id)")
    runner_cmd = pipeline_asks.add_parser("runner", help="show or set how executions started from now on run")
    runner_cmd.add_argument("--self-running", choices=("on", "off"), help="off: they move only when driven")
    runner_cmd.add_argument("--delay", type=float, metavar="SECONDS", help="how long an action takes")
    runner_cmd.add_argument(
        "--continuation", type=float, metavar="SECONDS", help="when a Lambda action answered in progress runs again"
    )
    runner_cmd.add_argument("--job-timeout", type=float, metavar="SECONDS", help="how long a job may go unanswered")
    return top


def main(argv: list[str] | None = None) -> int:
    """Exit 0 on success, 1 when a function or target failed (or the sandbox did), 2 when the input was refused."""
    args = parser().parse_args(argv)
    with progress_on_stderr(getattr(args, "json", False)):
        return answer(args, Paths.default())


def answer(args: argparse.Namespace, paths: Paths) -> int:
    """The command's exit status, a failure told in one line on stderr."""
    try:
        return COMMANDS[args.command](args, paths)
    except InputRefused as refused:  # as argparse refuses a usage
        print(f"sandbox {args.command}: {refused}", file=sys.stderr, flush=True)
        return 2
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
    now = parse_at(args.now) if args.now else datetime.now(UTC)
    endpoint = running_state(paths)["endpoint"]
    with step(f"seed the estate into {endpoint}"):
        lines = seed(endpoint, now)
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
    # These start the CDK's jsii runtime: 0.64 s (median of 7, after this module) that only --here pays.
    from stacks.function import handler_path  # noqa: PLC0415
    from stacks.gating import DUTY, SERVICES  # noqa: PLC0415

    service = function.removeprefix(f"{load_policy(policy_path).name_prefix}-")
    return handler_path(service, DUTY if service in SERVICES else None)


def cmd_emit(args: argparse.Namespace, paths: Paths) -> int:
    event = load_json(args.event)
    refusal = event_refusal(event)
    if refusal:
        raise InputRefused(f"{args.event}: {refusal}")
    endpoint = running_state(paths)["endpoint"]
    say(f"→ route {event.get('source')} / {event.get('detail-type')} through the deployed rules")
    fired = emit(event, endpoint)
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
        raise InputRefused(str(bad)) from None
    for line in authorize.render(answer):
        print(line, flush=True)
    return 0 if answer["decision"] == "Allowed" else 1


def cmd_pipeline(args: argparse.Namespace, paths: Paths) -> int:
    """Ask the server's pipeline runner; exit 2 when it refuses (an unknown pipeline, a bad setting)."""
    if args.ask == "fail":
        route = "/_sandbox/codepipeline/fail"
        body = {"action": args.action, "stage": args.stage, "pipeline": args.pipeline, "message": args.message}
    elif args.ask == "source-change":
        route, body = "/_sandbox/codepipeline/source-change", {"pipeline": args.pipeline, "revision": args.revision}
    else:
        route = "/_sandbox/codepipeline/runner"
        body = {
            "self_running": None if args.self_running is None else args.self_running == "on",
            "delay_seconds": args.delay,
            "continuation_seconds": args.continuation,
            "job_timeout_seconds": args.job_timeout,
        }
    print_json(post_control(running_state(paths)["endpoint"], route, {k: v for k, v in body.items() if v is not None}))
    return 0


def post_control(endpoint: str, route: str, body: dict[str, Any]) -> Any:
    """POST to a `/_sandbox/` route; the server refusing the body is the CLI refusing its input."""
    request = urllib.request.Request(  # noqa: S310 - the local sandbox
        endpoint + route, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return json.load(answer)
    except urllib.error.HTTPError as refused:
        found = json.loads(refused.read() or b"{}")
        raise InputRefused(f"{found.get('error')}: {found.get('message')}") from None


def cmd_demo(args: argparse.Namespace, paths: Paths) -> int:
    # The scenarios import the stacks, which start the CDK's jsii runtime: 1.5 s (median of 7, after this module)
    # that no other command pays.
    if args.organization:
        from . import organization_scenarios  # noqa: PLC0415

        return run_demo(
            organization_scenarios.paths(),
            organization_scenarios.SCENARIOS,
            verbose=args.verbose,
            setup=organization_scenarios.SETUP,
        )
    from .scenarios import SCENARIOS  # noqa: PLC0415

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
    "pipeline": cmd_pipeline,
    "demo": cmd_demo,
}
