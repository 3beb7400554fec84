"""CloudWatch Logs: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html"""

from __future__ import annotations

from collections.abc import Sequence

from moto.logs.models import logs_backends

from sandbox.iam.actions.rows import Context, Row, Table, arn, request_tags, resource_tags
from sandbox.iam.model import Call


def group(call: Call) -> Sequence[str]:
    return (arn(call, "logs", f"log-group:{call.params['logGroupName']}"),)


def named(call: Call) -> Sequence[str]:
    return (call.params["resourceArn"],)


def tags(call: Call, resource: str) -> Context:
    """The group's tags; moto keys them by the group's ARN, which ends with `:*`."""
    name = resource.split(":log-group:", 1)[-1].removesuffix(":*")
    backend = logs_backends[call.account][call.region]
    found = backend.groups.get(name)
    return resource_tags(backend.list_tags_for_resource(found.arn)) if found else {}


def tagging(call: Call, resource: str) -> Context:
    return {**tags(call, resource), **request_tags(call.params.get("tags") or {})}


TABLE: Table = {
    "DescribeLogGroups": Row("logs:DescribeLogGroups"),
    "DescribeLogStreams": Row("logs:DescribeLogStreams", group, tags),
    "PutRetentionPolicy": Row("logs:PutRetentionPolicy", group, tags),
    "DeleteLogGroup": Row("logs:DeleteLogGroup", group, tags),
    "ListTagsLogGroup": Row("logs:ListTagsLogGroup", group, tags),
    "ListTagsForResource": Row("logs:ListTagsForResource", named, tags),
    "TagResource": Row("logs:TagResource", named, tagging),
}
