"""cdk-nag acknowledgements of IAM wildcards, each finding id built one way: as cdk-nag names it.

AwsSolutions-IAM5 reports each wildcard of a statement as `AwsSolutions-IAM5[Action::<action>]` or
`AwsSolutions-IAM5[Resource::<resource>]`, the resource with its intrinsics written `<AWS::Partition>`,
`<Logical.Arn>`..., so an acknowledgement names the resource exactly as the stack resolves it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_cdk import Acknowledgment, Stack
from constructs import IConstruct

WILDCARD_RULE = "AwsSolutions-IAM5"

# Every function's role holds X-Ray's writes on "*" (active tracing), the first reason of its Resource::* finding.
X_RAY_REASON = "X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions"


def wildcard_action(action: str, reason: str) -> Acknowledgment:
    return Acknowledgment(id=f"{WILDCARD_RULE}[Action::{action}]", reason=reason)


def wildcard_resource(scope: IConstruct, resource: str, reason: str) -> Acknowledgment:
    """A wildcard resource of the scope's stack, tokens and all (`*`, an ARN, `${function.arn}:*`)."""
    return Acknowledgment(id=f"{WILDCARD_RULE}[Resource::{nag_name(Stack.of(scope), resource)}]", reason=reason)


def any_resource(scope: IConstruct, reason: str) -> Acknowledgment:
    """The statements on "*": actions that support no resource-level permissions, or name no resource."""
    return wildcard_resource(scope, "*", reason)


def regional_wildcard(scope: IConstruct, service: str, resource: str, reason: str) -> Acknowledgment:
    """A wildcard in an ARN of the scope's stack's partition, region and account."""
    stack = Stack.of(scope)
    arn = f"arn:{stack.partition}:{service}:{stack.region}:{stack.account}:{resource}"
    return wildcard_resource(scope, arn, reason)


def flattened(value: Any, reference: Callable[[str], str], other: Callable[[Any], str]) -> str:
    """A resolved template value as text: Fn::Join joined, each Ref and GetAtt (Logical.Attribute) written by
    `reference`, any other value by `other`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(flattened(part, reference, other) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return reference(str(value["Ref"]))
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return reference(".".join(value["Fn::GetAtt"]))
    return other(value)


def nag_name(stack: Stack, value: str) -> str:
    """A resource as cdk-nag names it in a finding: intrinsics written <AWS::Partition>, <Logical.Arn>..."""

    def unnamed(part: Any) -> str:
        raise ValueError(f"cannot name {part!r} as cdk-nag does")

    return flattened(stack.resolve(value), lambda name: f"<{name}>", unnamed)
