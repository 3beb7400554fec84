"""In-memory twins of gating's AWS adapters (observe.CloudWatch, pipeline.Pipelines, the watchdog's Slots): the
flows run on them without a server.

They answer as AWS does (test_cloudwatch_contract.py, test_pipelines_contract.py and
watchdog/test_slots_contract.py run the same assertions on them and on the boto3 adapters against the sandbox's
moto server): the same observations, sums, tokens, and the same ClientError codes for the same misuse.

The organization's member accounts and regions are CloudWatch twins of their own (`at`), each reached through a
role; a role listed in `denied` fails every read with AssumeRole's AccessDenied, as botocore's assumed-role
credentials do on the first call.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from functions.gating import mutes
from functions.gating.model import AlarmObservation, AlarmValue, ExecutionObservation
from functions.gating.observe import MetricRequest
from functions.gating.pipeline import MAX_STOP_REASON, JobContext, clip, to_execution
from functions.gating.watchdog.slots import Slot, lock_key
from functions.shared.members import Home
from tests.support.errors import client_error
from tests.support.places import PlacedTwin

# --- CloudWatch ------------------------------------------------------------------------------------


@dataclass
class Alarm:
    state: AlarmValue = "OK"
    reason: str = ""
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class MuteRule:
    """A one-time mute window, as PutAlarmMuteRule's `at(...)` schedule with a Duration sets it."""

    alarms: list[str]
    began: datetime
    duration: timedelta


MetricKey = tuple[str, str, tuple[tuple[str, str], ...]]  # namespace, name, sorted dimensions


