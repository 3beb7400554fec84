from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from sandbox import router
from sandbox.gaps.events import json_path, render_template, target_payload
from sandbox.router import Route, route, scheduled_rules
from tests.support.aws import fake_aws

SHARED_EVENTS = Path(__file__).parents[2].parent / "shared/events"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def event(**detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "Deckhand Test",
        "source": "deckhand.test",
        "account": "123456789012",
        "time": "2026-11-21T12:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-1"],
        "detail": detail,
    }


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for _ in fake_aws(monkeypatch):
        yield boto3.client("events", region_name="us-east-1")


def rule(events: Any, name: str, pattern: dict[str, Any], *targets: dict[str, Any], enabled: bool = True) -> None:
    events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED" if enabled else "DISABLED")
    events.put_targets(Rule=name, Targets=list(targets) or [{"Id": "t", "Arn": ARN + name}])


def routed(events: Any, sample: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(r.rule_name, r.target_id, r.function_name) for r in route(sample, events_client=events)]


@pytest.mark.parametrize(
    ("pattern", "matching", "other"),
    [
        ({"detail": {"pipeline": [{"prefix": "orders-"}]}}, {"pipeline": "orders-api"}, {"pipeline": "billing"}),
        ({"detail": {"state": [{"anything-but": ["SUCCEEDED"]}]}}, {"state": "FAILED"}, {"state": "SUCCEEDED"}),
        ({"detail": {"errors": [{"numeric": [">", 0, "<=", 5]}]}}, {"errors": 3}, {"errors": 9}),
        ({"detail": {"token": [{"exists": True}]}}, {"token": "abc"}, {"other": 1}),
        ({"detail": {"token": [{"exists": False}]}}, {"other": 1}, {"token": "abc"}),
    ],
    ids=["prefix", "anything-but", "numeric", "exists", "not-exists"],
)
def test_content_filters_route_matching_events_only(
    events: Any, pattern: dict[str, Any], matching: dict[str, Any], other: dict[str, Any]
) -> None:
    rule(events, "filtered", {"source": ["deckhand.test"], **pattern})
    assert routed(events, event(**matching)) == [("filtered", "t", "filtered")]
    assert routed(events, event(**other)) == []


def test_an_event_no_rule_matches_routes_nowhere(events: Any) -> None:
    rule(events, "other-source", {"source": ["aws.codepipeline"]})
    assert route(event(), events_client=events) == []


def test_several_rules_and_targets_are_routed_in_name_order(events: Any) -> None:
    rule(events, "zeta", {"source": ["deckhand.test"]})
    rule(
        events,
        "alpha",
        {"detail-type": ["Deckhand Test"]},
        {"Id": "second", "Arn": ARN + "capacity:live"},
        {"Id": "first", "Arn": ARN + "gate"},
        {"Id": "queue", "Arn": "arn:aws:sqs:us-east-1:123456789012:not-a-function"},
    )
    assert routed(events, event()) == [
        ("alpha", "first", "gate"),
        ("alpha", "second", "capacity"),
        ("zeta", "t", "zeta"),
    ]


def test_a_disabled_rule_is_ignored(events: Any) -> None:
    rule(events, "off", {"source": ["deckhand.test"]}, enabled=False)
    rule(events, "on", {"source": ["deckhand.test"]})
    assert routed(events, event()) == [("on", "t", "on")]


def test_payloads_follow_input_then_input_path_then_transformer(events: Any) -> None:
    rule(
        events,
        "shapes",
        {"source": ["deckhand.test"]},
        {"Id": "a-constant", "Arn": ARN + "f", "Input": '{"mode": "dry-run"}'},
        {"Id": "b-path", "Arn": ARN + "f", "InputPath": "$.detail"},
        {
            "Id": "c-transformer",
            "Arn": ARN + "f",
            "InputTransformer": {
                "InputPathsMap": {"alarm": "$.detail.alarm", "count": "$.detail.count", "first": "$.resources[0]"},
                "InputTemplate": '{"alarm": <alarm>, "count": <count>, "text": "<alarm> x<count>", '
                '"resource": <first>, "rule": <aws.events.rule-name>}',
            },
        },
        {"Id": "d-whole", "Arn": ARN + "f"},
    )
    sample = event(alarm='cpu "high"', count=3)
    payloads = {r.target_id: r.payload for r in route(sample, events_client=events)}
    assert payloads == {
        "a-constant": {"mode": "dry-run"},
        "b-path": {"alarm": 'cpu "high"', "count": 3},
        "c-transformer": {
            "alarm": 'cpu "high"',
            "count": 3,
            "text": 'cpu "high" x3',
            "resource": "arn:aws:ec2:us-east-1:123456789012:instance/i-1",
            "rule": "shapes",
        },
        "d-whole": sample,
    }


