"""What a table row says: the IAM action an operation needs, the resources its call names, the context AWS adds.

A row is read from the operation's entry in the Service Authorization Reference (SAR): an action whose
row lists no resource type, or a call that names no resource, is authorized on "*". What AWS documents
beyond the SAR row (a second action, a key behind the resource) is an `Also` with its source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from moto.core.exceptions import ServiceException
from moto.utilities.utils import get_partition
from werkzeug.exceptions import HTTPException

from sandbox.iam.model import Call, IamRequest

# What moto raises for a resource it does not hold (its two error bases): such a resource has no tags.
MOTO_ERRORS = (ServiceException, HTTPException)
Context = Mapping[str, str | Sequence[str]]
SAR = "https://docs.aws.amazon.com/service-authorization/latest/reference/"
# A request that names no resource is authorized on "*".
NO_RESOURCE = SAR + "reference_policies_elements_resource.html"


def everything(call: Call) -> Sequence[str]:
    """The action has no resource type in its SAR row, or the call names none: "*"."""
    return ("*",)


def no_context(call: Call, resource: str) -> Context:
    return {}


@dataclass(frozen=True)
class Also:
    """An authorization AWS makes for the call beyond its own action's, documented at `source`."""

    requests: Callable[[Call], Sequence[IamRequest]]
    source: str


@dataclass(frozen=True)
class Row:
    """One operation: its action, on each resource the call names, with the context AWS builds for it.

    An operation with no action of its own (`action` None) is authorized by its `also` requests alone.
    """

    action: str | None
    resources: Callable[[Call], Sequence[str]] = everything
    context: Callable[[Call, str], Context] = no_context
    also: Sequence[Also] = field(default_factory=tuple)

    def requests(self, call: Call) -> list[IamRequest]:
        own = (
            [IamRequest(self.action, arn, self.context(call, arn)) for arn in self.resources(call)]
            if self.action
            else []
        )
        return own + [request for extra in self.also for request in extra.requests(call)]


Table = Mapping[str, Row]


def arn(call: Call, service: str, resource: str, *, account: bool | str = True, region: bool = True) -> str:
    """An ARN in the call's partition, region and account (another account when named; some ARNs have none)."""
    owner = account if isinstance(account, str) else call.account if account else ""
    return f"arn:{get_partition(call.region)}:{service}:{call.region if region else ''}:{owner}:{resource}"


def resource_tags(tags: Mapping[str, str], service: str | None = None) -> dict[str, str]:
    """aws:ResourceTag/<key> for the resource's current tags, and <service>:ResourceTag/<key> too for a service
    whose resource types the SAR lists with their own alias of the key (ec2, autoscaling, ecs, ecr)."""
    prefixes = ("aws", service) if service else ("aws",)
    return {f"{prefix}:ResourceTag/{key}": value for prefix in prefixes for key, value in tags.items()}


def request_tags(tags: Mapping[str, str]) -> dict[str, str | Sequence[str]]:
    """aws:RequestTag/<key> and aws:TagKeys for the tags a call sends."""
    found: dict[str, str | Sequence[str]] = {f"aws:RequestTag/{key}": value for key, value in tags.items()}
    found["aws:TagKeys"] = sorted(tags)
    return found


def pairs(tags: Sequence[Mapping[str, Any]] | None, key: str = "Key", value: str = "Value") -> dict[str, str]:
    """A list of {Key, Value} (or {key, value}) as a dict."""
    return {str(tag[key]): str(tag.get(value, "")) for tag in tags or ()}
