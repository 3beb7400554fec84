"""`python -m sandbox`: its answers (exit status, output safe for any payload), and end to end: the real CDK CLI
deploys Deckhand into the sandbox, then events play."""

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox import cdk, cli, process, runner
from sandbox.deployed import Fired
from sandbox.gaps.bus import event_refusal
from sandbox.output import json_text, progress_on_stderr, say
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
    unknown = sandbox.run("invoke", "no-such-function", "events/switches/show.json")
    assert (unknown.returncode, "no deployed function 'no-such-function'" in unknown.stderr) == (2, True)

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
    backwards = sandbox.run("tick", "--at", "2026-11-22T10:00:00Z")
    assert (backwards.returncode, "time only moves forward" in backwards.stderr) == (2, True)

    status = sandbox.ok("status")
    assert "deckhand: CREATE_COMPLETE" in status
    assert "deckhand-switches  (functions.switches.handler.handler" in status
    assert "rate(5 minutes) → deckhand-switches" in status
    assert "Parameter Store Change" in status

    assert "stopped the sandbox server" in sandbox.ok("down")
    assert not process.alive(pid)
    assert sandbox.state() is None
    assert "nothing running" in sandbox.ok("down")


# --- the CLI's answers, without a sandbox -------------------------------------------------------------


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"level": value}
    return value


def answered(response: Any, *, error: runner.InvocationError | None = None) -> runner.Invocation:
    return runner.Invocation(
        "deckhand-switches", "request-1", payload={"action": "show"}, response=response, error=error
    )


