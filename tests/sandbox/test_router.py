from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from sandbox import router
from sandbox.router import scheduled_rules
from tests.support.aws import fake_aws

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for _ in fake_aws(monkeypatch):
        yield boto3.client("events", region_name="us-east-1")


def test_scheduled_rules_list_enabled_schedules_with_their_targets(events: Any) -> None:
    events.put_rule(Name="nightly", ScheduleExpression="cron(0 22 * * ? *)", State="ENABLED")
    events.put_targets(Rule="nightly", Targets=[{"Id": "cleanup", "Arn": ARN + "cleanup", "Input": "{}"}])
    events.put_rule(Name="paused", ScheduleExpression="rate(5 minutes)", State="DISABLED")
    events.put_rule(Name="patterned", EventPattern=json.dumps({"source": ["deckhand.test"]}))
    assert scheduled_rules(events) == [
        ("nightly", "cron(0 22 * * ? *)", [{"Id": "cleanup", "Arn": ARN + "cleanup", "Input": "{}"}])
    ]


def test_many_scheduled_rules_are_paginated(events: Any) -> None:
    for number in range(12):
        events.put_rule(Name=f"rule-{number:02d}", ScheduleExpression="rate(5 minutes)", State="ENABLED")
    original = events.list_rules

    def small_pages(**request: Any) -> Any:
        return original(**request, Limit=5)

    events.list_rules = small_pages
    assert [name for name, _, _ in scheduled_rules(events)] == [f"rule-{n:02d}" for n in range(12)]


def test_lambda_function_names_come_from_function_arns_only() -> None:
    assert router.lambda_function_name(ARN + "gate:live") == "gate"
    assert router.lambda_function_name(ARN + "gate") == "gate"
    assert router.lambda_function_name("arn:aws:states:us-east-1:123456789012:stateMachine:fanout") is None
