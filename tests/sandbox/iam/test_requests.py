"""parse_call reads a real botocore-signed request, in every protocol Deckhand speaks, as the API call it is."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, create_request_object, prepare_request_dict
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.serialize import create_serializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder

from sandbox.iam.actions import requests_for
from sandbox.iam.model import Call, Unmapped
from sandbox.iam.requests import parse_call

ACCOUNT = "123456789012"
REGION = "us-east-1"
ENDPOINT = "http://localhost:5000"


class Sent(Exception):
    def __init__(self, request: AWSPreparedRequest) -> None:
        self.request = request


def _stop(request: AWSPreparedRequest, **_: Any) -> None:
    raise Sent(request)


def _text(value: Any) -> str:
    """botocore sends some header values as bytes."""
    return value.decode() if isinstance(value, bytes) else str(value)


def environ_of(request: AWSPreparedRequest) -> dict[str, Any]:
    url = urlsplit(request.url)
    body: Any = request.body
    if hasattr(body, "read"):
        body = body.read()
    headers = Headers([(k, _text(v)) for k, v in request.headers.items()])
    environ: dict[str, Any] = EnvironBuilder(
        path=url.path,
        query_string=url.query,
        method=request.method,
        headers=headers,
        data=body if isinstance(body, bytes) else (body or "").encode(),
        base_url=f"{url.scheme}://{url.netloc}",
    ).get_environ()
    return environ


def signed(
    service: str,
    method: str,
    credentials: tuple[str, str] = ("AKIDEXAMPLE", "secret"),
    config: Config | None = None,
    **params: Any,
) -> dict[str, Any]:
    """The WSGI environ of the request a boto3 client sends for `method(**params)`, signed, never sent."""
    client = boto3.session.Session(
        aws_access_key_id=credentials[0], aws_secret_access_key=credentials[1], region_name=REGION
    ).client(service, endpoint_url=ENDPOINT, config=config)  # type: ignore[call-overload]
    client.meta.events.register("before-send", _stop)
    with pytest.raises(Sent) as sent:
        getattr(client, method)(**params)
    return environ_of(sent.value.request)


def signed_in(protocol: str, service: str, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A request in one of the protocols the service's model lists, serialized and signed by botocore as a client
    choosing that protocol sends it."""
    model = botocore.session.get_session().get_service_model(service)
    request_dict = create_serializer(protocol).serialize_to_request(dict(params), model.operation_model(operation))
    prepare_request_dict(request_dict, endpoint_url=ENDPOINT)
    request = create_request_object(request_dict)
    SigV4Auth(Credentials("AKIDEXAMPLE", "secret"), model.signing_name, REGION).add_auth(request)
    return environ_of(request.prepare())


def call(service: str, operation: str, params: Mapping[str, Any], account: str = ACCOUNT) -> Call:
    return Call(service, operation, params, account, REGION)


@pytest.fixture(autouse=True)
def moto_accounts() -> Iterator[None]:
    """parse_call reads the account of an access key from moto's IAM and STS, in this process."""
    with mock_aws():
        yield


def test_json_reads_the_target_and_the_body() -> None:
    environ = signed("ecs", "list_tasks", cluster="web", desiredStatus="RUNNING")
    assert parse_call(environ) == call("ecs", "ListTasks", {"cluster": "web", "desiredStatus": "RUNNING"})


def test_json_signed_as_another_name_is_found_by_its_signing_name() -> None:
    """CloudWatch signs as `monitoring`, the tagging API as `tagging`: both are botocore's models' names."""
    tagging = signed("resourcegroupstaggingapi", "get_resources", ResourceTypeFilters=["cloudwatch:alarm"])
    assert parse_call(tagging) == call(
        "resourcegroupstaggingapi", "GetResources", {"ResourceTypeFilters": ["cloudwatch:alarm"]}
    )


