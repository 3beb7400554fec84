"""Gap fillers over moto: the one module of the project that imports moto internals.

moto serves most of AWS; this module answers what it lacks or stubs (CodePipeline jobs, approvals and a
pipeline runtime, Lambda provisioned concurrency, `/_sandbox/` control routes), seeds the reserved
Powertools parameter and layer, exposes moto's EventBridge pattern matcher, and builds the alarm state
change events CloudWatch would emit. It also plays what moto never does: an AWS error on one call
(`/_sandbox/failures`), so a scenario can show that one failed action does not stop the others, and
DynamoDB's partial BatchWriteItem (`UnprocessedItems`), so a writer's retries can be seen at work. Its
CloudFormation creates EventBridge Scheduler groups and schedules (moto's skips them), and Auto Scaling
answers DescribeInstanceRefreshes (moto runs no instance refresh).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import secrets
import string
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaFunction
from moto.awslambda.models import Permission as LambdaPermission
from moto.awslambda.utils import get_backend as lambda_backend
from moto.cloudformation import parsing as cloudformation_parsing
from moto.cloudformation.models import cloudformation_backends
from moto.cloudwatch.models import cloudwatch_backends
from moto.codepipeline.models import codepipeline_backends
from moto.core.common_models import CloudFormationModel
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import ec2_backends
from moto.ecr.models import ecr_backends
from moto.ecs.exceptions import ECSException
from moto.ecs.models import ecs_backends
from moto.events.models import EventPattern
from moto.iam.models import get_account_id_from
from moto.kms.models import Key as KmsKey
from moto.kms.models import KmsBackend
from moto.logs.models import logs_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.scheduler.models import EventBridgeSchedulerBackend, scheduler_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from moto.ssm.models import Parameter, ssm_backends
from moto.ssm.models import Parameter as SsmParameter
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import make_server as werkzeug_make_server
from werkzeug.wrappers import Request, Response

from sandbox import REGION, scalable_target_tags
from sandbox.iam import actions, deliveries, enforce, policies, requests
from sandbox.iam.simulator import Simulator

JSON = dict[str, Any]

POWERTOOLS_ACCOUNT = "017000801446"
TARGET_PREFIX = "CodePipeline_20150709."
PUT_COMPOSITE_ALARM = "GraniteServiceVersion20100801.PutCompositeAlarm"
PROVISIONED_PATH = re.compile(r"^/2019-09-30/functions/(?P<name>[^/]+)/provisioned-concurrency/?$")
JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
OUTPUT_VARIABLE_KEY = re.compile(r"^[A-Za-z0-9@\-_]+$")
CREDENTIAL_SCOPE = re.compile(r"Credential=(?P<key>[^/,\s]+)/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/")

# Documented CodePipeline limits.
MAX_CONTINUATION_TOKEN = 2048
MAX_FAILURE_MESSAGE = 5000
MAX_EXECUTION_SUMMARY = 2048
MAX_OUTPUT_VARIABLES_BYTES = 122_880
MAX_APPROVAL_SUMMARY = 512
MAX_STOP_REASON = 200
MAX_USER_PARAMETERS = 1000
FAILURE_TYPES = frozenset(
    {
        "JobFailed",
        "ConfigurationError",
        "PermissionError",
        "RevisionOutOfSync",
        "RevisionUnavailable",
        "SystemUnavailable",
    }
)
EVENT_STATE = {
    "InProgress": "STARTED",
    "Succeeded": "SUCCEEDED",
    "Failed": "FAILED",
    "Stopping": "STOPPING",
    "Stopped": "STOPPED",
    "Abandoned": "ABANDONED",
}


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _validation(message: str) -> ApiError:
    return ApiError("ValidationException", message)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_ms_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _random_text(length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


# ----------------------------------------------------------------------------------------------------------------
# CodePipeline runtime model


@dataclass
class ActionRun:
    name: str
    type_id: dict[str, str]
    run_order: int
    configuration: dict[str, str]
    status: str | None = None
    action_execution_id: str = ""
    token: str | None = None
    summary: str | None = None
    last_change: datetime | None = None
    updated_by: str | None = None
    external_execution_id: str | None = None
    error: JSON | None = None
    output_variables: dict[str, str] = field(default_factory=dict)

    @property
    def is_approval(self) -> bool:
        return self.type_id.get("category") == "Approval" and self.type_id.get("provider") == "Manual"


@dataclass
class StageRun:
    name: str
    actions: list[ActionRun]
    status: str | None = None
    last_change: datetime | None = None


@dataclass
class Execution:
    id: str
    account: str
    region: str
    pipeline: str
    pipeline_arn: str
    version: int
    stages: list[StageRun]
    start: datetime
    trigger: dict[str, str]
    execution_type: str = "STANDARD"
    rollback_target: str | None = None
    variables: list[dict[str, str]] = field(default_factory=list)
    status: str = "InProgress"
    last_update: datetime | None = None
    stop_reason: str | None = None

    def stage(self, name: str) -> StageRun | None:
        return next((stage for stage in self.stages if stage.name == name), None)

    def summary(self) -> JSON:
        item: JSON = {
            "pipelineExecutionId": self.id,
            "status": self.status,
            "startTime": self.start.timestamp(),
            "lastUpdateTime": (self.last_update or self.start).timestamp(),
            "sourceRevisions": [],
            "trigger": dict(self.trigger),
            "executionMode": "SUPERSEDED",
            "executionType": self.execution_type,
        }
        if self.stop_reason is not None:
            item["stopTrigger"] = {"reason": self.stop_reason}
        if self.rollback_target:
            item["rollbackMetadata"] = {"rollbackTargetPipelineExecutionId": self.rollback_target}
        return item

    def describe(self) -> JSON:
        item: JSON = {
            "pipelineName": self.pipeline,
            "pipelineVersion": self.version,
            "pipelineExecutionId": self.id,
            "status": self.status,
            "artifactRevisions": [],
            "variables": [{"name": v["name"], "resolvedValue": v["value"]} for v in self.variables],
            "trigger": dict(self.trigger),
            "executionMode": "SUPERSEDED",
            "executionType": self.execution_type,
        }
        if self.rollback_target:
            item["rollbackMetadata"] = {"rollbackTargetPipelineExecutionId": self.rollback_target}
        return item


@dataclass
class Job:
    id: str
    account: str
    region: str
    pipeline: str
    stage: str
    action: str
    execution_id: str
    action_execution_id: str
    pipeline_arn: str
    type_id: dict[str, str]
    configuration: dict[str, str]
    input_artifacts: list[JSON]
    output_artifacts: list[JSON]
    encryption_key: JSON | None
    created: datetime
    status: str = "InProgress"
    continuation_token: str | None = None
    history: list[JSON] = field(default_factory=list)

    def data(self) -> JSON:
        data: JSON = {
            "actionConfiguration": {"configuration": dict(self.configuration)},
            "inputArtifacts": self.input_artifacts,
            "outputArtifacts": self.output_artifacts,
            # Fake, but shaped like the short-lived credentials AWS hands to the action.
            "artifactCredentials": {
                "accessKeyId": "ASIA" + _random_text(16, string.ascii_uppercase + string.digits),
                "secretAccessKey": _random_text(40),
                "sessionToken": _random_text(120),
            },
        }
        if self.continuation_token is not None:
            data["continuationToken"] = self.continuation_token
        if self.encryption_key:
            data["encryptionKey"] = self.encryption_key
        return data

    def lambda_event(self) -> JSON:
        return {"CodePipeline.job": {"id": self.id, "accountId": self.account, "data": self.data()}}

    def details(self) -> JSON:
        data = self.data()
        data["actionTypeId"] = dict(self.type_id)
        data["pipelineContext"] = {
            "pipelineName": self.pipeline,
            "stage": {"name": self.stage},
            "action": {"name": self.action, "actionExecutionId": self.action_execution_id},
            "pipelineArn": self.pipeline_arn,
            "pipelineExecutionId": self.execution_id,
        }
        return {"id": self.id, "accountId": self.account, "data": data}

    def state(self) -> JSON:
        return {
            "id": self.id,
            "pipeline": self.pipeline,
            "stage": self.stage,
            "action": self.action,
            "execution_id": self.execution_id,
            "function_name": self.configuration.get("FunctionName"),
            "status": self.status,
            "continuation_token": self.continuation_token,
            "created": _iso_ms_z(self.created),
            "history": list(self.history),
        }


def _pipeline_definition(account: str, region: str, name: str) -> tuple[JSON, JSON] | None:
    record = codepipeline_backends[account][region].pipelines.get(name)
    if record is None:
        return None
    return record.pipeline, record.metadata


def _require_pipeline(account: str, region: str, name: str) -> tuple[JSON, JSON]:
    found = _pipeline_definition(account, region, name)
    if found is None:
        raise ApiError("PipelineNotFoundException", f"Account '{account}' does not have a pipeline with name '{name}'")
    return found


def _stage_runs(definition: JSON, only_stage: str | None = None) -> list[StageRun]:
    return [
        StageRun(
            name=stage["name"],
            actions=[
                ActionRun(
                    name=action["name"],
                    type_id=dict(action["actionTypeId"]),
                    run_order=int(action.get("runOrder", 1)),
                    configuration=dict(action.get("configuration") or {}),
                )
                for action in stage["actions"]
            ],
        )
        for stage in definition["stages"]
        if only_stage is None or stage["name"] == only_stage
    ]


def _artifacts(definition: JSON | None, declared: Iterable[JSON], pipeline: str) -> list[JSON]:
    store = (definition or {}).get("artifactStore") or {}
    bucket = store.get("location", "codepipeline-artifacts")
    return [
        {
            "name": artifact["name"],
            "revision": None,
            "location": {
                "type": "S3",
                "s3Location": {
                    "bucketName": bucket,
                    "objectKey": f"{pipeline[:20]}/{artifact['name'][:10]}/{_random_text(7)}",
                },
            },
        }
        for artifact in declared
    ]


class Store:
    """Everything the gap fillers remember, behind one lock (the server is threaded)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.jobs: dict[str, Job] = {}
        self.executions: dict[str, Execution] = {}
        self.approval_tokens: dict[str, tuple[str, str, str]] = {}
        self.approvals: list[JSON] = []
        self.events: list[JSON] = []
        self.provisioned: dict[tuple[str, str, str, str], JSON] = {}
        self.failures: list[InjectedFailure] = []
        self.answered_failures: list[JSON] = []
        self.estates: dict[tuple[str, str], JSON] = {}
        self.simulator = Simulator()  # its Node process starts on the first evaluation
        self.deliveries = deliveries.Ledger()
        self.mute_rules: dict[tuple[str, str], dict[str, JSON]] = {}

    # -- state transitions ---------------------------------------------------------------------------------------

    def _emit(self, execution: Execution, detail_type: str, detail: JSON, at: datetime) -> None:
        body: JSON = {
            "pipeline": execution.pipeline,
            "execution-id": execution.id,
            "start-time": _iso_ms_z(execution.start),
            **detail,
            "version": float(execution.version),
            "pipeline-execution-attempt": 1.0,
        }
        self.events.append(
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": detail_type,
                "source": "aws.codepipeline",
                "account": execution.account,
                "time": _iso_z(at),
                "region": execution.region,
                "resources": [execution.pipeline_arn],
                "detail": body,
            }
        )

    def _set_execution(self, execution: Execution, status: str, at: datetime) -> None:
        execution.status = status
        execution.last_update = at
        detail: JSON = {"state": EVENT_STATE[status]}
        if status == "InProgress":
            detail["execution-trigger"] = {
                "trigger-type": execution.trigger["triggerType"],
                "trigger-detail": execution.trigger["triggerDetail"],
            }
        self._emit(execution, "CodePipeline Pipeline Execution State Change", detail, at)

    def _set_stage(self, execution: Execution, stage: StageRun, status: str, at: datetime) -> None:
        stage.status = status
        stage.last_change = at
        execution.last_update = at
        self._emit(
            execution,
            "CodePipeline Stage Execution State Change",
            {"stage": stage.name, "state": EVENT_STATE[status]},
            at,
        )

    def _set_action(self, execution: Execution, stage: StageRun, action: ActionRun, status: str, at: datetime) -> None:
        action.status = status
        action.last_change = at
        execution.last_update = at
        if status == "InProgress":
            action.action_execution_id = str(uuid.uuid4())
            action.summary = action.error = action.updated_by = None
            if action.is_approval:
                action.token = str(uuid.uuid4())
                self.approval_tokens[action.token] = (execution.id, stage.name, action.name)
                self.approvals.append(
                    {
                        "pipeline": execution.pipeline,
                        "stage": stage.name,
                        "action": action.name,
                        "execution_id": execution.id,
                        "token": action.token,
                        "status": "InProgress",
                        "summary": None,
                        "requested_at": _iso_ms_z(at),
                        "answered_at": None,
                    }
                )
        elif action.token is not None:
            for approval in self.approvals:
                if approval["token"] == action.token:
                    approval["status"] = status
                    approval["summary"] = action.summary
                    approval["answered_at"] = _iso_ms_z(at)
        detail: JSON = {
            "stage": stage.name,
            "action": action.name,
            "action-execution-id": action.action_execution_id,
            "state": EVENT_STATE[status],
            "region": execution.region,
            "type": {key: action.type_id[key] for key in ("owner", "provider", "category", "version")},
        }
        if status != "InProgress" and (action.summary or action.error):
            result: JSON = {}
            if action.summary:
                result["external-execution-summary"] = action.summary
            if action.external_execution_id:
                result["external-execution-id"] = action.external_execution_id
            if action.error:
                result["error-code"] = action.error["code"]
            detail["execution-result"] = result
        self._emit(execution, "CodePipeline Action Execution State Change", detail, at)

    def _start_stage(self, execution: Execution, stage: StageRun, at: datetime) -> None:
        self._set_stage(execution, stage, "InProgress", at)
        self._start_next_actions(execution, stage, at)

    def _start_next_actions(self, execution: Execution, stage: StageRun, at: datetime) -> None:
        pending = [action for action in stage.actions if action.status is None]
        if not pending:
            self._finish_stage(execution, stage, "Succeeded", at)
            return
        first = min(action.run_order for action in pending)
        for action in pending:
            if action.run_order == first:
                self._set_action(execution, stage, action, "InProgress", at)

    def _finish_stage(self, execution: Execution, stage: StageRun, status: str, at: datetime) -> None:
        self._set_stage(execution, stage, status, at)
        if status != "Succeeded":
            self._set_execution(execution, status, at)
            return
        following = execution.stages[execution.stages.index(stage) + 1 :]
        if following:
            self._start_stage(execution, following[0], at)
        else:
            self._set_execution(execution, "Succeeded", at)

    def _finish_action(
        self, execution: Execution, stage: StageRun, action: ActionRun, status: str, at: datetime
    ) -> None:
        self._set_action(execution, stage, action, status, at)
        running = [other for other in stage.actions if other.status == "InProgress"]
        if execution.status == "Stopping":
            if not running:
                self._set_stage(execution, stage, "Stopped", at)
                self._set_execution(execution, "Stopped", at)
            return
        if status == "Failed":
            for other in running:
                self._set_action(execution, stage, other, "Abandoned", at)
            self._finish_stage(execution, stage, "Failed", at)
        elif not running:
            self._start_next_actions(execution, stage, at)

    def _linked_action(self, job: Job) -> tuple[Execution, StageRun, ActionRun] | None:
        """The pipeline run's action a job answers for, while it waits for that answer."""
        execution = self.executions.get(job.execution_id)
        stage = execution.stage(job.stage) if execution else None
        action = next((a for a in stage.actions if a.name == job.action), None) if stage else None
        if execution and stage and action and action.status == "InProgress":
            return execution, stage, action
        return None

    # -- lookups ------------------------------------------------------------------------------------------------

    def pipeline_executions(self, account: str, region: str, pipeline: str) -> list[Execution]:
        """Newest first (insertion order, so executions started in the same instant keep their order)."""
        found = [
            e for e in self.executions.values() if (e.account, e.region, e.pipeline) == (account, region, pipeline)
        ]
        return found[::-1]

    def _execution(self, account: str, region: str, pipeline: str, execution_id: str) -> Execution:
        execution = self.executions.get(execution_id)
        if execution is None or (execution.account, execution.region, execution.pipeline) != (
            account,
            region,
            pipeline,
        ):
            raise ApiError(
                "PipelineExecutionNotFoundException",
                f"Account '{account}' does not have an execution with id '{execution_id}' for pipeline '{pipeline}'",
            )
        return execution

    def _run_execution(
        self,
        account: str,
        region: str,
        pipeline: str,
        metadata: JSON,
        trigger_type: str,
        *,
        version: int,
        stages: list[StageRun],
        variables: list[dict[str, str]],
        execution_type: str = "STANDARD",
        rollback_target: str | None = None,
    ) -> JSON:
        """Record a new execution of `pipeline`, triggered by the account's root, and start its first stage."""
        at = _now()
        execution = Execution(
            id=str(uuid.uuid4()),
            account=account,
            region=region,
            pipeline=pipeline,
            pipeline_arn=metadata["pipelineArn"],
            version=version,
            stages=stages,
            start=at,
            trigger={"triggerType": trigger_type, "triggerDetail": f"arn:aws:iam::{account}:root"},
            execution_type=execution_type,
            rollback_target=rollback_target,
            variables=variables,
        )
        self.executions[execution.id] = execution
        self._set_execution(execution, "InProgress", at)
        self._start_stage(execution, execution.stages[0], at)
        return {"pipelineExecutionId": execution.id}

    def _job(self, account: str, job_id: Any) -> Job:
        if not isinstance(job_id, str) or not JOB_ID.match(job_id):
            raise _validation(
                f"Value '{job_id}' at 'jobId' failed to satisfy constraint: Member must match the job id pattern"
            )
        job = self.jobs.get(job_id)
        if job is None or job.account != account:
            raise ApiError("JobNotFoundException", f"Job with id {job_id} was not found")
        return job

    # -- CodePipeline API ---------------------------------------------------------------------------------------

    def start_pipeline_execution(self, account: str, region: str, body: JSON) -> JSON:
        name = body.get("name", "")
        definition, metadata = _require_pipeline(account, region, name)
        return self._run_execution(
            account,
            region,
            name,
            metadata,
            "StartPipelineExecution",
            version=int(definition.get("version", 1)),
            stages=_stage_runs(definition),
            variables=list(body.get("variables") or []),
        )

    def get_pipeline_execution(self, account: str, region: str, body: JSON) -> JSON:
        _require_pipeline(account, region, body.get("pipelineName", ""))
        execution = self._execution(account, region, body["pipelineName"], body.get("pipelineExecutionId", ""))
        return {"pipelineExecution": execution.describe()}

    def list_pipeline_executions(self, account: str, region: str, body: JSON) -> JSON:
        name = body.get("pipelineName", "")
        _require_pipeline(account, region, name)
        executions = self.pipeline_executions(account, region, name)
        stage_filter = ((body.get("filter") or {}).get("succeededInStage") or {}).get("stageName")
        if stage_filter:
            executions = [
                e for e in executions if (stage := e.stage(stage_filter)) is not None and stage.status == "Succeeded"
            ]
        token = body.get("nextToken")
        if token is not None and not (isinstance(token, str) and token.isdigit()):
            raise ApiError("InvalidNextTokenException", "The next token provided in the request is not valid")
        start = int(token or 0)
        size = int(body.get("maxResults") or 100)
        if not 1 <= size <= 100:
            raise _validation("maxResults must be between 1 and 100")
        result: JSON = {"pipelineExecutionSummaries": [e.summary() for e in executions[start : start + size]]}
        if start + size < len(executions):
            result["nextToken"] = str(start + size)
        return result

    def get_pipeline_state(self, account: str, region: str, body: JSON) -> JSON:
        name = body.get("name", "")
        definition, metadata = _require_pipeline(account, region, name)
        executions = self.pipeline_executions(account, region, name)
        stage_states = []
        for stage_def in definition["stages"]:
            runs = [(e, s) for e in executions if (s := e.stage(stage_def["name"])) is not None and s.status]
            state: JSON = {"stageName": stage_def["name"], "inboundTransitionState": {"enabled": True}}
            action_states = []
            latest = runs[0] if runs else None
            for action_def in stage_def["actions"]:
                action_state: JSON = {"actionName": action_def["name"]}
                run = next((a for a in latest[1].actions if a.name == action_def["name"]), None) if latest else None
                if run is not None and run.status is not None:
                    action_state["latestExecution"] = _action_execution(run)
                action_states.append(action_state)
            state["actionStates"] = action_states
            if latest:
                state["latestExecution"] = {
                    "pipelineExecutionId": latest[0].id,
                    "status": latest[1].status,
                    "type": latest[0].execution_type,
                }
            stage_states.append(state)
        return {
            "pipelineName": name,
            "pipelineVersion": int(definition.get("version", 1)),
            "stageStates": stage_states,
            "created": _parse_time(metadata["created"]).timestamp(),
            "updated": _parse_time(metadata["updated"]).timestamp(),
        }

    def put_approval_result(self, account: str, region: str, body: JSON) -> JSON:
        name = body.get("pipelineName", "")
        definition, _ = _require_pipeline(account, region, name)
        stage_def = next((s for s in definition["stages"] if s["name"] == body.get("stageName")), None)
        if stage_def is None:
            raise ApiError("StageNotFoundException", f"Stage '{body.get('stageName')}' not found in pipeline '{name}'")
        if not any(a["name"] == body.get("actionName") for a in stage_def["actions"]):
            raise ApiError("ActionNotFoundException", f"Action '{body.get('actionName')}' not found")
        result = body.get("result") or {}
        summary = result.get("summary", "")
        if len(summary) > MAX_APPROVAL_SUMMARY:
            raise _validation(f"result.summary must have length less than or equal to {MAX_APPROVAL_SUMMARY}")
        if result.get("status") not in ("Approved", "Rejected"):
            raise _validation("result.status must satisfy enum value set: [Approved, Rejected]")
        where = self.approval_tokens.get(body.get("token", ""))
        if where is None or where[1:] != (body["stageName"], body["actionName"]):
            raise ApiError("InvalidApprovalTokenException", "The token for the approval action is not valid")
        execution = self.executions[where[0]]
        stage = execution.stage(where[1])
        action = next((a for a in stage.actions if a.name == where[2]), None) if stage else None
        if execution.pipeline != name or stage is None or action is None:
            raise ApiError("InvalidApprovalTokenException", "The token for the approval action is not valid")
        if action.status in ("Succeeded", "Failed"):
            raise ApiError("ApprovalAlreadyCompletedException", "The approval action has already been completed")
        if action.status != "InProgress" or action.token != body["token"]:
            raise ApiError("InvalidApprovalTokenException", "The token for the approval action is not valid")
        at = _now()
        action.summary = summary or None
        action.updated_by = f"arn:aws:iam::{account}:root"
        self._finish_action(execution, stage, action, "Succeeded" if result["status"] == "Approved" else "Failed", at)
        return {"approvedAt": at.timestamp()}

    def stop_pipeline_execution(self, account: str, region: str, body: JSON) -> JSON:
        name = body.get("pipelineName", "")
        _require_pipeline(account, region, name)
        reason = body.get("reason", "")
        if len(reason) > MAX_STOP_REASON:
            raise _validation(f"reason must have length less than or equal to {MAX_STOP_REASON}")
        execution = self.executions.get(body.get("pipelineExecutionId", ""))
        if execution is None or execution.pipeline != name or execution.status not in ("InProgress", "Stopping"):
            raise ApiError(
                "PipelineExecutionNotStoppableException",
                "Unable to stop pipeline execution. The execution is not in progress.",
            )
        abandon = bool(body.get("abandon"))
        if execution.status == "Stopping" and not abandon:
            raise ApiError("DuplicatedStopRequestException", "A stop request is already in progress")
        at = _now()
        # AWS keeps the reason in ListPipelineExecutions' stopTrigger, not in GetPipelineExecution's statusSummary.
        execution.stop_reason = reason
        for stage in execution.stages:
            for action in stage.actions:
                # An approval cannot finish by itself, so stop-and-wait abandons it like abandon does.
                if action.status == "InProgress" and (abandon or action.is_approval):
                    self._set_action(execution, stage, action, "Abandoned", at)
        running = [s for s in execution.stages if any(a.status == "InProgress" for a in s.actions)]
        if running:
            self._set_execution(execution, "Stopping", at)
            for stage in running:
                self._set_stage(execution, stage, "Stopping", at)
        else:
            for stage in execution.stages:
                if stage.status in ("InProgress", "Stopping"):
                    self._set_stage(execution, stage, "Stopped", at)
            self._set_execution(execution, "Stopped", at)
        return {"pipelineExecutionId": execution.id}

    def rollback_stage(self, account: str, region: str, body: JSON) -> JSON:
        name = body.get("pipelineName", "")
        definition, metadata = _require_pipeline(account, region, name)
        stage_name = body.get("stageName", "")
        if not any(s["name"] == stage_name for s in definition["stages"]):
            raise ApiError("StageNotFoundException", f"Stage '{stage_name}' not found in pipeline '{name}'")
        target = self._execution(account, region, name, body.get("targetPipelineExecutionId", ""))
        target_stage = target.stage(stage_name)
        if target_stage is None or target_stage.status != "Succeeded":
            raise ApiError(
                "UnableToRollbackStageException",
                f"Stage '{stage_name}' did not succeed in pipeline execution '{target.id}'",
            )
        for execution in self.pipeline_executions(account, region, name):
            current = execution.stage(stage_name)
            if current is not None and current.status in ("InProgress", "Stopping"):
                raise ApiError("UnableToRollbackStageException", f"Stage '{stage_name}' is currently running")
        return self._run_execution(
            account,
            region,
            name,
            metadata,
            "ManualRollback",
            version=target.version,
            stages=_stage_runs(definition, only_stage=stage_name),
            variables=list(target.variables),
            execution_type="ROLLBACK",
            rollback_target=target.id,
        )

    def get_job_details(self, account: str, region: str, body: JSON) -> JSON:
        return {"jobDetails": self._job(account, body.get("jobId")).details()}

    def put_job_success_result(self, account: str, region: str, body: JSON) -> JSON:
        job = self._job(account, body.get("jobId"))
        token = body.get("continuationToken")
        if token is not None and not 1 <= len(token) <= MAX_CONTINUATION_TOKEN:
            raise _validation(f"continuationToken must have length between 1 and {MAX_CONTINUATION_TOKEN}")
        details = body.get("executionDetails") or {}
        summary = details.get("summary")
        if summary is not None and not 1 <= len(summary) <= MAX_EXECUTION_SUMMARY:
            raise _validation(f"executionDetails.summary must have length between 1 and {MAX_EXECUTION_SUMMARY}")
        percent = details.get("percentComplete")
        if percent is not None and not 0 <= int(percent) <= 100:
            raise _validation("executionDetails.percentComplete must be between 0 and 100")
        variables = body.get("outputVariables") or {}
        for key in variables:
            if not OUTPUT_VARIABLE_KEY.match(key):
                raise _validation(
                    f"Output variable key '{key}' must satisfy regular expression pattern: [A-Za-z0-9@\\-_]+"
                )
        if sum(len(k.encode()) + len(str(v).encode()) for k, v in variables.items()) > MAX_OUTPUT_VARIABLES_BYTES:
            raise ApiError(
                "OutputVariablesSizeExceededException",
                f"Output variables exceed the {MAX_OUTPUT_VARIABLES_BYTES} bytes limit for an action",
            )
        if job.status != "InProgress":
            raise ApiError("InvalidJobStateException", f"Job {job.id} is in state {job.status}; it cannot be updated")
        at = _now()
        entry: JSON = {"result": "success", "at": _iso_ms_z(at)}
        for key in ("continuationToken", "executionDetails", "outputVariables", "currentRevision"):
            if body.get(key) is not None:
                entry[key] = body[key]
        job.history.append(entry)
        if token is not None:
            job.continuation_token = token
        else:
            job.status = "Succeeded"
            if linked := self._linked_action(job):
                execution, stage, action = linked
                action.summary = summary
                action.external_execution_id = details.get("externalExecutionId")
                action.output_variables = dict(variables)
                self._finish_action(execution, stage, action, "Succeeded", at)
        return {}

    def put_job_failure_result(self, account: str, region: str, body: JSON) -> JSON:
        job = self._job(account, body.get("jobId"))
        failure = body.get("failureDetails") or {}
        if failure.get("type") not in FAILURE_TYPES:
            raise _validation(f"failureDetails.type must satisfy enum value set: {sorted(FAILURE_TYPES)}")
        message = failure.get("message", "")
        if not 1 <= len(message) <= MAX_FAILURE_MESSAGE:
            raise _validation(f"failureDetails.message must have length between 1 and {MAX_FAILURE_MESSAGE}")
        if job.status != "InProgress":
            raise ApiError("InvalidJobStateException", f"Job {job.id} is in state {job.status}; it cannot be updated")
        at = _now()
        job.history.append({"result": "failure", "at": _iso_ms_z(at), "failureDetails": failure})
        job.status = "Failed"
        if linked := self._linked_action(job):
            execution, stage, action = linked
            action.summary = message
            action.error = {"code": failure["type"], "message": message}
            action.external_execution_id = failure.get("externalExecutionId")
            self._finish_action(execution, stage, action, "Failed", at)
        return {}

    # -- control routes ----------------------------------------------------------------------------------------

    def create_job(self, account: str, region: str, body: JSON) -> JSON:
        for key in ("pipeline", "stage", "action", "function_name"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise _validation(f"'{key}' is required")
        user_parameters = body.get("user_parameters")
        if user_parameters is not None and not isinstance(user_parameters, str):
            user_parameters = json.dumps(user_parameters)
        if user_parameters is not None and len(user_parameters) > MAX_USER_PARAMETERS:
            raise _validation(f"UserParameters must have length less than or equal to {MAX_USER_PARAMETERS}")
        found = _pipeline_definition(account, region, body["pipeline"])
        definition, metadata = found if found else (None, None)
        action_def: JSON = {}
        for stage in (definition or {}).get("stages", []):
            if stage["name"] == body["stage"]:
                action_def = next((a for a in stage["actions"] if a["name"] == body["action"]), {})
        execution_id = body.get("execution_id") or self._running_execution(account, region, body) or str(uuid.uuid4())
        execution = self.executions.get(execution_id)
        stage_run = execution.stage(body["stage"]) if execution else None
        action_run = next((a for a in stage_run.actions if a.name == body["action"]), None) if stage_run else None
        configuration = {"FunctionName": body["function_name"]}
        if user_parameters:
            configuration["UserParameters"] = user_parameters
        store = (definition or {}).get("artifactStore") or {}
        job = Job(
            id=str(uuid.uuid4()),
            account=account,
            region=region,
            pipeline=body["pipeline"],
            stage=body["stage"],
            action=body["action"],
            execution_id=execution_id,
            action_execution_id=action_run.action_execution_id if action_run else str(uuid.uuid4()),
            pipeline_arn=(metadata or {}).get(
                "pipelineArn", f"arn:aws:codepipeline:{region}:{account}:{body['pipeline']}"
            ),
            type_id=dict(
                action_def.get("actionTypeId")
                or {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"}
            ),
            configuration=configuration,
            input_artifacts=_artifacts(definition, action_def.get("inputArtifacts", []), body["pipeline"]),
            output_artifacts=_artifacts(definition, action_def.get("outputArtifacts", []), body["pipeline"]),
            encryption_key=store.get("encryptionKey"),
            created=_now(),
        )
        self.jobs[job.id] = job
        return job.lambda_event()

    def _running_execution(self, account: str, region: str, body: JSON) -> str | None:
        for execution in self.pipeline_executions(account, region, body["pipeline"]):
            stage = execution.stage(body["stage"])
            if stage and any(a.name == body["action"] and a.status == "InProgress" for a in stage.actions):
                return execution.id
        return None

    def job_event(self, account: str, job_id: str) -> JSON:
        return self._job(account, job_id).lambda_event()

    def advance(self, account: str, region: str, body: JSON) -> JSON:
        name = body.get("pipeline", "")
        _require_pipeline(account, region, name)
        execution = self._execution(account, region, name, body.get("execution_id", ""))
        stage = execution.stage(body.get("stage", ""))
        status = body.get("status")
        if stage is None:
            raise ApiError(
                "StageNotFoundException", f"Stage '{body.get('stage')}' is not part of execution {execution.id}"
            )
        if status not in ("InProgress", "Succeeded", "Failed"):
            raise _validation("status must be one of InProgress, Succeeded, Failed")
        if execution.status != "InProgress":
            raise ApiError("ConflictException", f"Execution {execution.id} is {execution.status}", 409)
        at = _parse_time(body["at"]) if body.get("at") else _now()
        index = execution.stages.index(stage)
        for earlier in execution.stages[:index]:
            if earlier.status != "Succeeded":
                self._complete_stage(execution, earlier, at)
        if execution.status != "InProgress":
            return execution.describe()
        if stage.status is None:
            self._start_stage(execution, stage, at)
        if status == "Succeeded" and stage.status == "InProgress":
            self._complete_stage(execution, stage, at)
        elif status == "Failed" and stage.status == "InProgress":
            running = [a for a in stage.actions if a.status == "InProgress"]
            if running:
                self._finish_action(execution, stage, running[0], "Failed", at)
            else:
                self._finish_stage(execution, stage, "Failed", at)
        return execution.describe()

    def _complete_stage(self, execution: Execution, stage: StageRun, at: datetime) -> None:
        if stage.status is None:
            self._set_stage(execution, stage, "InProgress", at)
        for action in stage.actions:
            if action.status in (None, "InProgress"):
                if action.status is None:
                    self._set_action(execution, stage, action, "InProgress", at)
                self._set_action(execution, stage, action, "Succeeded", at)
        self._finish_stage(execution, stage, "Succeeded", at)

    def inject_failure(self, body: JSON) -> JSON:
        failure = InjectedFailure.from_request(body)
        self.failures.append(failure)
        return failure.state()

    def record_estate(self, account: str, region: str, records: JSON) -> JSON:
        """What `sandbox.estate.seed` created, kept for the scenarios that check resources by id."""
        self.estates[account, region] = records
        return {"account": account, "region": region}

    def failure_state(self) -> JSON:
        return {"pending": [failure.state() for failure in self.failures], "answered": list(self.answered_failures)}

    def recorded_estate(self, account: str, region: str) -> JSON:
        if (account, region) not in self.estates:
            raise ApiError("NotFound", f"no estate was seeded in account {account}, region {region}", 404)
        return self.estates[account, region]

    def state(self) -> JSON:
        return {
            "jobs": [job.state() for job in self.jobs.values()],
            "approvals": [dict(a) for a in self.approvals],
            "executions": [
                {
                    "pipeline": e.pipeline,
                    **e.summary(),
                    "stages": [
                        {
                            "name": s.name,
                            "status": s.status,
                            "last_change": _iso_ms_z(s.last_change) if s.last_change else None,
                            "actions": [{"name": a.name, "status": a.status} for a in s.actions],
                        }
                        for s in e.stages
                    ],
                }
                for e in self.executions.values()
            ],
        }


def _action_execution(run: ActionRun) -> JSON:
    latest: JSON = {"actionExecutionId": run.action_execution_id, "status": run.status}
    if run.last_change:
        latest["lastStatusChange"] = run.last_change.timestamp()
    if run.summary:
        latest["summary"] = run.summary
    if run.token and run.status == "InProgress":
        latest["token"] = run.token
    if run.updated_by:
        latest["lastUpdatedBy"] = run.updated_by
    if run.external_execution_id:
        latest["externalExecutionId"] = run.external_execution_id
    if run.error:
        latest["errorDetails"] = dict(run.error)
    return latest


CODEPIPELINE_ACTIONS: dict[str, Callable[[Store, str, str, JSON], JSON]] = {
    "StartPipelineExecution": Store.start_pipeline_execution,
    "GetPipelineExecution": Store.get_pipeline_execution,
    "ListPipelineExecutions": Store.list_pipeline_executions,
    "GetPipelineState": Store.get_pipeline_state,
    "PutApprovalResult": Store.put_approval_result,
    "StopPipelineExecution": Store.stop_pipeline_execution,
    "RollbackStage": Store.rollback_stage,
    "GetJobDetails": Store.get_job_details,
    "PutJobSuccessResult": Store.put_job_success_result,
    "PutJobFailureResult": Store.put_job_failure_result,
}


# ----------------------------------------------------------------------------------------------------------------
# Lambda provisioned concurrency


def _provisioned_concurrency(store: Store, request: Request, account: str, region: str, name: str) -> Response:
    name = unquote(name)
    if name.startswith("arn:"):
        name = name.split(":")[6]
    backend = lambda_backend(account, region)
    try:
        function = backend.get_function(name)
    except LambdaClientError:
        raise ApiError("ResourceNotFoundException", f"Function not found: {name}", 404) from None
    if request.method == "GET" and request.args.get("List") == "ALL":
        configs = [
            {key: value for key, value in config.items() if key != "Qualifier"}
            for (acc, reg, fn, _), config in sorted(store.provisioned.items())
            if (acc, reg, fn) == (account, region, name)
        ]
        return _rest_json({"ProvisionedConcurrencyConfigs": configs})
    qualifier = request.args.get("Qualifier", "")
    if not qualifier or qualifier == "$LATEST":
        raise ApiError(
            "InvalidParameterValueException",
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
        )
    try:
        backend.get_function(name, qualifier)
    except LambdaClientError:
        raise ApiError(
            "ResourceNotFoundException", f"Function not found: {function.function_arn}:{qualifier}", 404
        ) from None
    key = (account, region, name, qualifier)
    if request.method == "PUT":
        payload: JSON = request.get_json(silent=True) or {}
        requested = payload.get("ProvisionedConcurrentExecutions")
        if not isinstance(requested, int) or requested < 1:
            raise ApiError("InvalidParameterValueException", "ProvisionedConcurrentExecutions must be at least 1")
        config: JSON = {
            "FunctionArn": f"{function.function_arn}:{qualifier}",
            "Qualifier": qualifier,
            "RequestedProvisionedConcurrentExecutions": requested,
            "AvailableProvisionedConcurrentExecutions": requested,
            "AllocatedProvisionedConcurrentExecutions": requested,
            "Status": "READY",
            "LastModified": _now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
        }
        store.provisioned[key] = config
        return _rest_json({k: v for k, v in config.items() if k not in ("FunctionArn", "Qualifier")}, 202)
    if request.method == "DELETE":
        store.provisioned.pop(key, None)
        return Response(status=204)
    found = store.provisioned.get(key)
    if found is None:
        raise ApiError(
            "ProvisionedConcurrencyConfigNotFoundException",
            f"No Provisioned Concurrency Config found for this function: {function.function_arn}:{qualifier}",
            404,
        )
    return _rest_json({k: v for k, v in found.items() if k not in ("FunctionArn", "Qualifier")})


def _rest_json(body: JSON, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _put_composite_alarm(request: Request) -> Response:
    """moto stores composite alarms (a metric alarm with a rule) but does not route PutCompositeAlarm."""
    account, region = _caller(request)
    body: JSON = json.loads(request.get_data() or b"{}")
    if not body.get("AlarmName") or not body.get("AlarmRule"):
        error = {"__type": "ValidationError", "message": "AlarmName and AlarmRule are required"}
        return Response(json.dumps(error), status=400, content_type="application/x-amz-json-1.0")
    arguments: JSON = dict.fromkeys(
        (
            "namespace",
            "metric_name",
            "metric_data_queries",
            "comparison_operator",
            "evaluation_periods",
            "datapoints_to_alarm",
            "period",
            "threshold",
            "statistic",
            "extended_statistic",
        )
    )
    arguments["description"] = body.get("AlarmDescription")
    cloudwatch_backends[account][region].put_metric_alarm(
        name=body["AlarmName"],
        dimensions=[],
        alarm_actions=body.get("AlarmActions", []),
        ok_actions=body.get("OKActions", []),
        insufficient_data_actions=body.get("InsufficientDataActions", []),
        actions_enabled=body.get("ActionsEnabled", True),
        rule=body["AlarmRule"],
        tags=body.get("Tags"),
        **arguments,
    )
    return Response("{}", content_type="application/x-amz-json-1.0")


# ----------------------------------------------------------------------------------------------------------------
# CloudWatch alarm mute rules: moto has none. Shapes and statuses from botocore's cloudwatch model
# (PutAlarmMuteRule, GetAlarmMuteRule, ListAlarmMuteRules, DeleteAlarmMuteRule); DescribeAlarms shows no mute.

MUTE_RULE_TARGET = "GraniteServiceVersion20100801."
MUTE_RULE_OPERATIONS = ("PutAlarmMuteRule", "GetAlarmMuteRule", "ListAlarmMuteRules", "DeleteAlarmMuteRule")
MUTE_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2})\)$")
MUTE_CRON = re.compile(r"^cron\((\S+) (\S+) (\S+) (\S+) (\S+)\)$")
MUTE_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")
CRON_NAMES = {
    **{name: str(number) for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))},
    **{
        name: str(number)
        for number, name in enumerate(
            ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1
        )
    },
}


