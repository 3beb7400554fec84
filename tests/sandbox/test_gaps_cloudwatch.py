"""The sandbox's CloudWatch gaps: alarm mute rules as botocore's model has them, no mute on DescribeAlarms, a
ThrottlingException on GetMetricData through the failure route, and the state change event an alarm emits."""

from __future__ import annotations

import json
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox.gaps.cloudwatch import alarm_state_change
from tests.support.gating import put_5xx_alarm
from tests.support.sandbox_server import Client, sample_event

ACCOUNT = "123456789012"
REGION = "eu-north-1"  # moto's backends are process-wide: keep to a region of this module's own
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def region() -> str:
    return REGION


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


# --- alarm state changes ---------------------------------------------------------------------------------------


def test_a_metric_alarm_state_change_event(client: Client) -> None:
    cloudwatch = client("cloudwatch")
    name = f"orders-5xx-{uuid.uuid4().hex[:6]}"
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        AlarmDescription="5xx on the orders API",
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Dimensions=[{"Name": "LoadBalancer", "Value": "app/orders/1"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
    )
    event = alarm_state_change(cloudwatch, name, "ALARM", "Threshold Crossed", NOW)
    sample = sample_event("cloudwatch-alarm-state-change-metric.json")
    assert set(event) == set(sample)
    assert set(event["detail"]) == set(sample["detail"]) - {"muteDetail"}
    assert (event["account"], event["region"], event["time"]) == (ACCOUNT, REGION, "2026-11-21T12:00:00Z")
    assert event["resources"] == [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"]
    assert event["detail"]["state"] == {
        "value": "ALARM",
        "reason": "Threshold Crossed",
        "timestamp": "2026-11-21T12:00:00.000+0000",
    }
    # moto creates alarms in OK (AWS: INSUFFICIENT_DATA); the event reports whatever the alarm was in.
    assert event["detail"]["previousState"]["value"] == "OK"
    assert event["detail"]["previousState"]["reason"] == "Unchecked: Initial alarm creation"
    [metric] = event["detail"]["configuration"]["metrics"]
    assert metric["metricStat"] == {
        "metric": {
            "dimensions": {"LoadBalancer": "app/orders/1"},
            "name": "HTTPCode_Target_5XX_Count",
            "namespace": "AWS/ApplicationELB",
        },
        "period": 60,
        "stat": "Sum",
    }
    assert metric["returnData"] is True
    assert event["detail"]["configuration"]["description"] == "5xx on the orders API"
    assert cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"] == "ALARM"

    back = alarm_state_change(cloudwatch, name, "OK", "recovered", NOW + timedelta(minutes=5))
    assert (back["detail"]["previousState"]["value"], back["detail"]["previousState"]["reason"]) == (
        "ALARM",
        "Threshold Crossed",
    )


def test_a_metric_math_alarm_lists_its_queries(client: Client) -> None:
    cloudwatch = client("cloudwatch")
    name = f"error-rate-{uuid.uuid4().hex[:6]}"
    errors = {
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": "gate"}],
    }
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        EvaluationPeriods=1,
        Threshold=0.05,
        ComparisonOperator="GreaterThanThreshold",
        Metrics=[
            {"Id": "errors", "MetricStat": {"Metric": errors, "Period": 300, "Stat": "Sum"}, "ReturnData": False},
            {"Id": "rate", "Expression": "errors / 100", "Label": "error rate", "ReturnData": True},
        ],
    )
    event = alarm_state_change(cloudwatch, name, "ALARM", "burning", NOW)
    metrics = event["detail"]["configuration"]["metrics"]
    assert [m["id"] for m in metrics] == ["errors", "rate"]
    assert metrics[0]["metricStat"]["metric"]["dimensions"] == {"FunctionName": "gate"}
    assert metrics[0]["returnData"] is False
    assert metrics[1] == {"id": "rate", "expression": "errors / 100", "label": "error rate", "returnData": True}


def test_a_composite_alarm_state_change_event(client: Client) -> None:
    cloudwatch = client("cloudwatch")
    child = f"cpu-{uuid.uuid4().hex[:6]}"
    cloudwatch.put_metric_alarm(
        AlarmName=child,
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Statistic="Average",
        Period=300,
        EvaluationPeriods=1,
        Threshold=80,
        ComparisonOperator="GreaterThanThreshold",
    )
    name = f"service-{uuid.uuid4().hex[:6]}"
    rule = f"ALARM({child}) OR ALARM(network)"
    cloudwatch.put_composite_alarm(AlarmName=name, AlarmRule=rule, AlarmDescription="orders service health")
    [stored] = cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert stored["AlarmRule"] == rule
    alarm_state_change(cloudwatch, name, "INSUFFICIENT_DATA", "children missing", NOW - timedelta(hours=2))
    alarm_state_change(cloudwatch, name, "OK", "rule evaluates to OK", NOW - timedelta(hours=1))
    event = alarm_state_change(cloudwatch, name, "ALARM", f"{child} transitioned to ALARM", NOW)
    sample = sample_event("cloudwatch-alarm-state-change-composite.json")
    assert set(event) == set(sample)
    assert event["detail"]["configuration"] == {"alarmRule": rule, "description": "orders service health"}
    assert event["detail"]["previousState"]["value"] == "OK"
    assert event["detail"]["previousState"]["reason"] == "rule evaluates to OK"
    assert event["detail"]["state"]["value"] == "ALARM"
    assert event["resources"] == [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"]


def test_an_unknown_alarm_raises(client: Client) -> None:
    with pytest.raises(LookupError):
        alarm_state_change(client("cloudwatch"), "nope", "ALARM", "r", NOW)
