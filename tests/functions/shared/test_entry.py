"""The one entry decorator: logger context and correlation id, EMF flush, the error answer, no event logged."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from benchmarks.coldstart import HANDLERS
from functions.shared.entry import entry
from functions.shared.observability import logger, metrics
from functions.shared.refusal import Refused
from stacks.versions import REPO_ROOT
from tests.support.gating import captured_logs, fake_context

# Each handler module and what it imports inside `handler`, on the first invocation: the bench's table.
LOADED_ON_FIRST_INVOCATION = list(HANDLERS.values())
SECRET = "live-artifact-secret-key"


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_logs_carry_the_request_id_as_correlation_id_and_never_the_event() -> None:
    @entry
    def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
        logger.info("working")
        return {"status": "ok"}

    context = fake_context()
    with captured_logs() as logs:
        answer = handler({"artifactCredentials": {"secretAccessKey": SECRET}}, context)
    assert answer == {"status": "ok"}
    [line] = lines(logs.getvalue())
    assert line["correlation_id"] == context.aws_request_id
    assert line["function_request_id"] == context.aws_request_id
    assert SECRET not in logs.getvalue()


def test_the_event_stays_out_of_the_logs_even_when_the_environment_asks_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")

    @entry
    def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
        return {"status": "ok"}

    with captured_logs() as logs:
        handler({"secret": SECRET}, fake_context())
    assert SECRET not in logs.getvalue()


def test_a_refusal_is_the_rejected_answer() -> None:
    @entry
    def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
        raise Refused(["action: 'explode' is not one of show, set, clear"])

    with captured_logs() as logs:
        answer = handler({}, fake_context())
    assert answer == {
        "status": "rejected",
        "errors": ["action: 'explode' is not one of show, set, clear"],
        "changed": False,
    }
    [line] = lines(logs.getvalue())
    assert line["level"] == "WARNING"


def test_any_other_error_is_logged_with_the_correlation_id_and_raised() -> None:
    @entry
    def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
        raise RuntimeError("the table is gone")

    context = fake_context()
    with captured_logs() as logs, pytest.raises(RuntimeError, match="the table is gone"):
        handler({}, context)
    [line] = lines(logs.getvalue())
    assert line["level"] == "ERROR"
    assert line["correlation_id"] == context.aws_request_id
    assert "the table is gone" in line["exception"]


def test_metrics_are_flushed_as_emf_when_the_invocation_ends(capsys: pytest.CaptureFixture[str]) -> None:
    @entry
    def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
        metrics.add_metric(name="Tested", unit=MetricUnit.Count, value=1)
        return {"status": "ok"}

    with captured_logs():
        handler({}, fake_context())
    [emf] = [line for line in lines(capsys.readouterr().out) if "_aws" in line]
    assert emf["Tested"] == [1.0]
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Deckhand"


def test_no_handler_loads_the_x_ray_sdk() -> None:
    """Lambda's active tracing needs no SDK; the X-Ray SDK cost about 210 ms of every cold start."""
    modules = [*HANDLERS, *LOADED_ON_FIRST_INVOCATION]
    code = f"import sys; import {', '.join(modules)}; print(sorted(m for m in sys.modules if 'xray' in m))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_no_handler_module_loads_a_flow_before_its_first_invocation() -> None:
    """The flows (the policy's pydantic models, the adapters) load in the first invocation's `first_imports()`, where
    the collector is still paused; boto3 is the one heavy load of the init phase (test_init_phase.py)."""
    code = (
        f"import sys; import {', '.join(HANDLERS)}; "
        f"print(sorted(m for m in {LOADED_ON_FIRST_INVOCATION!r} if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_the_bench_and_these_tests_cover_every_function() -> None:
    """A new function's handler must join the table (benchmarks/coldstart.py) that the cold-start bench and the
    init-phase tests go through."""
    found = {
        ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
        for path in (REPO_ROOT / "functions").rglob("handler.py")
    }
    assert found == set(HANDLERS)