def _cron_field_matches(field_text: str, value: int) -> bool:
    for written in field_text.upper().split(","):
        part = CRON_NAMES.get(written, written)
        if part == "*":
            return True
        low, _, high = part.partition("-")
        if low.isdigit() and int(CRON_NAMES.get(low, low)) <= value <= int(CRON_NAMES.get(high, high) if high else low):
            return True
    return False


def _mute_window(rule: JSON, now: datetime) -> tuple[datetime, datetime] | None:
    """The window of `rule` that covers `now` or comes next (a one-time one), None when none does."""
    schedule = rule["Rule"]["Schedule"]
    found = MUTE_DURATION.match(schedule["Duration"])
    if found is None:
        raise ApiError(
            "ValidationError", f"Duration {schedule['Duration']!r} is not an ISO 8601 duration from PT1M to P15D"
        )
    days, hours, minutes = (int(part or 0) for part in found.groups())
    length = timedelta(days=days, hours=hours, minutes=minutes)
    zone = ZoneInfo(schedule.get("Timezone") or "UTC")
    once = MUTE_AT.match(schedule["Expression"])
    if once is not None:
        begins = datetime.fromisoformat(once.group(1)).replace(tzinfo=zone).astimezone(UTC)
        return begins, begins + length
    cron = MUTE_CRON.match(schedule["Expression"])
    if cron is None:
        raise ApiError("ValidationError", f"Expression {schedule['Expression']!r} is neither cron(...) nor at(...)")
    minute = now.astimezone(zone).replace(second=0, microsecond=0)
    for back in range(int(length.total_seconds() // 60)):
        moment = minute - timedelta(minutes=back)
        fields = (moment.minute, moment.hour, moment.day, moment.month, (moment.weekday() + 1) % 7)
        if all(_cron_field_matches(text, value) for text, value in zip(cron.groups(), fields, strict=True)):
            return moment.astimezone(UTC), moment.astimezone(UTC) + length
    return None


def _mute_status(rule: JSON, now: datetime) -> str:
    expires = rule.get("ExpireDate")
    if expires is not None and now >= datetime.fromtimestamp(expires, UTC):
        return "EXPIRED"
    starts = rule.get("StartDate")
    window = _mute_window(rule, now)
    if (starts is None or now >= datetime.fromtimestamp(starts, UTC)) and window and window[0] <= now < window[1]:
        return "ACTIVE"
    if MUTE_AT.match(rule["Rule"]["Schedule"]["Expression"]) and window and now >= window[1]:
        return "EXPIRED"
    return "SCHEDULED"


def _mute_rules(request: Request, operation: str, store: Store) -> Response:
    account, region = _caller(request)
    body: JSON = json.loads(request.get_data() or b"{}")
    rules = store.mute_rules.setdefault((account, region), {})
    now = _now()
    try:
        if operation == "PutAlarmMuteRule":
            rule: JSON = {
                key: body[key]
                for key in ("Name", "Description", "Rule", "MuteTargets", "StartDate", "ExpireDate")
                if key in body
            }
            rule["AlarmMuteRuleArn"] = f"arn:aws:cloudwatch:{region}:{account}:alarm-mute-rule:{body['Name']}"
            rule["LastUpdatedTimestamp"] = now.timestamp()
            _mute_status(rule, now)  # refuses a schedule CloudWatch would refuse
            rules[body["Name"]] = rule
            result: JSON = {}
        elif operation == "GetAlarmMuteRule":
            found = rules.get(body.get("AlarmMuteRuleName", ""))
            if found is None:
                raise ApiError(
                    "ResourceNotFoundException", f"Alarm mute rule {body.get('AlarmMuteRuleName')} not found"
                )
            result = {**found, "Status": _mute_status(found, now), "MuteType": "ALARM"}
        elif operation == "ListAlarmMuteRules":
            wanted = set(body.get("Statuses") or ("SCHEDULED", "ACTIVE", "EXPIRED"))
            alarm = body.get("AlarmName")
            result = {
                "AlarmMuteRuleSummaries": [
                    {
                        "AlarmMuteRuleArn": rule["AlarmMuteRuleArn"],
                        "Status": status,
                        "MuteType": "ALARM",
                        "LastUpdatedTimestamp": rule["LastUpdatedTimestamp"],
                        **({"ExpireDate": rule["ExpireDate"]} if "ExpireDate" in rule else {}),
                    }
                    for rule in rules.values()
                    if (status := _mute_status(rule, now)) in wanted
                    and (alarm is None or alarm in rule.get("MuteTargets", {}).get("AlarmNames", []))
                ]
            }
        else:
            rules.pop(body.get("AlarmMuteRuleName", ""), None)
            result = {}
    except (KeyError, TypeError, ValueError) as error:
        return _json_error(ApiError("ValidationError", f"invalid request: {error!r}"))
    except ApiError as error:
        return _json_error(error)
    return Response(json.dumps(result), content_type="application/x-amz-json-1.0")


def _json_error(error: ApiError) -> Response:
    body = {"__type": error.code, "message": error.message}
    return Response(json.dumps(body), status=error.status, content_type="application/x-amz-json-1.0")


# ----------------------------------------------------------------------------------------------------------------
# Backdating moto objects


def _ecr_images(account: str, region: str, resource_id: str) -> list[Any]:
    """`repository@digest` or `repository:tag`."""
    repository, _, reference = resource_id.partition("@" if "@" in resource_id else ":")
    images = ecr_backends[account][region].repositories[repository].images
    return [i for i in images if reference in (i.image_digest, *i.image_tags)]


def backdate(service: str, kind: str, resource_id: str, created: datetime, *, account: str, region: str) -> None:
    """Set the creation timestamp of a moto object; raises KeyError or a moto error when it is unknown."""
    naive = created.astimezone(UTC).replace(tzinfo=None)  # moto keeps naive UTC datetimes
    lambda_time = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    ec2 = ec2_backends[account][region]
    # (service, kind) -> (the objects, their creation attribute, its value)
    targets: dict[tuple[str, str], Callable[[], tuple[list[Any], str, Any]]] = {
        ("ec2", "snapshot"): lambda: ([ec2.get_snapshot(resource_id)], "start_time", naive),
        ("ec2", "volume"): lambda: ([ec2.get_volume(resource_id)], "create_time", naive),
        ("ec2", "image"): lambda: ([ec2.amis[resource_id]], "creation_date", naive),
        ("ec2", "instance"): lambda: ([ec2.get_instance(resource_id)], "launch_time", naive),
        ("ecr", "image"): lambda: (
            _ecr_images(account, region, resource_id),
            "image_pushed_at",
            int(created.timestamp()),
        ),
        ("logs", "log-group"): lambda: ([logs_backends[account][region].groups[resource_id]], "creation_time", naive),
        ("lambda", "version"): lambda: (
            [lambda_backend(account, region).get_function(*resource_id.rsplit(":", 1))],
            "last_modified",
            lambda_time,
        ),
        ("cloudformation", "stack"): lambda: (
            [
                s
                for s in cloudformation_backends[account][region].stacks.values()
                if resource_id in (s.name, s.stack_id)
            ],
            "creation_time",
            naive,
        ),
    }
    if (service, kind) not in targets:
        raise KeyError(f"{service}/{kind}")
    objects, attribute, value = targets[service, kind]()
    if not objects:
        raise KeyError(resource_id)
    for found in objects:
        setattr(found, attribute, value)


# ----------------------------------------------------------------------------------------------------------------
# Injected failures: one call answers an AWS error instead of moto


UNPROCESSED_ITEMS = "UnprocessedItems"  # a failure "code" that answers BatchWriteItem 200 with requests left undone


@dataclass
class InjectedFailure:
    """The next `times` calls of the operation `action` that name `resource_id` answer this error.

    The operation is read from the query protocols' `Action` (EC2, CloudFormation, Auto Scaling...) or the
    JSON protocol's `X-Amz-Target` (ECR, CloudWatch Logs...); REST services (Lambda, S3) are not matched.
    With the code `UnprocessedItems` (BatchWriteItem only, status 200) the call succeeds in part instead:
    the write requests that name `resource_id` come back unprocessed and moto writes the others.
    With `after` ({"action", "id"}), the failure sleeps until a call of that operation naming that id has
    passed: e.g. InvalidSnapshot.InUse for a snapshot right after its AMI's DeregisterImage, as EC2 answers
    for a moment while it releases the AMI's snapshots.
    """

    action: str
    resource_id: str
    code: str
    message: str
    status: int = 400
    times: int = 1
    after: tuple[str, str] | None = None  # (operation, id) whose call arms the failure

    @classmethod
    def from_request(cls, body: JSON) -> InjectedFailure:
        failure = cls(
            action=str(body["action"]),
            resource_id=str(body["id"]),
            code=str(body.get("code") or "InternalFailure"),
            message=str(body.get("message") or f"injected failure of {body['action']} on {body['id']}"),
            status=int(body.get("status", 200 if body.get("code") == UNPROCESSED_ITEMS else 400)),
            times=int(body.get("times", 1)),
            after=_trigger(body.get("after")),
        )
        if failure.code == UNPROCESSED_ITEMS:
            if (failure.action, failure.status) != ("BatchWriteItem", 200):
                raise ValueError(f"{UNPROCESSED_ITEMS} is an answer of BatchWriteItem, with status 200")
        elif not 400 <= failure.status <= 599:
            raise ValueError("a failure needs an action, an id, a status 400-599 and times >= 1")
        if not failure.action or not failure.resource_id or failure.times < 1:
            raise ValueError("a failure needs an action, an id, a status 400-599 and times >= 1")
        return failure

    def state(self) -> JSON:
        return {
            "action": self.action,
            "id": self.resource_id,
            "code": self.code,
            "message": self.message,
            "status": self.status,
            "times": self.times,
            **({"after": {"action": self.after[0], "id": self.after[1]}} if self.after else {}),
        }


def _trigger(after: Any) -> tuple[str, str] | None:
    if after is None:
        return None
    named = isinstance(after, dict) and all(isinstance(after.get(key), str) and after[key] for key in ("action", "id"))
    if not named:
        raise ValueError('"after" names the call that arms the failure: {"action": OPERATION, "id": ID}')
    return str(after["action"]), str(after["id"])


def _operation(request: Request) -> str | None:
    target = request.headers.get("X-Amz-Target", "")
    if target:
        return target.rpartition(".")[2]
    fields = parse_qs(request.query_string.decode())
    if request.mimetype == "application/x-www-form-urlencoded":
        fields |= parse_qs(request.get_data(as_text=True))
    return fields.get("Action", [None])[0]


def _names(request: Request, resource_id: str) -> bool:
    said = " ".join((unquote(request.path), unquote(request.query_string.decode()), request.get_data(as_text=True)))
    return resource_id in said or resource_id in unquote(said.replace("+", " "))


def _aws_error(request: Request, failure: InjectedFailure) -> Response:
    """The error as the request's protocol carries one, so that botocore raises a ClientError with its code."""
    request_id = str(uuid.uuid4())
    if request.headers.get("X-Amz-Target"):
        return Response(
            json.dumps({"__type": failure.code, "message": failure.message}),
            status=failure.status,
            content_type="application/x-amz-json-1.1",
            headers={"x-amzn-ErrorType": failure.code, "x-amzn-RequestId": request_id},
        )
    code, message = xml_escape(failure.code), xml_escape(failure.message)
    scope = CREDENTIAL_SCOPE.search(request.headers.get("Authorization", ""))
    if scope and scope.group("service") == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
    else:
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    return Response(body, status=failure.status, content_type="text/xml")


def _injected_failure(store: Store, environ: WSGIEnvironment) -> Response | None:
    """The error of the first pending failure this request matches (spending one of its times), else None.

    The body is read once and put back, so that moto reads the request as it came.
    """
    request = _reread(environ)
    operation = _operation(request)
    if operation is None:
        return None
    with store.lock:
        for failure in store.failures:
            if failure.after is not None:
                if failure.after[0] == operation and _names(request, failure.after[1]):
                    failure.after = None  # this call goes through; the ones after it meet the failure
                continue
            if failure.code == UNPROCESSED_ITEMS:
                continue
            if failure.action == operation and _names(request, failure.resource_id):
                _spend(store, failure)
                return _aws_error(request, failure)
    return None


def _spend(store: Store, failure: InjectedFailure) -> None:
    failure.times -= 1
    if failure.times == 0:
        store.failures.remove(failure)
    store.answered_failures.append({**failure.state(), "at": _iso_ms_z(_now())})


def _unprocessed_items(store: Store, environ: WSGIEnvironment, moto_app: WSGIApplication) -> Response | None:
    """BatchWriteItem processed in part, as DynamoDB answers under load (HTTP 200, the rest in UnprocessedItems).

    The write requests that name a pending UnprocessedItems failure's id are left out of what moto writes
    and come back unprocessed; the call spends one of each matching failure's times. None when none match.
    """
    if environ.get("HTTP_X_AMZ_TARGET", "") != "DynamoDB_20120810.BatchWriteItem":
        return None
    body = json.loads(_reread(environ).get_data(as_text=True) or "{}")
    kept: dict[str, list[JSON]] = {}
    unprocessed: dict[str, list[JSON]] = {}
    with store.lock:
        pending = [f for f in store.failures if f.code == UNPROCESSED_ITEMS]
        matched = set()
        for table, writes in body.get("RequestItems", {}).items():
            for write in writes:
                said = json.dumps(write)
                failure = next((f for f in pending if f.resource_id in said), None)
                (kept if failure is None else unprocessed).setdefault(table, []).append(write)
                if failure is not None:
                    matched.add(id(failure))
        if not unprocessed:
            return None
        for failure in [f for f in pending if id(f) in matched]:
            _spend(store, failure)
    answer: JSON = {}
    if kept:
        data = json.dumps({**body, "RequestItems": kept}).encode()
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(data), str(len(data))
        status: list[str] = []

        def started(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
            status.append(code)
            return lambda _: None

        written = b"".join(moto_app(environ, started))
        if not status[0].startswith("200"):
            return Response(written, status=int(status[0].split()[0]), content_type="application/x-amz-json-1.0")
        answer = json.loads(written or b"{}")
    answer["UnprocessedItems"] = {**answer.get("UnprocessedItems", {}), **unprocessed}
    # A fresh response: moto's x-amz-crc32 header would no longer match the body, and botocore checks it.
    return Response(json.dumps(answer), content_type="application/x-amz-json-1.0")


def _reread(environ: WSGIEnvironment) -> Request:
    """The request, its body read once and put back so that moto reads the request as it came."""
    request = Request(environ)
    environ["wsgi.input"] = io.BytesIO(request.get_data(cache=True))
    return request


# ----------------------------------------------------------------------------------------------------------------
# Auto Scaling: moto runs no instance refresh and does not answer DescribeInstanceRefreshes

DESCRIBE_INSTANCE_REFRESHES = "DescribeInstanceRefreshes"


def _signed_for(environ: WSGIEnvironment, service: str) -> bool:
    scope = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return scope is not None and scope.group("service") == service


def _no_instance_refreshes() -> Response:
    namespace = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
    body = (
        f'<DescribeInstanceRefreshesResponse xmlns="{namespace}"><DescribeInstanceRefreshesResult>'
        "<InstanceRefreshes></InstanceRefreshes></DescribeInstanceRefreshesResult>"
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        "</DescribeInstanceRefreshesResponse>"
    )
    return Response(body, content_type="text/xml")


# ----------------------------------------------------------------------------------------------------------------
# EventBridge Scheduler in CloudFormation: moto's CloudFormation skips AWS::Scheduler::* with a warning


def _scheduler(account: str, region: str) -> EventBridgeSchedulerBackend:
    return scheduler_backends[account][region]


class _NamedModel:
    """What moto's CloudFormation needs of a resource the sandbox adds: named by one property, with an `Arn`.

    A mixin: moto finds resource types among CloudFormationModel's direct subclasses only.
    """

    TYPE = ""
    NAME_PROPERTY = "Name"

    def __init__(self, name: str, arn: str) -> None:
        self.name = name
        self.arn = arn

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name != "Arn":
            raise ValueError(f"{self.TYPE} has no attribute {attribute_name!r} in the sandbox")
        return self.arn

    def is_created(self) -> bool:
        return True


class CfnScheduleGroup(_NamedModel, CloudFormationModel):
    """AWS::Scheduler::ScheduleGroup, created through moto's Scheduler backend."""

    TYPE = "AWS::Scheduler::ScheduleGroup"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str, **kwargs: Any
    ) -> CfnScheduleGroup:
        tags = cloudformation_json.get("Properties", {}).get("Tags") or []
        group = _scheduler(account_id, region_name).create_schedule_group(name=resource_name, tags=tags)
        return cls(group.name, group.arn)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: CfnScheduleGroup,
        new_resource_name: str,
        cloudformation_json: JSON,
        account_id: str,
        region_name: str,
    ) -> CfnScheduleGroup:
        if new_resource_name == original_resource.name:
            return original_resource  # only its tags could change, and nothing reads them
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str
    ) -> None:
        _scheduler(account_id, region_name).schedule_groups.pop(resource_name, None)

    def delete(self, account_id: str, region_name: str) -> None:
        _scheduler(account_id, region_name).schedule_groups.pop(self.name, None)


