"""For tests of the sandbox server itself: its `/_sandbox/` routes, an AWS error's code, a function to deploy, a
real event sample."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

SHARED_EVENTS = Path(__file__).parents[2].parent / "shared/events"

Client = Callable[[str], Any]  # the `client` fixture: a boto3 client of the sandbox server, by service name


def control(endpoint: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(endpoint + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def error_code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


def function_zip() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("app.py", "def handler(event, context):\n    return event\n")
    return archive.getvalue()


def service_role(client: Client, service: str, name: str) -> str:
    """A new role named `name` that `service` (e.g. "lambda.amazonaws.com") may assume, with no policy: its ARN."""
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
    return str(client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


def lambda_role(client: Client) -> str:
    return service_role(client, "lambda.amazonaws.com", f"fn-{uuid.uuid4().hex[:8]}")


def pipeline_role(client: Client, name: str) -> str:
    return service_role(client, "codepipeline.amazonaws.com", name)


def assumed_client(client: Client, role_arn: str, session: str, service: str) -> Any:
    """A `service` client of the sandbox server signed by the session `session` of `role_arn`, assumed through STS."""
    issued = client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session)["Credentials"]
    like = client(service).meta
    return boto3.session.Session(
        aws_access_key_id=issued["AccessKeyId"],
        aws_secret_access_key=issued["SecretAccessKey"],
        aws_session_token=issued["SessionToken"],
        region_name=like.region_name,
    ).client(service, endpoint_url=like.endpoint_url)


def published_function(client: Client, prefix: str) -> tuple[str, str]:
    """A throwaway function named `prefix-<random>` with one published version: (name, version)."""
    awslambda = client("lambda")
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    awslambda.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=lambda_role(client),
        Handler="app.handler",
        Code={"ZipFile": function_zip()},
    )
    return name, str(awslambda.publish_version(FunctionName=name)["Version"])


def sample_event(name: str) -> dict[str, Any]:
    """A real AWS event sample, as AWS's documentation gives it."""
    return dict(json.loads((SHARED_EVENTS / name).read_text()))
