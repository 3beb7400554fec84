"""Amazon SQS: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsqs.html"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlparse

from moto.sqs.models import sqs_backends

from sandbox.iam.actions import kms
from sandbox.iam.actions.rows import Also, Context, Row, Table, arn, resource_tags
from sandbox.iam.model import Call, IamRequest


def _account_and_name(call: Call) -> tuple[str, str]:
    """A queue URL's path is /ACCOUNT/NAME."""
    account, _, name = urlparse(str(call.params["QueueUrl"])).path.strip("/").partition("/")
    return account, name


def queue(call: Call) -> Sequence[str]:
    account, name = _account_and_name(call)
    return (arn(call, "sqs", name, account=account),)


def tags(call: Call, resource: str) -> Context:
    account, name = _account_and_name(call)
    found = sqs_backends[account][call.region].queues.get(name)
    return resource_tags(found.tags) if found else {}


def queue_key(call: Call) -> Sequence[IamRequest]:
    """A producer to a queue encrypted with a customer managed key needs its data key and decrypt."""
    account, name = _account_and_name(call)
    found = sqs_backends[account][call.region].queues.get(name)
    key = getattr(found, "kms_master_key_id", None) if found else None
    # Its encryption context names the queue (SQS developer guide, "Encryption context").
    return kms.via(call, "sqs", key, ("kms:GenerateDataKey", "kms:Decrypt"), {"aws:sqs:arn": queue(call)[0]})


TABLE: Table = {
    "SendMessage": Row(
        "sqs:SendMessage",
        queue,
        tags,
        also=(
            Also(
                queue_key,
                "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html",
            ),
        ),
    ),
}