class CfnSchedule(_NamedModel, CloudFormationModel):
    """AWS::Scheduler::Schedule, created through moto's Scheduler backend, so that `tick` fires it."""

    TYPE = "AWS::Scheduler::Schedule"

    def __init__(self, name: str, group: str, arn: str) -> None:
        super().__init__(name, arn)
        self.group = group

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str, **kwargs: Any
    ) -> CfnSchedule:
        properties = cloudformation_json["Properties"]

        def epoch(key: str) -> Any:
            return _parse_time(properties[key]).timestamp() if properties.get(key) else None

        schedule = _scheduler(account_id, region_name).create_schedule(
            description=properties.get("Description"),
            end_date=epoch("EndDate"),
            flexible_time_window=properties["FlexibleTimeWindow"],
            group_name=properties.get("GroupName") or "default",
            kms_key_arn=properties.get("KmsKeyArn"),
            name=resource_name,
            schedule_expression=properties["ScheduleExpression"],
            schedule_expression_timezone=properties.get("ScheduleExpressionTimezone"),
            start_date=epoch("StartDate"),
            state=properties.get("State"),
            target=dict(properties["Target"]),
            action_after_completion=properties.get("ActionAfterCompletion"),
        )
        return cls(schedule.name, schedule.group_name, schedule.arn)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: CfnSchedule,
        new_resource_name: str,
        cloudformation_json: JSON,
        account_id: str,
        region_name: str,
    ) -> CfnSchedule:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str
    ) -> None:
        group = cloudformation_json.get("Properties", {}).get("GroupName") or "default"
        cls(resource_name, group, "").delete(account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        found = _scheduler(account_id, region_name).schedule_groups.get(self.group)
        if found is not None:
            found.schedules.pop(self.name, None)


# ----------------------------------------------------------------------------------------------------------------
# AWS::SQS::QueuePolicy, AWS::SNS::TopicPolicy and AWS::CloudWatch::Alarm: moto's CloudFormation skips them, so a
# deployed stack had no queue or topic policy and no alarm, and the deliveries they govern could not be checked.


class _CfnAttachment:
    """What moto's CloudFormation needs of a resource that only sets something on others (a policy, a function's
    invoke configuration), named by its logical id.

    A mixin: moto finds resource types among CloudFormationModel's direct subclasses only.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    def is_created(self) -> bool:
        return True

    @classmethod
    def attach(cls, properties: JSON, account_id: str, region_name: str, *, removing: bool = False) -> None:
        raise NotImplementedError

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        cls.attach(cloudformation_json["Properties"], account_id, region_name)
        return cls(resource_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: JSON,
        account_id: str,
        region_name: str,
    ) -> Any:
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str
    ) -> None:
        cls.attach(cloudformation_json["Properties"], account_id, region_name, removing=True)


class CfnQueuePolicy(_CfnAttachment, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"

    @classmethod
    def attach(cls, properties: JSON, account_id: str, region_name: str, *, removing: bool = False) -> None:
        policy = "" if removing else json.dumps(properties["PolicyDocument"])
        for url in properties["Queues"]:
            name = str(url).rstrip("/").rsplit("/", 1)[1]
            sqs_backends[account_id][region_name].set_queue_attributes(name, {"Policy": policy})


class CfnTopicPolicy(_CfnAttachment, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"

    @classmethod
    def attach(cls, properties: JSON, account_id: str, region_name: str, *, removing: bool = False) -> None:
        policy = "" if removing else json.dumps(properties["PolicyDocument"])
        for arn in properties["Topics"]:
            topic = sns_backends[account_id][region_name].get_topic(str(arn))
            # Without a policy of its own a topic has SNS's default one.
            topic.policy = policy or json.dumps(topic._create_default_topic_policy(region_name, account_id, topic.name))


class CfnEventInvokeConfig(_CfnAttachment, CloudFormationModel):
    """AWS::Lambda::EventInvokeConfig, put through moto's Lambda backend (PutFunctionEventInvokeConfig)."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::EventInvokeConfig"

    @classmethod
    def attach(cls, properties: JSON, account_id: str, region_name: str, *, removing: bool = False) -> None:
        backend = lambda_backend(account_id, region_name)
        if removing:
            with contextlib.suppress(LambdaClientError):  # the function went first
                backend.delete_function_event_invoke_config(properties["FunctionName"])
            return
        config = {key: properties[key] for key in LAMBDA_EVENT_INVOKE_CONFIG_KEYS if key in properties}
        for limit in ("MaximumEventAgeInSeconds", "MaximumRetryAttempts"):
            if limit in config:
                config[limit] = int(config[limit])  # the template may carry them as strings
        backend.put_function_event_invoke_config(properties["FunctionName"], config)


class CfnAlarm(_NamedModel, CloudFormationModel):
    """AWS::CloudWatch::Alarm on one metric, put through moto's CloudWatch backend (a metric-math alarm keeps its
    actions and loses its math, which nothing in the sandbox evaluates)."""

    TYPE = "AWS::CloudWatch::Alarm"
    NAME_PROPERTY = "AlarmName"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str, **kwargs: Any
    ) -> CfnAlarm:
        p = cloudformation_json["Properties"]

        def number(key: str) -> Any:
            return float(p[key]) if key in p else None

        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=resource_name,
            namespace=p.get("Namespace"),
            metric_name=p.get("MetricName"),
            comparison_operator=p["ComparisonOperator"],
            evaluation_periods=int(p["EvaluationPeriods"]),
            period=int(p.get("Period", 0)),  # a metric-math alarm's periods are in its Metrics
            threshold=number("Threshold"),
            statistic=p.get("Statistic"),
            description=p.get("AlarmDescription"),
            dimensions=p.get("Dimensions", []),
            alarm_actions=p.get("AlarmActions", []),
            ok_actions=p.get("OKActions", []),
            insufficient_data_actions=p.get("InsufficientDataActions", []),
            datapoints_to_alarm=int(p["DatapointsToAlarm"]) if "DatapointsToAlarm" in p else None,
            extended_statistic=p.get("ExtendedStatistic"),
            unit=p.get("Unit"),
            actions_enabled=str(p.get("ActionsEnabled", True)).lower() == "true",
            treat_missing_data=p.get("TreatMissingData"),
        )
        return cls(alarm.name, alarm.alarm_arn)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: CfnAlarm,
        new_resource_name: str,
        cloudformation_json: JSON,
        account_id: str,
        region_name: str,
    ) -> CfnAlarm:
        cloudwatch_backends[account_id][region_name].delete_alarms([original_resource.name])
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str
    ) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])


