"""The sandbox's gap-filled moto server for gating tests: CodePipeline jobs, approvals and executions.

moto lacks CodePipeline jobs, approvals, executions and PutCompositeAlarm; `sandbox.gaps` fills them.
One server per test module; every test gets an account of its own (MOTO_ACCOUNT_ID, which moto and the
gap fillers read per request), so tests never see each other's pipelines, alarms or tables.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, cast

import boto3
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.gating import config as config_module
from functions.gating.policy import Gating
from functions.shared import clients, runtime, settings
from functions.shared.observability import logger
from functions.shared.runtime import Runtime
from functions.shared.switches import SwitchState, parameter_name
from sandbox.gaps.app import SandboxApp, serving
from sandbox.gaps.cloudwatch import alarm_state_change
from tests.support.clock import Clock
from tests.support.deployed import PATH, Deployed, deploy
from tests.support.sandbox_server import control

REGION = "us-east-1"
PIPELINE = "web-app"
GATE_FUNCTION = "deckhand-gate"
IDEMPOTENCY_TABLE = "deckhand-gate-deliveries"


def put_5xx_alarm(cloudwatch: Any, name: str, tags: dict[str, str] | None = None) -> None:
    """A metric alarm on a load balancer's 5xx count, like the estate's."""
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )


def serve(app: SandboxApp | None = None) -> Iterator[str]:
    """`app` (default `make_app()`) on a free port in a thread, for as long as the caller iterates (a fixture)."""
    with serving(app) as endpoint:
        yield endpoint


def action(name: str, category: str, provider: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
        **extra,
    }


@dataclass
class GatingSandbox:
    endpoint: str
    account: str
    deployed: Deployed
    clock: Clock

    @property
    def runtime(self) -> Runtime:
        return self.deployed.runtime

    def live(self) -> GatingSandbox:
        """Leave dry run, as a policy with defaults.dry_run: false does."""
        runtime_now = self.deployed.runtime
        self.deployed.runtime = replace(runtime_now, settings=replace(runtime_now.settings, default_dry_run=False))
        return self

    def events(self, detail_type: str, **detail: Any) -> list[dict[str, Any]]:
        """The events the sandbox's CodePipeline emitted, of one type, whose detail has these values."""
        emitted = self.control("GET", "/_sandbox/events")["events"]
        return [
            e
            for e in emitted
            if e["account"] == self.account
            and e["detail-type"] == detail_type
            and all(e["detail"].get(k.replace("_", "-")) == v for k, v in detail.items())
        ]

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.endpoint + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path}: {error.code} {error.read()!r}") from None

    # --- pipelines --------------------------------------------------------------------------

    def create_pipeline(
        self, name: str = PIPELINE, user_parameters: str | None = None, *, approval_after_deploy: bool = False
    ) -> str:
        """Source -> Gate (Invoke the gate) -> Approve (manual) -> Deploy, like the sandbox estate; with
        `approval_after_deploy`, a last manual approval ProdApproval/Approval after the gated Deploy."""
        trust = {
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ]
        }
        role = self.client("iam").create_role(RoleName=f"{name}-pipeline", AssumeRolePolicyDocument=json.dumps(trust))
        configuration = {"FunctionName": GATE_FUNCTION}
        if user_parameters is not None:
            configuration["UserParameters"] = user_parameters
        self.client("codepipeline").create_pipeline(
            pipeline={
                "name": name,
                "roleArn": role["Role"]["Arn"],
                "artifactStore": {"type": "S3", "location": "artifacts"},
                "stages": [
                    {"name": "Source", "actions": [action("Fetch", "Source", "S3", outputArtifacts=[{"name": "src"}])]},
                    {"name": "Gate", "actions": [action("Check", "Invoke", "Lambda", configuration=configuration)]},
                    {"name": "Approve", "actions": [action("Approval", "Approval", "Manual")]},
                    {"name": "Deploy", "actions": [action("Ship", "Deploy", "S3", inputArtifacts=[{"name": "src"}])]},
                    *(
                        [{"name": "ProdApproval", "actions": [action("Approval", "Approval", "Manual")]}]
                        if approval_after_deploy
                        else []
                    ),
                ],
            }
        )
        return name

    def start(self, pipeline: str = PIPELINE, variables: dict[str, str] | None = None) -> str:
        extra = {"variables": [{"name": k, "value": v} for k, v in variables.items()]} if variables else {}
        return str(self.client("codepipeline").start_pipeline_execution(name=pipeline, **extra)["pipelineExecutionId"])

    def advance(
        self, execution: str, stage: str, status: str, pipeline: str = PIPELINE, at: datetime | None = None
    ) -> Any:
        body = {"pipeline": pipeline, "execution_id": execution, "stage": stage, "status": status}
        if at is not None:
            body["at"] = at.isoformat()
        return self.control("POST", "/_sandbox/codepipeline/advance", body)

    def new_job(
        self, pipeline: str = PIPELINE, user_parameters: str | None = None, execution: str | None = None
    ) -> dict[str, Any]:
        """A job for the Gate stage's Invoke action, as CodePipeline would send it to Lambda."""
        body: dict[str, Any] = {
            "pipeline": pipeline,
            "stage": "Gate",
            "action": "Check",
            "function_name": GATE_FUNCTION,
        }
        if user_parameters is not None:
            body["user_parameters"] = user_parameters
        if execution is not None:
            body["execution_id"] = execution
        return dict(self.control("POST", "/_sandbox/codepipeline/job", body))

    def redeliver(self, job_id: str) -> dict[str, Any]:
        """The event of the job that continues `job_id`: a job answered with a continuation token ends, and
        CodePipeline sends a new job for the same action carrying the token."""
        return dict(self.control("GET", f"/_sandbox/codepipeline/job/{self.job(job_id)['continued_by']}"))

    def at_gate(
        self, pipeline: str = PIPELINE, user_parameters: str | None = None, **start: Any
    ) -> tuple[str, dict[str, Any]]:
        execution = self.start(pipeline, **start)
        self.advance(execution, "Source", "Succeeded", pipeline)
        return execution, self.new_job(pipeline, user_parameters, execution)

    def state(self) -> dict[str, Any]:
        return dict(self.control("GET", "/_sandbox/state"))

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(next(job for job in self.state()["jobs"] if job["id"] == job_id))

    def approvals(self) -> list[dict[str, Any]]:
        return list(self.state()["approvals"])

    def stages(self, pipeline: str = PIPELINE) -> dict[str, dict[str, Any]]:
        state = self.client("codepipeline").get_pipeline_state(name=pipeline)
        return {s["stageName"]: s for s in state["stageStates"]}

    # --- alarms, metrics, switches ------------------------------------------------------

    def metric_alarm(self, name: str, state: str = "OK", reason: str = "", tags: dict[str, str] | None = None) -> str:
        cloudwatch = self.client("cloudwatch")
        put_5xx_alarm(cloudwatch, name, tags)
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason or f"set to {state} by a test")
        return name

    def alarm_event(self, name: str, state: str, reason: str = "Threshold Crossed") -> dict[str, Any]:
        return alarm_state_change(self.client("cloudwatch"), name, state, reason, self.clock.now)

    def put_counts(
        self, metric: str, per_minute: float, minutes: int, dimensions: dict[str, str] | None = None
    ) -> None:
        """`per_minute` datapoints of AWS/ApplicationELB `metric` for each of the last `minutes` minutes."""
        data = [
            {
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in (dimensions or {}).items()],
                "Timestamp": self.clock.now - timedelta(minutes=ago, seconds=30),
                "Value": per_minute,
                "Unit": "Count",
            }
            for ago in range(minutes)
        ]
        for start in range(0, len(data), 500):
            self.client("cloudwatch").put_metric_data(
                Namespace="AWS/ApplicationELB", MetricData=data[start : start + 500]
            )

    def switch(
        self, name: str, *, reason: str = "test", hours: int = 2, set_by: str = "alice", refresh: bool = True
    ) -> None:
        """Set a switch in Parameter Store; `refresh` False leaves the runtime's cached read of the switches as it was
        (a warm function that read them before)."""
        state = SwitchState(
            name=name,
            on=True,
            reason=reason,
            expires_at=self.clock.now + timedelta(hours=hours),
            set_by=set_by,
            set_at=self.clock.now,
        )
        self.client("ssm").put_parameter(
            Name=parameter_name(PATH, name), Value=json.dumps(state.document()), Type="String", Overwrite=True
        )
        if refresh:
            self.runtime.switches.read(fresh=True)

    def environment(self, monkeypatch: pytest.MonkeyPatch, policy: Gating) -> None:
        """The deployed function's environment, for tests of the real `handler` (real clock, own runtime)."""
        config = self.runtime.settings
        for name, value in {
            "DECKHAND_NAME_PREFIX": config.name_prefix,
            "DECKHAND_AUDIT_TABLE": config.audit_table,
            "DECKHAND_TOPIC_ARN": config.topic_arn,
            "DECKHAND_SWITCHES_PATH": config.switches_path,
            "DECKHAND_DRY_RUN": str(config.default_dry_run).lower(),
            "DECKHAND_AUDIT_RETENTION_DAYS": str(config.audit_retention_days),
            "DECKHAND_SWITCH_CACHE_SECONDS": str(config.switch_cache_seconds),
            "DECKHAND_SWITCH_MAX_HOURS": str(config.switch_max_hours),
            "DECKHAND_PROTECT_TAG": config.protect_tag,
            "DECKHAND_GATING": policy.model_dump_json(),
        }.items():
            monkeypatch.setenv(name, value)
        forget_environment()

    def notifications(self) -> list[dict[str, str]]:
        return self.deployed.notifications()

    def audit_items(self) -> list[dict[str, Any]]:
        return self.deployed.audit_items()


