"""What an AWS service does in the server when it delivers to a queue or a topic: authorized first, as AWS
authorizes the service principal (`sandbox.iam.deliveries`), counted where the service counts a failure, then put
through moto so the message is there."""

from __future__ import annotations

from collections.abc import Mapping

from moto.cloudwatch.models import cloudwatch_backends
from moto.kms.models import kms_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends

from sandbox.iam import deliveries, policies
from sandbox.iam.deliveries import Check, Delivery, Ledger
from sandbox.iam.policies import MotoNotFound
from sandbox.iam.simulator import Simulator


def authorized(ledger: Ledger, simulator: Simulator, delivery: Delivery) -> deliveries.Refusal | None:
    """The server's decision, counted in its ledger; a refused delivery is counted in its service's metric too."""
    request = deliveries.CheckRequest(deliveries=(delivery,), phase="delivery")
    (refusal,) = ledger.authorize(request, policies, simulator).refusals
    if refusal is not None:
        count_failure(delivery)
    return refusal


def count_failure(delivery: Delivery) -> None:
    """The service's failure metric (AWS/Events FailedInvocations by rule, ...), written where the service writes it:
    the sandbox plays the service, so it writes in AWS's reserved namespace in its place."""
    if delivery.metric is not None:
        count(delivery.metric, delivery.source)


def count(metric: deliveries.Metric, source: str) -> None:
    """One more of `metric`, in the account and region of `source` (the ARN of what the service counts for)."""
    _, _, _, region, account, _ = source.split(":", 5)
    dimensions = [{"Name": k, "Value": v} for k, v in sorted(metric.dimensions.items())]
    cloudwatch_backends[account][region].put_metric_data(
        metric.namespace,
        [{"MetricName": name, "Dimensions": dimensions, "Value": 1.0, "Unit": "Count"} for name in metric.names],
    )


def _customer_key(account: str, region: str, key_id: str | None) -> str | None:
    """The key's ARN when it is a customer managed key; None for none or an AWS managed one."""
    if not key_id:
        return None
    try:
        key = kms_backends[account][region].describe_key(key_id)
    except MotoNotFound:
        return None
    return str(key.arn) if key.key_manager == "CUSTOMER" else None


def _with_key(checks: list[Check], key: str | None) -> tuple[Check, ...]:
    first = checks[0]
    return tuple(
        checks
        + (
            [
                Check(principal=first.principal, action=a, resource=key, context=first.context)
                for a in deliveries.SEND_TO_ENCRYPTED_QUEUE
            ]
            if key
            else []
        )
    )


def _parts(arn: str) -> tuple[str, str, str]:
    """(region, account, name) of a queue or topic ARN."""
    _, _, _, region, account, name = arn.split(":", 5)
    return region, account, name


def to_topic(principal: str, topic_arn: str, context: Mapping[str, str]) -> tuple[Check, ...]:
    """sns:Publish on the topic (its policy replaces SNS's default, so the service needs its own Allow), and the
    topic's customer key when it has one (SNS developer guide, "Encryption at rest")."""
    region, account, _ = _parts(topic_arn)
    topic = sns_backends[account][region].topics.get(topic_arn)
    key = _customer_key(account, region, topic.kms_master_key_id if topic else None)
    return _with_key([Check(principal=principal, action="sns:Publish", resource=topic_arn, context=dict(context))], key)


def to_queue(principal: str, queue_arn: str, context: Mapping[str, str]) -> tuple[Check, ...]:
    """sqs:SendMessage on the queue, and its customer key when it has one (EventBridge user guide, "Amazon SQS
    permissions")."""
    region, account, name = _parts(queue_arn)
    queue = sqs_backends[account][region].queues.get(name)
    key = _customer_key(account, region, getattr(queue, "kms_master_key_id", None))
    return _with_key(
        [Check(principal=principal, action="sqs:SendMessage", resource=queue_arn, context=dict(context))], key
    )


def to_bus(rule_arn: str, bus_arn: str, role: str) -> tuple[Check, ...]:
    """A rule whose target is another account's bus: EventBridge assumes the target's role (whose trust must admit
    it for the rule), then puts the event on the bus as that role, which its identity policy and the bus's policy
    must both allow (EventBridge User Guide, "Sending and receiving events between AWS accounts"). The bus policy's
    aws:PrincipalOrgID is the role's account's organization, as moto's Organizations holds it."""
    organization = policies.organization_of(deliveries.account_of(role))
    return (
        Check(
            principal=deliveries.EVENTS,
            action="sts:AssumeRole",
            resource=role,
            context=deliveries.on_behalf_of(rule_arn),
        ),
        Check(
            principal=deliveries.session_of(role, "events"),
            action="events:PutEvents",
            resource=bus_arn,
            role=role,
            context={"aws:PrincipalOrgID": organization} if organization else {},
        ),
    )


def publish(topic_arn: str, message: str, subject: str | None = None) -> None:
    region, account, _ = _parts(topic_arn)
    sns_backends[account][region].publish(message, arn=topic_arn, subject=subject)


def send(
    queue_arn: str,
    body: str,
    *,
    group_id: str | None = None,
    deduplication_id: str | None = None,
    attributes: Mapping[str, str] | None = None,
) -> None:
    """Send `body` to the queue, with `attributes` as String message attributes."""
    region, account, name = _parts(queue_arn)
    sqs_backends[account][region].send_message(
        name,
        body,
        message_attributes={k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()},
        group_id=group_id,
        deduplication_id=deduplication_id,
    )