def _forget_cloudformation_models() -> None:
    for listing in (
        cloudformation_parsing.get_model_list,
        cloudformation_parsing.get_model_map,
        cloudformation_parsing.get_name_type_map,
    ):
        listing.cache_clear()


# ----------------------------------------------------------------------------------------------------------------
# The middleware


def _caller(request: Request) -> tuple[str, str]:
    """(account, region) the way moto resolves them for a signed request."""
    scope = CREDENTIAL_SCOPE.search(request.headers.get("Authorization", ""))
    region = scope.group("region") if scope else REGION
    account = (
        os.environ.get("MOTO_ACCOUNT_ID")
        or request.headers.get("x-moto-account-id")
        or (get_account_id_from(scope.group("key")) if scope else DEFAULT_ACCOUNT_ID)
    )
    return account, region


class SandboxApp:
    """WSGI middleware: answers the gaps itself and hands everything else to moto."""

    def __init__(
        self, moto_app: WSGIApplication, store: Store | None = None, enforcer: enforce.Enforcer | None = None
    ) -> None:
        self.moto_app = moto_app
        self.store = store or Store()
        self.enforcer = enforcer  # AWS's authorizer, consulted before anything else; None serves unenforced

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        refused = self.enforcer.refusal(environ) if self.enforcer is not None else None
        if refused is not None:
            return refused(environ, start_response)
        path = environ.get("PATH_INFO", "")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        matched = PROVISIONED_PATH.match(path)
        partial = _unprocessed_items(self.store, environ, self.moto_app) if self.store.failures else None
        if partial is not None:
            return partial(environ, start_response)
        failed = _injected_failure(self.store, environ) if self.store.failures else None
        if failed is not None:
            response = failed
        elif path.startswith("/_sandbox/"):
            response = self._control(Request(environ))
        elif target.startswith(TARGET_PREFIX) and target[len(TARGET_PREFIX) :] in CODEPIPELINE_ACTIONS:
            response = self._codepipeline(Request(environ), target[len(TARGET_PREFIX) :])
        elif target == PUT_COMPOSITE_ALARM:
            response = _put_composite_alarm(Request(environ))
        elif target.startswith(MUTE_RULE_TARGET) and target[len(MUTE_RULE_TARGET) :] in MUTE_RULE_OPERATIONS:
            with self.store.lock:
                response = _mute_rules(Request(environ), target[len(MUTE_RULE_TARGET) :], self.store)
        elif scalable_target_tags.operation(target):
            request = Request(environ)
            response = scalable_target_tags.answer(request, scalable_target_tags.operation(target), *_caller(request))
        elif _signed_for(environ, "autoscaling") and _operation(_reread(environ)) == DESCRIBE_INSTANCE_REFRESHES:
            response = _no_instance_refreshes()
        elif matched:
            request = Request(environ)
            try:
                with self.store.lock:
                    response = _provisioned_concurrency(self.store, request, *_caller(request), matched["name"])
            except ApiError as error:
                response = Response(
                    json.dumps({"Type": "User", "message": error.message}),
                    status=error.status,
                    content_type="application/json",
                    headers={"x-amzn-ErrorType": error.code},
                )
        else:
            return self.moto_app(environ, start_response)
        return response(environ, start_response)

    def _codepipeline(self, request: Request, action: str) -> Response:
        account, region = _caller(request)
        try:
            body = json.loads(request.get_data() or b"{}")
            with self.store.lock:
                result = CODEPIPELINE_ACTIONS[action](self.store, account, region, body)
            return Response(json.dumps(result), content_type="application/x-amz-json-1.1")
        except (KeyError, TypeError, ValueError) as error:
            return self._codepipeline_error(ApiError("ValidationException", f"invalid request: {error!r}"))
        except ApiError as error:
            return self._codepipeline_error(error)

    @staticmethod
    def _codepipeline_error(error: ApiError) -> Response:
        return Response(
            json.dumps({"__type": error.code, "message": error.message}),
            status=error.status,
            content_type="application/x-amz-json-1.1",
        )

    def _control(self, request: Request) -> Response:
        try:
            body: JSON = (request.get_json(silent=True) or {}) if request.method == "POST" else {}
            account = body.get("account") or _caller(request)[0]
            region = body.get("region") or request.args.get("region") or _caller(request)[1]
            with self.store.lock:
                result = self._route(request, body, account, region)
            return _rest_json(result)
        except (KeyError, TypeError, ValueError) as error:
            return _rest_json({"error": "ValidationException", "message": f"invalid request: {error!r}"}, 400)
        except ApiError as error:
            return _rest_json({"error": error.code, "message": error.message}, error.status)

    def _route(self, request: Request, body: JSON, account: str, region: str) -> JSON:
        method, path = request.method, request.path
        store = self.store
        if method == "GET" and path == deliveries.LEDGER_ROUTE:
            return store.deliveries.document()
        if method == "GET":
            return self._read(request, account, region)
        posts: dict[str, Callable[[], JSON]] = {
            "/_sandbox/codepipeline/job": lambda: store.create_job(account, region, body),
            "/_sandbox/codepipeline/advance": lambda: store.advance(account, region, body),
            "/_sandbox/backdate": lambda: _backdate_route(body, account, region),
            "/_sandbox/failures": lambda: store.inject_failure(body),
            "/_sandbox/estate": lambda: store.record_estate(account, region, body),
            "/_sandbox/ecs/steady": lambda: _steady_service(body, account, region),
            deliveries.CHECK_ROUTE: lambda: store.deliveries.authorize(
                deliveries.CheckRequest.model_validate(body), policies, store.simulator
            ).model_dump(mode="json"),
            enforce.EXPECT_ROUTE: lambda: self._iam().expect(body),
            enforce.SWITCH_ROUTE: lambda: self._iam().switch(body),
            enforce.AUTHORIZE_ROUTE: lambda: self._iam().authorize(body, region),
        }
        if method == "POST" and path in posts:
            return posts[path]()
        raise ApiError("NotFound", f"no sandbox route {method} {path}", 404)

    def _read(self, request: Request, account: str, region: str) -> JSON:
        path, store = request.path, self.store
        if path.startswith("/_sandbox/codepipeline/job/"):
            return store.job_event(account, path.rsplit("/", 1)[1])
        if path == "/_sandbox/estate":
            return store.recorded_estate(account, region)
        if path == "/_sandbox/state":
            return store.state()
        if path == "/_sandbox/failures":
            return store.failure_state()
        if path == enforce.ROUTE:
            ledger = store.deliveries.document()
            return {**self._iam().document(), "deliveries": ledger["deliveries"], "refused": ledger["refused"]}
        if path == "/_sandbox/events":
            after = int(request.args.get("after", "0"))
            return {"events": store.events[after:], "next": len(store.events)}
        raise ApiError("NotFound", f"no sandbox route GET {path}", 404)

    def _iam(self) -> enforce.Enforcer:
        if self.enforcer is None:
            raise ApiError("NotFound", "this sandbox server authorizes nothing: it has no IAM enforcer", 404)
        return self.enforcer


