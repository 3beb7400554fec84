"""What several scenario modules share: alarm state changes as AWS emits them, and a redeployed configuration."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore.session

from .demo import Demo
from .deployed import resolve_function, wiring
from .gaps.cloudwatch import alarm_state_change
from .iam import deliveries
from .output import say

# The alarm's actions CloudWatch runs when it enters each state (DescribeAlarms fields).
ACTIONS_FOR_STATE = {"ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}


def set_alarm(demo: Demo, name: str, state: str, reason: str) -> dict[str, Any]:
    """Set the alarm's state, run its SNS actions as CloudWatch would, and return the state change event AWS emits."""
    event = alarm_state_change(demo.client("cloudwatch"), name, state, reason, datetime.now(UTC))
    run_alarm_actions(demo, event)
    return event


def run_alarm_actions(demo: Demo, event: dict[str, Any]) -> list[str]:
    """Publish the alarm's notification to each topic its new state names, once CloudWatch may: the topics reached.

    CloudWatch acts on a transition only, and only while the alarm's actions are enabled. It publishes as the
    service principal, so the topic policy (and the key policy of an encrypted topic) must let it: the sandbox
    asks the same delivery check as at deploy, and a refused topic gets nothing, as in AWS.
    """
    detail = event["detail"]
    state, before = detail["state"]["value"], detail["previousState"]["value"]
    found = demo.client("cloudwatch").describe_alarms(
        AlarmNames=[detail["alarmName"]], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    alarm = next(iter(found["MetricAlarms"] + found["CompositeAlarms"]), None)
    if alarm is None or state == before or not alarm.get("ActionsEnabled", True):
        return []
    reached = []
    for topic in [a for a in alarm.get(ACTIONS_FOR_STATE[state], []) if a.startswith("arn:aws:sns:")]:
        delivery = wiring(demo.endpoint).alarm_to_topic(alarm["AlarmArn"], topic)
        (refusal,) = deliveries.ask(demo.endpoint, [delivery], phase="delivery")
        if refusal is not None:
            say(f"  not delivered: {refusal.line()}")
            continue
        demo.client("sns").publish(
            TopicArn=topic,
            Subject=f'{state}: "{alarm["AlarmName"]}" in {region_name(event["region"])}'[:100],
            Message=json.dumps(
                {
                    "AlarmName": alarm["AlarmName"],
                    "AlarmDescription": alarm.get("AlarmDescription"),
                    "AWSAccountId": event["account"],
                    "NewStateValue": state,
                    "NewStateReason": detail["state"].get("reason", ""),
                    "StateChangeTime": event["time"],
                    "Region": region_name(event["region"]),
                    "AlarmArn": alarm["AlarmArn"],
                    "OldStateValue": before,
                }
            ),
        )
        reached.append(topic)
    return reached


@cache
def region_name(region: str) -> str:
    """'US East (N. Virginia)': how CloudWatch names the region in a notification, from botocore's endpoint data."""
    for partition in botocore.session.get_session().get_data("endpoints")["partitions"]:
        if region in partition["regions"]:
            return str(partition["regions"][region]["description"])
    return region


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