class Printed:
    """stdout as a terminal's: UTF-8 that refuses what UTF-8 cannot encode (a lone surrogate)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.raw = io.BytesIO()
        self.stream = io.TextIOWrapper(self.raw, encoding="utf-8", errors="strict", write_through=True)
        monkeypatch.setattr(sys, "stdout", self.stream)

    def text(self) -> str:
        return self.raw.getvalue().decode("utf-8")


def report(invocation: runner.Invocation, *, as_json: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    printed = Printed(monkeypatch)
    code = cli.report_invocation(invocation, as_json=as_json, logs=True)
    return code, printed.text()


@pytest.mark.parametrize("as_json", [True, False])
def test_an_answer_900_and_more_levels_deep_is_printed(as_json: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = nested(3000)
    code, text = report(answered(deep), as_json=as_json, monkeypatch=monkeypatch)
    assert code == 0
    squeezed = "".join(text.split())
    assert '[{"level":[{"level":1}]}]' in squeezed
    assert squeezed.count("[") == 1500
    assert squeezed.count('"level":') == 1500


def test_json_text_is_json_dumps_indented_at_any_depth() -> None:
    assert json.loads(json_text(nested(900))) == nested(900)
    assert json_text(nested(900)) == json.dumps(nested(900), indent=2)


@pytest.mark.parametrize("as_json", [True, False])
def test_a_lone_surrogate_in_an_answer_is_printed_escaped(as_json: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    lone = json.loads('{"name": "\\ud83d", "note": "caf\u00e9 \\udfff"}')  # as a function's JSON answer carries it
    code, text = report(answered(lone), as_json=as_json, monkeypatch=monkeypatch)
    assert code == 0
    assert '"name": "\\ud83d"' in text
    assert '"note": "café \\udfff"' in text


def test_a_surrogate_in_an_error_message_is_printed_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    error = runner.InvocationError("Runtime.UserCodeError", "bad \udc80 byte", "Traceback: \ud800\n")
    code, text = report(answered(None, error=error), as_json=False, monkeypatch=monkeypatch)
    assert code == 1
    assert "Runtime.UserCodeError: bad \\udc80 byte" in text
    assert "Traceback: \\ud800" in text


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(categories=["L", "N", "P", "S", "Z", "C"])),  # C: control characters and surrogates
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(response=JSONISH, error_message=st.none() | st.text(st.characters(categories=["L", "Cs"])))
def test_any_answer_is_printed_in_text_and_json(response: Any, error_message: str | None) -> None:
    error = None if error_message is None else runner.InvocationError("Handled", error_message, "")
    invocation = answered(response, error=error)
    for as_json in (True, False):
        with pytest.MonkeyPatch.context() as monkeypatch:
            code, text = report(invocation, as_json=as_json, monkeypatch=monkeypatch)
        assert code == (0 if error is None else 1)
        if as_json:
            assert json.loads(text) == json.loads(json.dumps(invocation.to_dict()))
        elif error is None:
            assert json.loads(text.split("\n", 1)[1]) == response


def test_exit_status_is_1_when_a_fired_target_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    failed = answered(None, error=runner.InvocationError("Handled", "no", ""))
    Printed(monkeypatch)
    assert cli.report_fired([Fired("rule a", "t1", answered({"status": "ok"}))], as_json=True, none="") == 0
    assert (
        cli.report_fired([Fired("rule a", "t1", answered({})), Fired("rule b", "t2", failed)], as_json=False, none="")
        == 1
    )


@pytest.fixture
def no_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DECKHAND_SANDBOX_DIR", str(tmp_path / "sandbox"))
    return tmp_path


def event_file(folder: Path, event: Any) -> str:
    path = folder / "event.json"
    path.write_text(json.dumps(event))
    return str(path)


@pytest.mark.parametrize(
    ("event", "why"),
    [
        ({key: value for key, value in SSM_CHANGE.items() if key != "detail"}, "has no detail: EventBridge requires"),
        ({"detail": {}}, "has no source, detail-type: EventBridge requires source, detail-type and detail"),
        ({**SSM_CHANGE, "detail": "Update"}, "detail is a string: EventBridge requires a JSON object"),
        ([SSM_CHANGE], "holds an array, not an EventBridge event (a JSON object)"),
        ("aws.ssm", "holds a string, not an EventBridge event"),
        (None, "holds null, not an EventBridge event"),
    ],
)
def test_emit_refuses_what_eventbridge_would_fail_with_exit_2(
    event: Any, why: str, no_sandbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["emit", event_file(no_sandbox, event)]) == 2
    assert why in capsys.readouterr().err


def test_emit_adds_no_detail_of_its_own() -> None:
    assert event_refusal(SSM_CHANGE) is None
    assert event_refusal({**SSM_CHANGE, "detail": {}}) is None  # an empty object is a JSON object


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["invoke", "switches", "{missing}"], "does not exist"),
        (["invoke", "switches", "{not_json}"], "is not JSON"),
        (["emit", "{not_json}"], "is not JSON"),
        (["tick", "--at", "tomorrow"], "is not an ISO-8601 time"),
        (["tick", "--at", "2026-11-22T09:00:00"], "has no offset"),
        (["seed", "--now", "noon"], "is not an ISO-8601 time"),
    ],
)
def test_a_refused_input_exits_2_and_says_why(
    argv: list[str], why: str, no_sandbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (no_sandbox / "not.json").write_text("{'action': 'show'}")
    files = {"missing": str(no_sandbox / "missing.json"), "not_json": str(no_sandbox / "not.json")}
    assert cli.main([arg.format(**files) for arg in argv]) == 2
    assert why in capsys.readouterr().err


def test_a_usage_error_exits_2_as_argparse_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        cli.main(["invoke"])
    assert usage.value.code == 2
    assert "the following arguments are required: function, payload" in capsys.readouterr().err


def test_the_aws_cli_tutorial_is_bash_that_parses() -> None:
    tutorial = REPO_ROOT / "sandbox" / "tutorial" / "aws-cli.sh"
    checked = subprocess.run(["bash", "-n", str(tutorial)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr


def test_a_good_event_without_a_sandbox_fails_with_exit_1(no_sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["emit", event_file(no_sandbox, SSM_CHANGE)]) == 1  # not refused: the sandbox is not running
    assert "no sandbox is running" in capsys.readouterr().err


def test_progress_goes_to_the_stdout_of_the_moment_not_to_one_kept(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stream kept past its owner (an earlier test's capture) is closed by the time the next line comes."""
    earlier = io.StringIO()
    with monkeypatch.context() as patched:
        patched.setattr(sys, "stdout", earlier)
        say("to the stdout of then")
    earlier.close()
    say("to the stdout of now")
    assert "to the stdout of now" in capsys.readouterr().out


def test_json_progress_goes_to_stderr_only_within_its_command(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_on_stderr(True):
        say("while --json")
    say("after")
    printed = capsys.readouterr()
    assert "while --json" in printed.err
    assert "after" in printed.out