def test_a_real_codepipeline_event_reaches_the_rule_for_its_source_and_type(events: Any) -> None:
    sample = json.loads((SHARED_EVENTS / "codepipeline-action-execution-state-change.json").read_text())
    rule(
        events,
        "deploy-failed",
        {
            "source": ["aws.codepipeline"],
            "detail-type": ["CodePipeline Action Execution State Change"],
            "detail": {"state": ["FAILED"], "type": {"category": ["Deploy"]}},
        },
        {"Id": "watchdog", "Arn": ARN + "watchdog"},
    )
    rule(
        events,
        "stage-changes",
        {"source": ["aws.codepipeline"], "detail-type": ["CodePipeline Stage Execution State Change"]},
    )
    assert route(sample, events_client=events) == [
        Route("deploy-failed", "watchdog", "watchdog", sample, ARN + "watchdog")
    ]


def test_scheduled_rules_list_enabled_schedules_with_their_targets(events: Any) -> None:
    events.put_rule(Name="nightly", ScheduleExpression="cron(0 22 * * ? *)", State="ENABLED")
    events.put_targets(Rule="nightly", Targets=[{"Id": "cleanup", "Arn": ARN + "cleanup", "Input": "{}"}])
    events.put_rule(Name="paused", ScheduleExpression="rate(5 minutes)", State="DISABLED")
    rule(events, "patterned", {"source": ["deckhand.test"]})
    assert scheduled_rules(events) == [
        ("nightly", "cron(0 22 * * ? *)", [{"Id": "cleanup", "Arn": ARN + "cleanup", "Input": "{}"}])
    ]


def test_many_rules_are_paginated(events: Any) -> None:
    for number in range(12):
        rule(events, f"rule-{number:02d}", {"source": ["deckhand.test"]})
    original = events.list_rules

    def small_pages(**request: Any) -> Any:
        return original(**request, Limit=5)

    events.list_rules = small_pages
    assert [r.rule_name for r in route(event(), events_client=events)] == [f"rule-{n:02d}" for n in range(12)]


def test_json_path_reads_keys_indexes_and_quoted_keys() -> None:
    document = {"detail": {"a-b": [{"x": 1}, {"x": 2}]}}
    assert json_path(document, "$") is document
    assert json_path(document, "$.detail['a-b'][1].x") == 2
    assert json_path(document, "$.detail.missing.x") is None
    assert json_path(document, "$.detail['a-b'][5]") is None
    with pytest.raises(ValueError, match="JSONPath"):
        json_path(document, "detail")


def test_a_plain_text_template_is_delivered_as_text() -> None:
    assert render_template("Alarm <name> is <state>", {"name": "cpu", "state": "ALARM"}) == "Alarm cpu is ALARM"
    assert render_template('"Alarm <name> fired"', {"name": "cpu"}) == "Alarm cpu fired"


def test_a_transformer_placeholder_for_a_missing_path_becomes_null() -> None:
    target = {"InputTransformer": {"InputPathsMap": {"v": "$.detail.nope"}, "InputTemplate": '{"v": <v>}'}}
    assert target_payload(target, event()) == {"v": None}


def test_lambda_function_names_come_from_function_arns_only() -> None:
    assert router.lambda_function_name(ARN + "gate:live") == "gate"
    assert router.lambda_function_name(ARN + "gate") == "gate"
    assert router.lambda_function_name("arn:aws:states:us-east-1:123456789012:stateMachine:fanout") is None
