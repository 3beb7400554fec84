"""Route an EventBridge event through the deployed rules of the default bus to their Lambda targets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sandbox.gaps.events import ENABLED, event_matches, target_payload

LAMBDA_ARN = re.compile(r"^arn:aws[\w-]*:lambda:[^:]+:\d{12}:function:(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?$")


@dataclass(frozen=True)
class Route:
    rule_name: str
    target_id: str
    function_name: str
    payload: Any
    target_arn: str  # the function, or its alias or version, that EventBridge invokes


def route(event: dict[str, Any], *, events_client: Any) -> list[Route]:
    """Every Lambda target whose enabled rule matches `event`, with the payload EventBridge would deliver."""
    routes = []
    for rule in _rules(events_client):
        if rule.get("State") not in ENABLED or not rule.get("EventPattern"):
            continue
        if not event_matches(rule["EventPattern"], event):
            continue
        for target in _targets(events_client, rule["Name"]):
            name = lambda_function_name(target["Arn"])
            if name is not None:
                payload = target_payload(target, event, rule_name=rule["Name"], rule_arn=rule.get("Arn", ""))
                routes.append(Route(rule["Name"], target["Id"], name, payload, target["Arn"]))
    return sorted(routes, key=lambda r: (r.rule_name, r.target_id))


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
