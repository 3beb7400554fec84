"""The enforcing sandbox server: a role session's call is authorized before moto sees it, answered as AWS answers.

One server for the module (`gaps.make_app()`, as `sandbox up` serves it), with the real call reader and
IAM mapping; the role `enforce-fn` may publish to topics and describe snapshots, nothing else.
"""

from __future__ import annotations

import json
import re
import string
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.iam import enforce
from sandbox.iam.simulator import Policy, Simulation, Simulator
from tests.support.sandbox_server import assumed_client

ACCOUNT = "123456789012"
REGION = "ap-south-1"  # a region of this module's own: moto's backends are process-wide
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}],
}
ALLOWED = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"},
        {"Effect": "Allow", "Action": "ec2:DescribeSnapshots", "Resource": "*"},
    ],
}

Client = Callable[[str], Any]


@pytest.fixture(scope="module")
def region() -> str:
    return REGION


@pytest.fixture(scope="module")
def estate(client: Client) -> dict[str, str]:
    """What the refused calls name: a queue, a bucket, a snapshot."""
    volume = client("ec2").create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
    client("s3").create_bucket(Bucket="enforce-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    client("s3").put_object(Bucket="enforce-bucket", Key="report.json", Body=b"{}")
    return {
        "queue": client("sqs").create_queue(QueueName="enforce-queue")["QueueUrl"],
        "snapshot": client("ec2").create_snapshot(VolumeId=volume)["SnapshotId"],
    }


@pytest.fixture(scope="module")
def credentials(client: Client) -> dict[str, Any]:
    """A session of the role `enforce-fn`, as a deployed function runs with."""
    iam = client("iam")
    role = iam.create_role(RoleName="enforce-fn", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName="enforce-fn", PolicyName="allowed", PolicyDocument=json.dumps(ALLOWED))
    issued: dict[str, Any] = client("sts").assume_role(RoleArn=role, RoleSessionName="enforce-fn")["Credentials"]
    return issued


@pytest.fixture(scope="module")
def as_role(credentials: dict[str, Any], endpoint: str) -> Client:
    """`as_role("sns")`: a client signed with the role's session."""
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )
    return lambda service: session.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]


