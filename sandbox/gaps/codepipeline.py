"""CodePipeline's runtime, which moto lacks: executions that run their stages, Lambda invoke jobs and their
results, manual approvals, stop and rollback, each state change recorded as the EventBridge event CodePipeline
emits.

An execution runs by itself (`PipelineRunner`, a thread of the server): an action other than a Lambda invoke or a
manual approval succeeds after a short delay, or fails when `/_sandbox/codepipeline/fail` asked for it; a Lambda
invoke action gets a job, handed to its function asynchronously, and waits for PutJobSuccessResult or
PutJobFailureResult; an approval waits for PutApprovalResult, and fails unanswered after its timeout (7 days
unless the action sets timeoutInMinutes). `/_sandbox/codepipeline/runner` turns this off for
the executions started afterwards, which then move only through `/_sandbox/codepipeline/advance`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import string
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from moto.codepipeline.models import codepipeline_backends
from werkzeug.wrappers import Request, Response

from sandbox.gaps.common import (
    JSON,
    ApiError,
    caller,
    iso_ms_z,
    iso_z,
    parse_time,
    random_text,
    utc_now,
    validation,
)
from sandbox.gaps.invoke import Invoke
from sandbox.iam import enforce
from sandbox.iam.deliveries import Delivery, Refusal, function_arn, pipeline_to_function
from sandbox.iam.model import Call

log = logging.getLogger(__name__)

JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
VARIABLE_NAME = re.compile(r"^[A-Za-z0-9@\-_]+$")  # an output variable key, a pipeline variable name
DISABLED_REASON = re.compile(r"[a-zA-Z0-9!@ \(\)\.\*\?\-]{1,300}")  # DisableStageTransition's reason

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
    "Superseded": "SUPERSEDED",
}
EXECUTION_MODES = ("SUPERSEDED", "QUEUED", "PARALLEL")
RUNNING = ("InProgress", "Stopping")  # a stage in these states holds its lock

DELAY_VARIABLE = "DECKHAND_SANDBOX_PIPELINE_DELAY"  # seconds an action other than invoke or approval takes
JOB_TIMEOUT_VARIABLE = "DECKHAND_SANDBOX_PIPELINE_JOB_TIMEOUT"  # seconds a Lambda job may go unanswered
# CodePipeline quotas ("Length of time before an action times out"): a Lambda invoke action times out when its
# function sends no reply within 20 minutes (each in-progress reply restarts the timer), and fails after 24 hours.
JOB_REPLY_TIMEOUT = timedelta(minutes=20)
INVOKE_ACTION_TIMEOUT = timedelta(hours=24)
# A manual approval unanswered for 7 days fails (the quotas page; "Approve or reject an approval action": "the
# pipeline status changes to Failed"); an action's timeoutInMinutes overrides it (ActionDeclaration).
APPROVAL_TIMEOUT = timedelta(days=7)
MAX_SETTING = timedelta(days=30)  # a sandbox waits no longer for anything


@dataclass
class RunnerSettings:
    """How executions started from now on run: by themselves or driven by `advance`, and how fast."""

    self_running: bool = True
    delay: timedelta = timedelta(seconds=0.5)
    # CodePipeline re-invokes an action answered "in progress" periodically (the quotas page), not saying how often.
    continuation: timedelta = timedelta(seconds=5)
    job_timeout: timedelta = JOB_REPLY_TIMEOUT
    action_timeout: timedelta = INVOKE_ACTION_TIMEOUT
    approval_timeout: timedelta = APPROVAL_TIMEOUT

    @classmethod
    def from_environment(cls) -> RunnerSettings:
        settings = cls()
        settings.update(
            {
                key: float(os.environ[variable])
                for key, variable in (("delay_seconds", DELAY_VARIABLE), ("job_timeout_seconds", JOB_TIMEOUT_VARIABLE))
                if os.environ.get(variable)
            }
        )
        return settings

    def update(self, body: JSON) -> None:
        if "self_running" in body:
            if not isinstance(body["self_running"], bool):
                raise validation("self_running must be true or false")
            self.self_running = body["self_running"]
        for key, attribute in (
            ("delay_seconds", "delay"),
            ("continuation_seconds", "continuation"),
            ("job_timeout_seconds", "job_timeout"),
            ("action_timeout_seconds", "action_timeout"),
            ("approval_timeout_seconds", "approval_timeout"),
        ):
            if key in body:
                seconds = body[key]
                if (
                    isinstance(seconds, bool)
                    or not isinstance(seconds, int | float)
                    or not 0 <= seconds <= MAX_SETTING.total_seconds()
                ):
                    raise validation(f"{key} must be a number of seconds from 0 to {MAX_SETTING.total_seconds():.0f}")
                setattr(self, attribute, timedelta(seconds=seconds))

    def document(self) -> JSON:
        return {
            "self_running": self.self_running,
            "delay_seconds": self.delay.total_seconds(),
            "continuation_seconds": self.continuation.total_seconds(),
            "job_timeout_seconds": self.job_timeout.total_seconds(),
            "action_timeout_seconds": self.action_timeout.total_seconds(),
            "approval_timeout_seconds": self.approval_timeout.total_seconds(),
        }


@dataclass(frozen=True)
class InjectedFailure:
    """The next run of an action of this name (in this stage and pipeline, when given) fails with `message`."""

    action: str
    message: str
    stage: str | None = None
    pipeline: str | None = None

    def matches(self, pipeline: str, stage: str, action: str) -> bool:
        return self.action == action and self.stage in (None, stage) and self.pipeline in (None, pipeline)


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
    started: datetime | None = None
    updated_by: str | None = None
    external_execution_id: str | None = None
    error: JSON | None = None
    output_variables: dict[str, str] = field(default_factory=dict)
    due: datetime | None = None  # when a self-running action other than invoke or approval finishes
    timeout: timedelta | None = None  # the action's own timeoutInMinutes (approvals only)
    expires: datetime | None = None  # when a self-running approval left unanswered fails

    @property
    def is_approval(self) -> bool:
        return self.type_id.get("category") == "Approval" and self.type_id.get("provider") == "Manual"

    @property
    def invokes_lambda(self) -> bool:
        return self.type_id.get("category") == "Invoke" and self.type_id.get("provider") == "Lambda"


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
    mode: str = "SUPERSEDED"
    self_running: bool = False
    waiting_for: str | None = None  # the stage it waits to enter while another execution holds it
    source_revisions: list[JSON] = field(default_factory=list)

    def stage(self, name: str) -> StageRun | None:
        return next((stage for stage in self.stages if stage.name == name), None)

    def summary(self) -> JSON:
        item: JSON = {
            "pipelineExecutionId": self.id,
            "status": self.status,
            "startTime": self.start.timestamp(),
            "lastUpdateTime": (self.last_update or self.start).timestamp(),
            "sourceRevisions": [dict(revision) for revision in self.source_revisions],
            "trigger": dict(self.trigger),
            "executionMode": self.mode,
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
            "executionMode": self.mode,
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
    by_runner: bool = False  # handed to its function by the runner, not fetched through the control route
    action_started: datetime | None = None  # when its action's first job was created
    dispatch_at: datetime | None = None  # when the runner hands it to its function
    reply_by: datetime | None = None  # when it times out unanswered
    continued_by: str | None = None  # the job a continuation token created
    role: str | None = None  # the role CodePipeline invokes the function as

    def data(self) -> JSON:
        data: JSON = {
            "actionConfiguration": {"configuration": dict(self.configuration)},
            "inputArtifacts": self.input_artifacts,
            "outputArtifacts": self.output_artifacts,
            # Fake, but shaped like the short-lived credentials AWS hands to the action.
            "artifactCredentials": {
                "accessKeyId": "ASIA" + random_text(16, string.ascii_uppercase + string.digits),
                "secretAccessKey": random_text(40),
                "sessionToken": random_text(120),
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
            "continued_by": self.continued_by,
            "created": iso_ms_z(self.created),
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
                    timeout=timedelta(minutes=int(action["timeoutInMinutes"]))
                    if "timeoutInMinutes" in action
                    else None,
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
                    "objectKey": f"{pipeline[:20]}/{artifact['name'][:10]}/{random_text(7)}",
                },
            },
        }
        for artifact in declared
    ]


def _execution_mode(definition: JSON) -> str:
    mode = str(definition.get("executionMode") or "SUPERSEDED")
    return mode if mode in EXECUTION_MODES else "SUPERSEDED"


def _resolved_variables(definition: JSON, given: list[JSON]) -> list[dict[str, str]]:
    """A V2 pipeline's variables for one execution: each declared default, overridden by what the start gave
    ("A list that overrides pipeline variables", StartPipelineExecution)."""
    values = {v["name"]: v["defaultValue"] for v in definition.get("variables") or [] if "defaultValue" in v}
    values |= {str(v["name"]): str(v["value"]) for v in given}
    return [{"name": name, "value": value} for name, value in values.items()]


@dataclass(frozen=True)
class Invocation:
    """A job the runner hands to its function, outside the store's lock."""

    job_id: str
    account: str
    region: str
    function: str
    payload: bytes
    delivery: Delivery | None  # what IAM must let CodePipeline do to invoke the function

    @classmethod
    def of(cls, job: Job) -> Invocation:
        name = job.configuration.get("FunctionName", "")
        function = function_arn(name, job.region, job.account)
        delivery = pipeline_to_function(f"{job.pipeline_arn}/{job.stage}", job.role, function) if job.role else None
        return cls(job.id, job.account, job.region, name, json.dumps(job.lambda_event()).encode(), delivery)


