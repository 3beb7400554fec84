"""The sandbox server's process and its state file: where things live, start, readiness and stop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stacks.versions import REPO_ROOT

from . import ACCOUNT, REGION
from .output import SandboxError, say, tail

SERVER_READY_SECONDS = 30


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
