"""The sandbox's CloudWatch gaps: alarm mute rules as botocore's model has them, no mute on DescribeAlarms, and a
ThrottlingException on GetMetricData through the failure route."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.gating import put_5xx_alarm

Client = Callable[[str], Any]


@pytest.fixture(scope="module")
def region() -> str:
    return "eu-north-1"  # moto's backends are process-wide: keep to a region of this module's own


def at(moment: datetime) -> str:
    return f"at({moment:%Y-%m-%dT%H:%M})"


def put_rule(cloudwatch: Any, name: str, expression: str, duration: str, alarms: list[str], **extra: Any) -> None:
    cloudwatch.put_alarm_mute_rule(
        Name=name,
        Rule={"Schedule": {"Expression": expression, "Duration": duration}},
        MuteTargets={"AlarmNames": alarms},
        **extra,
    )


def test_mute_rules_have_the_status_their_schedule_gives_now(client: Client) -> None:
    cloudwatch = client("cloudwatch")
    now = datetime.now(UTC)
    put_5xx_alarm(cloudwatch, "checkout-5xx")
    put_rule(cloudwatch, "now", at(now - timedelta(minutes=5)), "PT1H", ["checkout-5xx"])
    put_rule(cloudwatch, "later", at(now + timedelta(days=1)), "PT1H", ["checkout-5xx"])
    put_rule(cloudwatch, "over", at(now - timedelta(hours=3)), "PT1H", ["checkout-5xx"])
    put_rule(cloudwatch, "daily", "cron(* * * * *)", "PT10M", ["other"])
    put_rule(cloudwatch, "expired", "cron(* * * * *)", "PT10M", ["other"], ExpireDate=now - timedelta(minutes=1))

    listed = cloudwatch.list_alarm_mute_rules()["AlarmMuteRuleSummaries"]
    status = {summary["AlarmMuteRuleArn"].rsplit(":", 1)[1]: summary["Status"] for summary in listed}
    assert status == {
        "now": "ACTIVE",
        "later": "SCHEDULED",
        "over": "EXPIRED",
        "daily": "ACTIVE",
        "expired": "EXPIRED",
    }
    active = cloudwatch.list_alarm_mute_rules(AlarmName="checkout-5xx", Statuses=["ACTIVE"])
    [only] = active["AlarmMuteRuleSummaries"]
    assert only["AlarmMuteRuleArn"].endswith(":alarm-mute-rule:now")

    rule = cloudwatch.get_alarm_mute_rule(AlarmMuteRuleName="now")
    assert (rule["Status"], rule["MuteTargets"], rule["Rule"]["Schedule"]["Duration"]) == (
        "ACTIVE",
        {"AlarmNames": ["checkout-5xx"]},
        "PT1H",
    )
    with pytest.raises(ClientError) as missing:
        cloudwatch.get_alarm_mute_rule(AlarmMuteRuleName="nope")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"

    cloudwatch.delete_alarm_mute_rule(AlarmMuteRuleName="now")
    assert not cloudwatch.list_alarm_mute_rules(AlarmName="checkout-5xx", Statuses=["ACTIVE"])["AlarmMuteRuleSummaries"]


def test_describe_alarms_says_nothing_of_mutes(client: Client) -> None:
    """botocore's MetricAlarm has no mute field: the sandbox adds none, even for a muted alarm."""
    cloudwatch = client("cloudwatch")
    put_5xx_alarm(cloudwatch, "orders-5xx")
    put_rule(cloudwatch, "orders", at(datetime.now(UTC) - timedelta(minutes=1)), "PT1H", ["orders-5xx"])
    [alarm] = cloudwatch.describe_alarms(AlarmNames=["orders-5xx"])["MetricAlarms"]
    assert not {key for key in alarm if "mute" in key.lower()}


def test_a_schedule_cloudwatch_would_refuse_is_refused(client: Client) -> None:
    with pytest.raises(ClientError) as refused:
        put_rule(client("cloudwatch"), "bad", "rate(5 minutes)", "PT1H", ["x"])
    assert refused.value.response["Error"]["Code"] == "ValidationError"


def test_get_metric_data_throttles_through_the_failure_route(endpoint: str, region: str) -> None:
    body = {"action": "GetMetricData", "id": "throttled-metric", "code": "ThrottlingException", "status": 400}
    request = urllib.request.Request(f"{endpoint}/_sandbox/failures", data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200

    cloudwatch = boto3.client(
        "cloudwatch",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )
    query = {
        "Id": "q",
        "MetricStat": {
            "Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": "throttled-metric"},
            "Period": 60,
            "Stat": "Sum",
        },
    }
    now = datetime.now(UTC)
    window = {"StartTime": now - timedelta(hours=1), "EndTime": now}
    with pytest.raises(ClientError) as throttled:
        cloudwatch.get_metric_data(MetricDataQueries=[query], **window)
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    assert cloudwatch.get_metric_data(MetricDataQueries=[query], **window)["MetricDataResults"][0]["Id"] == "q"
