"""`python -m sandbox` end to end: the real CDK CLI deploys Deckhand into the sandbox, then events play."""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import cdk, process
from stacks.versions import REPO_ROOT

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:deckhand-switches"

SSM_CHANGE = {
    "version": "0",
    "id": "9547ef2d-3b7e-4057-b6cb-5fdf09ee7c8f",
    "detail-type": "Parameter Store Change",
    "source": "aws.ssm",
    "account": "123456789012",
    "time": "2026-11-22T10:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ssm:us-east-1:123456789012:parameter/deckhand/switches/freeze"],
    "detail": {"operation": "Update", "name": "/deckhand/switches/freeze", "type": "String", "description": ""},
}


class Sandbox:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**os.environ, "DECKHAND_SANDBOX_DIR": str(home)}

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sandbox", *args],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, timeout: float = 60) -> str:
        done = self.run(*args, timeout=timeout)
        assert done.returncode == 0, f"sandbox {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def state(self) -> dict[str, object] | None:
        path = self.home / "state.json"
        return json.loads(path.read_text()) if path.exists() else None


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    if not cdk.CDK.exists():
        pytest.skip("the CDK CLI is not installed: run `npm ci` (make test does)")
    box = Sandbox(tmp_path / "sandbox")
    yield box
    state = box.state()
    box.run("down")
    if state and process.alive(int(str(state["pid"]))):  # never leave a server behind, even when `down` broke
        os.killpg(int(str(state["pid"])), signal.SIGKILL)


@pytest.mark.sandbox
def test_up_invoke_emit_tick_status_down(sandbox: Sandbox, tmp_path: Path) -> None:
    up = sandbox.ok("up", timeout=180)
    state = sandbox.state()
    assert state is not None
    pid = int(str(state["pid"]))
    assert f"sandbox ready at {state['endpoint']}" in up
    assert sandbox.run("up").returncode == 1  # one sandbox at a time

    shown = json.loads(sandbox.ok("invoke", "switches", "events/switches/show.json", "--json"))
    assert shown["function_name"] == "deckhand-switches"
    assert shown["error"] is None
    assert shown["response"]["status"] == "ok"

    event = tmp_path / "ssm-change.json"
    event.write_text(json.dumps(SSM_CHANGE))
    emitted = json.loads(sandbox.ok("emit", str(event), "--json"))
    assert [(f["function_name"], f["error"]) for f in emitted] == [("deckhand-switches", None)]
    assert "SwitchEdited" in emitted[0]["source"]

    ticked = sandbox.ok("tick", "--at", "2026-11-22T10:05:00Z")  # rate(5 minutes) is due at :05
    assert "window (2026-11-22T10:04:00Z, 2026-11-22T10:05:00Z]" in ticked
    assert "Sweep" in ticked
    assert "→ deckhand-switches: status=" in ticked
    assert "nothing was due" in sandbox.ok("tick", "--at", "2026-11-22T10:06:00Z")

    status = sandbox.ok("status")
    assert "deckhand: CREATE_COMPLETE" in status
    assert "deckhand-switches  (functions.switches.handler.handler" in status
    assert "rate(5 minutes) → deckhand-switches" in status
    assert "Parameter Store Change" in status

    assert "stopped the sandbox server" in sandbox.ok("down")
    assert not process.alive(pid)
    assert sandbox.state() is None
    assert "nothing running" in sandbox.ok("down")
