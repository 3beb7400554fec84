"""The watchdog reads an alarm's classic notification, as an SNS topic delivers it to Lambda, like the event."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.gating.watchdog.flow import run
from functions.gating.watchdog.plan import AlarmChange, alarm_change_of, alarm_change_of_sns
from tests.support.gating import PIPELINE, GatingSandbox, gating, web_app_gate

VARIANTS = Path("tests/events/variants")


def sample(name: str) -> dict[str, Any]:
    return dict(json.loads((VARIANTS / name).read_text()))


SNS_5XX = sample("cloudwatch-alarm-sns-notification-web-app-5xx.json")
EVENT_5XX = sample("cloudwatch-alarm-state-change-web-app-5xx.json")
AT = datetime(2026, 3, 10, 10, 5, 0, 401000, tzinfo=UTC)


def with_message(event: dict[str, Any], message: Any) -> dict[str, Any]:
    """`event` with another SNS message: a dict is sent as JSON, anything else as it is."""
    changed = copy.deepcopy(event)
    changed["Records"][0]["Sns"]["Message"] = json.dumps(message) if isinstance(message, dict) else message
    return changed


def message_of(event: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(event["Records"][0]["Sns"]["Message"]))


@pytest.mark.parametrize(
    ("name", "alarm", "state"),
    [
        ("cloudwatch-alarm-sns-notification-web-app-5xx.json", "web-app-5xx", "ALARM"),
        ("cloudwatch-alarm-sns-notification-web-app-5xx-ok.json", "web-app-5xx", "OK"),
        ("cloudwatch-alarm-sns-notification-web-app-error-rate-metric-math.json", "web-app-error-rate", "ALARM"),
        ("cloudwatch-alarm-sns-notification-web-app-health-composite.json", "web-app-health", "ALARM"),
    ],
)
def test_metric_metric_math_and_composite_notifications_are_read(name: str, alarm: str, state: str) -> None:
    event = sample(name)
    change = alarm_change_of(event)
    assert change is not None
    assert (change.name, change.state, change.region) == (alarm, state, "us-east-1")
    assert change.reason == message_of(event)["NewStateReason"]


def test_a_notification_is_the_same_change_as_the_eventbridge_event() -> None:
    reason = EVENT_5XX["detail"]["state"]["reason"]
    account = EVENT_5XX["account"]  # the SNS notification says it in its AlarmArn
    expected = AlarmChange(name="web-app-5xx", state="ALARM", reason=reason, at=AT, region="us-east-1", account=account)
    assert alarm_change_of_sns(SNS_5XX) == alarm_change_of(EVENT_5XX) == expected


def test_without_a_state_change_time_the_delivery_time_stands_in() -> None:
    message = message_of(SNS_5XX)
    del message["StateChangeTime"]
    change = alarm_change_of_sns(with_message(SNS_5XX, message))
    assert change is not None
    assert change.at == datetime(2026, 3, 10, 10, 5, 0, 512000, tzinfo=UTC)


def test_without_an_alarm_arn_the_region_is_the_topics() -> None:
    message = message_of(SNS_5XX)
    del message["AlarmArn"]
    event = with_message(SNS_5XX, message)
    event["Records"][0]["Sns"]["TopicArn"] = "arn:aws:sns:eu-west-3:123456789012:alarms"
    change = alarm_change_of_sns(event)
    assert change is not None
    assert change.region == "eu-west-3"


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"Records": []},
        {"Records": [{"EventSource": "aws:sqs", "body": SNS_5XX["Records"][0]["Sns"]["Message"]}]},
        {"Records": [{"EventSource": "aws:sns"}]},
        with_message(SNS_5XX, "Deploy finished"),
        with_message(SNS_5XX, None),
        with_message(SNS_5XX, {"default": "not an alarm"}),
        with_message(SNS_5XX, {"AlarmName": "web-app-5xx"}),
        EVENT_5XX | {"detail-type": "CloudWatch Alarm Configuration Change"},
    ],
    ids=[
        "empty",
        "no-records",
        "sqs",
        "no-sns",
        "text-message",
        "no-message",
        "other-json",
        "no-state",
        "other-eventbridge",
    ],
)
def test_anything_else_is_not_an_alarm_change(event: dict[str, Any]) -> None:
    assert alarm_change_of(event) is None


def test_an_unparseable_time_is_not_an_alarm_change() -> None:
    message = message_of(SNS_5XX) | {"StateChangeTime": "soon"}
    event = with_message(SNS_5XX, message)
    del event["Records"][0]["Sns"]["Timestamp"]
    assert alarm_change_of_sns(event) is None


@pytest.fixture
def estate(sandbox: GatingSandbox) -> GatingSandbox:
    sandbox.create_pipeline()
    sandbox.metric_alarm("web-app-5xx")
    return sandbox.live()


def test_the_watchdog_acts_on_a_notification_as_on_the_event(estate: GatingSandbox) -> None:
    previous, release = estate.start(), estate.start()
    for execution, minutes in ((previous, 120), (release, 10)):
        estate.advance(execution, "Deploy", "Succeeded", at=estate.clock.now - timedelta(minutes=minutes))
    policy = gating(web_app_gate(watchdog={"alarms": ["web-app-5xx"]}))
    estate.metric_alarm("web-app-5xx", "ALARM")  # as DescribeAlarms confirms it
    result = run(SNS_5XX, estate.runtime, policy)
    assert result["status"] == "handled"
    [stage] = result["stages"]
    assert (stage["outcome"], stage["target"]) == ("rolled-back", previous)
    listed = estate.client("codepipeline").list_pipeline_executions(pipelineName=PIPELINE)
    assert [e["executionType"] for e in listed["pipelineExecutionSummaries"]].count("ROLLBACK") == 1


def test_a_notification_of_an_alarm_back_to_ok_is_ignored(estate: GatingSandbox) -> None:
    policy = gating(web_app_gate(watchdog={"alarms": ["web-app-5xx"]}))
    result = run(sample("cloudwatch-alarm-sns-notification-web-app-5xx-ok.json"), estate.runtime, policy)
    assert result == {"status": "ignored", "reason": "web-app-5xx went to OK, not ALARM", "changed": False}
