"""Every AWS call the capacity function makes in the handler tests' flows is granted to its role by the stack
(the example policy's, the session's one synth): a call the stack forgot fails here, not in a real account."""

from __future__ import annotations

from collections.abc import Callable
from inspect import signature
from typing import Any

import pytest
from aws_cdk.assertions import Template

from functions.shared import clients
from tests.functions.capacity import test_handler
from tests.support.template import role_statements

# botocore's service id (in the recorded event names) -> the IAM prefix, where they differ
IAM_PREFIXES = {"application-auto-scaling": "application-autoscaling", "auto-scaling": "autoscaling"}
FLOWS: list[Callable[..., None]] = [flow for name, flow in vars(test_handler).items() if name.startswith("test_")]


def iam_action(recorded: str) -> str:
    """'application-auto-scaling.RegisterScalableTarget' -> 'application-autoscaling:RegisterScalableTarget'."""
    service, _, operation = recorded.partition(".")
    return f"{IAM_PREFIXES.get(service, service)}:{operation}"


@pytest.fixture(scope="module")
def granted(template: Template) -> set[str]:
    return {action for s in role_statements(template, "deckhand-capacity") for action in s["Action"]}


@pytest.mark.parametrize("flow", FLOWS, ids=[flow.__name__.removeprefix("test_") for flow in FLOWS])
def test_every_call_of_a_handler_flow_is_granted_to_the_function(
    flow: Callable[..., None], granted: set[str], request: pytest.FixtureRequest
) -> None:
    arguments: dict[str, Any] = {name: request.getfixturevalue(name) for name in signature(flow).parameters}
    made: set[str] = set()  # apart from the world's own record, which some flows clear midway

    def record(event_name: str, **_: Any) -> None:
        made.add(iam_action(event_name.removeprefix("before-parameter-build.")))

    # the world's clients are made on first use, from this session: they carry the hook
    clients._session().events.register("before-parameter-build", record)
    flow(**arguments)

    assert made <= granted, sorted(made - granted)
