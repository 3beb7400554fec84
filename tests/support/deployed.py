"""What the stack gives every function, in a moto account: audit table, topic, switch parameters."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from functions.shared.runtime import Runtime
from functions.shared.settings import Settings
from functions.shared.switches import SWITCH_NAMES, SwitchState, parameter_name
from tests.support.aws import make_audit_table

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
PATH = "/deckhand/switches"


@dataclass
class Deployed:
    runtime: Runtime
    queue_url: str

    def parameters(self) -> dict[str, dict[str, Any]]:
        found = boto3.client("ssm").get_parameters_by_path(Path=PATH)["Parameters"]
        return {p["Name"].rsplit("/", 1)[1]: json.loads(p["Value"]) for p in found}

    def audit_items(self) -> list[dict[str, Any]]:
        return boto3.client("dynamodb").scan(TableName=self.runtime.settings.audit_table)["Items"]

    def notifications(self) -> list[dict[str, str]]:
        sqs = boto3.client("sqs")
        messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]


def deploy() -> Deployed:
    """Call inside a moto account (the `aws` fixture)."""
    table = make_audit_table()
    sns = boto3.client("sns")
    topic_arn = sns.create_topic(Name="deckhand-notifications")["TopicArn"]
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    ssm = boto3.client("ssm")
    for name in SWITCH_NAMES:
        ssm.put_parameter(
            Name=parameter_name(PATH, name), Value=json.dumps(SwitchState(name=name).document()), Type="String"
        )
    settings = Settings(
        name_prefix="deckhand",
        audit_table=table,
        topic_arn=topic_arn,
        switches_path=PATH,
        default_dry_run=True,
        audit_retention_days=30,
        switch_cache_seconds=30,
        switch_max_hours=336,
        protect_tag="deckhand:protect",
    )
    return Deployed(runtime=Runtime.build(settings, clock=lambda: NOW), queue_url=queue_url)
