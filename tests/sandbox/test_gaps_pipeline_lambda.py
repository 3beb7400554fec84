"""A pipeline's Lambda invoke action end to end in the sandbox server: the runner hands the job to a function
deployed as `cdk deploy` leaves one, the function answers it through CodePipeline's API (a continuation, then
success), and the execution's events reach an EventBridge rule's queue."""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import ACCOUNT, REGION
from sandbox.gaps.app import SandboxApp, make_app
from sandbox.runner import BOOTSTRAP_QUALIFIER
from tests.support.gating import serve
from tests.support.sandbox_server import Client, control, pipeline_role

BUCKET = f"cdk-{BOOTSTRAP_QUALIFIER}-assets-{ACCOUNT}-{REGION}"
# Answers its first job "in progress" with a continuation token, the job that continues it with success.
ANSWERER = """
import boto3


def handler(event, context):
    job = event["CodePipeline.job"]
    codepipeline = boto3.client("codepipeline")
    if "continuationToken" in job["data"]:
        codepipeline.put_job_success_result(jobId=job["id"], outputVariables={"decision": "proceed"})
    else:
        codepipeline.put_job_success_result(jobId=job["id"], continuationToken="baking")
"""
ANSWER_JOBS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["codepipeline:PutJobSuccessResult", "codepipeline:PutJobFailureResult"],
            "Resource": "*",
        }
    ],
}


@pytest.fixture(scope="module")
def app() -> SandboxApp:
    return make_app()


@pytest.fixture(scope="module")
def endpoint(app: SandboxApp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server with its own Lambda runtime and bus, its extracted assets in a directory of this module's."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MOTO_ACCOUNT_ID"):
            env.delenv(name, raising=False)
        env.setenv("DECKHAND_SANDBOX_DIR", str(tmp_path_factory.mktemp("sandbox")))
        for url in serve(app):
            fast = {"delay_seconds": 0.05, "continuation_seconds": 0.05}
            assert control(url, "POST", "/_sandbox/codepipeline/runner", fast)[0] == 200
            yield url


def deploy_answerer(client: Client) -> str:
    """The function, made from its asset in the bootstrap bucket as `cdk deploy` makes one: its name."""
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("answerer.py", ANSWERER)
    code = data.getvalue()
    key = f"{hashlib.sha256(code).hexdigest()}.zip"
    client("s3").create_bucket(Bucket=BUCKET)
    client("s3").put_object(Bucket=BUCKET, Key=key, Body=code)
    name = f"answerer-{uuid.uuid4().hex[:8]}"
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    role = client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    client("iam").put_role_policy(RoleName=name, PolicyName="answer", PolicyDocument=json.dumps(ANSWER_JOBS))
    client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="answerer.handler",
        Code={"S3Bucket": BUCKET, "S3Key": key},
        Timeout=30,
    )
    return name


def pipeline_invoking(client: Client, function: str, *, may_invoke: bool = True) -> str:
    """Source -> Gate (invokes `function`); its service role is granted lambda:InvokeFunction on it, or nothing."""
    name = f"web-{uuid.uuid4().hex[:8]}"
    role = pipeline_role(client, name)
    if may_invoke:
        arn = client("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
        grant = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": arn}],
        }
        client("iam").put_role_policy(RoleName=name, PolicyName="invoke", PolicyDocument=json.dumps(grant))
    kind = {"owner": "AWS", "version": "1"}
    client("codepipeline").create_pipeline(
        pipeline={
            "name": name,
            "roleArn": role,
            "artifactStore": {"type": "S3", "location": "artifact-bucket"},
            "stages": [
                {
                    "name": "Source",
                    "actions": [{"name": "Fetch", "actionTypeId": {**kind, "category": "Source", "provider": "S3"}}],
                },
                {
                    "name": "Gate",
                    "actions": [
                        {
                            "name": "Gate",
                            "actionTypeId": {**kind, "category": "Invoke", "provider": "Lambda"},
                            "configuration": {"FunctionName": function},
                        }
                    ],
                },
            ],
        }
    )
    return name


def codepipeline_rule_to_a_queue(client: Client, pipeline: str) -> str:
    """An EventBridge rule for the pipeline's execution changes, whose target is a queue that lets it send."""
    sqs, events = client("sqs"), client("events")
    url = sqs.create_queue(QueueName=f"{pipeline}-changes")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["aws.codepipeline"], "detail": {"pipeline": [pipeline]}}
    rule = events.put_rule(Name=f"{pipeline}-changes", EventPattern=json.dumps(pattern))["RuleArn"]
    allow = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule}},
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Statement": [allow]})})
    events.put_targets(Rule=f"{pipeline}-changes", Targets=[{"Id": "queue", "Arn": queue}])
    return str(url)


def test_a_deployed_function_answers_its_jobs_and_the_execution_s_events_reach_a_rule(
    app: SandboxApp, endpoint: str, client: Client
) -> None:
    pipeline = pipeline_invoking(client, deploy_answerer(client))
    inbox = codepipeline_rule_to_a_queue(client, pipeline)
    execution = client("codepipeline").start_pipeline_execution(name=pipeline)["pipelineExecutionId"]
    assert finished(client, pipeline, execution) == "Succeeded"
    jobs = [j for j in control(endpoint, "GET", "/_sandbox/state")[1]["jobs"] if j["execution_id"] == execution]
    assert [(j["status"], j["continuation_token"]) for j in jobs] == [("Succeeded", None), ("Succeeded", "baking")]
    assert jobs[1]["history"][0]["outputVariables"] == {"decision": "proceed"}

    app.store.bus.wait()
    sqs = client("sqs")
    changes: list[tuple[str, str, str]] = []
    while messages := sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            detail: dict[str, Any] = json.loads(message["Body"])["detail"]
            changes.append((detail.get("stage", ""), detail.get("action", ""), detail["state"]))
            sqs.delete_message(QueueUrl=inbox, ReceiptHandle=message["ReceiptHandle"])
    each = [("", ""), ("Source", ""), ("Source", "Fetch"), ("Gate", ""), ("Gate", "Gate")]
    assert sorted(changes) == sorted((*what, state) for what in each for state in ("STARTED", "SUCCEEDED"))


def finished(client: Client, pipeline: str, execution: str) -> str:
    codepipeline, deadline = client("codepipeline"), time.monotonic() + 60
    while time.monotonic() < deadline:
        found = codepipeline.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution)
        if found["pipelineExecution"]["status"] != "InProgress":
            break
        time.sleep(0.1)
    return str(found["pipelineExecution"]["status"])


def test_a_pipeline_whose_role_may_not_invoke_the_function_fails_the_action_and_the_refusal_is_counted(
    endpoint: str, client: Client
) -> None:
    pipeline = pipeline_invoking(client, deploy_answerer(client), may_invoke=False)
    refused_before = control(endpoint, "GET", "/_sandbox/iam/deliveries")[1]["refused"]
    execution = client("codepipeline").start_pipeline_execution(name=pipeline)["pipelineExecutionId"]
    assert finished(client, pipeline, execution) == "Failed"
    [gate] = client("codepipeline").get_pipeline_state(name=pipeline)["stageStates"][1]["actionStates"]
    message = gate["latestExecution"]["errorDetails"]["message"]
    assert message.startswith("CodePipeline may not invoke answerer-")
    assert "lambda:InvokeFunction" in message
    assert control(endpoint, "GET", "/_sandbox/iam/deliveries")[1]["refused"] == refused_before + 1
