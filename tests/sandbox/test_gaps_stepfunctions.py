"""Step Functions executed by the sandbox server: a hand-written state machine deployed through CloudFormation runs
its Lambda tasks and its Distributed Map as the state machine's role, with IAM enforced, and answers the execution
APIs as the model says."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from sandbox import ACCOUNT
from sandbox.gaps import stepfunctions
from sandbox.gaps.stepfunctions import TIME_SCALE_ROUTE, TRANSITIONS_ROUTE, billed, exceeds_tolerance, lambda_error
from sandbox.runner import BOOTSTRAP_QUALIFIER
from tests.support.gating import serve
from tests.support.payloads import JSON_VALUES
from tests.support.sandbox_server import Client, assumed_client, control, error_code

REGION = "ap-northeast-3"  # this module's own: moto's backends are process-wide
BUCKET = "sfn-items"
# The task every state machine here runs: it answers its item doubled, or fails when the item says so.
WORK = """
def handler(event, context):
    if "fail" in event:
        raise RuntimeError(event["fail"])
    return {"n": event["n"], "doubled": event["n"] * 2}
"""
TRUSTS_STATES = {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
MAY_INVOKE_AND_USE_THE_BUCKET: list[dict[str, Any]] = [
    {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"},
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::{BUCKET}/*"},
]


@pytest.fixture(scope="module")
def region() -> str:
    return REGION


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MOTO_ACCOUNT_ID"):
            env.delenv(name, raising=False)
        env.setenv("DECKHAND_SANDBOX_DIR", str(tmp_path_factory.mktemp("sandbox")))
        yield from serve()


@pytest.fixture(scope="module")
def function(client: Client) -> str:
    """The task's function, its code an asset in the bootstrap bucket as `cdk deploy` leaves it: its ARN."""
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("work.py", WORK)
    code = data.getvalue()
    assets, key = f"cdk-{BOOTSTRAP_QUALIFIER}-assets-{ACCOUNT}-{REGION}", f"{hashlib.sha256(code).hexdigest()}.zip"
    s3 = client("s3")
    configuration = {"LocationConstraint": REGION}
    s3.create_bucket(Bucket=assets, CreateBucketConfiguration=configuration)
    s3.put_object(Bucket=assets, Key=key, Body=code)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration=configuration)
    trust = {"Statement": [{**TRUSTS_STATES, "Principal": {"Service": "lambda.amazonaws.com"}}]}
    role = client("iam").create_role(RoleName="sfn-work", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    return str(
        client("lambda").create_function(
            FunctionName="sfn-work",
            Runtime="python3.12",
            Role=role,
            Handler="work.handler",
            Code={"S3Bucket": assets, "S3Key": key},
        )["FunctionArn"]
    )


def deploy(
    client: Client,
    definition: dict[str, Any],
    *,
    statements: list[dict[str, Any]] | None = None,
    trusts: str = "states.amazonaws.com",
    for_machine: str = "",
) -> str:
    """`definition` deployed through CloudFormation with a role of its own (allowed `statements`, trusting
    `trusts`, on behalf of the state machine named `for_machine` only if one is named): the state machine's ARN."""
    name = f"sm-{uuid.uuid4().hex[:8]}"
    trust: dict[str, Any] = {**TRUSTS_STATES, "Principal": {"Service": trusts}}
    if for_machine:
        source = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{for_machine.replace('SELF', name)}"
        trust["Condition"] = {"ArnEquals": {"aws:SourceArn": source}}
    template = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust]},
                    "Policies": [
                        {
                            "PolicyName": "work",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": MAY_INVOKE_AND_USE_THE_BUCKET if statements is None else statements,
                            },
                        }
                    ],
                },
            },
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": name,
                    "DefinitionString": json.dumps(definition),
                    "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                },
            },
        }
    }
    cloudformation = client("cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"


def run(client: Client, machine: str, given: Any = None, timeout: float = 60) -> dict[str, Any]:
    """One execution of `machine`, started as the AWS CLI starts one, once it has finished: DescribeExecution."""
    started = client("stepfunctions").start_execution(stateMachineArn=machine, input=json.dumps(given or {}))
    return engine().wait(started["executionArn"], timeout)


def engine() -> stepfunctions.StateMachines:
    return stepfunctions.current()


def without_end(state: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in state.items() if key != "End"}


def task(function: str, **extra: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function, "Payload.$": "$"},
        "OutputPath": "$.Payload",
        "End": True,
        **extra,
    }


