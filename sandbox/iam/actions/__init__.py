"""One IAM table per service, in one place: the requests AWS authorizes for each API call.

Each module holds one service's table (operation -> `Row`), read from the Service Authorization
Reference, with AWS's documented special cases as data beside their source. `requests_for` is the only
way in: an operation without a row raises `Unmapped`, so the sandbox refuses it.
"""

from __future__ import annotations

from collections.abc import Mapping

from sandbox.iam.actions import (
    application_autoscaling,
    autoscaling,
    awslambda,
    cloudformation,
    cloudwatch,
    codepipeline,
    dynamodb,
    ec2,
    ecr,
    ecs,
    events,
    kms,
    logs,
    organizations,
    s3,
    scheduler,
    sns,
    sqs,
    ssm,
    stepfunctions,
    sts,
    tagging,
)
from sandbox.iam.actions.rows import Table
from sandbox.iam.model import Call, IamRequest, Unmapped

# botocore's service name -> its table
TABLES: Mapping[str, Table] = {
    "application-autoscaling": application_autoscaling.TABLE,
    "autoscaling": autoscaling.TABLE,
    "cloudformation": cloudformation.TABLE,
    "cloudwatch": cloudwatch.TABLE,
    "codepipeline": codepipeline.TABLE,
    "dynamodb": dynamodb.TABLE,
    "ec2": ec2.TABLE,
    "ecr": ecr.TABLE,
    "ecs": ecs.TABLE,
    "events": events.TABLE,
    "kms": kms.TABLE,
    "lambda": awslambda.TABLE,
    "logs": logs.TABLE,
    "organizations": organizations.TABLE,
    "resourcegroupstaggingapi": tagging.TABLE,
    "s3": s3.TABLE,
    "scheduler": scheduler.TABLE,
    "sns": sns.TABLE,
    "sqs": sqs.TABLE,
    "ssm": ssm.TABLE,
    "stepfunctions": stepfunctions.TABLE,
    "sts": sts.TABLE,
}
SERVICES = tuple(TABLES)


class Unreadable(Unmapped):
    """A call whose input lacks what its row reads (a resource name, a key): refused like an unmapped one."""

    def __init__(self, call: Call, missing: Exception) -> None:
        super().__init__(call)
        self.args = (
            f"the sandbox cannot read the IAM request of {call.service}:{call.operation} from its input "
            f"({type(missing).__name__}: {missing}): refused",
        )


def requests_for(call: Call) -> list[IamRequest]:
    """Every IAM request AWS makes of the call, each with the global keys a request over TLS carries."""
    row = TABLES.get(call.service, {}).get(call.operation)
    if row is None:
        raise Unmapped(call)
    try:
        found = row.requests(call)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as missing:
        raise Unreadable(call, missing) from missing
    common = {"aws:SecureTransport": "true", "aws:RequestedRegion": call.region}
    return [IamRequest(r.action, r.resource, {**common, **r.context}) for r in found]