def _steady_service(body: JSON, account: str, region: str) -> JSON:
    """moto leaves a new service's deployment IN_PROGRESS with no task running: finish it, as ECS would."""
    try:
        service = ecs_backends[account][region].describe_services(str(body["cluster"]), [str(body["service"])])[0][0]
    except (IndexError, ECSException):
        raise ApiError("NotFound", f"no ECS service {body.get('service')!r} in {body.get('cluster')!r}", 404) from None
    service.running_count, service.pending_count = service.desired_count, 0
    for deployment in service.deployments:
        deployment |= {
            "runningCount": deployment["desiredCount"],
            "pendingCount": 0,
            "rolloutState": "COMPLETED",
            "rolloutStateReason": f"ECS deployment {deployment['id']} completed.",
        }
    return {"cluster": body["cluster"], "service": body["service"], "rolloutState": "COMPLETED"}


def _backdate_route(body: JSON, account: str, region: str) -> JSON:
    try:
        created = _parse_time(str(body["created"]))
        backdate(str(body["service"]), str(body["kind"]), str(body["id"]), created, account=account, region=region)
    except (KeyError, LambdaClientError, EC2ClientError) as error:
        raise ApiError("NotFound", f"cannot backdate {body}: {error!r}", 404) from None
    except ValueError as error:
        raise _validation(str(error)) from None
    return {key: body[key] for key in ("service", "kind", "id", "created")}