def test_a_deployed_lambda_task_runs_the_handler_as_the_state_machine_role(client: Client, function: str) -> None:
    machine = deploy(client, {"StartAt": "Work", "States": {"Work": task(function)}})

    done = run(client, machine, {"n": 21})

    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"n": 21, "doubled": 42}


def test_a_bare_function_arn_task_runs_the_handler_too(client: Client, function: str) -> None:
    machine = deploy(
        client, {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": function, "End": True}}}
    )

    done = run(client, machine, {"n": 2})

    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"n": 2, "doubled": 4}


def test_an_sdk_integration_calls_as_a_session_of_the_state_machine_role(client: Client) -> None:
    whoami = {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sts:getCallerIdentity", "End": True}
    machine = deploy(client, {"StartAt": "WhoAmI", "States": {"WhoAmI": whoami}})
    role = client("cloudformation").describe_stack_resource(
        StackName=machine.rsplit(":", 1)[1], LogicalResourceId="Role"
    )

    done = run(client, machine)

    assert done["status"] == "SUCCEEDED", done
    name = role["StackResourceDetail"]["PhysicalResourceId"]
    assert json.loads(done["output"])["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{stepfunctions.SESSION}"


@pytest.mark.parametrize("resource", ["integration", "bare"])
def test_a_role_that_may_not_invoke_the_function_fails_the_state_as_step_functions_does(
    client: Client, function: str, resource: str
) -> None:
    work = task(function) if resource == "integration" else {"Type": "Task", "Resource": function, "End": True}
    only_the_bucket = [MAY_INVOKE_AND_USE_THE_BUCKET[1]]
    machine = deploy(client, {"StartAt": "Work", "States": {"Work": work}}, statements=only_the_bucket)

    done = run(client, machine, {"n": 1})

    assert done["status"] == "FAILED"
    assert done["error"] == "Lambda.AWSLambdaException"
    assert "lambda:InvokeFunction" in done["cause"]
    assert "Error Code: AccessDeniedException" in done["cause"]


def test_a_role_that_does_not_trust_step_functions_runs_no_task(client: Client, function: str) -> None:
    machine = deploy(client, {"StartAt": "Work", "States": {"Work": task(function)}}, trusts="lambda.amazonaws.com")

    done = run(client, machine, {"n": 1})

    assert done["status"] == "FAILED"
    assert "states.amazonaws.com may not assume" in done["cause"]


@pytest.mark.parametrize(("for_machine", "succeeds"), [("SELF", True), ("another", False)])
def test_a_trust_conditioned_on_the_source_admits_its_own_state_machine_only(
    client: Client, function: str, for_machine: str, succeeds: bool
) -> None:
    machine = deploy(client, {"StartAt": "Work", "States": {"Work": task(function)}}, for_machine=for_machine)

    done = run(client, machine, {"n": 1})

    assert (done["status"] == "SUCCEEDED") is succeeds


def test_retry_backs_off_as_the_state_says_without_sleeping(client: Client, function: str) -> None:
    retry = {"ErrorEquals": ["RuntimeError"], "IntervalSeconds": 3, "BackoffRate": 2, "MaxAttempts": 3}
    machine = deploy(
        client, {"StartAt": "Work", "States": {"Work": task(function, Retry=[{**retry, "MaxDelaySeconds": 5}])}}
    )
    asked = len(engine().waits)
    began = time.monotonic()

    done = run(client, machine, {"fail": "flaky"})

    assert done["status"] == "FAILED"
    assert done["error"] == "RuntimeError"
    assert engine().waits[asked:] == [3, 5, 5]  # 3, then 6 and 12 capped at MaxDelaySeconds
    assert engine().transitions(done["executionArn"]) == 4  # the task entered, then each of its 3 retries
    assert time.monotonic() - began < 10  # 13 s of backoff, not slept


def test_full_jitter_waits_at_most_the_backoff_it_randomizes(client: Client, function: str) -> None:
    retry = {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "BackoffRate": 2, "MaxAttempts": 6}
    jittered = {**retry, "MaxDelaySeconds": 120, "JitterStrategy": "FULL"}  # as the fan-out's LambdaInvoke retries
    machine = deploy(client, {"StartAt": "Work", "States": {"Work": task(function, Retry=[jittered])}})
    asked = len(engine().waits)

    done = run(client, machine, {"fail": "throttled"})

    assert done["status"] == "FAILED"
    waits = engine().waits[asked:]
    assert len(waits) == 6
    assert all(0 <= wait <= 2 * 2**attempt for attempt, wait in enumerate(waits))
    assert waits != [2, 4, 8, 16, 32, 64]  # randomized, not the backoff itself


def test_retry_waits_sleep_on_the_time_scale_the_sandbox_sets(client: Client, endpoint: str, function: str) -> None:
    retry = {"ErrorEquals": ["RuntimeError"], "IntervalSeconds": 1, "MaxAttempts": 1}
    machine = deploy(client, {"StartAt": "Work", "States": {"Work": task(function, Retry=[retry])}})
    assert control(endpoint, "POST", TIME_SCALE_ROUTE, {"time_scale": -1})[0] == 400
    assert control(endpoint, "POST", TIME_SCALE_ROUTE, {"time_scale": 0.5}) == (200, {"time_scale": 0.5})
    try:
        began = time.monotonic()
        assert run(client, machine, {"fail": "once"})["status"] == "FAILED"
        assert time.monotonic() - began >= 0.5  # the 1 s wait, half slept
    finally:
        control(endpoint, "POST", TIME_SCALE_ROUTE, {"time_scale": 0})


def test_the_history_counts_the_state_transitions(client: Client, endpoint: str, function: str) -> None:
    machine = deploy(
        client,
        {
            "StartAt": "Hello",
            "States": {
                "Hello": {"Type": "Pass", "Next": "Work"},
                "Work": {**without_end(task(function)), "Next": "Done"},
                "Done": {"Type": "Succeed"},
            },
        },
    )
    done = run(client, machine, {"n": 1})
    sfn = client("stepfunctions")

    events = sfn.get_execution_history(executionArn=done["executionArn"])["events"]

    types = [event["type"] for event in events]
    assert types[0] == "ExecutionStarted"
    assert types[-1] == "ExecutionSucceeded"
    assert [t for t in types if t.endswith("StateEntered")] == [
        "PassStateEntered",
        "TaskStateEntered",
        "SucceedStateEntered",
    ]
    assert "TaskSucceeded" in types
    assert engine().transitions(done["executionArn"]) == 3
    counted = control(endpoint, "GET", f"{TRANSITIONS_ROUTE}?execution={done['executionArn']}")
    assert counted == (200, {"execution": done["executionArn"], "transitions": 3})
    listed = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert [(e["executionArn"], e["status"]) for e in listed] == [(done["executionArn"], "SUCCEEDED")]


def test_the_aws_cli_starts_and_reads_an_execution(endpoint: str, passing: str, tmp_path: Path) -> None:
    """As the tutorial's other commands run: the AWS CLI pointed at the sandbox by AWS_ENDPOINT_URL."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }

    def aws(*arguments: str) -> Any:
        return json.loads(subprocess.run(["aws", *arguments], env=env, capture_output=True, check=True).stdout)

    started = aws("stepfunctions", "start-execution", "--state-machine-arn", passing, "--input", '{"from": "cli"}')
    engine().wait(started["executionArn"])
    described = aws("stepfunctions", "describe-execution", "--execution-arn", started["executionArn"])
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"from": "cli"}


def test_a_wait_state_waits_on_the_time_scale_and_stop_execution_ends_it(client: Client, endpoint: str) -> None:
    machine = deploy(client, {"StartAt": "Sleep", "States": {"Sleep": {"Type": "Wait", "Seconds": 600, "End": True}}})
    sfn = client("stepfunctions")
    asked = len(engine().waits)
    assert run(client, machine, timeout=10)["status"] == "SUCCEEDED"  # 600 s, not slept
    assert engine().waits[asked:] == [600]
    control(endpoint, "POST", TIME_SCALE_ROUTE, {"time_scale": 1})
    try:
        started = sfn.start_execution(stateMachineArn=machine)

        sfn.stop_execution(executionArn=started["executionArn"], error="Operator", cause="enough")

        assert engine().wait(started["executionArn"], timeout=10)["status"] == "ABORTED"
    finally:
        control(endpoint, "POST", TIME_SCALE_ROUTE, {"time_scale": 0})


def distributed_map(function: str, **extra: Any) -> dict[str, Any]:
    """A Distributed Map as aws-cdk-lib renders one (DistributedMap with S3JsonItemReader, ResultWriterV2, an
    ItemSelector), its items and results where the input's plan says."""
    work = task(function)
    return {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "Label": "fan",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSON"},
                    "Parameters": {"Bucket": BUCKET, "Key.$": "$.plan.items_key"},
                },
                "ItemSelector": {"step": "scope", "item.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Work",
                    "States": {"Work": {**work, "Parameters": {**work["Parameters"], "Payload.$": "$.item"}}},
                },
                "MaxConcurrency": 2,
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket": BUCKET, "Prefix.$": "$.plan.results_prefix"},
                },
                "ResultPath": "$.map",
                "End": True,
                **extra,
            }
        },
    }


