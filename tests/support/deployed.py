"""A moto account holding what the stack gives every function: audit table, topic, switch parameters."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from functions.shared import clients
from functions.shared.runtime import Runtime
from functions.shared.settings import Settings
from functions.shared.switches import SWITCH_NAMES, SwitchState, parameter_name

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
PATH = "/deckhand/switches"


@dataclass
class Deployed:
    runtime: Runtime
    queue_url: str

    def parameters(self) -> dict[str, dict[str, object]]:
        ssm = boto3.client("ssm")
        found = ssm.get_parameters_by_path(Path=PATH)["Parameters"]
        return {p["Name"].rsplit("/", 1)[1]: json.loads(p["Value"]) for p in found}

    def audit_items(self) -> list[dict[str, object]]:
        return boto3.client("dynamodb").scan(TableName="deckhand-audit")["Items"]

    def notifications(self) -> list[dict[str, str]]:
        sqs = boto3.client("sqs")
        messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]


def deploy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    clients.reset()
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName="deckhand-audit",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "duty")],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-duty",
                    "KeySchema": [
                        {"AttributeName": "duty", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        topic_arn = boto3.client("sns").create_topic(Name="deckhand-notifications")["TopicArn"]
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        boto3.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        ssm = boto3.client("ssm")
        for name in SWITCH_NAMES:
            ssm.put_parameter(
                Name=parameter_name(PATH, name), Value=json.dumps(SwitchState(name=name).document()), Type="String"
            )
        settings = Settings(
            name_prefix="deckhand",
            audit_table="deckhand-audit",
            topic_arn=topic_arn,
            switches_path=PATH,
            default_dry_run=True,
            audit_retention_days=30,
            switch_cache_seconds=30,
            switch_max_hours=336,
            protect_tag="deckhand:protect",
        )
        yield Deployed(runtime=Runtime.build(settings, clock=lambda: NOW), queue_url=queue_url)
    clients.reset()
