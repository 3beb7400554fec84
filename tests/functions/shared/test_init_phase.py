"""Every handler's init phase: the SDK loaded, and in Lambda the collector paused until the first invocation's
imports are done, then frozen (functions/shared/init_phase.py). Each case runs in a fresh interpreter: the
collector is process-wide."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest

from benchmarks.coldstart import HANDLERS
from stacks.versions import REPO_ROOT

CHECK = """
import gc, json, sys
gc.disable() if {disabled_before} else None
import {handler}
at_init = {{"boto3": "boto3" in sys.modules, "collecting": gc.isenabled()}}
from functions.shared.init_phase import first_imports
with first_imports():
    import {first}
frozen = gc.get_freeze_count()
with first_imports():
    pass
print(json.dumps({{**at_init, "after": gc.isenabled(), "frozen": frozen, "frozen_again": gc.get_freeze_count()}}))
"""


def in_fresh_interpreter(code: str, *, in_lambda: bool) -> dict[str, object]:
    env = {key: value for key, value in os.environ.items() if key != "AWS_LAMBDA_RUNTIME_API"}
    if in_lambda:
        env["AWS_LAMBDA_RUNTIME_API"] = "127.0.0.1:9001"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    answer: dict[str, object] = json.loads(run.stdout)
    return answer


def init_phase(handler: str, *, in_lambda: bool, disabled_before: bool = False) -> dict[str, object]:
    code = CHECK.format(handler=handler, first=HANDLERS[handler], disabled_before=disabled_before)
    return in_fresh_interpreter(code, in_lambda=in_lambda)


def first_imports_blocks(handler: str) -> list[str]:
    """The modules a handler module imports inside `with first_imports():`."""
    tree = ast.parse((REPO_ROOT / f"{handler.replace('.', '/')}.py").read_text())
    package = handler.rpartition(".")[0]
    return [
        f"{package}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.With)
        and any(
            isinstance(item.context_expr, ast.Call) and getattr(item.context_expr.func, "id", None) == "first_imports"
            for item in node.items
        )
        for statement in node.body
        if isinstance(statement, ast.ImportFrom) and statement.level == 1 and statement.module is None
        for alias in statement.names
    ]


@pytest.mark.parametrize("handler", list(HANDLERS))
def test_each_handler_loads_its_first_invocation_module_inside_first_imports(handler: str) -> None:
    """What the bench measures is what the handler does: its one lazy import, where the collector is still paused."""
    assert first_imports_blocks(handler) == [HANDLERS[handler]]


@pytest.mark.parametrize("handler", list(HANDLERS))
def test_in_lambda_the_collector_waits_for_the_first_imports_then_skips_what_they_made(handler: str) -> None:
    seen = init_phase(handler, in_lambda=True)
    assert seen["boto3"] is True
    assert seen["collecting"] is False
    assert seen["after"] is True
    assert isinstance(seen["frozen"], int)
    assert seen["frozen"] > 10_000  # the modules, classes and models of the cold path
    assert seen["frozen_again"] == seen["frozen"]  # later invocations freeze nothing more


def test_outside_lambda_the_collector_is_left_alone() -> None:
    handler = next(iter(HANDLERS))
    assert init_phase(handler, in_lambda=False) == {
        "boto3": True,
        "collecting": True,
        "after": True,
        "frozen": 0,
        "frozen_again": 0,
    }


def test_a_collector_paused_before_deckhand_loaded_stays_paused() -> None:
    handler = next(iter(HANDLERS))
    seen = init_phase(handler, in_lambda=True, disabled_before=True)
    assert (seen["collecting"], seen["after"], seen["frozen"]) == (False, False, 0)


def test_the_collector_resumes_when_the_first_imports_fail() -> None:
    code = """
import gc, json
from functions.shared.init_phase import first_imports
try:
    with first_imports():
        raise ImportError("a module the flow needs is missing")
except ImportError:
    pass
print(json.dumps({"after": gc.isenabled(), "frozen": gc.get_freeze_count() > 0}))
"""
    assert in_fresh_interpreter(code, in_lambda=True) == {"after": True, "frozen": True}
