"""policies: what the sandbox server deployed, read back as the documents AWS would evaluate."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.iam import policies

ACCOUNT = "123456789012"
REGION = "eu-south-1"  # a region of this module's own: moto's backends are process-wide
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
READ_TOPICS: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sns:ListTopics", "Resource": "*"}],
}

Client = Callable[[str], Any]


@pytest.fixture(scope="module")
def region() -> str:
    return REGION


@pytest.fixture(scope="module")
def role_arn(client: Client) -> str:
    iam = client("iam")
    arn: str = iam.create_role(RoleName="policies-fn", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName="policies-fn", PolicyName="inline", PolicyDocument=json.dumps(READ_TOPICS))
    managed = iam.create_policy(PolicyName="policies-managed", PolicyDocument=json.dumps(READ_TOPICS))
    iam.attach_role_policy(RoleName="policies-fn", PolicyArn=managed["Policy"]["Arn"])
    return arn


def test_identity_policies_are_the_inline_then_the_attached_ones(role_arn: str) -> None:
    by_name = policies.identity_policies(ACCOUNT, "policies-fn")
    by_arn = policies.identity_policies(ACCOUNT, role_arn)

    assert [p.name for p in by_name] == ["inline", f"arn:aws:iam::{ACCOUNT}:policy/policies-managed"]
    assert by_arn == by_name
    assert all(p.document == READ_TOPICS for p in by_name)
    assert policies.identity_policies(ACCOUNT, "no-such-role") == []


def test_trust_policy_is_the_role_s_and_its_resource_policy(role_arn: str) -> None:
    assert policies.trust_policy(ACCOUNT, "policies-fn") == TRUST
    assert policies.resource_policy(role_arn) == TRUST
    assert policies.trust_policy(ACCOUNT, "no-such-role") is None


def test_resource_policies_of_each_kind(client: Client, role_arn: str) -> None:
    topic_policy = {**READ_TOPICS, "Statement": [{**READ_TOPICS["Statement"][0], "Sid": "Topic"}]}
    topic = client("sns").create_topic(Name="policies-topic", Attributes={"Policy": json.dumps(topic_policy)})
    queue_url = client("sqs").create_queue(QueueName="policies-queue")["QueueUrl"]
    key = client("kms").create_key()["KeyMetadata"]
    client("s3").create_bucket(Bucket="policies-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    bucket_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::policies-bucket/*"}
        ],
    }
    client("s3").put_bucket_policy(Bucket="policies-bucket", Policy=json.dumps(bucket_policy))
    function = _function(client, role_arn)
    client("lambda").add_permission(
        FunctionName="policies-fn",
        StatementId="events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
    )

    assert policies.resource_policy(topic["TopicArn"]) == topic_policy
    assert policies.resource_policy(f"arn:aws:sqs:{REGION}:{ACCOUNT}:policies-queue") is None  # none set
    client("sqs").set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(topic_policy)})
    assert policies.resource_policy(f"arn:aws:sqs:{REGION}:{ACCOUNT}:policies-queue") == topic_policy
    key_policy = policies.resource_policy(key["Arn"])
    assert key_policy is not None
    assert key_policy["Statement"][0]["Sid"] == "Enable IAM User Permissions"
    assert policies.resource_policy("arn:aws:s3:::policies-bucket/report.json") == bucket_policy
    function_policy = policies.resource_policy(function)
    assert function_policy is not None
    assert [s["Sid"] for s in function_policy["Statement"]] == ["events"]
    assert policies.resource_policy(f"arn:aws:ec2:{REGION}:{ACCOUNT}:snapshot/snap-1") is None  # no such kind
    assert policies.resource_policy(f"arn:aws:sns:{REGION}:{ACCOUNT}:gone") is None


def test_only_assumed_role_keys_have_a_session(client: Client, role_arn: str) -> None:
    credentials = client("sts").assume_role(RoleArn=role_arn, RoleSessionName="policies-fn")["Credentials"]

    assert policies.role_of_session(credentials["AccessKeyId"]) == (
        ACCOUNT,
        role_arn,
        f"arn:aws:sts::{ACCOUNT}:assumed-role/policies-fn/policies-fn",
    )
    assert policies.role_of_session("testing") is None


def _function(client: Client, role_arn: str) -> str:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("index.py", "def handler(event, context):\n    return event\n")
    created = client("lambda").create_function(
        FunctionName="policies-fn",
        Runtime="python3.12",
        Role=role_arn,
        Handler="index.handler",
        Code={"ZipFile": archive.getvalue()},
    )
    arn: str = created["FunctionArn"]
    return arn