def test_cbor_reads_the_path_and_the_cbor_body() -> None:
    environ = signed_in(
        "smithy-rpc-v2-cbor", "cloudwatch", "DescribeAlarms", {"AlarmNames": ["web-5xx"], "MaxRecords": 10}
    )
    assert environ["PATH_INFO"] == "/service/GraniteServiceVersion20100801/operation/DescribeAlarms"
    assert parse_call(environ) == call("cloudwatch", "DescribeAlarms", {"AlarmNames": ["web-5xx"], "MaxRecords": 10})


def test_cbor_codepipeline() -> None:
    params = {"pipelineName": "web-app", "stageName": "Deploy", "targetPipelineExecutionId": "e-1"}
    assert parse_call(signed_in("smithy-rpc-v2-cbor", "codepipeline", "RollbackStage", params)) == call(
        "codepipeline", "RollbackStage", params
    )


def test_query_reaches_a_service_whose_model_lists_it_after_another_protocol() -> None:
    """CloudWatch's model lists CBOR, JSON and query: a client that speaks query is read too, not refused."""
    params = {"AlarmNames": ["web-5xx", "api-5xx"], "StateValue": "ALARM"}
    environ = signed_in("query", "cloudwatch", "DescribeAlarms", params)
    assert parse_call(environ) == call("cloudwatch", "DescribeAlarms", params)


def test_query_unflattens_members_along_the_input_shape() -> None:
    environ = signed(
        "autoscaling", "suspend_processes", AutoScalingGroupName="web", ScalingProcesses=["Launch", "Terminate"]
    )
    assert parse_call(environ) == call(
        "autoscaling", "SuspendProcesses", {"AutoScalingGroupName": "web", "ScalingProcesses": ["Launch", "Terminate"]}
    )


def test_query_without_parameters() -> None:
    assert parse_call(signed("cloudformation", "describe_stacks")) == call("cloudformation", "DescribeStacks", {})


def test_ec2_unflattens_lists_of_structures() -> None:
    environ = signed(
        "ec2",
        "create_tags",
        Resources=["snap-1", "vol-2"],
        Tags=[{"Key": "deckhand:mark", "Value": "2026-12-06"}],
    )
    assert parse_call(environ) == call(
        "ec2",
        "CreateTags",
        {"Resources": ["snap-1", "vol-2"], "Tags": [{"Key": "deckhand:mark", "Value": "2026-12-06"}]},
    )


def test_ec2_reads_booleans_and_nested_filters() -> None:
    deregister = signed("ec2", "deregister_image", ImageId="ami-1", DeleteAssociatedSnapshots=True)
    assert parse_call(deregister) == call(
        "ec2", "DeregisterImage", {"ImageId": "ami-1", "DeleteAssociatedSnapshots": True}
    )
    described = signed("ec2", "describe_snapshots", OwnerIds=["self"], Filters=[{"Name": "tag-key", "Values": ["a"]}])
    assert parse_call(described) == call(
        "ec2", "DescribeSnapshots", {"OwnerIds": ["self"], "Filters": [{"Name": "tag-key", "Values": ["a"]}]}
    )


def test_rest_json_reads_uri_labels_and_query() -> None:
    environ = signed("lambda", "delete_function", FunctionName="web", Qualifier="7")
    assert parse_call(environ) == call("lambda", "DeleteFunction", {"FunctionName": "web", "Qualifier": "7"})


def test_rest_json_reads_the_body_beside_the_uri() -> None:
    environ = signed(
        "lambda", "put_provisioned_concurrency_config", FunctionName="web", Qualifier="live",
        ProvisionedConcurrentExecutions=5,
    )  # fmt: skip
    assert parse_call(environ) == call(
        "lambda",
        "PutProvisionedConcurrencyConfig",
        {"FunctionName": "web", "Qualifier": "live", "ProvisionedConcurrentExecutions": 5},
    )


def test_rest_json_tells_operations_on_the_same_path_apart_by_method() -> None:
    target = {"Arn": "arn:aws:lambda:us-east-1:123456789012:function:web", "RoleArn": "arn:aws:iam::1:role/r"}
    created = parse_call(
        signed(
            "scheduler",
            "create_schedule",
            Name="revert",
            GroupName="deckhand",
            ScheduleExpression="at(2026-12-06T23:00:00)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target=target,
        )
    )
    assert created is not None
    assert (created.operation, created.params["Name"], created.params["GroupName"]) == (
        "CreateSchedule",
        "revert",
        "deckhand",
    )
    assert created.params["Target"] == target
    got = parse_call(signed("scheduler", "get_schedule", Name="revert", GroupName="deckhand"))
    assert got == call("scheduler", "GetSchedule", {"Name": "revert", "GroupName": "deckhand"})