PLAN = {"plan": {"items_key": "items.json", "results_prefix": "results"}}


ITEMS = [{"n": n} for n in range(1, 6)] + [{"fail": "account 6 refused"}]


def read(client: Client, key: str) -> Any:
    return json.loads(client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_a_distributed_map_reads_its_items_from_s3_and_writes_aws_result_files(client: Client, function: str) -> None:
    client("s3").put_object(Bucket=BUCKET, Key="items.json", Body=json.dumps(ITEMS).encode())
    machine = deploy(client, distributed_map(function, ToleratedFailurePercentage=20))

    done = run(client, machine, PLAN)

    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])["map"]
    run_id = output["MapRunArn"].rsplit(":", 1)[1]
    assert output["ResultWriterDetails"] == {"Bucket": BUCKET, "Key": f"results/{run_id}/manifest.json"}
    manifest = read(client, f"results/{run_id}/manifest.json")
    assert manifest["DestinationBucket"] == BUCKET
    assert manifest["MapRunArn"] == output["MapRunArn"]
    assert [file["Key"] for file in manifest["ResultFiles"]["SUCCEEDED"]] == [f"results/{run_id}/SUCCEEDED_0.json"]
    assert [file["Key"] for file in manifest["ResultFiles"]["FAILED"]] == [f"results/{run_id}/FAILED_0.json"]
    assert manifest["ResultFiles"]["PENDING"] == []
    succeeded = read(client, f"results/{run_id}/SUCCEEDED_0.json")
    assert sorted(json.loads(r["Output"])["doubled"] for r in succeeded) == [2, 4, 6, 8, 10]
    (failed,) = read(client, f"results/{run_id}/FAILED_0.json")
    assert failed["Status"] == "FAILED"
    assert failed["Error"] == "RuntimeError"
    assert json.loads(failed["Input"]) == {"step": "scope", "item": {"fail": "account 6 refused"}}
    name = machine.rsplit(":", 1)[1]
    assert all(f":execution:{name}/fan:" in r["ExecutionArn"] for r in [*succeeded, failed])  # labelled executions
    assert engine().transitions(done["executionArn"]) == 1 + len(ITEMS)  # the Map state, each child's one task
    described = client("stepfunctions").describe_map_run(mapRunArn=output["MapRunArn"])
    assert described["itemCounts"]["succeeded"] == 5
    assert described["itemCounts"]["failed"] == 1
    assert described["maxConcurrency"] == 2


