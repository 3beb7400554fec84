"""CloudWatch: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html"""

from __future__ import annotations

from collections.abc import Sequence

from moto.cloudwatch.models import cloudwatch_backends

from sandbox.iam.actions.rows import Context, Row, Table, arn, everything, resource_tags
from sandbox.iam.model import Call


def alarms(call: Call) -> Sequence[str]:
    """The alarms named; without names (by prefix, state or all), every alarm: `alarm:*`.

    DescribeAlarms has resource-level permissions: a grant narrower than "*" answers metric alarms only
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html).
    """
    names = call.params.get("AlarmNames") or []
    return [arn(call, "cloudwatch", f"alarm:{name}") for name in names] or [arn(call, "cloudwatch", "alarm:*")]


def mute_rule(call: Call) -> Sequence[str]:
    """GetAlarmMuteRule names its rule; ListAlarmMuteRules names none: "*"."""
    name = call.params.get("AlarmMuteRuleName")
    return (arn(call, "cloudwatch", f"alarm-mute-rule:{name}"),) if name else everything(call)


def named(call: Call) -> Sequence[str]:
    return (call.params["ResourceARN"],)


def tags(call: Call, resource: str) -> Context:
    if resource.endswith(":alarm:*") or ":alarm:" not in resource:
        return {}
    return resource_tags(cloudwatch_backends[call.account][call.region].list_tags_for_resource(resource))


TABLE: Table = {
    "DescribeAlarms": Row("cloudwatch:DescribeAlarms", alarms, tags),
    "DescribeAlarmsForMetric": Row("cloudwatch:DescribeAlarmsForMetric"),
    "DisableAlarmActions": Row("cloudwatch:DisableAlarmActions", alarms, tags),
    "EnableAlarmActions": Row("cloudwatch:EnableAlarmActions", alarms, tags),
    # GetMetricData names metrics, not a resource (its only resource type is the optional `dataset`).
    "GetMetricData": Row("cloudwatch:GetMetricData"),
    "ListAlarmMuteRules": Row("cloudwatch:ListAlarmMuteRules", mute_rule),
    "GetAlarmMuteRule": Row("cloudwatch:GetAlarmMuteRule", mute_rule),
    "ListTagsForResource": Row("cloudwatch:ListTagsForResource", named, tags),
}
