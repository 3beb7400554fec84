"""A moto account for tests: dummy credentials, no endpoint, and an audit table like the stack's."""

from collections.abc import Iterator

import boto3
import botocore.session
import pytest
from moto import mock_aws

from functions.shared import clients
from functions.shared.audit import INDEX_BY_DUTY

REGION = "us-east-1"


def fake_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every boto3 call inside goes to moto; cached Deckhand clients are dropped before and after."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    clients.reset()
    with mock_aws():
        # moto starts each test on a new default session; this one reads the service models botocore parsed once
        # per process (clients._models) instead of parsing them again for every client of every test.
        core = botocore.session.Session()
        core.register_component("data_loader", clients._models())
        boto3.DEFAULT_SESSION = boto3.session.Session(botocore_session=core)
        yield
    clients.reset()


def make_audit_table(name: str = "deckhand-audit") -> str:
    """Create the audit table as stacks/core.py declares it: pk/sk strings, GSI by-duty on duty+sk, TTL."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "duty", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": INDEX_BY_DUTY,
                "KeySchema": [
                    {"AttributeName": "duty", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    return name


def session_as(role_arn: str, region: str = REGION) -> boto3.session.Session:
    """A session of `role_arn`, assumed with the default credentials. Under moto, what it makes lands in the role's
    account: a member's operator, seeding what a member function then reads through its own role."""
    issued = boto3.client("sts", region_name=region).assume_role(RoleArn=role_arn, RoleSessionName="seed")
    credentials = issued["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )
