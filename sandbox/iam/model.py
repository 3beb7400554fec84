"""The shapes the authorizer passes between its parts: an API call as the service received it, and the
IAM requests AWS evaluates for it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    """One API call, as botocore names it: `ec2` `DeleteSnapshot` with its input parameters (model-shaped)."""

    service: str  # botocore's service name: ec2, codepipeline, application-autoscaling, ...
    operation: str  # the operation's name in the service model: DeleteSnapshot
    params: Mapping[str, Any]  # the input as botocore would build it: {"SnapshotId": "snap-1"}
    account: str
    region: str


@dataclass(frozen=True)
class IamRequest:
    """One authorization AWS makes for a call: an action on a resource, with the request context."""

    action: str  # service prefix and action: ec2:DeleteSnapshot
    resource: str  # the resource ARN, or "*" when the action has no resource type or the call names none
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)


class Unmapped(LookupError):
    """A call the sandbox has no IAM mapping for: refused, so coverage never lapses silently."""

    def __init__(self, call: Call) -> None:
        self.call = call
        super().__init__(
            f"the sandbox has no IAM mapping for {call.service}:{call.operation}: "
            "add its row to its service's table in sandbox/iam/actions/, from the Service Authorization Reference"
        )
