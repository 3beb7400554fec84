"""Lambda Invoke answered by the sandbox server: the deployed handler runs in the server, as Lambda would run it.

A probe function is deployed as `cdk deploy` leaves one (its asset in the bootstrap bucket) and invoked through
boto3, as the AWS CLI or any SDK would: synchronously, asynchronously with retries, a destination and a
dead-letter queue, as a dry run, with its log's tail, by version and alias, and by callers IAM lets or refuses.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sandbox import ACCOUNT, REGION
from sandbox.gaps.common import ApiError
from sandbox.gaps.invoke import Target, parsed_payload
from sandbox.iam import deliveries
from sandbox.runner import BOOTSTRAP_QUALIFIER
from tests.support.gating import serve
from tests.support.payloads import JSON_VALUES
from tests.support.sandbox_server import Client, assumed_client, error_code

OTHER_ACCOUNT = "210987654321"
# A handler that says what it ran with; counts its runs on a queue; invokes a function; raises when asked to.
PROBE = """
import json
import time

import boto3
from botocore.config import Config


def handler(event, context):
    print("probe got " + json.dumps(event))
    print("x" * event.get("log_bytes", 0))
    if "count_to" in event:
        boto3.client("sqs").send_message(QueueUrl=event["count_to"], MessageBody=context.aws_request_id)
    time.sleep(event.get("sleep", 0))
    if event.get("whoami"):
        return boto3.client("sts").get_caller_identity()["Arn"]
    if "invoke" in event:
        awslambda = boto3.client("lambda", config=Config(retries={"total_max_attempts": 1}))
        kind, payload = event.get("type", "RequestResponse"), json.dumps(event.get("with", {}))
        return awslambda.invoke(FunctionName=event["invoke"], InvocationType=kind, Payload=payload)["StatusCode"]
    if "fail" in event:
        raise RuntimeError(event["fail"])
    return {"echo": event, "version": context.function_version, "arn": context.invoked_function_arn}
"""
# A handler that logs and answers its event.
ECHO = """
import json


def handler(event, context):
    print(json.dumps(event, ensure_ascii=False))
    return event