def refused(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Message"]


def iam_state(endpoint: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{endpoint}/_sandbox/iam", timeout=10) as response:
        document: dict[str, Any] = json.loads(response.read())
    return document


def post(endpoint: str, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{endpoint}{path}", data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=10).close()


SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/enforce-fn/enforce-fn"


@pytest.mark.parametrize(
    ("service", "call", "answer"),
    [
        ("sqs", ("send_message", {"QueueUrl": "{queue}", "MessageBody": "x"}), ("AccessDeniedException", 400)),
        ("cloudwatch", ("describe_alarms", {}), ("AccessDeniedException", 400)),
        ("lambda", ("list_functions", {}), ("AccessDeniedException", 403)),
        ("ec2", ("delete_snapshot", {"SnapshotId": "{snapshot}"}), ("UnauthorizedOperation", 403)),
        ("s3", ("get_object", {"Bucket": "enforce-bucket", "Key": "report.json"}), ("AccessDenied", 403)),
    ],
)
def test_a_refusal_is_answered_as_aws_answers_it_in_each_protocol(
    as_role: Client, estate: dict[str, str], service: str, call: tuple[str, dict[str, str]], answer: tuple[str, int]
) -> None:
    operation, params = call
    named = {key: value.format(**estate) for key, value in params.items()}

    code, status, message = refused(lambda: getattr(as_role(service), operation)(**named))

    assert (code, status) == answer
    assert "because no identity-based policy allows the" in message


def test_the_message_names_principal_action_resource_and_why(as_role: Client) -> None:
    _, _, message = refused(lambda: as_role("cloudwatch").describe_alarms())

    assert message == (
        f"User: {SESSION} is not authorized to perform: cloudwatch:DescribeAlarms on resource: "
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:* "
        "because no identity-based policy allows the cloudwatch:DescribeAlarms action"
    )


def test_a_query_service_refuses_with_access_denied(client: Client, as_role: Client) -> None:
    topic = client("sns").create_topic(Name="enforce-denied")["TopicArn"]
    deny = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sns:Publish", "Resource": topic}
    client("sns").set_topic_attributes(
        TopicArn=topic,
        AttributeName="Policy",
        AttributeValue=json.dumps({"Version": "2012-10-17", "Statement": [deny]}),
    )

    code, status, message = refused(lambda: as_role("sns").publish(TopicArn=topic, Message="hello"))

    assert (code, status) == ("AccessDenied", 403)
    assert message.endswith("because with an explicit deny in a resource-based policy")


def test_a_presigned_url_of_a_role_session_is_enforced_too(as_role: Client, estate: dict[str, str]) -> None:
    url = as_role("s3").generate_presigned_url("get_object", Params={"Bucket": "enforce-bucket", "Key": "report.json"})

    with pytest.raises(urllib.error.HTTPError) as refused_download:
        urllib.request.urlopen(url, timeout=10).close()

    assert refused_download.value.code == 403
    assert b"<Code>AccessDenied</Code>" in refused_download.value.read()


def test_an_allowed_call_reaches_moto(client: Client, as_role: Client, estate: dict[str, str]) -> None:
    topic = client("sns").create_topic(Name="enforce-allowed")["TopicArn"]

    published = as_role("sns").publish(TopicArn=topic, Message="hello")
    described = as_role("ec2").describe_snapshots(SnapshotIds=[estate["snapshot"]])["Snapshots"]

    assert published["MessageId"]
    assert [s["SnapshotId"] for s in described] == [estate["snapshot"]]


def test_a_refused_call_changes_nothing(client: Client, as_role: Client, estate: dict[str, str]) -> None:
    snapshot = estate["snapshot"]

    code, _, message = refused(lambda: as_role("ec2").delete_snapshot(SnapshotId=snapshot))
    _, _, sent = refused(lambda: as_role("sqs").send_message(QueueUrl=estate["queue"], MessageBody="x"))

    assert code == "UnauthorizedOperation"
    assert message.startswith(f"You are not authorized to perform this operation. User: {SESSION} ")
    assert [s["SnapshotId"] for s in client("ec2").describe_snapshots(SnapshotIds=[snapshot])["Snapshots"]] == [
        snapshot
    ]
    assert "sqs:SendMessage" in sent
    assert client("sqs").receive_message(QueueUrl=estate["queue"]).get("Messages", []) == []


def test_an_unmapped_call_is_refused_and_counted(client: Client, as_role: Client, endpoint: str) -> None:
    before = iam_state(endpoint)["unmapped"]

    code, _, message = refused(lambda: as_role("sns").create_topic(Name="enforce-unmapped"))

    assert code == "AccessDenied"
    assert "no IAM mapping for sns:CreateTopic" in message
    assert "enforce-unmapped" not in str(client("sns").list_topics()["Topics"])
    assert iam_state(endpoint)["unmapped"] == before + 1


def test_admin_keys_pass_unenforced(client: Client, endpoint: str) -> None:
    before = iam_state(endpoint)

    client("cloudwatch").describe_alarms()
    client("sns").create_topic(Name="enforce-admin")

    after = iam_state(endpoint)
    assert (after["calls"], after["unmapped"], after["denied"]) == (
        before["calls"],
        before["unmapped"],
        before["denied"],
    )


def test_the_state_route_lists_refusals_and_an_expected_denial_counts_apart(as_role: Client, endpoint: str) -> None:
    post(
        endpoint, "/_sandbox/iam/expect", {"action": "lambda:ListFunctions", "resource": "*", "principal": "enforce-fn"}
    )
    before = iam_state(endpoint)

    refused(lambda: as_role("lambda").list_functions())
    refused(lambda: as_role("lambda").list_functions())  # the same request: the simulator's cache answers

    after = iam_state(endpoint)
    assert after["expected_denied"] == before["expected_denied"] + 2
    assert after["denied"] == before["denied"]
    assert after["refusals"][-1] == {
        "principal": SESSION,
        "operation": "lambda:ListFunctions",
        "action": "lambda:ListFunctions",
        "resource": "*",
        "why": "no identity-based policy allows the lambda:ListFunctions action",
        "kind": "denied",
        "expected": True,
    }
    assert after["simulator"]["cache_hits"] > before["simulator"]["cache_hits"]
    assert after["simulator"]["distinct"] > 0
    assert re.fullmatch(
        r"iam: requests=\d+ distinct=\d+ denied=\d+ unmapped=\d+ deliveries=\d+ refused=\d+",
        enforce.summary_line(after),
    )
    assert len(enforce.unexpected(after)) == after["denied"] + after["unmapped"]


def test_enforcement_can_be_turned_off(as_role: Client, endpoint: str) -> None:
    post(endpoint, "/_sandbox/iam/enforcement", {"enabled": False})
    try:
        alarms = as_role("cloudwatch").describe_alarms()
    finally:
        post(endpoint, "/_sandbox/iam/enforcement", {"enabled": True})

    assert alarms["MetricAlarms"] == []
    assert refused(lambda: as_role("cloudwatch").describe_alarms())[0] == "AccessDeniedException"


def test_the_cdk_cli_s_bootstrap_roles_act_for_the_operator_unenforced(client: Client, endpoint: str) -> None:
    name = f"cdk-hnb659fds-file-publishing-role-{ACCOUNT}-{REGION}"
    role = client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    publisher = assumed_client(client, role, "aws-cdk-operator", "cloudwatch")

    assert publisher.describe_alarms()["MetricAlarms"] == []  # no policy at all, yet not refused


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    target=st.sampled_from(["AmazonSQS", "AmazonSSM", "DynamoDB_20120810"]),
    operation=st.sampled_from(["SendMessage", "DeleteQueue", "PutParameter", "DeleteTable", "PutItem"])
    | st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=30),  # a header is ASCII
    body=JSON_VALUES,
)
def test_any_call_of_a_service_the_role_has_no_grant_in_is_refused_before_moto(
    credentials: dict[str, Any], endpoint: str, target: str, operation: str, body: Any
) -> None:
    """Whatever a role session sends (a real operation, an unknown one, any JSON), it is answered with a refusal."""
    service = {"AmazonSQS": "sqs", "AmazonSSM": "ssm", "DynamoDB_20120810": "dynamodb"}[target]
    request = urllib.request.Request(
        endpoint + "/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "X-Amz-Target": f"{target}.{operation}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": f"AWS4-HMAC-SHA256 Credential={credentials['AccessKeyId']}/20261206/{REGION}/{service}/"
            "aws4_request, SignedHeaders=host, Signature=0",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused_call:
        urllib.request.urlopen(request, timeout=10).close()

    answer = json.load(refused_call.value)
    assert (refused_call.value.code, answer["__type"]) == (400, "AccessDeniedException")
    assert answer["message"].startswith(f"User: {SESSION} is not authorized to perform: ")  # the enforcer, not moto


def test_a_key_policy_that_allows_neither_the_role_nor_the_account_is_the_policy_that_denies() -> None:
    """KMS needs the key policy's allow (IAM policies count only when it delegates to the account root)."""
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    identity = [
        Policy(
            "p", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}
        )
    ]
    others_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/other"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    simulator = Simulator()
    try:
        verdict = simulator.evaluate(
            Simulation(SESSION, "kms:Decrypt", key, ACCOUNT, identity_policies=identity, resource_policy=others_only)
        )
    finally:
        simulator.close()

    assert enforce.why_denied(verdict, "kms:Decrypt") == "no resource-based policy allows the kms:Decrypt action"
