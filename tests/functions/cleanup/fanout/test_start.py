"""With an organization, the cleanup function starts every run as an execution of the fan-out state machine (moto's
Step Functions), named by the run id, with the command as its input; pauses and bad payloads still start nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import boto3
import pytest

from functions.cleanup.config import CleanupConfig
from functions.cleanup.flow import handle
from functions.cleanup.policy import Cleanup
from tests.support.aws import REGION, fake_aws
from tests.support.runtime import MemoryRuntime

from .test_plan import config
from .test_properties import NOW

PASS = json.dumps({"StartAt": "Plan", "States": {"Plan": {"Type": "Pass", "End": True}}})


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[CleanupConfig]:
    for _ in fake_aws(monkeypatch):
        arn = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name="deckhand-cleanup-fanout", definition=PASS, roleArn="arn:aws:iam::123456789012:role/states"
        )["stateMachineArn"]
        section = config(["123456789012"]).cleanup.model_dump(by_alias=True)
        nightly = {"name": "nightly", "cron": "cron(0 3 * * ? *)", "kinds": ["ebs-volume"]}
        cleanup = Cleanup.model_validate(section | {"schedules": [nightly]})
        yield replace(config(["123456789012"]), cleanup=cleanup, fanout=arn)


def start(event: object, cfg: CleanupConfig, memory: MemoryRuntime | None = None) -> dict[str, object]:
    memory = memory or MemoryRuntime(clock=lambda: NOW)
    return handle(event, memory.runtime, cfg, account="123456789012", remaining_ms=lambda: 900_000)


def execution_input(answer: dict[str, object]) -> dict[str, object]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    described = sfn.describe_execution(executionArn=str(answer["execution_arn"]))
    assert described["name"] == answer["run_id"]
    return dict(json.loads(described["input"]))


def test_a_plan_starts_an_execution_named_by_its_run_id_with_the_command_as_input(machine: CleanupConfig) -> None:
    answer = start({"action": "plan", "regions": ["us-east-1"]}, machine)

    assert answer["status"] == "started"
    assert answer["changed"] is False
    assert str(answer["run_id"]).startswith("20260610T120000Z-")
    assert execution_input(answer) == {
        "action": "plan", "kinds": ["ebs-snapshot", "ebs-volume"], "regions": ["us-east-1"], "dry_run": True
    }  # fmt: skip


def test_a_schedule_starts_a_run_of_its_groups_kinds_with_the_policys_dry_run(machine: CleanupConfig) -> None:
    memory = MemoryRuntime(clock=lambda: NOW, default_dry_run=False)

    answer = start({"trigger": "schedule", "group": "nightly"}, machine, memory)

    assert (answer["status"], answer["dry_run"], answer["changed"]) == ("started", False, True)
    assert execution_input(answer) == {
        "action": "run", "kinds": ["ebs-volume"], "regions": ["eu-west-1", "us-east-1"], "dry_run": False
    }  # fmt: skip


def test_resume_a_pause_and_a_bad_payload_start_nothing(machine: CleanupConfig) -> None:
    paused = MemoryRuntime(clock=lambda: NOW)
    paused.switches.set("pause-cleanup", until=NOW + timedelta(hours=1))

    answers = [start({"action": "resume"}, machine), start({"action": "plan"}, machine, paused),
               start({"action": "sweep"}, machine)]  # fmt: skip

    assert [answer["status"] for answer in answers] == ["rejected", "paused", "rejected"]
    sfn = boto3.client("stepfunctions", region_name=REGION)
    assert sfn.list_executions(stateMachineArn=str(machine.fanout))["executions"] == []