def forget_environment() -> None:
    """Drop what a container caches from its environment: settings, runtime, gating section."""
    for cached in (settings.settings, runtime.runtime, config_module.gating):
        cached.cache_clear()


def make_idempotency_table(name: str = IDEMPOTENCY_TABLE) -> str:
    """As Powertools' DynamoDBPersistenceLayer expects by default: partition key `id`, TTL on `expiration`."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
    )
    return name


def open_sandbox(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> GatingSandbox:
    """A fresh account in the running server, with what the stack gives every gating function."""
    account = "".join(secrets.choice("0123456789") for _ in range(12))
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "MOTO_ACCOUNT_ID": account,
        "DECKHAND_IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    clients.reset()
    clock = Clock()
    deployed = deploy()
    deployed.runtime = replace(deployed.runtime, clock=clock)
    make_idempotency_table()
    return GatingSandbox(endpoint=endpoint, account=account, deployed=deployed, clock=clock)


def gating(*gates: dict[str, Any]) -> Gating:
    return Gating.model_validate({"enabled": True, "gates": list(gates)})


def web_app_gate(**overrides: Any) -> dict[str, Any]:
    """The gate the sandbox estate deploys: web-app's Deploy stage, held by its 5xx alarm; it answers the
    manual approval before it (`create_pipeline`'s Approve/Approval)."""
    return {
        "pipeline": PIPELINE,
        "stage": "Deploy",
        "alarms": {"names": ["web-app-5xx"]},
        "approvals": ["Approve/Approval"],
        **overrides,
    }


def secrets_of(event: dict[str, Any]) -> list[str]:
    credentials = event["CodePipeline.job"]["data"]["artifactCredentials"]
    return [credentials["secretAccessKey"], credentials["sessionToken"], credentials["accessKeyId"]]


@pytest.fixture(scope="module")
def gaps_endpoint() -> Iterator[str]:
    """One gap-filled server per test module (conftest.py files re-export this fixture), whose executions the tests
    drive (`advance`, `new_job`) instead of letting them run by themselves."""
    for endpoint in serve():
        assert control(endpoint, "POST", "/_sandbox/codepipeline/runner", {"self_running": False})[0] == 200
        yield endpoint


@pytest.fixture
def sandbox(gaps_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[GatingSandbox]:
    yield open_sandbox(monkeypatch, gaps_endpoint)
    forget_environment()
    clients.reset()


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Everything the functions' Powertools logger writes, as Lambda would ship it to CloudWatch Logs."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


@dataclass(frozen=True)
class FakeContext:
    """Enough of a LambdaContext for Powertools (logger keys, idempotency's remaining-time check)."""

    function_name: str = GATE_FUNCTION
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:{GATE_FUNCTION}"
    aws_request_id: str = field(default_factory=lambda: secrets.token_hex(16))

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def fake_context() -> LambdaContext:
    return cast(LambdaContext, FakeContext())