def test_a_map_run_past_its_tolerated_failures_fails(client: Client, function: str) -> None:
    client("s3").put_object(Bucket=BUCKET, Key="items.json", Body=json.dumps(ITEMS).encode())
    machine = deploy(client, distributed_map(function, ToleratedFailurePercentage=10))

    done = run(client, machine, PLAN)

    assert done["status"] == "FAILED"
    assert done["error"] == "States.ExceedToleratedFailureThreshold"


def test_a_map_run_starts_no_item_once_past_its_tolerated_failures(client: Client, function: str) -> None:
    failing_first = [{"fail": "refused"}, *({"n": n} for n in range(1, 10))]
    client("s3").put_object(Bucket=BUCKET, Key="items.json", Body=json.dumps(failing_first).encode())
    machine = deploy(client, distributed_map(function, MaxConcurrency=1, ToleratedFailurePercentage=5))

    done = run(client, machine, PLAN)

    assert done["error"] == "States.ExceedToleratedFailureThreshold"
    history = client("stepfunctions").get_execution_history(executionArn=done["executionArn"])["events"]
    (started,) = [e["mapRunStartedEventDetails"]["mapRunArn"] for e in history if e["type"] == "MapRunStarted"]
    counts = client("stepfunctions").describe_map_run(mapRunArn=started)["itemCounts"]
    assert (counts["total"], counts["failed"], counts["succeeded"]) == (1, 1, 0)  # 1 of 10 > 5 %: nothing after it
    run_id = started.rsplit(":", 1)[1]
    manifest = read(client, f"results/{run_id}/manifest.json")  # written all the same
    assert [f["Key"] for f in manifest["ResultFiles"]["FAILED"]] == [f"results/{run_id}/FAILED_0.json"]
    assert manifest["ResultFiles"]["SUCCEEDED"] == []
    pending = read(client, f"results/{run_id}/PENDING_0.json")
    assert [json.loads(r["Input"]) for r in pending] == failing_first[1:]
    assert {r["Status"] for r in pending} == {"PENDING"}