@dataclass
class Work:
    """What one pass of the runner leaves to do outside the store's lock, and when to look again."""

    events: list[JSON]
    invocations: list[Invocation]
    next_due: datetime | None


class Pipelines:
    """CodePipeline's runtime: executions, jobs and approvals, and the events their changes emit."""

    def __init__(self, settings: RunnerSettings | None = None) -> None:
        self.jobs: dict[str, Job] = {}
        self.executions: dict[str, Execution] = {}
        self.approval_tokens: dict[str, tuple[str, str, str]] = {}
        self.approvals: list[JSON] = []
        self.events: list[JSON] = []  # every event, for `/_sandbox/events`
        self.outbox: list[JSON] = []  # self-running executions' events, for the runner to put on the bus
        self.injected: list[InjectedFailure] = []
        # (account, region) -> (pipeline, stage, Inbound|Outbound) -> its disabled TransitionState
        self.transitions: dict[tuple[str, str], dict[tuple[str, str, str], JSON]] = {}
        # (account, region, pipeline, clientRequestToken) -> the execution that start made
        self.started: dict[tuple[str, str, str, str], str] = {}
        self.settings = settings or RunnerSettings.from_environment()
        self.changed = threading.Event()  # wakes the runner

    # -- state transitions ---------------------------------------------------------------------------------------

    def _emit(self, execution: Execution, detail_type: str, detail: JSON, at: datetime) -> None:
        body: JSON = {
            "pipeline": execution.pipeline,
            "execution-id": execution.id,
            "start-time": iso_ms_z(execution.start),
            **detail,
            "version": float(execution.version),
            "pipeline-execution-attempt": 1.0,
        }
        event: JSON = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": "aws.codepipeline",
            "account": execution.account,
            "time": iso_z(at),
            "region": execution.region,
            "resources": [execution.pipeline_arn],
            "detail": body,
        }
        self.events.append(event)
        # An execution driven through `advance` leaves its events to its driver, which routes them when it chooses.
        if execution.self_running:
            self.outbox.append(event)
        self.changed.set()

    def _set_execution(self, execution: Execution, status: str, at: datetime) -> None:
        execution.status = status
        execution.last_update = at
        if status not in RUNNING:
            execution.waiting_for = None
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
        if status not in RUNNING:
            self._admit(execution.account, execution.region, execution.pipeline, stage.name, at)

    def _set_action(self, execution: Execution, stage: StageRun, action: ActionRun, status: str, at: datetime) -> None:
        action.status = status
        action.last_change = at
        execution.last_update = at
        action.due = action.expires = None
        if status == "InProgress":
            action.action_execution_id = str(uuid.uuid4())
            action.started = at
            action.summary = action.error = action.updated_by = None
            if execution.self_running and action.invokes_lambda:
                self._dispatch_job(execution, stage, action, at)
            elif execution.self_running and not action.is_approval:
                action.due = at + self.settings.delay
            elif execution.self_running:
                action.expires = at + (action.timeout or self.settings.approval_timeout)
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
                        "requested_at": iso_ms_z(at),
                        "answered_at": None,
                    }
                )
        elif action.token is not None:
            for approval in self.approvals:
                if approval["token"] == action.token:
                    approval["status"] = status
                    approval["summary"] = action.summary
                    approval["answered_at"] = iso_ms_z(at)
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
            self._enter_stage(execution, following[0], at)
        else:
            self._set_execution(execution, "Succeeded", at)

    # -- stage locks and transitions: how executions share a pipeline -------------------------------------------
    #
    # CodePipeline User Guide, "How pipeline executions work": in SUPERSEDED and QUEUED modes a stage processes
    # one execution at a time; an execution that reaches a locked stage waits at its boundary; in SUPERSEDED mode
    # a more recent execution arriving there supersedes the one waiting, in QUEUED mode they enter in turn. In
    # PARALLEL mode executions run independently. A disabled transition (DisableStageTransition) holds executions
    # at the boundary the same way.

    def _enter_stage(self, execution: Execution, stage: StageRun, at: datetime) -> None:
        if self._may_enter(execution, stage):
            execution.waiting_for = None
            self._start_stage(execution, stage, at)
            return
        if execution.mode == "SUPERSEDED":
            for waiting in self._others(execution):
                if waiting.waiting_for == stage.name:
                    self._set_execution(waiting, "Superseded", at)
        execution.waiting_for = stage.name

    def _may_enter(self, execution: Execution, stage: StageRun) -> bool:
        index = execution.stages.index(stage)
        leaving = execution.stages[index - 1].name if index else None
        if (execution.pipeline, stage.name, "Inbound") in self._disabled(execution) or (
            leaving is not None and (execution.pipeline, leaving, "Outbound") in self._disabled(execution)
        ):
            return False
        return execution.mode == "PARALLEL" or not any(
            (held := other.stage(stage.name)) is not None and held.status in RUNNING
            for other in self._others(execution)
        )

    def _disabled(self, execution: Execution) -> dict[tuple[str, str, str], JSON]:
        return self.transitions.get((execution.account, execution.region), {})

    def _admit(self, account: str, region: str, pipeline: str, stage_name: str, at: datetime) -> None:
        """The stage may be free again: the executions waiting longest to enter it go in, while they may."""
        executions = self.pipeline_executions(account, region, pipeline)
        waiting = [e for e in executions if e.waiting_for == stage_name and e.status == "InProgress"]
        for first in reversed(waiting):
            stage = first.stage(stage_name)
            if stage is None or not self._may_enter(first, stage):
                return
            first.waiting_for = None
            self._start_stage(first, stage, at)

    def _others(self, execution: Execution) -> list[Execution]:
        """The pipeline's other executions, newest first."""
        return [
            e
            for e in self.pipeline_executions(execution.account, execution.region, execution.pipeline)
            if e is not execution
        ]

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

    # -- the runner's side: what is due, jobs handed to functions, timeouts ---------------------------------------

    def due_work(self, now: datetime) -> Work:
        """Finish the actions due by `now`, time out unanswered jobs, and say what to do outside the lock."""
        for execution in list(self.executions.values()):
            for stage in execution.stages:
                for action in stage.actions:
                    if action.status == "InProgress" and action.due is not None and action.due <= now:
                        self._finish_by_itself(execution, stage, action, now)
                    elif action.status == "InProgress" and action.expires is not None and action.expires <= now:
                        action.summary = (
                            f"The approval was not answered within {action.timeout or self.settings.approval_timeout}"
                        )
                        self._finish_action(execution, stage, action, "Failed", now)
        invocations = []
        for job in list(self.jobs.values()):
            if job.status != "InProgress":
                continue
            if job.action_started is not None and now - job.action_started >= self.settings.action_timeout:
                self._time_out(job, now, f"it ran for {self.settings.action_timeout} without a final answer")
            elif job.dispatch_at is not None and job.dispatch_at <= now:
                job.dispatch_at = None
                job.reply_by = now + self.settings.job_timeout
                invocations.append(Invocation.of(job))
            elif job.reply_by is not None and job.reply_by <= now:
                self._time_out(job, now, f"its function sent no answer within {self.settings.job_timeout}")
        events, self.outbox = self.outbox, []
        return Work(events, invocations, self._next_due())

    def _next_due(self) -> datetime | None:
        dues = [
            moment
            for execution in self.executions.values()
            for stage in execution.stages
            for action in stage.actions
            if action.status == "InProgress"
            for moment in (action.due, action.expires)
            if moment is not None
        ]
        for job in self.jobs.values():
            if job.status == "InProgress":
                dues += [d for d in (job.dispatch_at, job.reply_by) if d is not None]
                if job.action_started is not None:
                    dues.append(job.action_started + self.settings.action_timeout)
        return min(dues, default=None)

    def _finish_by_itself(self, execution: Execution, stage: StageRun, action: ActionRun, at: datetime) -> None:
        failure = next((f for f in self.injected if f.matches(execution.pipeline, stage.name, action.name)), None)
        if failure is None:
            self._finish_action(execution, stage, action, "Succeeded", at)
            return
        self.injected.remove(failure)
        action.summary = failure.message
        action.error = {"code": "JobFailed", "message": failure.message}
        self._finish_action(execution, stage, action, "Failed", at)

    def _time_out(self, job: Job, at: datetime, why: str) -> None:
        job.status = "TimedOut"
        job.history.append({"result": "timed-out", "at": iso_ms_z(at)})
        if linked := self._linked_action(job):
            execution, stage, action = linked
            # AWS documents the timeout, not the error code it reports: JobFailed, as for a failed job.
            action.error = {"code": "JobFailed", "message": f"The action timed out: {why}"}
            action.summary = action.error["message"]
            self._finish_action(execution, stage, action, "Failed", at)

    def invocation_failed(self, job_id: str, why: str) -> None:
        """The runner could not hand the job to its function: the action fails, as CodePipeline's would."""
        job = self.jobs.get(job_id)
        if job is None or job.status != "InProgress":
            return
        at = utc_now()
        job.status = "Failed"
        job.history.append({"result": "not-invoked", "at": iso_ms_z(at), "reason": why})
        if linked := self._linked_action(job):
            execution, stage, action = linked
            action.error = {"code": "JobFailed", "message": why}
            action.summary = why
            self._finish_action(execution, stage, action, "Failed", at)

    def _dispatch_job(self, execution: Execution, stage: StageRun, action: ActionRun, at: datetime) -> None:
        found = _pipeline_definition(execution.account, execution.region, execution.pipeline)
        definition, _ = found if found else (None, None)
        action_def: JSON = next(
            (
                a
                for s in (definition or {}).get("stages", [])
                if s["name"] == stage.name
                for a in s["actions"]
                if a["name"] == action.name
            ),
            {},
        )
        job = self._new_job(
            account=execution.account,
            region=execution.region,
            pipeline=execution.pipeline,
            pipeline_arn=execution.pipeline_arn,
            stage=stage.name,
            action_def={"name": action.name, "actionTypeId": action.type_id, **action_def},
            execution_id=execution.id,
            action_execution_id=action.action_execution_id,
            configuration=dict(action.configuration),
            definition=definition,
            at=at,
        )
        job.by_runner = True
        job.action_started = job.dispatch_at = at
        job.role = str(action_def.get("roleArn") or (definition or {}).get("roleArn") or "") or None

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
        trigger_detail: str,
        version: int,
        stages: list[StageRun],
        variables: list[dict[str, str]],
        mode: str,
        execution_type: str = "STANDARD",
        rollback_target: str | None = None,
        source_revisions: list[JSON] | None = None,
    ) -> JSON:
        """Record a new execution of `pipeline` (`trigger_detail`: who or what started it) and let it enter its
        first stage."""
        at = utc_now()
        execution = Execution(
            id=str(uuid.uuid4()),
            account=account,
            region=region,
            pipeline=pipeline,
            pipeline_arn=metadata["pipelineArn"],
            version=version,
            stages=stages,
            start=at,
            trigger={"triggerType": trigger_type, "triggerDetail": trigger_detail},
            execution_type=execution_type,
            rollback_target=rollback_target,
            variables=variables,
            mode=mode,
            self_running=self.settings.self_running,
            source_revisions=source_revisions or [],
        )
        self.executions[execution.id] = execution
        self._set_execution(execution, "InProgress", at)
        self._enter_stage(execution, execution.stages[0], at)
        return {"pipelineExecutionId": execution.id}

    def _job(self, account: str, job_id: Any) -> Job:
        if not isinstance(job_id, str) or not JOB_ID.match(job_id):
            raise validation(
                f"Value '{job_id}' at 'jobId' failed to satisfy constraint: Member must match the job id pattern"
            )
        job = self.jobs.get(job_id)
        if job is None or job.account != account:
            raise ApiError("JobNotFoundException", f"Job with id {job_id} was not found")
        return job

    # -- CodePipeline API ---------------------------------------------------------------------------------------

    def start_pipeline_execution(self, account: str, region: str, body: JSON, caller: str) -> JSON:
        name = body.get("name", "")
        definition, metadata = _require_pipeline(account, region, name)
        given = body.get("variables") or []
        for variable in given:
            if not VARIABLE_NAME.match(str(variable.get("name", ""))) or not variable.get("value"):
                raise validation(
                    "variables: a name must match [A-Za-z0-9@\\-_]+ and a value can be anything except an empty string"
                )
        # clientRequestToken is the model's idempotencyToken (botocore makes one per call and keeps it across its
        # retries): the same token starts one execution, and answers it again.
        token = body.get("clientRequestToken")
        if token and (found := self.started.get((account, region, name, token))):
            return {"pipelineExecutionId": found}
        started = self._run_execution(
            account,
            region,
            name,
            metadata,
            "StartPipelineExecution",
            trigger_detail=caller,
            version=int(definition.get("version", 1)),
            stages=_stage_runs(definition),
            variables=_resolved_variables(definition, given),
            mode=_execution_mode(definition),
        )
        if token:
            self.started[account, region, name, token] = started["pipelineExecutionId"]
        return started

    def get_pipeline_execution(self, account: str, region: str, body: JSON, caller: str) -> JSON:
        _require_pipeline(account, region, body.get("pipelineName", ""))
        execution = self._execution(account, region, body["pipelineName"], body.get("pipelineExecutionId", ""))
        return {"pipelineExecution": execution.describe()}

    def list_pipeline_executions(self, account: str, region: str, body: JSON, caller: str) -> JSON:
        name = body.get("pipelineName", "")
        _require_pipeline(account, region, name)
        executions = self.pipeline_executions(account, region, name)
        stage_filter = ((body.get("filter") or {}).get("succeededInStage") or {}).get("stageName")
        if stage_filter:
            executions = [
                e for e in executions if (stage := e.stage(stage_filter)) is not None and stage.status == "Succeeded"
            ]
        return _page(body, "pipelineExecutionSummaries", [e.summary() for e in executions])

    def list_action_executions(self, account: str, region: str, body: JSON, caller: str) -> JSON:
        """Each action run of the pipeline's executions, newest execution first. An approval's externalExecutionId
        is its token: in PARALLEL mode GetPipelineState shows none, and PutApprovalResult takes this one instead
        (PutApprovalResult's token)."""
        name = body.get("pipelineName", "")
        definition, _ = _require_pipeline(account, region, name)
        wanted = (body.get("filter") or {}).get("pipelineExecutionId")
        executions = (
            [self._execution(account, region, name, wanted)]
            if wanted
            else self.pipeline_executions(account, region, name)
        )
        roles = {
            (stage["name"], action["name"]): action.get("roleArn") or definition.get("roleArn")
            for stage in definition["stages"]
            for action in stage["actions"]
        }
        details = [
            _action_execution_detail(execution, stage, action, roles.get((stage.name, action.name)))
            for execution in executions
            for stage in execution.stages
            for action in stage.actions
            if action.status is not None
        ]
        return _page(body, "actionExecutionDetails", details)

    def get_pipeline_state(self, account: str, region: str, body: JSON, caller: str) -> JSON:
        name = body.get("name", "")
        definition, metadata = _require_pipeline(account, region, name)
        executions = self.pipeline_executions(account, region, name)
        stage_states = []
        with_tokens = _execution_mode(definition) != "PARALLEL"
        for stage_def in definition["stages"]:
            runs = [(e, s) for e in executions if (s := e.stage(stage_def["name"])) is not None and s.status]
            inbound = self.transitions.get((account, region), {}).get((name, stage_def["name"], "Inbound"))
            state: JSON = {"stageName": stage_def["name"], "inboundTransitionState": inbound or {"enabled": True}}
            action_states = []
            latest = runs[0] if runs else None
            for action_def in stage_def["actions"]:
                action_state: JSON = {"actionName": action_def["name"]}
                run = next((a for a in latest[1].actions if a.name == action_def["name"]), None) if latest else None
                if run is not None and run.status is not None:
                    action_state["latestExecution"] = _action_execution(run, with_token=with_tokens)
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
            "created": parse_time(metadata["created"]).timestamp(),
            "updated": parse_time(metadata["updated"]).timestamp(),
        }

    def put_approval_result(self, account: str, region: str, body: JSON, caller: str) -> JSON:
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
            raise validation(f"result.summary must have length less than or equal to {MAX_APPROVAL_SUMMARY}")
        if result.get("status") not in ("Approved", "Rejected"):
            raise validation("result.status must satisfy enum value set: [Approved, Rejected]")
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
        at = utc_now()
        action.summary = summary or None
        action.updated_by = caller
        self._finish_action(execution, stage, action, "Succeeded" if result["status"] == "Approved" else "Failed", at)
        return {"approvedAt": at.timestamp()}

    def disable_stage_transition(self, account: str, region: str, body: JSON, caller: str) -> JSON:
        where = self._transition(account, region, body)
        reason = body.get("reason")
        if not isinstance(reason, str) or not DISABLED_REASON.fullmatch(reason):
            raise validation("reason must be 1 to 300 characters of letters, digits, spaces and !@().*?-")
        self.transitions.setdefault((account, region), {})[where] = {
            "enabled": False,
            "lastChangedBy": caller,
            "lastChangedAt": utc_now().timestamp(),
            "disabledReason": reason,
        }
        return {}

    def enable_stage_transition(self, account: str, region: str, body: JSON, caller: str) -> JSON:
        pipeline, stage, kind = where = self._transition(account, region, body)
        if self.transitions.get((account, region), {}).pop(where, None) is None:
            return {}
        names = [s["name"] for s in _require_pipeline(account, region, pipeline)[0]["stages"]]
        following = names[names.index(stage) + 1 :]
        entering = stage if kind == "Inbound" else next(iter(following), None)
        if entering is not None:
            self._admit(account, region, pipeline, entering, utc_now())
        return {}

    def _transition(self, account: str, region: str, body: JSON) -> tuple[str, str, str]:
        name = body.get("pipelineName", "")
        definition, _ = _require_pipeline(account, region, name)
        stage = body.get("stageName", "")
        if not any(s["name"] == stage for s in definition["stages"]):
            raise ApiError("StageNotFoundException", f"Stage '{stage}' not found in pipeline '{name}'")
        kind = body.get("transitionType")
        if kind not in ("Inbound", "Outbound"):
            raise validation("transitionType must satisfy enum value set: [Inbound, Outbound]")
        return name, stage, kind

    def stop_pipeline_execution(self, account: str, region: str, body: JSON, caller: str) -> JSON:
        name = body.get("pipelineName", "")
        _require_pipeline(account, region, name)
        reason = body.get("reason", "")
        if len(reason) > MAX_STOP_REASON:
            raise validation(f"reason must have length less than or equal to {MAX_STOP_REASON}")
        execution = self.executions.get(body.get("pipelineExecutionId", ""))
        if execution is None or execution.pipeline != name or execution.status not in ("InProgress", "Stopping"):
            raise ApiError(
                "PipelineExecutionNotStoppableException",
                "Unable to stop pipeline execution. The execution is not in progress.",
            )
        abandon = bool(body.get("abandon"))
        if execution.status == "Stopping" and not abandon:
            raise ApiError("DuplicatedStopRequestException", "A stop request is already in progress")
        at = utc_now()
        # AWS keeps the reason in ListPipelineExecutions' stopTrigger, not in GetPipelineExecution's statusSummary.
        execution.stop_reason = reason
        # User Guide, "Stop a pipeline execution": stop and wait keeps the execution Stopping until every action in
        # progress has Succeeded or Failed (an approval included: it waits for its answer); stop and abandon passes
        # through Stopping "for a very short time while the in-progress actions are abandoned".
        running = [s for s in execution.stages if any(a.status == "InProgress" for a in s.actions)]
        if running and execution.status != "Stopping":
            self._set_execution(execution, "Stopping", at)
            for stage in running:
                self._set_stage(execution, stage, "Stopping", at)
        if abandon:
            for stage in running:
                for action in stage.actions:
                    if action.status == "InProgress":
                        self._set_action(execution, stage, action, "Abandoned", at)
        if not any(a.status == "InProgress" for stage in execution.stages for a in stage.actions):
            for stage in execution.stages:
                if stage.status in RUNNING:
                    self._set_stage(execution, stage, "Stopped", at)
            self._set_execution(execution, "Stopped", at)
        return {"pipelineExecutionId": execution.id}

    def rollback_stage(self, account: str, region: str, body: JSON, caller: str) -> JSON:
        name = body.get("pipelineName", "")
        definition, metadata = _require_pipeline(account, region, name)
        stage_name = body.get("stageName", "")
        stage_def = next((s for s in definition["stages"] if s["name"] == stage_name), None)
        if stage_def is None:
            raise ApiError("StageNotFoundException", f"Stage '{stage_name}' not found in pipeline '{name}'")
        target = self._execution(account, region, name, body.get("targetPipelineExecutionId", ""))
        # User Guide: "For pipelines in PARALLEL mode, stage rollback is not available" ("Set or change the pipeline
        # execution mode"); no source stage, no rollback execution as the target, and a target started in the
        # current pipeline structure version ("Configuring stage rollback"; UnableToRollbackStageException: "the
        # pipeline version has changed since the target pipeline execution was deployed").
        if _execution_mode(definition) == "PARALLEL":
            raise ApiError("UnableToRollbackStageException", f"Pipeline '{name}' runs in PARALLEL mode")
        if any(a["actionTypeId"]["category"] == "Source" for a in stage_def["actions"]):
            raise ApiError("UnableToRollbackStageException", f"Stage '{stage_name}' is a source stage")
        if target.execution_type == "ROLLBACK":
            raise ApiError("UnableToRollbackStageException", f"Pipeline execution '{target.id}' is a rollback")
        if target.version != int(definition.get("version", 1)):
            raise ApiError(
                "UnableToRollbackStageException",
                f"Pipeline execution '{target.id}' ran pipeline version {target.version}, not the current one",
            )
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
            trigger_detail=caller,
            version=target.version,
            stages=_stage_runs(definition, only_stage=stage_name),
            variables=list(target.variables),
            mode=_execution_mode(definition),
            execution_type="ROLLBACK",
            rollback_target=target.id,
        )

    def get_job_details(self, account: str, region: str, body: JSON, caller: str) -> JSON:
        return {"jobDetails": self._job(account, body.get("jobId")).details()}

    def put_job_success_result(self, account: str, region: str, body: JSON, caller: str) -> JSON:
        job = self._job(account, body.get("jobId"))
        token = body.get("continuationToken")
        if token is not None and not 1 <= len(token) <= MAX_CONTINUATION_TOKEN:
            raise validation(f"continuationToken must have length between 1 and {MAX_CONTINUATION_TOKEN}")
        details = body.get("executionDetails") or {}
        summary = details.get("summary")
        if summary is not None and not 1 <= len(summary) <= MAX_EXECUTION_SUMMARY:
            raise validation(f"executionDetails.summary must have length between 1 and {MAX_EXECUTION_SUMMARY}")
        percent = details.get("percentComplete")
        if percent is not None and not 0 <= int(percent) <= 100:
            raise validation("executionDetails.percentComplete must be between 0 and 100")
        variables = body.get("outputVariables") or {}
        for key in variables:
            if not VARIABLE_NAME.match(key):
                raise validation(
                    f"Output variable key '{key}' must satisfy regular expression pattern: [A-Za-z0-9@\\-_]+"
                )
        if sum(len(k.encode()) + len(str(v).encode()) for k, v in variables.items()) > MAX_OUTPUT_VARIABLES_BYTES:
            raise ApiError(
                "OutputVariablesSizeExceededException",
                f"Output variables exceed the {MAX_OUTPUT_VARIABLES_BYTES} bytes limit for an action",
            )
        if job.status != "InProgress":
            raise ApiError("InvalidJobStateException", f"Job {job.id} is in state {job.status}; it cannot be updated")
        at = utc_now()
        entry: JSON = {"result": "success", "at": iso_ms_z(at)}
        for key in ("continuationToken", "executionDetails", "outputVariables", "currentRevision"):
            if body.get(key) is not None:
                entry[key] = body[key]
        job.history.append(entry)
        job.status = "Succeeded"
        if token is not None:
            self._continue(job, token, at)
        elif linked := self._linked_action(job):
            execution, stage, action = linked
            action.summary = summary
            action.external_execution_id = details.get("externalExecutionId")
            action.output_variables = dict(variables)
            self._finish_action(execution, stage, action, "Succeeded", at)
        return {}

    def _continue(self, job: Job, token: str, at: datetime) -> None:
        """A continuation token: a new job for the same action, carrying the token ("Future jobs use this token to
        identify the running instance of the action", PutJobSuccessResult's continuationToken)."""
        if job.by_runner and self._linked_action(job) is None:
            return
        continued = replace(
            job,
            id=str(uuid.uuid4()),
            created=at,
            status="InProgress",
            continuation_token=token,
            history=[],
            dispatch_at=at + self.settings.continuation if job.by_runner else None,
            reply_by=None,
            continued_by=None,
        )
        job.continued_by = continued.id
        self.jobs[continued.id] = continued
        self.changed.set()

    def put_job_failure_result(self, account: str, region: str, body: JSON, caller: str) -> JSON:
        job = self._job(account, body.get("jobId"))
        failure = body.get("failureDetails") or {}
        if failure.get("type") not in FAILURE_TYPES:
            raise validation(f"failureDetails.type must satisfy enum value set: {sorted(FAILURE_TYPES)}")
        message = failure.get("message", "")
        if not 1 <= len(message) <= MAX_FAILURE_MESSAGE:
            raise validation(f"failureDetails.message must have length between 1 and {MAX_FAILURE_MESSAGE}")
        if job.status != "InProgress":
            raise ApiError("InvalidJobStateException", f"Job {job.id} is in state {job.status}; it cannot be updated")
        at = utc_now()
        job.history.append({"result": "failure", "at": iso_ms_z(at), "failureDetails": failure})
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
                raise validation(f"'{key}' is required")
        user_parameters = body.get("user_parameters")
        if user_parameters is not None and not isinstance(user_parameters, str):
            user_parameters = json.dumps(user_parameters)
        if user_parameters is not None and len(user_parameters) > MAX_USER_PARAMETERS:
            raise validation(f"UserParameters must have length less than or equal to {MAX_USER_PARAMETERS}")
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
        job = self._new_job(
            account=account,
            region=region,
            pipeline=body["pipeline"],
            pipeline_arn=(metadata or {}).get(
                "pipelineArn", f"arn:aws:codepipeline:{region}:{account}:{body['pipeline']}"
            ),
            stage=body["stage"],
            action_def={"name": body["action"], **action_def},
            execution_id=execution_id,
            action_execution_id=action_run.action_execution_id if action_run else str(uuid.uuid4()),
            configuration=configuration,
            definition=definition,
            at=utc_now(),
        )
        return job.lambda_event()

    def _new_job(
        self,
        *,
        account: str,
        region: str,
        pipeline: str,
        pipeline_arn: str,
        stage: str,
        action_def: JSON,
        execution_id: str,
        action_execution_id: str,
        configuration: dict[str, str],
        definition: JSON | None,
        at: datetime,
    ) -> Job:
        store = (definition or {}).get("artifactStore") or {}
        job = Job(
            id=str(uuid.uuid4()),
            account=account,
            region=region,
            pipeline=pipeline,
            stage=stage,
            action=action_def["name"],
            execution_id=execution_id,
            action_execution_id=action_execution_id,
            pipeline_arn=pipeline_arn,
            type_id=dict(
                action_def.get("actionTypeId")
                or {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"}
            ),
            configuration=configuration,
            input_artifacts=_artifacts(definition, action_def.get("inputArtifacts", []), pipeline),
            output_artifacts=_artifacts(definition, action_def.get("outputArtifacts", []), pipeline),
            encryption_key=store.get("encryptionKey"),
            created=at,
        )
        self.jobs[job.id] = job
        return job

    def runner(self, body: JSON) -> JSON:
        """`/_sandbox/codepipeline/runner`: how the executions started from now on run."""
        self.settings.update(body)
        self.changed.set()
        return self.settings.document()

    def fail_next(self, body: JSON) -> JSON:
        """`/_sandbox/codepipeline/fail`: the next self-running run of an action fails, with a message."""
        if not isinstance(body.get("action"), str) or not body["action"]:
            raise validation("'action' is required: the name of the action to fail")
        for key in ("stage", "pipeline", "message"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise validation(f"'{key}' must be a string")
        message = body.get("message") or f"Sandbox: {body['action']} failed, as asked"
        if len(message) > MAX_FAILURE_MESSAGE:
            raise validation(f"message must have length less than or equal to {MAX_FAILURE_MESSAGE}")
        failure = InjectedFailure(body["action"], message, body.get("stage"), body.get("pipeline"))
        self.injected.append(failure)
        return {"pending": [vars(f) for f in self.injected]}

    def source_change(self, account: str, region: str, body: JSON) -> JSON:
        """`/_sandbox/codepipeline/source-change`: a change reached the pipeline's source, which starts an execution
        as the source's EventBridge rule would."""
        name = body.get("pipeline", "")
        definition, metadata = _require_pipeline(account, region, name)
        revision = body.get("revision") or random_text(40, string.hexdigits[:16])
        if not isinstance(revision, str):
            raise validation("'revision' must be a string")
        sources = [a["name"] for a in definition["stages"][0]["actions"] if a["actionTypeId"]["category"] == "Source"]
        return self._run_execution(
            account,
            region,
            name,
            metadata,
            "CloudWatchEvent",
            trigger_detail=f"arn:aws:events:{region}:{account}:rule/{name}-source-change",
            version=int(definition.get("version", 1)),
            stages=_stage_runs(definition),
            variables=_resolved_variables(definition, []),
            mode=_execution_mode(definition),
            source_revisions=[{"actionName": source, "revisionId": revision} for source in sources],
        )

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
            raise validation("status must be one of InProgress, Succeeded, Failed")
        if execution.status != "InProgress":
            raise ApiError("ConflictException", f"Execution {execution.id} is {execution.status}", 409)
        at = parse_time(body["at"]) if body.get("at") else utc_now()
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

    def state(self) -> JSON:
        return {
            "jobs": [job.state() for job in self.jobs.values()],
            "approvals": [dict(a) for a in self.approvals],
            "executions": [
                {
                    "pipeline": e.pipeline,
                    **e.summary(),
                    "self_running": e.self_running,
                    "waiting_for": e.waiting_for,
                    "stages": [
                        {
                            "name": s.name,
                            "status": s.status,
                            "last_change": iso_ms_z(s.last_change) if s.last_change else None,
                            "actions": [{"name": a.name, "status": a.status} for a in s.actions],
                        }
                        for s in e.stages
                    ],
                }
                for e in self.executions.values()
            ],
        }


def _action_execution(run: ActionRun, *, with_token: bool) -> JSON:
    """GetPipelineState's latestExecution of an action; an approval's token is shown while it waits, except in
    PARALLEL mode (PutApprovalResult's token: "the token ... as detailed above is not available")."""
    latest: JSON = {"actionExecutionId": run.action_execution_id, "status": run.status}
    if run.last_change:
        latest["lastStatusChange"] = run.last_change.timestamp()
    if run.summary:
        latest["summary"] = run.summary
    if with_token and run.token and run.status == "InProgress":
        latest["token"] = run.token
    if run.updated_by:
        latest["lastUpdatedBy"] = run.updated_by
    if run.external_execution_id:
        latest["externalExecutionId"] = run.external_execution_id
    if run.error:
        latest["errorDetails"] = dict(run.error)
    return latest


# Each takes the caller's account, region, request and ARN (who started, approved, stopped: what AWS records).
def _action_execution_detail(execution: Execution, stage: StageRun, run: ActionRun, role: str | None) -> JSON:
    """ListActionExecutions' ActionExecutionDetail of one action run."""
    result: JSON = {}
    external = run.token if run.is_approval else run.external_execution_id
    if external:
        result["externalExecutionId"] = external
    if run.summary:
        result["externalExecutionSummary"] = run.summary
    if run.error:
        result["errorDetails"] = dict(run.error)
    started = run.started or execution.start
    detail: JSON = {
        "pipelineExecutionId": execution.id,
        "actionExecutionId": run.action_execution_id,
        "pipelineVersion": execution.version,
        "stageName": stage.name,
        "actionName": run.name,
        "startTime": started.timestamp(),
        "lastUpdateTime": (run.last_change or started).timestamp(),
        "status": run.status,
        "input": {
            "actionTypeId": dict(run.type_id),
            "configuration": dict(run.configuration),
            "resolvedConfiguration": dict(run.configuration),
            "region": execution.region,
            "inputArtifacts": [],
            **({"roleArn": role} if role else {}),
        },
        "output": {"outputArtifacts": [], "executionResult": result, "outputVariables": dict(run.output_variables)},
    }
    if run.updated_by:
        detail["updatedBy"] = run.updated_by
    return detail


def _page(body: JSON, key: str, items: list[JSON]) -> JSON:
    """One page of `items` under `key`: maxResults from 1 to 100 (100 when not given), nextToken the next index."""
    token = body.get("nextToken")
    if token is not None and not (isinstance(token, str) and token.isdigit()):
        raise ApiError("InvalidNextTokenException", "The next token provided in the request is not valid")
    start = int(token or 0)
    size = int(body.get("maxResults") or 100)
    if not 1 <= size <= 100:
        raise validation("maxResults must be between 1 and 100")
    result: JSON = {key: items[start : start + size]}
    if start + size < len(items):
        result["nextToken"] = str(start + size)
    return result


OPERATIONS: dict[str, Callable[[Pipelines, str, str, JSON, str], JSON]] = {
    "StartPipelineExecution": Pipelines.start_pipeline_execution,
    "GetPipelineExecution": Pipelines.get_pipeline_execution,
    "ListPipelineExecutions": Pipelines.list_pipeline_executions,
    "ListActionExecutions": Pipelines.list_action_executions,
    "GetPipelineState": Pipelines.get_pipeline_state,
    "PutApprovalResult": Pipelines.put_approval_result,
    "StopPipelineExecution": Pipelines.stop_pipeline_execution,
    "RollbackStage": Pipelines.rollback_stage,
    "DisableStageTransition": Pipelines.disable_stage_transition,
    "EnableStageTransition": Pipelines.enable_stage_transition,
    "GetJobDetails": Pipelines.get_job_details,
    "PutJobSuccessResult": Pipelines.put_job_success_result,
    "PutJobFailureResult": Pipelines.put_job_failure_result,
}


def answer(pipelines: Pipelines, request: Request, call: Call) -> Response:
    """The CodePipeline operation `call` names, answered from `pipelines` (the caller holds the store's lock)."""
    account, region = caller(request)
    # "the user ARN for a user-initiated start-pipeline-execution CLI command" (ExecutionTrigger.triggerDetail); the
    # admin keys stand for the account's root.
    principal = enforce.session_of(request.environ)
    who = principal.session_arn if principal is not None else f"arn:aws:iam::{account}:root"
    try:
        body = json.loads(request.get_data() or b"{}")
        result = OPERATIONS[call.operation](pipelines, account, region, body, who)
        return Response(json.dumps(result), content_type="application/x-amz-json-1.1")
    except (KeyError, TypeError, ValueError) as error:
        return _error(ApiError("ValidationException", f"invalid request: {error!r}"))
    except ApiError as error:
        return _error(error)


def _error(error: ApiError) -> Response:
    return Response(
        json.dumps({"__type": error.code, "message": error.message}),
        status=error.status,
        content_type="application/x-amz-json-1.1",
    )


Publish = Callable[[JSON], None]  # puts one event on the account's default bus
Authorize = Callable[[Delivery], Refusal | None]  # the server's IAM decision on a service's delivery, counted


class PipelineRunner:
    """The server's thread that runs self-running executions: it finishes what is due under the store's lock, then,
    outside it, hands jobs to their functions (which answer through the server's API, taking the lock) and puts
    the events on the bus."""

    def __init__(
        self,
        lock: threading.RLock,
        pipelines: Pipelines,
        invoke: Invoke | None = None,
        publish: Publish | None = None,
        authorize: Authorize | None = None,
    ) -> None:
        self.lock = lock
        self.pipelines = pipelines
        self.invoke = invoke
        self.publish = publish
        self.authorize = authorize
        self.thread = threading.Thread(target=self._run, name="codepipeline-runner", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        timeout: float | None = None
        while True:
            self.pipelines.changed.wait(timeout)
            self.pipelines.changed.clear()
            try:
                timeout = self.run_once()
            except Exception:  # one broken pass must not stop every pipeline of the server
                log.exception("the pipeline runner's pass failed")
                timeout = 1.0

    def run_once(self) -> float | None:
        """One pass; the seconds until something is due next (None: nothing is)."""
        with self.lock:
            work = self.pipelines.due_work(utc_now())
        if self.publish is not None:
            for event in work.events:
                self.publish(event)
        for call in work.invocations:
            self._hand_over(call)
        if work.next_due is None:
            return None
        return max(0.0, (work.next_due - utc_now()).total_seconds())

    def _hand_over(self, call: Invocation) -> None:
        if self.invoke is None:
            return  # no function runner in this server: the job waits for a client, as the control route's do
        refusal = self.authorize(call.delivery) if self.authorize and call.delivery else None
        if refusal is not None:
            with self.lock:
                self.pipelines.invocation_failed(
                    call.job_id,
                    f"CodePipeline may not invoke {call.function}: {refusal.check.line()} is {refusal.decision}",
                )
            return
        why = None
        try:
            # CodePipeline invokes the function asynchronously (the action reference: Lambda invoke action).
            invoked = self.invoke(
                account=call.account,
                region=call.region,
                function=call.function,
                payload=call.payload,
                invocation_type="Event",
            )
            if invoked.status_code >= 300:
                why = f"Lambda answered {invoked.status_code} to the invocation of {call.function}"
        except Exception as error:  # whatever stops the invocation fails the action, saying why
            why = f"CodePipeline could not invoke {call.function}: {error}"
        if why is not None:
            with self.lock:
                self.pipelines.invocation_failed(call.job_id, why)
