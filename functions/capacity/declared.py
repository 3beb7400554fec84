"""The names the capacity stack (stacks/capacity.py) and the capacity function share, declared once for both: the
state partition, the tag that names a scalable target, and the Application Auto Scaling identity of a target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .policy import Dimension, Namespace, Target

PARTITION = "capacity/"  # the state items' key prefix: the function's role may write under it and audit/capacity/
# The operator tags each Application Auto Scaling target with the policy's name for it: the only way IAM can
# tell one scalable target from another (see stacks/capacity.py).
TARGET_TAG = "deckhand:capacity-target"

ResourceKey = Literal["cluster", "service", "group", "function", "qualifier", "resource_id"]


@dataclass(frozen=True)
class ScalableId:
    namespace: Namespace
    resource_id: str
    dimension: Dimension


def resource(target: Target, key: ResourceKey) -> str:
    """One of the resource keys the policy requires of the target's kind."""
    value = getattr(target, key)
    if value is None:
        raise ValueError(f"target {target.name!r}: an {target.kind} has no {key}")
    return str(value)


def scalable_id(target: Target) -> ScalableId:
    """The Application Auto Scaling identity a target has (or would have) when registered."""
    if target.kind == "scalable-target":
        if target.namespace is None or target.dimension is None:
            raise ValueError(f"target {target.name!r}: a scalable-target needs its namespace and dimension")
        return ScalableId(target.namespace, resource(target, "resource_id"), target.dimension)
    if target.kind == "ecs-service":
        return ScalableId("ecs", f"service/{target.cluster}/{target.service}", "ecs:service:DesiredCount")
    if target.kind == "lambda-provisioned-concurrency":
        return ScalableId(
            "lambda", f"function:{target.function}:{target.qualifier}", "lambda:function:ProvisionedConcurrency"
        )
    raise ValueError(f"target {target.name!r}: an {target.kind} has no Application Auto Scaling identity")