"""
ALLOW_SEND_AND_INVOKE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["sqs:SendMessage", "lambda:InvokeFunction"], "Resource": "*"}],
}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server, with its extracted assets in a directory of this module's."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MOTO_ACCOUNT_ID"):
            env.delenv(name, raising=False)
        env.setenv("DECKHAND_SANDBOX_DIR", str(tmp_path_factory.mktemp("sandbox")))
        yield from serve()


def asset() -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("functions/__init__.py", "")
        archive.writestr("functions/probe.py", PROBE)
        archive.writestr("functions/echo.py", ECHO)
    return data.getvalue()


def deploy(client: Client, handler: str = "functions.probe.handler", account: str = ACCOUNT, **extra: Any) -> str:
    """A probe function made from its asset in the bootstrap bucket, as `cdk deploy` makes one: its name."""
    code = asset()
    key = f"{hashlib.sha256(code).hexdigest()}.zip"
    bucket = f"cdk-{BOOTSTRAP_QUALIFIER}-assets-{account}-{REGION}"
    s3 = client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=code)
    iam = client("iam")
    role = f"probe-{uuid.uuid4().hex[:8]}"
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=role, PolicyName="send", PolicyDocument=json.dumps(ALLOW_SEND_AND_INVOKE))
    name = f"probe-{uuid.uuid4().hex[:8]}"
    client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=arn,
        Handler=handler,
        Code={"S3Bucket": bucket, "S3Key": key},
        Timeout=30,
        **extra,
    )
    return name


def queue(client: Client) -> tuple[str, str]:
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def received(client: Client, url: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    """Every message of the queue once `count` arrived (or the time ran out), then a moment more for extras."""
    sqs, found, deadline = client("sqs"), [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        found += got.get("Messages", [])
        if len(found) >= count:
            time.sleep(0.5)
            found += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            return found
        time.sleep(0.2)
    return found


@pytest.fixture(scope="module")
def probe(client: Client) -> str:
    return deploy(client)


def invoke(client: Client, name: str, event: Any, **extra: Any) -> dict[str, Any]:
    answer: dict[str, Any] = client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode(), **extra)
    answer["Body"] = answer.pop("Payload").read()
    return answer


def test_request_response_answers_the_handler_result(client: Client, probe: str) -> None:
    answer = invoke(client, probe, {"hello": "world"})

    assert answer["StatusCode"] == 200
    assert "FunctionError" not in answer
    assert answer["ExecutedVersion"] == "$LATEST"
    assert json.loads(answer["Body"]) == {
        "echo": {"hello": "world"},
        "version": "$LATEST",
        "arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{probe}",
    }


def test_no_payload_is_an_empty_object_and_a_payload_that_is_not_json_is_refused(client: Client, probe: str) -> None:
    assert json.loads(client("lambda").invoke(FunctionName=probe)["Payload"].read())["echo"] == {}
    assert error_code(lambda: client("lambda").invoke(FunctionName=probe, Payload=b"{not json")) == (
        "InvalidRequestContentException"
    )


@pytest.fixture(scope="module")
def echo(client: Client) -> str:
    return deploy(client, "functions.echo.handler")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=JSON_VALUES)
@example(event={"lone surrogate": "\ud800"})  # logged as is by the handler, the log's tail still encodes
def test_any_json_payload_comes_back_as_it_went_with_its_log(client: Client, echo: str, event: Any) -> None:
    answer = invoke(client, echo, event, LogType="Tail")

    assert answer["StatusCode"] == 200
    assert "FunctionError" not in answer
    assert json.loads(answer["Body"]) == event
    assert len(base64.b64decode(answer["LogResult"])) <= 4096


@settings(max_examples=50, deadline=None)
@given(payload=st.binary(max_size=64) | st.text(max_size=64).map(lambda text: text.encode(errors="surrogatepass")))
def test_a_payload_is_json_or_refused_as_lambda_refuses_it(payload: bytes) -> None:
    try:
        parsed_payload(payload)
        outcome = ("parsed", 200)
    except ApiError as refused:
        outcome = (refused.code, refused.status)
    assert outcome in {("parsed", 200), ("InvalidRequestContentException", 400)}


def test_json_nested_deeper_than_python_parses_is_refused_not_a_server_error(client: Client, echo: str) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert error_code(lambda: client("lambda").invoke(FunctionName=echo, Payload=deep)) == (
        "InvalidRequestContentException"
    )


def test_a_payload_over_lambdas_quota_is_refused_with_413(client: Client, probe: str) -> None:
    awslambda = client("lambda")
    for kind, limit in (("DryRun", 6 * 1024 * 1024), ("RequestResponse", 6 * 1024 * 1024), ("Event", 1024 * 1024)):
        fits = json.dumps({"pad": "x" * (limit - 20)}).encode()
        assert awslambda.invoke(FunctionName=probe, InvocationType="DryRun", Payload=fits)["StatusCode"] == 204
        with pytest.raises(ClientError) as raised:
            awslambda.invoke(FunctionName=probe, InvocationType=kind, Payload=fits + b" " * 20)
        assert raised.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_a_raised_error_is_lambdas_unhandled_error_object(client: Client, probe: str) -> None:
    answer = invoke(client, probe, {"fail": "the disk is full"})

    assert (answer["StatusCode"], answer["FunctionError"]) == (200, "Unhandled")
    error = json.loads(answer["Body"])
    assert set(error) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert (error["errorMessage"], error["errorType"]) == ("the disk is full", "RuntimeError")
    # The function's frames only, as Lambda's Python runtime lists them: not the sandbox runner's.
    assert error["stackTrace"]
    assert all("functions/probe.py" in frame for frame in error["stackTrace"])


def lambda_metric(client: Client, function: str, name: str) -> float:
    """The sum of AWS/Lambda's `name` for `function` over the last hour."""
    now = datetime.now(UTC)
    found = client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName=name,
        Dimensions=[{"Name": "FunctionName", "Value": function}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=60,
        Statistics=["Sum"],
    )
    return float(sum(point["Sum"] for point in found["Datapoints"]))


def test_each_run_counts_in_lambdas_invocations_errors_and_duration(client: Client) -> None:
    name = deploy(client)

    invoke(client, name, {"fail": "once"})
    invoke(client, name, {})

    # What the function's error alarm (AWS/Lambda Errors by FunctionName) reads in AWS.
    assert (lambda_metric(client, name, "Invocations"), lambda_metric(client, name, "Errors")) == (2.0, 1.0)
    assert lambda_metric(client, name, "Duration") > 0


