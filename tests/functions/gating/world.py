"""The gating estate of tests/support/gating.py (web-app's pipeline and its 5xx alarm), on the adapters' in-memory
twins and an in-memory runtime: the flows run without a server."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from functions.gating.observe import Adapters
from functions.shared.audit import AuditRecord
from functions.shared.notify import Notice
from tests.functions.gating.twins import ActionRun, Alarm, MemoryCloudWatch, MemoryPipelines, MemorySlots, MuteRule
from tests.support.clock import Clock
from tests.support.runtime import MemoryRuntime

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
PIPELINE = "web-app"
ALARM_SAMPLE = json.loads(Path("tests/events/cloudwatch-alarm-state-change-metric.json").read_text())
ACTION_SAMPLE = json.loads(Path("tests/events/codepipeline-action-execution-state-change.json").read_text())
EXECUTION_SAMPLE = json.loads(Path("tests/events/codepipeline-pipeline-execution-state-change.json").read_text())


@dataclass
class TwinEstate:
    clock: Clock = field(default_factory=lambda: Clock(NOW))
    cloudwatch: MemoryCloudWatch = field(default_factory=MemoryCloudWatch)
    pipelines: MemoryPipelines = field(default_factory=MemoryPipelines)
    slots: MemorySlots = field(default_factory=MemorySlots)
    memory: MemoryRuntime = field(init=False)

    def __post_init__(self) -> None:
        self.memory = MemoryRuntime(self.clock, default_dry_run=False)
        self.pipelines.now = self.clock
        self.pipelines.create_pipeline(PIPELINE)
        self.alarm("web-app-5xx")

    @property
    def aws(self) -> Adapters:
        return Adapters(self.cloudwatch, self.pipelines)

    def alarm(self, name: str, state: str = "OK", reason: str = "") -> None:
        self.cloudwatch.alarms_by_name[name] = Alarm(state, reason or f"set to {state}", self.clock.now)  # type: ignore[arg-type]

    def alarm_event(self, name: str, state: str, reason: str = "Threshold Crossed") -> dict[str, Any]:
        """Set the alarm's state and return the `CloudWatch Alarm State Change` event CloudWatch emits for it."""
        self.alarm(name, state, reason)
        event = copy.deepcopy(ALARM_SAMPLE)
        event["time"] = self.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        event["resources"] = [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"]
        event["detail"].pop("muteDetail")
        event["detail"]["alarmName"] = name
        event["detail"]["state"] = {
            "value": state,
            "reason": reason,
            "timestamp": self.clock.now.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        }
        return event

    def deployed(self, minutes_ago: float) -> str:
        """An execution that succeeded in Deploy `minutes_ago` minutes ago."""
        execution = self.pipelines.start(PIPELINE)
        self.pipelines.advance(execution, "Deploy", "Succeeded", at=self.clock.now - timedelta(minutes=minutes_ago))
        return execution

    def at_approval(self) -> tuple[str, dict[str, Any]]:
        """An execution waiting in the Approve stage, and the STARTED event EventBridge delivers for it."""
        execution = self.pipelines.start(PIPELINE)
        self.pipelines.advance(execution, "Gate", "Succeeded")
        approval = self.approval(execution)
        event = copy.deepcopy(ACTION_SAMPLE)
        event["region"] = "us-east-1"
        event["resources"] = [f"arn:aws:codepipeline:us-east-1:123456789012:{PIPELINE}"]
        detail = event["detail"]
        for key in ("execution-result", "start-time"):
            detail.pop(key)
        detail.update(
            {
                "pipeline": PIPELINE,
                "execution-id": execution,
                "stage": "Approve",
                "action": "Approval",
                "action-execution-id": approval.action_execution_id,
                "state": "STARTED",
                "region": "us-east-1",
                "type": {"owner": "AWS", "provider": "Manual", "category": "Approval", "version": "1"},
            }
        )
        return execution, event

    def ended(self, execution: str) -> dict[str, Any]:
        """The `CodePipeline Pipeline Execution State Change` event of an execution that ended (FAILED, STOPPED)."""
        run = next(r for r in self.pipelines.runs if r.id == execution)
        event = copy.deepcopy(EXECUTION_SAMPLE)
        event["time"] = self.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        event["resources"] = [f"arn:aws:codepipeline:us-east-1:123456789012:{PIPELINE}"]
        event["detail"].update({"pipeline": PIPELINE, "execution-id": execution, "state": run.status.upper()})
        return event

    def approval(self, execution: str) -> ActionRun:
        run = next(r for r in self.pipelines.runs if r.id == execution)
        stage = run.stage("Approve")
        assert stage is not None
        return stage.actions[0]

    def mute(self, alarm: str, name: str = "release", minutes_ago: int = 30, hours: int = 1) -> None:
        began = self.clock.now - timedelta(minutes=minutes_ago)
        self.cloudwatch.mute_rules[name] = MuteRule([alarm], began, timedelta(hours=hours))

    def rollbacks(self) -> list[str]:
        return [run.id for run in self.pipelines.runs if run.type == "ROLLBACK"]

    def notices(self) -> list[Notice]:
        return self.memory.notifier.sent

    def records(self) -> list[AuditRecord]:
        return self.memory.audit.records
