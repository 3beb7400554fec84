"""CDK runs against the sandbox: synth, bootstrap and deploy the app into a new server (`up`)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from stacks.versions import REPO_ROOT

from . import ACCOUNT, REGION
from .clients import DUMMY
from .deployed import wiring
from .iam import deliveries
from .output import SandboxError, say, step, tail
from .process import (
    Paths,
    free_port,
    new_state,
    refuse_a_second_sandbox,
    server_errors,
    start_server,
    stop_server,
    wait_ready,
    write_state,
)

CDK = REPO_ROOT / "node_modules" / ".bin" / "cdk"


CDK_TIMEOUT_SECONDS = 600
POLICY_CONTEXT = "deckhand:policy"  # stacks.core.POLICY_CONTEXT_KEY, which the CLI does not import: it starts jsii
HUB_STACK = "Deckhand"  # the hub stack's construct id (stacks/app.py), what `cdk deploy` selects it by


QUIET_NODE = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED": "true",
    "CDK_DISABLE_CLI_TELEMETRY": "true",
    "CDK_DISABLE_VERSION_CHECK": "true",
}


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


@dataclass
class Up:
    endpoint: str
    timings: dict[str, float]
    refused: list[str]  # the delivery paths AWS would refuse, as `up` printed them


def up(paths: Paths, *, verbose: bool = False, policy_for: Callable[[str], Path] | None = None) -> Up:
    """Start the server, then bootstrap and deploy the app into it; on any failure, leave nothing running.

    `policy_for(endpoint)`, when given, writes the policy to deploy once the server runs (the organization's, which
    names the ids moto makes): the synth waits for it, and only the hub stack is deployed (the member stack reaches
    the members through the hub's StackSet)."""
    refuse_a_second_sandbox(paths)
    paths.root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    endpoint = f"http://localhost:{port}"
    timings: dict[str, float] = {}
    started = time.monotonic()
    synth_args = ["synth", "--quiet", "--output", str(paths.assembly)]
    # The synth needs no AWS: it runs while the server starts and the environment is bootstrapped.
    synth = None if policy_for else start_cdk("synth", synth_args, endpoint, paths, verbose)
    server: subprocess.Popen[bytes] | None = None
    try:
        with step(f"start the sandbox server on {endpoint} (log: {paths.server_log})", timings, "server start"):
            server = start_server(paths, port)
            wait_ready(server, paths, port)
        write_state(paths, new_state(endpoint, port, server.pid))
        if policy_for is not None:
            with step("write the policy to deploy", timings, "policy"):
                policy = policy_for(endpoint)
            synth = start_cdk("synth", [*synth_args, "-c", f"{POLICY_CONTEXT}={policy}"], endpoint, paths, verbose)
        assert synth is not None
        say(f"→ cdk synth of the Deckhand app, with cdk-nag (log: {synth.log})")
        deploy_app(paths, endpoint, synth, timings, verbose, stacks=[HUB_STACK] if policy_for else ["--all"])
        refused = check_wiring(endpoint, timings)
    except BaseException as failed:
        # A failed deploy leaves moto in a state no retry recovers from: start again from scratch.
        with contextlib.suppress(Exception):
            if synth is not None:
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


def check_wiring(endpoint: str, timings: dict[str, float]) -> list[str]:
    """Every delivery path the deployed stacks wire, authorized as its service would: the refused ones."""
    with step("authorize every delivery path the stacks wire", timings, "deliveries"):
        wired = wiring(endpoint).discover()
        refused = [r.line() for r in deliveries.ask(endpoint, wired, phase="deploy") if r is not None]
        say(f"  {len(wired) - len(refused)} of {len(wired)} paths authorized")
    for line in refused:
        say(f"  REFUSED {line}")
    return refused


def deploy_app(
    paths: Paths, endpoint: str, synth: CdkRun, timings: dict[str, float], verbose: bool, *, stacks: list[str]
) -> None:
    bootstrap = start_cdk("bootstrap", ["bootstrap", f"aws://{ACCOUNT}/{REGION}"], endpoint, paths, verbose)
    say(f"→ cdk bootstrap aws://{ACCOUNT}/{REGION} (log: {bootstrap.log})")
    timings["cdk bootstrap"] = round(bootstrap.finish(), 1)
    say(f"  bootstrapped in {timings['cdk bootstrap']:.1f} s")
    timings["cdk synth"] = round(synth.finish(), 1)
    say(f"  synthesized in {timings['cdk synth']:.1f} s")
    with step(f"cdk deploy {' '.join(stacks)} --method=direct (log: {paths.cdk_log('deploy')})", timings, "cdk deploy"):
        # Change sets are broken in moto, and UsePreviousValue breaks updates.
        deploy = ["deploy", *stacks, "--require-approval", "never", "--method=direct", "--no-previous-parameters"]
        start_cdk("deploy", [*deploy, "--app", str(paths.assembly)], endpoint, paths, verbose).finish()


def default_policy() -> Path:
    context = json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8")).get("context", {})
    named = Path(str(context.get(POLICY_CONTEXT, "deckhand.yaml")))
    return named if named.is_absolute() else REPO_ROOT / named