def _kms_tags(tags: Any) -> Any:
    if isinstance(tags, list) and tags and "Key" in tags[0]:
        return [{"TagKey": tag["Key"], "TagValue": tag["Value"]} for tag in tags]
    return tags


def _ssm_tags(tags: Any) -> Any:
    return [{"Key": key, "Value": value} for key, value in tags.items()] if isinstance(tags, dict) else tags


def _convert_cloudformation_tags(resource: Any, convert: Any) -> None:
    """moto reads some resources' CloudFormation Tags in their API shape; hand it that shape."""
    original = resource.create_from_cloudformation_json.__func__
    if getattr(original, "deckhand_tags", False):
        return

    def create(cls: Any, /, name: str, template: JSON, account_id: str, region_name: str, **kwargs: Any) -> Any:
        properties = template.get("Properties", {})
        if properties.get("Tags"):
            properties["Tags"] = convert(properties["Tags"])
        return original(cls, name, template, account_id, region_name, **kwargs)

    create.deckhand_tags = True  # type: ignore[attr-defined]
    resource.create_from_cloudformation_json = classmethod(create)


# ----------------------------------------------------------------------------------------------------------------
# Where a failed asynchronous invocation goes: moto drops a function's DeadLetterConfig and has no
# AWS::Lambda::EventInvokeConfig, so the sandbox could not see (nor authorize) either path.

