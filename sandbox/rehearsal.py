"""What several scenario modules share: an alarm's state set as CloudWatch sets it, and a redeployed configuration."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .demo import Demo
from .deployed import Fired, fired_by, resolve_function, server_route
from .gaps.cloudwatch import STATE_ROUTE


def set_alarm(demo: Demo, name: str, state: str, reason: str) -> list[Fired]:
    """SetAlarmState as CloudWatch does it, in the server: on a change of state, the state change event through the
    deployed rules (each function target run to its answer, returned) and the alarm's SNS actions."""
    request = {"AlarmName": name, "StateValue": state, "StateReason": reason}
    return fired_by(server_route(demo.endpoint, STATE_ROUTE, request))


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