@dataclass
class MemoryCloudWatch(PlacedTwin):
    principal: ClassVar[str] = "deckhand-gate"

    alarms_by_name: dict[str, Alarm] = field(default_factory=dict)
    mute_rules: dict[str, MuteRule] = field(default_factory=dict)
    datapoints: dict[MetricKey, list[tuple[datetime, float]]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)  # every read, in order

    # --- seeding ---

    def put(self, namespace: str, name: str, dimensions: Mapping[str, str], at: datetime, value: float) -> None:
        self.datapoints.setdefault((namespace, name, tuple(sorted(dimensions.items()))), []).append((at, value))

    # --- observe.CloudWatch ---

    def alarms(self, now: datetime, names: Sequence[str] = (), prefix: str = "") -> list[AlarmObservation]:
        self._ask("alarms")
        chosen = sorted(
            name
            for name in self.alarms_by_name
            if (not names or name in names) and (not prefix or name.startswith(prefix))
        )
        return [
            AlarmObservation(
                name=name,
                kind="metric",
                state=self.alarms_by_name[name].state,
                reason=self.alarms_by_name[name].reason,
                updated=self.alarms_by_name[name].updated,
            )
            for name in chosen
        ]

    def tagged_alarm_names(self, tags: Mapping[str, str]) -> list[str]:
        self._ask("tagged_alarm_names")
        return sorted(
            name for name, alarm in self.alarms_by_name.items() if all(alarm.tags.get(k) == v for k, v in tags.items())
        )

    def metric_data(self, request: MetricRequest) -> list[Mapping[str, Any]]:
        """Each query's datapoints summed into the periods that start at StartTime, as GetMetricData buckets them."""
        self._ask("metric_data")
        results: list[Mapping[str, Any]] = []
        for query in request.queries:
            stat = query["MetricStat"]
            metric = stat["Metric"]
            key = (
                metric["Namespace"],
                metric["MetricName"],
                tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))),
            )
            period = timedelta(seconds=stat["Period"])
            buckets: dict[datetime, list[float]] = {}
            for at, value in self.datapoints.get(key, []):
                if request.start <= at < request.end:
                    start = request.start + period * ((at - request.start) // period)
                    buckets.setdefault(start, []).append(value)
            if stat["Stat"] != "Sum":
                raise NotImplementedError(f"the twin sums; {stat['Stat']} is not modelled")
            moments = sorted(buckets, reverse=True)  # TimestampDescending, GetMetricData's default
            results.append({"Id": query["Id"], "Timestamps": moments, "Values": [sum(buckets[m]) for m in moments]})
        return results

    def active_mutes(self, alarms: Collection[str], now: datetime) -> dict[str, mutes.Mute]:
        self._ask("active_mutes")
        muted: dict[str, mutes.Mute] = {}
        for name, rule in sorted(self.mute_rules.items()):
            until = rule.began + rule.duration
            if not rule.began <= now < until:
                continue
            arn = f"arn:aws:cloudwatch:{self.region}:{self.account}:alarm-mute-rule:{name}"
            for alarm in rule.alarms:
                if alarm in alarms and (alarm not in muted or muted[alarm].until < until):
                    muted[alarm] = mutes.Mute(rule=arn, until=until)
        return muted

    def home(self) -> Home:
        return Home("aws", self.account, self.region)

    def _ask(self, operation: str) -> None:
        if self.refusal is not None:
            raise self.refusal
        self.asked.append(operation)


# --- CodePipeline ----------------------------------------------------------------------------------

# The pipeline the sandbox estate and tests/support/gating.py's `create_pipeline` build: (stage, [(action,
# category, provider, configuration)]).
LAYOUT: list[tuple[str, list[tuple[str, str, str, dict[str, str]]]]] = [
    ("Source", [("Fetch", "Source", "S3", {})]),
    ("Gate", [("Check", "Invoke", "Lambda", {"FunctionName": "deckhand-gate"})]),
    ("Approve", [("Approval", "Approval", "Manual", {})]),
    ("Deploy", [("Ship", "Deploy", "S3", {})]),
]


@dataclass
class ActionRun:
    name: str
    category: str
    provider: str
    configuration: dict[str, str]
    status: str | None = None
    action_execution_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    token: str | None = None
    last_change: datetime | None = None
    error: dict[str, str] | None = None
    summary: str | None = None


@dataclass
class StageRun:
    name: str
    actions: list[ActionRun]
    status: str | None = None


@dataclass
class Run:
    """One execution, running only when told to (as the sandbox with its runner off)."""

    id: str
    pipeline: str
    stages: list[StageRun]
    trigger: str
    variables: dict[str, str] = field(default_factory=dict)
    type: str = "STANDARD"
    rollback_target: str | None = None
    status: str = "InProgress"
    stop_reason: str | None = None

    def stage(self, name: str) -> StageRun | None:
        return next((stage for stage in self.stages if stage.name == name), None)


@dataclass
class Job:
    id: str
    run: Run
    stage: StageRun
    action: ActionRun
    status: str = "InProgress"
    answers: list[dict[str, Any]] = field(default_factory=list)  # what the job was answered, in order


@dataclass
class MemoryPipelines:
    """CodePipeline in memory: pipelines of one layout, executions moved by `advance`, Lambda jobs, approvals.

    Not modelled: stage locks between executions (each runs as in PARALLEL mode), and continuation jobs (a job
    answered with a token is only recorded)."""

    layouts: dict[str, list[tuple[str, list[tuple[str, str, str, dict[str, str]]]]]] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)  # oldest first
    jobs: dict[str, Job] = field(default_factory=dict)
    tokens: dict[str, tuple[Run, StageRun, ActionRun]] = field(default_factory=dict)  # every approval token issued
    made: list[str] = field(default_factory=list)  # every write, as its operation
    now: Any = field(default_factory=lambda: lambda: datetime.now(UTC))  # the clock of status changes

    # --- seeding, as tests/support/gating.py drives the sandbox ---

    def create_pipeline(self, name: str = "web-app") -> str:
        self.layouts[name] = LAYOUT
        return name

    def start(self, pipeline: str = "web-app", variables: Mapping[str, str] | None = None) -> str:
        layout = self._layout(pipeline, "StartPipelineExecution")
        stages = [StageRun(name, [ActionRun(*action) for action in actions]) for name, actions in layout]
        run = Run(str(uuid.uuid4()), pipeline, stages, "StartPipelineExecution", dict(variables or {}))
        self.runs.append(run)
        self._enter(run, run.stages[0], self.now())
        return run.id

    def advance(self, execution: str, stage: str, status: str, at: datetime | None = None) -> None:
        run = next(r for r in self.runs if r.id == execution)
        moment = at or self.now()
        target = run.stage(stage)
        assert target is not None
        assert run.status == "InProgress"
        for earlier in run.stages[: run.stages.index(target)]:
            if earlier.status != "Succeeded":
                self._complete(run, earlier, moment)
        if run.status != "InProgress":
            return
        if target.status is None:
            self._enter(run, target, moment)
        if status == "Succeeded" and target.status == "InProgress":
            self._complete(run, target, moment)
        elif status == "Failed" and target.status == "InProgress":
            running = next(a for a in target.actions if a.status == "InProgress")
            self._finish(run, target, running, "Failed", moment)

    def new_job(self, execution: str, stage: str = "Gate", action: str = "Check") -> str:
        run = next(r for r in self.runs if r.id == execution)
        stage_run = run.stage(stage)
        assert stage_run is not None
        action_run = next(a for a in stage_run.actions if a.name == action)
        job = Job(str(uuid.uuid4()), run, stage_run, action_run)
        self.jobs[job.id] = job
        return job.id

    # --- how an execution moves (the sandbox's rules) ---

    def _enter(self, run: Run, stage: StageRun, at: datetime) -> None:
        stage.status = "InProgress"
        for action in stage.actions:
            self._set(action, "InProgress", at)
            if action.category == "Approval":
                action.token = str(uuid.uuid4())
                self.tokens[action.token] = (run, stage, action)

    @staticmethod
    def _set(action: ActionRun, status: str, at: datetime) -> None:
        action.status, action.last_change = status, at

    def _complete(self, run: Run, stage: StageRun, at: datetime) -> None:
        for action in stage.actions:
            if action.status in (None, "InProgress"):
                self._set(action, "Succeeded", at)
        self._end_stage(run, stage, "Succeeded", at)

    def _finish(self, run: Run, stage: StageRun, action: ActionRun, status: str, at: datetime) -> None:
        self._set(action, status, at)
        running = [a for a in stage.actions if a.status == "InProgress"]
        if run.status == "Stopping":
            if not running:
                stage.status = run.status = "Stopped"
            return
        if status == "Failed":
            for other in running:
                self._set(other, "Abandoned", at)
            self._end_stage(run, stage, "Failed", at)
        elif not running:
            self._end_stage(run, stage, "Succeeded", at)

    def _end_stage(self, run: Run, stage: StageRun, status: str, at: datetime) -> None:
        stage.status = status
        if status != "Succeeded":
            run.status = status
            return
        following = run.stages[run.stages.index(stage) + 1 :]
        if following:
            self._enter(run, following[0], at)
        else:
            run.status = "Succeeded"

    def _layout(self, pipeline: str, operation: str) -> list[tuple[str, list[tuple[str, str, str, dict[str, str]]]]]:
        if pipeline not in self.layouts:
            raise client_error("PipelineNotFoundException", operation, f"Pipeline {pipeline} not found")
        return self.layouts[pipeline]

    def _run(self, pipeline: str, execution_id: str, operation: str) -> Run:
        found = next((r for r in self.runs if r.id == execution_id and r.pipeline == pipeline), None)
        if found is None:
            raise client_error("PipelineExecutionNotFoundException", operation, f"No execution {execution_id}")
        return found

    def _job(self, job_id: str, operation: str) -> Job:
        if not re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", job_id):
            raise client_error("ValidationException", operation, f"Value '{job_id}' at 'jobId' failed to satisfy")
        if job_id not in self.jobs:
            raise client_error("JobNotFoundException", operation, f"Job with id {job_id} was not found")
        return self.jobs[job_id]

    def _newest_first(self, pipeline: str) -> list[Run]:
        return [r for r in reversed(self.runs) if r.pipeline == pipeline]

    @staticmethod
    def _summary(run: Run) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "pipelineExecutionId": run.id,
            "status": run.status,
            "trigger": {"triggerType": run.trigger},
            "executionType": run.type,
        }
        if run.stop_reason is not None:
            summary["stopTrigger"] = {"reason": run.stop_reason}
        if run.rollback_target:
            summary["rollbackMetadata"] = {"rollbackTargetPipelineExecutionId": run.rollback_target}
        return summary

    # --- pipeline.Pipelines ---

    def job_context(self, job_id: str) -> JobContext:
        job = self._job(job_id, "GetJobDetails")
        return JobContext(
            pipeline=job.run.pipeline,
            stage=job.stage.name,
            action=job.action.name,
            execution_id=job.run.id,
            category=job.action.category,
            provider=job.action.provider,
            function=job.action.configuration.get("FunctionName", ""),
        )

    def succeed_job(
        self,
        job_id: str,
        *,
        summary: str,
        output_variables: Mapping[str, str] | None = None,
        continuation_token: str | None = None,
        percent_complete: int | None = None,
    ) -> None:
        job = self._answerable(job_id, "PutJobSuccessResult")
        self.made.append("PutJobSuccessResult")
        job.status = "Succeeded"
        job.answers.append(
            {"summary": summary, "output_variables": dict(output_variables or {}), "token": continuation_token}
        )
        if continuation_token is None:
            job.action.summary = summary
            self._finish(job.run, job.stage, job.action, "Succeeded", self.now())

    def fail_job(self, job_id: str, kind: str, message: str) -> None:
        job = self._answerable(job_id, "PutJobFailureResult")
        self.made.append("PutJobFailureResult")
        job.status = "Failed"
        job.answers.append({"failure": kind, "message": message})
        job.action.error = {"code": kind, "message": message}
        job.action.summary = message
        self._finish(job.run, job.stage, job.action, "Failed", self.now())

    def _answerable(self, job_id: str, operation: str) -> Job:
        job = self._job(job_id, operation)
        if job.status != "InProgress":
            raise client_error("InvalidJobStateException", operation, f"Job {job_id} is in state {job.status}")
        return job

    def find_execution(self, pipeline: str, execution_id: str) -> Any:
        found = next((r for r in self.runs if r.id == execution_id and r.pipeline == pipeline), None)
        if found is None:
            return None
        described: dict[str, Any] = {
            "pipelineName": found.pipeline,
            "pipelineExecutionId": found.id,
            "status": found.status,
            "variables": [{"name": k, "resolvedValue": v} for k, v in found.variables.items()],
            "trigger": {"triggerType": found.trigger},
            "executionType": found.type,
        }
        if found.rollback_target:
            described["rollbackMetadata"] = {"rollbackTargetPipelineExecutionId": found.rollback_target}
        return described

    def execution(self, pipeline: str, execution_id: str) -> ExecutionObservation:
        found = self.find_execution(pipeline, execution_id)
        if found is None:
            raise client_error("PipelineExecutionNotFoundException", "GetPipelineExecution", "no such execution")
        return to_execution(found)

    def successful_executions(self, pipeline: str, stage: str, limit: int = 10) -> list[Any]:
        self._layout(pipeline, "ListPipelineExecutions")
        succeeded = [r for r in self._newest_first(pipeline) if (s := r.stage(stage)) and s.status == "Succeeded"]
        return [self._summary(r) for r in succeeded[:limit]]

    def stop_trigger_reason(self, pipeline: str, execution_id: str, pages: int = 3) -> str:
        found = next((r for r in self._newest_first(pipeline)[: 100 * pages] if r.id == execution_id), None)
        return found.stop_reason or "" if found is not None else ""

    def rollback_stage(self, pipeline: str, stage: str, target_execution_id: str) -> str:
        layout = self._layout(pipeline, "RollbackStage")
        if stage not in [name for name, _ in layout]:
            raise client_error("StageNotFoundException", "RollbackStage", f"Stage '{stage}' not found")
        target = self._run(pipeline, target_execution_id, "RollbackStage")
        target_stage = target.stage(stage)
        if target_stage is None or target_stage.status != "Succeeded":
            raise client_error("UnableToRollbackStageException", "RollbackStage", f"Stage '{stage}' did not succeed")
        if any((s := r.stage(stage)) and s.status in ("InProgress", "Stopping") for r in self._newest_first(pipeline)):
            raise client_error("UnableToRollbackStageException", "RollbackStage", f"Stage '{stage}' is running")
        self.made.append("RollbackStage")
        actions = dict(layout)[stage]
        run = Run(
            str(uuid.uuid4()),
            pipeline,
            [StageRun(stage, [ActionRun(*action) for action in actions])],
            "ManualRollback",
            dict(target.variables),
            type="ROLLBACK",
            rollback_target=target.id,
        )
        self.runs.append(run)
        self._enter(run, run.stages[0], self.now())
        return run.id

    def stop_execution(self, pipeline: str, execution_id: str, reason: str, *, abandon: bool) -> None:
        self._layout(pipeline, "StopPipelineExecution")
        run = next((r for r in self.runs if r.id == execution_id and r.pipeline == pipeline), None)
        if run is None or run.status not in ("InProgress", "Stopping"):
            raise client_error(
                "PipelineExecutionNotStoppableException", "StopPipelineExecution", "The execution is not in progress."
            )
        if run.status == "Stopping" and not abandon:
            raise client_error("DuplicatedStopRequestException", "StopPipelineExecution", "A stop is in progress")
        self.made.append("StopPipelineExecution")
        at = self.now()
        run.stop_reason = clip(reason, MAX_STOP_REASON)
        for stage in run.stages:
            for action in stage.actions:
                if action.status == "InProgress" and (abandon or action.category == "Approval"):
                    self._set(action, "Abandoned", at)
        running = [s for s in run.stages if any(a.status == "InProgress" for a in s.actions)]
        for stage in run.stages:
            if stage in running:
                stage.status = "Stopping"
            elif not running and stage.status in ("InProgress", "Stopping"):
                stage.status = "Stopped"
        run.status = "Stopping" if running else "Stopped"

    def pipeline_state(self, pipeline: str) -> Any:
        layout = self._layout(pipeline, "GetPipelineState")
        states = []
        for name, actions in layout:
            latest = next(
                ((r, s) for r in self._newest_first(pipeline) if (s := r.stage(name)) is not None and s.status), None
            )
            state: dict[str, Any] = {"stageName": name}
            action_states = []
            for action_name, *_ in actions:
                action_state: dict[str, Any] = {"actionName": action_name}
                ran = next((a for a in latest[1].actions if a.name == action_name), None) if latest else None
                if ran is not None and ran.status is not None:
                    action_state["latestExecution"] = self._action_execution(ran)
                action_states.append(action_state)
            state["actionStates"] = action_states
            if latest:
                state["latestExecution"] = {
                    "pipelineExecutionId": latest[0].id,
                    "status": latest[1].status,
                    "type": latest[0].type,
                }
            states.append(state)
        return {"pipelineName": pipeline, "stageStates": states}

    @staticmethod
    def _action_execution(ran: ActionRun) -> dict[str, Any]:
        latest: dict[str, Any] = {"actionExecutionId": ran.action_execution_id, "status": ran.status}
        if ran.last_change:
            latest["lastStatusChange"] = ran.last_change
        if ran.token and ran.status == "InProgress":
            latest["token"] = ran.token
        if ran.error:
            latest["errorDetails"] = dict(ran.error)
        if ran.summary:
            latest["summary"] = ran.summary
        return latest

    def stage_names(self, pipeline: str) -> list[str]:
        return [name for name, _ in self._layout(pipeline, "GetPipeline")]

    def approve(self, pipeline: str, stage: str, action: str, token: str, summary: str) -> None:
        self._layout(pipeline, "PutApprovalResult")
        issued = self.tokens.get(token)
        if issued is None or (issued[0].pipeline, issued[1].name, issued[2].name) != (pipeline, stage, action):
            raise client_error("InvalidApprovalTokenException", "PutApprovalResult", "The token is not valid")
        run, stage_run, waiting = issued
        if waiting.status in ("Succeeded", "Failed"):
            raise client_error("ApprovalAlreadyCompletedException", "PutApprovalResult", "already completed")
        if waiting.status != "InProgress" or waiting.token != token:
            raise client_error("InvalidApprovalTokenException", "PutApprovalResult", "The token is not valid")
        self.made.append("PutApprovalResult")
        waiting.summary = summary
        self._finish(run, stage_run, waiting, "Succeeded", self.now())


# --- the watchdog's action slots -------------------------------------------------------------------


@dataclass
class MemorySlots:
    """watchdog.slots.Slots in memory: this hour's `limit` slots per stage, claimed once each."""

    taken: set[tuple[str, str]] = field(default_factory=set)

    def claim(self, pipeline: str, stage: str, now: datetime, limit: int) -> Slot | None:
        hour = now.astimezone(UTC).strftime("%Y-%m-%dT%H")
        for number in range(limit):
            slot = Slot(lock_key(pipeline, stage), f"{hour}#{number}")
            if (slot.key, slot.sort) not in self.taken:
                self.taken.add((slot.key, slot.sort))
                return slot
        return None

    def give_back(self, slot: Slot) -> None:
        self.taken.discard((slot.key, slot.sort))