LAMBDA_EVENT_INVOKE_CONFIG_KEYS = ("DestinationConfig", "MaximumEventAgeInSeconds", "MaximumRetryAttempts")


def _keep_dead_letter_config() -> None:
    """A function keeps its DeadLetterConfig (from CreateFunction, UpdateFunctionConfiguration or its template)
    and GetFunctionConfiguration answers it, as Lambda does."""
    original_configuration = LambdaFunction.get_configuration
    if getattr(original_configuration, "deckhand_dead_letters", False):
        return
    original_init, original_update = LambdaFunction.__init__, LambdaFunction.update_configuration
    original_create = LambdaFunction.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def init(self: LambdaFunction, account_id: str, spec: JSON, region: str, version: str | int = 1) -> None:
        original_init(self, account_id, spec, region, version)
        self.dead_letter_config = spec.get("DeadLetterConfig")  # type: ignore[attr-defined]

    def configuration(self: LambdaFunction, on_create: bool = False) -> JSON:
        answer = original_configuration(self, on_create)
        if getattr(self, "dead_letter_config", None):
            answer["DeadLetterConfig"] = self.dead_letter_config  # type: ignore[attr-defined]
        return answer

    def update(self: LambdaFunction, config_updates: JSON) -> JSON:
        if "DeadLetterConfig" in config_updates:
            self.dead_letter_config = config_updates["DeadLetterConfig"]  # type: ignore[attr-defined]
        return original_update(self, config_updates)

    def create(cls: Any, /, name: str, template: JSON, account_id: str, region_name: str, **kwargs: Any) -> Any:
        function = original_create(cls, name, template, account_id, region_name, **kwargs)
        function.dead_letter_config = template.get("Properties", {}).get("DeadLetterConfig")
        return function

    configuration.deckhand_dead_letters = True  # type: ignore[attr-defined]
    LambdaFunction.__init__ = init  # type: ignore[method-assign]
    LambdaFunction.get_configuration = configuration  # type: ignore[method-assign]
    LambdaFunction.update_configuration = update  # type: ignore[method-assign]
    LambdaFunction.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign, assignment]