@pytest.mark.parametrize(
    ("failed", "total", "count", "percentage", "fails"),
    [
        (0, 5, 0, 0.0, False),
        (1, 5, 0, 0.0, True),  # no threshold set: one failure fails the run
        (1, 5, 1, 0.0, False),
        (2, 5, 1, 0.0, True),
        (1, 5, 0, 20.0, False),
        (2, 5, 0, 20.0, True),
        (2, 5, 5, 20.0, True),  # past either threshold
    ],
)
def test_tolerance(failed: int, total: int, count: int, percentage: float, fails: bool) -> None:
    assert exceeds_tolerance(failed, total, count, percentage) is fails


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("TooManyRequestsException", "Lambda.TooManyRequestsException"),  # in Lambda's model: its own name
        ("ServiceException", "Lambda.ServiceException"),
        ("AccessDeniedException", "Lambda.AWSLambdaException"),  # not in Lambda's model: the SDK's generic one
    ],
)
def test_a_refused_lambda_call_is_named_as_step_functions_names_it(code: str, error: str) -> None:
    response: Any = {"Error": {"Code": code, "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": 429}}

    named, cause = lambda_error(ClientError(response, "Invoke"))

    assert named == error
    assert cause == f"no (Service: AWSLambda; Status Code: 429; Error Code: {code}; Request ID: ; Proxy: null)"


def test_transitions_are_the_states_entered_and_the_retries() -> None:
    history = [
        {"type": kind}
        for kind in (
            "ExecutionStarted",
            "PassStateEntered",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskFailed",
            "TaskScheduled",  # a retry
            "TaskSucceeded",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionSucceeded",
            "SucceedStateEntered",
            "ExecutionSucceeded",
        )
    ]

    assert billed(history) == 4 + 1


@pytest.fixture(scope="module")
def passing(client: Client) -> str:
    return deploy(client, {"StartAt": "Same", "States": {"Same": {"Type": "Pass", "End": True}}})


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(given_input=st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=4))
def test_any_json_input_passes_through_as_it_went(client: Client, passing: str, given_input: dict[str, Any]) -> None:
    done = run(client, passing, given_input)

    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == given_input


def test_input_that_is_not_json_is_refused(client: Client, passing: str) -> None:
    assert (
        error_code(lambda: client("stepfunctions").start_execution(stateMachineArn=passing, input="{not json"))
        == "InvalidExecutionInput"
    )


def test_starting_an_execution_is_authorized_on_the_state_machine(client: Client, passing: str) -> None:
    trust = {"Statement": [{**TRUSTS_STATES, "Principal": {"Service": "lambda.amazonaws.com"}}]}
    iam = client("iam")
    role = iam.create_role(RoleName="sfn-starter", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    name = passing.rsplit(":", 1)[1]
    allowed = [
        {"Effect": "Allow", "Action": "states:StartExecution", "Resource": passing},
        {"Effect": "Allow", "Action": "states:DescribeExecution", "Resource": f"arn:aws:states:*:*:execution:{name}:*"},
    ]
    iam.put_role_policy(
        RoleName="sfn-starter",
        PolicyName="start",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": allowed}),
    )
    sfn = assumed_client(client, role, "starter", "stepfunctions")

    started = sfn.start_execution(stateMachineArn=passing, input="{}")
    assert sfn.describe_execution(executionArn=started["executionArn"])["stateMachineArn"] == passing
    other = passing.replace(":stateMachine:", ":stateMachine:other-")
    assert error_code(lambda: sfn.start_execution(stateMachineArn=other, input="{}")) == "AccessDeniedException"
    assert error_code(lambda: sfn.list_executions(stateMachineArn=passing)) == "AccessDeniedException"


def test_moto_in_a_test_process_keeps_its_default_beside_the_server(endpoint: str) -> None:
    """The interpreter runs the sandbox server's executions only: moto in the same process, as a unit test mocks
    it, keeps its own non-executing backend (which takes any definition and leaves an execution RUNNING)."""
    mocked = mock_aws()
    mocked.start(reset=False)  # moto's backends are the server's too: neither reset nor removed here
    try:
        sfn = boto3.client("stepfunctions", region_name=REGION)
        role = f"arn:aws:iam::{ACCOUNT}:role/any"
        created = sfn.create_state_machine(name="not-asl", definition="{}", roleArn=role)
        started = sfn.start_execution(stateMachineArn=created["stateMachineArn"])

        assert sfn.describe_execution(executionArn=started["executionArn"])["status"] == "RUNNING"
    finally:
        mocked.stop(remove_data=False)