def test_log_type_tail_answers_the_last_4_kb_of_the_invocation_log(client: Client, probe: str) -> None:
    short = invoke(client, probe, {"say": "hi"}, LogType="Tail")
    log = base64.b64decode(short["LogResult"]).decode()
    assert log.startswith("START RequestId: ")
    assert 'probe got {"say": "hi"}' in log
    assert "\nEND RequestId: " in log
    assert "\nREPORT RequestId: " in log

    long = invoke(client, probe, {"log_bytes": 10_000}, LogType="Tail")
    tail = base64.b64decode(long["LogResult"])
    assert len(tail) == 4096
    assert tail.endswith(b" ms\n")
    assert b"probe got" not in tail
    assert "LogResult" not in invoke(client, probe, {})


def test_dry_run_answers_204_and_runs_nothing(client: Client, probe: str) -> None:
    url, _ = queue(client)
    answer = invoke(client, probe, {"count_to": url}, InvocationType="DryRun")

    assert (answer["StatusCode"], answer["Body"]) == (204, b"")
    assert "ExecutedVersion" not in answer
    assert received(client, url, 1, timeout=2) == []


def test_an_unknown_function_or_qualifier_is_lambdas_resource_not_found(client: Client, probe: str) -> None:
    for kind in ("RequestResponse", "Event", "DryRun"):
        with pytest.raises(ClientError) as raised:
            client("lambda").invoke(FunctionName="nope", InvocationType=kind)
        assert raised.value.response["Error"] == {
            "Code": "ResourceNotFoundException",
            "Message": f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:nope",
        }
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error_code(lambda: client("lambda").invoke(FunctionName=probe, Qualifier="7")) == (
        "ResourceNotFoundException"
    )


@pytest.mark.parametrize(
    ("name", "qualifier"), [("arn:aws:lambda", None), ("a:b:c", None), ("fn!", None), ("probe", "live!")]
)
def test_a_name_or_qualifier_lambdas_pattern_refuses_is_a_validation_error(
    client: Client, name: str, qualifier: str | None
) -> None:
    asked = {"Qualifier": qualifier} if qualifier else {}
    with pytest.raises(ClientError) as raised:
        client("lambda").invoke(FunctionName=name, **asked)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "Member must satisfy regular expression pattern" in raised.value.response["Error"]["Message"]


@settings(max_examples=200, deadline=None)
@given(
    name=st.text(max_size=80)
    | st.lists(st.sampled_from(["arn", "aws", "lambda", "function", "x", "1", ""])).map(":".join)
)
def test_any_function_name_is_read_or_refused_as_lambda_refuses_it(name: str) -> None:
    try:
        target = Target.parse(name, None)
        outcome = "read" if target.name else "empty"
    except ApiError as refused:
        outcome = refused.code
    assert outcome in {"read", "ValidationException"}


def test_a_version_or_an_alias_runs_that_version(client: Client) -> None:
    name = deploy(client)
    awslambda = client("lambda")
    version = awslambda.publish_version(FunctionName=name)["Version"]
    awslambda.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"

    by_alias = invoke(client, name, {}, Qualifier="live")
    by_arn = invoke(client, f"{function_arn}:{version}", {})

    assert by_alias["ExecutedVersion"] == by_arn["ExecutedVersion"] == version
    assert json.loads(by_alias["Body"])["version"] == version
    assert json.loads(by_arn["Body"])["arn"] == f"{function_arn}:{version}"
    assert invoke(client, name, {}, Qualifier="$LATEST")["ExecutedVersion"] == "$LATEST"
    assert error_code(lambda: awslambda.invoke(FunctionName=f"{name}:live", Qualifier=version)) == (
        "InvalidParameterValueException"
    )


