"""Amazon SNS: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html"""

from __future__ import annotations

from collections.abc import Sequence

from moto.sns.models import sns_backends

from sandbox.iam.actions import kms
from sandbox.iam.actions.rows import MOTO_ERRORS, Also, Context, Row, Table, resource_tags
from sandbox.iam.model import Call, IamRequest


def topic(call: Call) -> Sequence[str]:
    return (str(call.params.get("TopicArn") or call.params["TargetArn"]),)


def tags(call: Call, resource: str) -> Context:
    try:
        return resource_tags(sns_backends[call.account][call.region].list_tags_for_resource(resource))
    except MOTO_ERRORS:
        return {}


def topic_key(call: Call) -> Sequence[IamRequest]:
    """Publishing to a topic encrypted with a customer managed key needs the key's data key and decrypt."""
    found = sns_backends[call.account][call.region].topics.get(topic(call)[0])
    key = found.kms_master_key_id if found else None
    # Its encryption context names the topic (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
    return kms.via(call, "sns", key, ("kms:GenerateDataKey", "kms:Decrypt"), {"aws:sns:topicArn": topic(call)[0]})


TABLE: Table = {
    "Publish": Row(
        "sns:Publish",
        topic,
        tags,
        also=(Also(topic_key, "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html"),),
    ),
}