def _permission_without_function_name() -> None:
    """moto's AWS::Lambda::Permission copies its template properties into the function policy, FunctionName and
    all; Lambda's policy statement holds no such key (and IAM rejects a statement that does)."""
    original = LambdaPermission.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    if getattr(original, "deckhand_statement", False):
        return

    def create(cls: Any, /, name: str, template: JSON, account_id: str, region_name: str, **kwargs: Any) -> Any:
        properties = dict(template["Properties"])
        function = lambda_backend(account_id, region_name).get_function(properties.pop("FunctionName"))
        function.policy.add_statement(raw=json.dumps(properties))
        return cls(region=region_name)

    create.deckhand_statement = True  # type: ignore[attr-defined]
    LambdaPermission.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign, assignment]


def _key_policy_as_text() -> None:
    """moto's CloudFormation hands a template's KeyPolicy object to create_key, and DescribeKey then fails on it:
    KMS keeps a key policy as text."""
    original = KmsBackend.create_key
    if getattr(original, "deckhand_policy_text", False):
        return

    def create_key(self: KmsBackend, policy: Any, *args: Any, **kwargs: Any) -> Any:
        return original(self, json.dumps(policy) if isinstance(policy, dict) else policy, *args, **kwargs)

    create_key.deckhand_policy_text = True  # type: ignore[attr-defined]
    KmsBackend.create_key = create_key  # type: ignore[method-assign]


def make_app() -> SandboxApp:
    """moto's server application (as `ThreadedMotoServer` builds it) wrapped by the gap fillers and IAM."""
    _keep_dead_letter_config()
    _key_policy_as_text()
    _permission_without_function_name()
    # A tagged stack (the CDK app tags everything) fails on KMS keys and SSM parameters otherwise.
    _convert_cloudformation_tags(KmsKey, _kms_tags)
    _convert_cloudformation_tags(SsmParameter, _ssm_tags)
    _forget_cloudformation_models()  # moto lists its models once: let it see the Scheduler ones below
    store = Store()
    enforcer = enforce.Enforcer(store.simulator, parse_call=requests.parse_call, requests_for=actions.requests_for)
    return SandboxApp(DomainDispatcherApplication(create_backend_app), store, enforcer)


def make_server(host: str, port: int, app: WSGIApplication | None = None) -> BaseWSGIServer:
    """A threaded server for `app` (default `make_app()`), with moto's request handler; port 0 picks one."""
    return werkzeug_make_server(host, port, app or make_app(), threaded=True, request_handler=MotoRequestHandler)


# ----------------------------------------------------------------------------------------------------------------
# Powertools: the public layer and its reserved SSM parameter


def seed_powertools(version: str, account: str, region: str, runtime: str = "python3.14") -> str:
    """Publish the Powertools layer and write `/aws/service/powertools/...` (moto refuses `/aws/` writes).

    moto resolves a layer ARN by name and version only, in the caller's account, so the layer lives in
    `account` while the parameter holds the ARN of the real publisher account.
    """
    name = f"/aws/service/powertools/python/arm64/{runtime}/{version}"
    ssm = ssm_backends[account][region]
    existing = ssm.get_parameter(name)
    if existing is not None:
        return str(existing.value)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("python/aws_lambda_powertools/__init__.py", f'__version__ = "{version}"\n')
    layer = lambda_backend(account, region).publish_layer_version(
        {
            "LayerName": f"AWSLambdaPowertoolsPythonV3-{runtime.replace('.', '')}-arm64",
            "Content": {"ZipFile": base64.b64encode(archive.getvalue()).decode()},
            "Description": f"Powertools for AWS Lambda (Python) V3 [arm64] {version}",
            "CompatibleRuntimes": [runtime],
            "CompatibleArchitectures": ["arm64"],
            "LicenseInfo": "MIT-0",
        }
    )
    arn = f"arn:aws:lambda:{region}:{POWERTOOLS_ACCOUNT}:layer:{layer.name}:{layer.version}"
    ssm._parameters[name].append(
        Parameter(  # type: ignore[abstract]
            account_id=account,
            name=name,
            value=arn,
            parameter_type="String",
            description=None,
            allowed_pattern=None,
            keyid=None,
            last_modified_date=_now().replace(tzinfo=None),
            version=1,
            data_type="text",
        )
    )
    return arn


# ----------------------------------------------------------------------------------------------------------------
# EventBridge patterns


def event_matches(pattern: JSON | str, event: JSON) -> bool:
    """EventBridge pattern matching, as moto implements it; raises ValueError on an invalid pattern."""
    raw = pattern if isinstance(pattern, str) else json.dumps(pattern)
    try:
        return bool(EventPattern.load(raw).matches_event(event))  # type: ignore[arg-type]
    except Exception as error:
        if type(error).__name__ == "InvalidEventPatternException":
            raise ValueError(f"invalid event pattern: {raw}") from error
        raise


# ----------------------------------------------------------------------------------------------------------------
# CloudWatch alarm state changes (moto emits no event)


def _describe_alarm(cloudwatch_client: Any, alarm_name: str) -> tuple[str, JSON]:
    found = cloudwatch_client.describe_alarms(AlarmNames=[alarm_name], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    for kind in ("MetricAlarms", "CompositeAlarms"):
        for alarm in found.get(kind, []):
            if alarm["AlarmName"] == alarm_name:
                return kind, alarm
    raise LookupError(f"no alarm named {alarm_name}")


def _cloudwatch_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _metric_stat(metric: JSON, period: Any, stat: Any, unit: Any) -> JSON:
    body: JSON = {
        "metric": {
            "dimensions": {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])},
            "name": metric["MetricName"],
            "namespace": metric["Namespace"],
        },
        "period": period,
        "stat": stat,
    }
    if unit:
        body["unit"] = unit
    return body


def _alarm_configuration(kind: str, alarm: JSON) -> JSON:
    config: JSON = {}
    if alarm.get("AlarmDescription"):
        config["description"] = alarm["AlarmDescription"]
    if kind == "CompositeAlarms":
        config["alarmRule"] = alarm["AlarmRule"]
        for source, target in (
            ("ActionsSuppressor", "actionsSuppressor"),
            ("ActionsSuppressorWaitPeriod", "actionsSuppressorWaitPeriod"),
            ("ActionsSuppressorExtensionPeriod", "actionsSuppressorExtensionPeriod"),
        ):
            if alarm.get(source) is not None:
                config[target] = alarm[source]
        return config
    metrics = []
    for query in alarm.get("Metrics") or []:
        item: JSON = {"id": query["Id"]}
        if "Expression" in query:
            item["expression"] = query["Expression"]
        else:
            stat = query["MetricStat"]
            item["metricStat"] = _metric_stat(stat["Metric"], stat["Period"], stat["Stat"], stat.get("Unit"))
        if query.get("Label"):
            item["label"] = query["Label"]
        item["returnData"] = query.get("ReturnData", True)
        metrics.append(item)
    if not metrics:
        metrics.append(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, alarm["AlarmArn"])),
                "metricStat": _metric_stat(
                    alarm,
                    alarm.get("Period"),
                    alarm.get("Statistic") or alarm.get("ExtendedStatistic"),
                    alarm.get("Unit"),
                ),
                "returnData": True,
            }
        )
    config["metrics"] = metrics
    return config


def _alarm_state(value: str, reason: str, reason_data: str | None, moment: datetime) -> JSON:
    state: JSON = {"value": value, "reason": reason}
    if reason_data and reason_data != "{}":
        state["reasonData"] = reason_data
    state["timestamp"] = _cloudwatch_time(moment)
    return state


def alarm_state_change(
    cloudwatch_client: Any, alarm_name: str, state: str, reason: str, now: datetime, *, reason_data: str | None = None
) -> JSON:
    """Set an alarm's state in the sandbox and return the `CloudWatch Alarm State Change` event AWS would emit."""
    _, before = _describe_alarm(cloudwatch_client, alarm_name)
    request: JSON = {"AlarmName": alarm_name, "StateValue": state, "StateReason": reason}
    if reason_data is not None:
        request["StateReasonData"] = reason_data
    cloudwatch_client.set_alarm_state(**request)
    kind, after = _describe_alarm(cloudwatch_client, alarm_name)
    arn = after["AlarmArn"]
    _, _, _, region, account, _ = arn.split(":", 5)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": account,
        "time": _iso_z(now),
        "region": region,
        "resources": [arn],
        "detail": {
            "alarmName": alarm_name,
            "state": _alarm_state(state, reason, reason_data, now),
            "previousState": _alarm_state(
                before["StateValue"],
                before.get("StateReason", ""),
                before.get("StateReasonData"),
                before["StateUpdatedTimestamp"],
            ),
            "configuration": _alarm_configuration(kind, after),
        },
    }