def test_rest_xml_bucket_and_key_from_the_path_and_members_from_headers() -> None:
    environ = signed("s3", "get_object", Bucket="reports", Key="reports/2026/12/06/run 1.json")
    assert parse_call(environ) == call(
        "s3",
        "GetObject",
        {"Bucket": "reports", "Key": "reports/2026/12/06/run 1.json", "ChecksumMode": "ENABLED"},  # a header
    )


def test_rest_xml_bucket_from_the_host() -> None:
    environ = signed(
        "s3",
        "put_object",
        config=Config(s3={"addressing_style": "virtual"}),
        Bucket="reports",
        Key="a/b.json",
        Body=b"{}",
    )
    assert environ["HTTP_HOST"].startswith("reports.")
    found = parse_call(environ)
    assert found is not None
    assert (found.operation, found.params["Bucket"], found.params["Key"]) == ("PutObject", "reports", "a/b.json")


def test_the_account_of_an_assumed_role_key() -> None:
    assumed = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn="arn:aws:iam::210987654321:role/deckhand-member", RoleSessionName="hub"
    )["Credentials"]
    environ = signed("ecs", "list_clusters", credentials=(assumed["AccessKeyId"], assumed["SecretAccessKey"]))
    found = parse_call(environ)
    assert found is not None
    assert found.account == "210987654321"


def test_the_body_is_put_back_for_the_next_application() -> None:
    environ = signed("ecs", "list_tasks", cluster="web")
    before = environ["wsgi.input"].read()
    environ["wsgi.input"] = io.BytesIO(before)
    parse_call(environ)
    assert environ["wsgi.input"].read() == before


@pytest.mark.parametrize("path", ["/_sandbox/iam", "/moto-api/reset"])
def test_the_sandbox_and_moto_routes_are_no_aws_call(path: str) -> None:
    environ = signed("ecs", "list_clusters")
    environ["PATH_INFO"] = path
    assert parse_call(environ) is None


def test_an_unsigned_request_is_no_aws_call() -> None:
    assert parse_call(EnvironBuilder(path="/", method="POST", data=b"Action=ListStacks").get_environ()) is None


def test_an_operation_no_model_holds_is_named_and_unmapped() -> None:
    environ = signed("ecs", "list_clusters")
    environ["HTTP_X_AMZ_TARGET"] = "AmazonEC2ContainerServiceV20141113.DeleteEverything"
    found = parse_call(environ)
    assert found == call("ecs", "DeleteEverything", {})
    with pytest.raises(Unmapped, match="ecs:DeleteEverything"):
        requests_for(found)


def test_a_service_no_table_holds_is_unmapped_by_its_signing_name_and_route() -> None:
    found = parse_call(signed("sesv2", "list_email_identities"))
    assert found == call("ses", "POST /v2/email/list-identities", {})
    with pytest.raises(Unmapped, match="ses:POST /v2/email/list-identities"):
        requests_for(found)


@cache
def _job_details() -> Mapping[str, Any]:
    return signed("codepipeline", "get_job_details", jobId="j-1")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # one moto account serves every example
@given(body=st.binary(max_size=200), operation=st.sampled_from(["RollbackStage", "GetJobDetails", "Nope"]))
def test_any_body_is_read_or_refused_never_raised(body: bytes, operation: str) -> None:
    """An untrusted body parses to the call, or to the call without its input, which its row then refuses."""
    environ = dict(_job_details())
    environ["HTTP_X_AMZ_TARGET"] = f"CodePipeline_20150709.{operation}"
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    found = parse_call(environ)
    assert found is not None
    assert (found.operation, isinstance(found.params, dict)) == (operation, True)
    with contextlib.suppress(Unmapped):
        assert requests_for(found)
