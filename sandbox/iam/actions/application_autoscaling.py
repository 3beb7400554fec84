"""Application Auto Scaling: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_applicationautoscaling.html"""

from __future__ import annotations

from collections.abc import Sequence

from moto.applicationautoscaling.models import FakeScalableTarget, applicationautoscaling_backends

from sandbox.iam.actions.rows import Context, Row, Table, everything, request_tags, resource_tags
from sandbox.iam.model import Call

# Where the sandbox's Application Auto Scaling gap (sandbox.gaps.autoscaling) keeps a target's tags, as moto keeps
# none. Read here, so that the IAM map needs nothing of the gaps, which stand above it.
TAGS = "sandbox_tags"


def find(account: str, region: str, arn: str) -> FakeScalableTarget | None:
    backend = applicationautoscaling_backends[account][region]
    return next((t for by_id in backend.targets.values() for t in by_id.values() if t.arn == arn), None)


def tags_of(target: FakeScalableTarget) -> dict[str, str]:
    found: dict[str, str] = getattr(target, TAGS, {})
    return found


def scalable_target(call: Call) -> Sequence[str]:
    """The scalable target's ARN ends with an id AWS assigns at registration: read from moto.

    A first registration names no target yet, so it is authorized on "*".
    """
    p = call.params
    backend = applicationautoscaling_backends[call.account][call.region]
    found = backend.targets.get(p["ScalableDimension"], {}).get(p["ResourceId"])
    return (str(found.arn),) if found else everything(call)


def named(call: Call) -> Sequence[str]:
    return (call.params["ResourceARN"],)


def tagged(call: Call, resource: str) -> Context:
    """aws:ResourceTag/* of a registered target (kept by the sandbox's gap, moto keeps none)."""
    target = find(call.account, call.region, resource)
    return resource_tags(tags_of(target)) if target is not None else {}


def registering(call: Call, resource: str) -> Context:
    """The namespace and dimension keys, the target's tags, and the tags the call sends."""
    found: dict[str, str | Sequence[str]] = {
        "application-autoscaling:service-namespace": str(call.params["ServiceNamespace"]),
        "application-autoscaling:scalable-dimension": str(call.params["ScalableDimension"]),
    }
    sent = call.params.get("Tags")
    return {**found, **tagged(call, resource), **(request_tags(sent) if sent else {})}


TABLE: Table = {
    "DescribeScalableTargets": Row("application-autoscaling:DescribeScalableTargets"),
    "DescribeScalingActivities": Row("application-autoscaling:DescribeScalingActivities"),
    "RegisterScalableTarget": Row("application-autoscaling:RegisterScalableTarget", scalable_target, registering),
    "ListTagsForResource": Row("application-autoscaling:ListTagsForResource", named, tagged),
}
