"""Amazon EC2 Auto Scaling: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2autoscaling.html"""

from __future__ import annotations

from collections.abc import Sequence

from moto.autoscaling.models import autoscaling_backends

from sandbox.iam.actions.rows import Context, Row, Table, arn, pairs, resource_tags
from sandbox.iam.model import Call


def group(call: Call) -> Sequence[str]:
    """The group's ARN carries the id AWS gave it: read from moto, `*` for a group it does not hold."""
    name = call.params["AutoScalingGroupName"]
    found = autoscaling_backends[call.account][call.region].autoscaling_groups.get(name)
    return (found.arn if found else arn(call, "autoscaling", f"autoScalingGroup:*:autoScalingGroupName/{name}"),)


def tags(call: Call, resource: str) -> Context:
    found = autoscaling_backends[call.account][call.region].autoscaling_groups.get(call.params["AutoScalingGroupName"])
    return resource_tags(pairs(found.tags), "autoscaling") if found else {}


def sizes(call: Call, resource: str) -> Context:
    """UpdateAutoScalingGroup's own keys for the sizes it sets."""
    found = dict(tags(call, resource))
    for member, key in (("MinSize", "autoscaling:MinSize"), ("MaxSize", "autoscaling:MaxSize")):
        if member in call.params:
            found[key] = str(call.params[member])
    return found


TABLE: Table = {
    "DescribeAutoScalingGroups": Row("autoscaling:DescribeAutoScalingGroups"),
    "DescribeInstanceRefreshes": Row("autoscaling:DescribeInstanceRefreshes"),
    "DescribeLaunchConfigurations": Row("autoscaling:DescribeLaunchConfigurations"),
    "UpdateAutoScalingGroup": Row("autoscaling:UpdateAutoScalingGroup", group, sizes),
    "SuspendProcesses": Row("autoscaling:SuspendProcesses", group, tags),
    "ResumeProcesses": Row("autoscaling:ResumeProcesses", group, tags),
}
