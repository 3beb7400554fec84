"""What `sandbox tick` reads of the deployed EventBridge rules: the scheduled ones and their Lambda targets.

Every other event is routed by the server's bus (sandbox.gaps.bus)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from sandbox.gaps.events import ENABLED

LAMBDA_ARN = re.compile(r"^arn:aws[\w-]*:lambda:[^:]+:\d{12}:function:(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?$")


def scheduled_rules(events_client: Any) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(rule name, schedule expression, targets) for each enabled scheduled rule of the default bus."""
    return [
        (rule["Name"], rule["ScheduleExpression"], list(_targets(events_client, rule["Name"])))
        for rule in sorted(_rules(events_client), key=lambda r: str(r["Name"]))
        if rule.get("State") in ENABLED and rule.get("ScheduleExpression")
    ]


def lambda_function_name(arn: str) -> str | None:
    """`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:alias]` -> NAME; None for other targets."""
    matched = LAMBDA_ARN.match(arn)
    return matched.group("name") if matched else None


def _rules(events_client: Any) -> Iterator[dict[str, Any]]:
    request: dict[str, Any] = {"EventBusName": "default"}
    while True:
        page = events_client.list_rules(**request)
        yield from page.get("Rules", [])
        if not page.get("NextToken"):
            return
        request["NextToken"] = page["NextToken"]


def _targets(events_client: Any, rule_name: str) -> Iterator[dict[str, Any]]:
    request: dict[str, Any] = {"Rule": rule_name, "EventBusName": "default"}
    while True:
        page = events_client.list_targets_by_rule(**request)
        yield from page.get("Targets", [])
        if not page.get("NextToken"):
            return
        request["NextToken"] = page["NextToken"]
