"""What several scenario modules share: alarm state changes as AWS emits them, and a redeployed configuration."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from .cli import Demo, resolve_function


def set_alarm(demo: Demo, name: str, state: str, reason: str) -> dict[str, Any]:
    """Set the alarm's state and return the `CloudWatch Alarm State Change` event AWS would emit."""
    from . import gaps  # noqa: PLC0415 - moto's models load only for the scenarios that need them

    return gaps.alarm_state_change(demo.client("cloudwatch"), name, state, reason, datetime.now(UTC))


@contextlib.contextmanager
def redeployed(demo: Demo, services: tuple[str, ...], **variables: str) -> Iterator[None]:
    """For the block, the deployed functions as a redeploy of an edited policy would leave them.

    Only the named environment variables change (UpdateFunctionConfiguration); they are put back after.
    """
    lambda_client = demo.client("lambda")
    saved: dict[str, dict[str, str]] = {}
    for service in services:
        name = resolve_function(service, demo.endpoint)
        current = dict(lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"])
        saved[name] = current
        lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": current | variables})
        demo.functions.loaded.pop(name, None)
    try:
        yield
    finally:
        for name, before in saved.items():
            lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": before})
            demo.functions.loaded.pop(name, None)