def test_another_accounts_function_is_invoked_by_its_arn(client: Client) -> None:
    def in_other_account(service: str) -> Any:
        made = client(service).meta  # the same server and region, signed as the other account
        other = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=made.region_name
        ).client(service, endpoint_url=made.endpoint_url)  # type: ignore[call-overload]  # named at run time
        other.meta.events.register(
            "before-sign.*.*", lambda request, **_: request.headers.add_header("x-moto-account-id", OTHER_ACCOUNT)
        )
        return other

    name = deploy(in_other_account, account=OTHER_ACCOUNT)
    function_arn = f"arn:aws:lambda:{REGION}:{OTHER_ACCOUNT}:function:{name}"

    assert json.loads(invoke(client, function_arn, {})["Body"])["arn"] == function_arn
    assert json.loads(invoke(client, f"{OTHER_ACCOUNT}:function:{name}", {})["Body"])["arn"] == function_arn
    assert error_code(lambda: client("lambda").invoke(FunctionName=name)) == "ResourceNotFoundException"


@pytest.mark.parametrize(
    "refused",
    [
        ("InvocationType", "Later", "invocationType", "[Event, RequestResponse, DryRun]"),
        ("LogType", "Head", "logType", "[None, Tail]"),
    ],
)
def test_an_invocation_or_log_type_lambda_does_not_know_is_a_validation_error(
    client: Client, probe: str, refused: tuple[str, str, str, str]
) -> None:
    header, value, member, allowed = refused
    url, _ = queue(client)
    with pytest.raises(ClientError) as raised:
        client("lambda").invoke(FunctionName=probe, Payload=json.dumps({"count_to": url}).encode(), **{header: value})

    # Lambda's own answer to an invocation type outside the enum (ex-aws/ex_aws#442).
    assert raised.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
        f"Member must satisfy enum value set: {allowed}",
    }
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert received(client, url, 1, timeout=1) == []


def test_event_answers_at_once_retries_as_configured_then_sends_the_record_to_the_on_failure_destination(
    client: Client,
) -> None:
    name = deploy(client)
    runs, _ = queue(client)
    destination_url, destination_arn = queue(client)
    client("lambda").put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": destination_arn}},
    )

    answer = invoke(client, name, {"count_to": runs, "fail": "no luck"}, InvocationType="Event")

    assert (answer["StatusCode"], answer["Body"]) == (202, b"")
    assert "ExecutedVersion" not in answer  # "The API response only includes a status code" (InvocationType)
    [delivered] = received(client, destination_url, 1)
    assert len(received(client, runs, 2)) == 2  # the first run and one retry
    record = json.loads(delivered["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestContext"]["functionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:$LATEST"
    assert record["requestPayload"] == {"count_to": runs, "fail": "no luck"}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorMessage"] == "no luck"


def test_event_retries_twice_by_default_then_sends_the_event_to_the_dead_letter_queue(client: Client) -> None:
    dead_letters_url, dead_letters_arn = queue(client)
    name = deploy(client, DeadLetterConfig={"TargetArn": dead_letters_arn})
    runs, _ = queue(client)
    event = {"count_to": runs, "fail": "still broken"}

    invoke(client, name, event, InvocationType="Event")

    [dead] = received(client, dead_letters_url, 1)
    assert len(received(client, runs, 3)) == 3
    assert json.loads(dead["Body"]) == event
    attributes = {key: value["StringValue"] for key, value in dead["MessageAttributes"].items()}
    assert attributes["ErrorMessage"] == "still broken"
    assert attributes["ErrorCode"] == "200"
    assert attributes["RequestID"]


def test_a_dead_letter_the_execution_role_may_not_send_is_not_sent_and_the_refusal_counted(client: Client) -> None:
    dead_letters_url, dead_letters_arn = queue(client)
    name = deploy(client, DeadLetterConfig={"TargetArn": dead_letters_arn})
    role = client("lambda").get_function_configuration(FunctionName=name)["Role"].rsplit("/", 1)[1]
    client("iam").delete_role_policy(RoleName=role, PolicyName="send")
    client("lambda").put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    endpoint = client("lambda").meta.endpoint_url

    invoke(client, name, {"fail": "unsendable"}, InvocationType="Event")

    deadline, refused = time.monotonic() + 30, []
    while not refused and time.monotonic() < deadline:
        refused = [r for r in deliveries.ledger(endpoint)["refusals"] if r["delivery"]["target"] == dead_letters_arn]
        time.sleep(0.2)
    assert [(r["delivery"]["kind"], r["check"]["action"]) for r in refused] == [
        ("lambda async failure → dead-letter queue", "sqs:SendMessage")
    ]
    assert received(client, dead_letters_url, 1, timeout=1) == []
    # "DeadLetterErrors: ... the number of times that Lambda attempts to send an event to a dead-letter queue
    # (DLQ) but fails" (Lambda developer guide, "Types of metrics for Lambda functions").
    assert lambda_metric(client, name, "DeadLetterErrors") == 1.0
    assert (lambda_metric(client, name, "Invocations"), lambda_metric(client, name, "Errors")) == (1.0, 1.0)


def test_a_successful_event_runs_once_and_sends_nothing_to_the_dead_letter_queue(client: Client) -> None:
    dead_letters_url, dead_letters_arn = queue(client)
    name = deploy(client, DeadLetterConfig={"TargetArn": dead_letters_arn})
    runs, _ = queue(client)

    invoke(client, name, {"count_to": runs}, InvocationType="Event")

    assert len(received(client, runs, 1)) == 1
    assert received(client, dead_letters_url, 1, timeout=2) == []


def session_client(client: Client, policy: dict[str, Any] | None) -> Any:
    """A Lambda client signed by a session of a new role whose only policy is `policy`."""
    iam = client("iam")
    role = f"caller-{uuid.uuid4().hex[:8]}"
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    if policy is not None:
        iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps(policy))
    return assumed_client(client, arn, "caller", "lambda")


def test_iam_refuses_a_caller_without_lambda_invoke_function(client: Client, probe: str) -> None:
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{probe}"
    refused = session_client(client, None)
    allowed = session_client(
        client,
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function_arn}],
        },
    )

    for kind in ("RequestResponse", "DryRun", "Event"):
        with pytest.raises(ClientError) as raised:
            refused.invoke(FunctionName=probe, InvocationType=kind, Payload=b"{}")
        assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
        assert "lambda:InvokeFunction" in raised.value.response["Error"]["Message"]
    assert allowed.invoke(FunctionName=probe, Payload=b"{}")["StatusCode"] == 200
    assert error_code(lambda: allowed.invoke(FunctionName="arn:aws:lambda", Payload=b"{}")) == "AccessDeniedException"
    # The grant is on the unqualified ARN: a version or alias is another resource (Lambda's "Resource policies").
    assert error_code(lambda: allowed.invoke(FunctionName=probe, Qualifier="$LATEST", Payload=b"{}")) == (
        "AccessDeniedException"
    )


