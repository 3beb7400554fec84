"""CloudFormation: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudformation.html"""

from __future__ import annotations

from collections.abc import Sequence

from moto.cloudformation.models import cloudformation_backends

from sandbox.iam.actions.rows import Also, Context, Row, Table, arn, everything, resource_tags
from sandbox.iam.model import Call, IamRequest


def _stack_arn(call: Call, name: str) -> str:
    """A stack's ARN ends with the id AWS gave it: read from moto, `*` for a stack it does not hold."""
    if name.startswith("arn:"):
        return name
    for stack in cloudformation_backends[call.account][call.region].stacks.values():
        if stack.name == name and stack.status != "DELETE_COMPLETE":
            return str(stack.stack_id)
    return arn(call, "cloudformation", f"stack/{name}/*")


def stack(call: Call) -> Sequence[str]:
    name = call.params.get("StackName")
    return (_stack_arn(call, name),) if name else everything(call)


def tags(call: Call, resource: str) -> Context:
    for found in cloudformation_backends[call.account][call.region].stacks.values():
        if found.stack_id == resource:
            return resource_tags(found.tags or {})
    return {}


def deleting(call: Call, resource: str) -> Context:
    """The stack's tags, and cloudformation:RoleArn, DeleteStack's own key, for the service role it names."""
    role = call.params.get("RoleARN")
    return {**tags(call, resource), **({"cloudformation:RoleArn": str(role)} if role else {})}


def list_stacks_without_a_name(call: Call) -> Sequence[IamRequest]:
    return [] if call.params.get("StackName") else [IamRequest("cloudformation:ListStacks", "*")]


def pass_service_role(call: Call) -> Sequence[IamRequest]:
    """A stack operation with a service role (RoleARN) passes it to CloudFormation."""
    role = call.params.get("RoleARN")
    return (
        [IamRequest("iam:PassRole", str(role), {"iam:PassedToService": "cloudformation.amazonaws.com"})] if role else []
    )


PASS_ROLE = Also(
    pass_service_role, "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html"
)

TABLE: Table = {
    "ListStacks": Row("cloudformation:ListStacks"),
    "ListImports": Row("cloudformation:ListImports"),
    "DescribeStacks": Row(
        "cloudformation:DescribeStacks",
        stack,
        tags,
        also=(
            # Without a StackName it describes every stack, on "*", and also needs cloudformation:ListStacks.
            Also(
                list_stacks_without_a_name,
                "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html",
            ),
        ),
    ),
    "DeleteStack": Row("cloudformation:DeleteStack", stack, deleting, also=(PASS_ROLE,)),
}