def test_each_function_calls_aws_as_its_own_role_even_through_boto3s_default_session(client: Client) -> None:
    first, second = deploy(client), deploy(client)
    for name in (first, second, first):
        role = client("lambda").get_function_configuration(FunctionName=name)["Role"].rsplit("/", 1)[1]
        assert json.loads(invoke(client, name, {"whoami": True})["Body"]) == (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{name}"
        )


def test_while_a_handler_runs_another_thread_keeps_its_own_boto3_default_session(
    client: Client, probe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    boto3.setup_default_session(region_name=REGION)
    endpoint = client("sts").meta.endpoint_url
    ours = boto3.client("sts", endpoint_url=endpoint).get_caller_identity()["Arn"]
    runs, _ = queue(client)

    invoke(client, probe, {"count_to": runs, "sleep": 4}, InvocationType="Event")
    assert len(received(client, runs, 1)) == 1  # the handler runs (asleep) in this process

    assert boto3.client("sts", endpoint_url=endpoint).get_caller_identity()["Arn"] == ours


def test_a_handler_invokes_another_function_asynchronously_but_its_synchronous_invoke_is_throttled(
    client: Client, probe: str
) -> None:
    runs, _ = queue(client)

    by_event = invoke(client, probe, {"invoke": probe, "type": "Event", "with": {"count_to": runs}})
    assert json.loads(by_event["Body"]) == 202
    assert len(received(client, runs, 1)) == 1

    started = time.monotonic()
    waiting = invoke(client, probe, {"invoke": probe})
    assert waiting["FunctionError"] == "Unhandled"
    assert json.loads(waiting["Body"])["errorType"] == "TooManyRequestsException"
    assert time.monotonic() - started < 10  # answered, not left to wait on the running handler
