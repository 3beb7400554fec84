"""Every payload and event gets an answer: the cleanup function never raises, and what it refuses (rejected,
ignored) changes nothing in AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings

from functions.cleanup.config import CleanupConfig
from functions.cleanup.flow import handle
from functions.shared.refusal import ECHO_LIMIT
from tests.support.deployed import NOW, Deployed
from tests.support.payloads import JSON_VALUES, mutated
from tests.support.recorders import MutatingCalls

ACCOUNT = "123456789012"
BUCKET = "deckhand-cleanup-reports"
CONFIG = CleanupConfig.from_env(
    {
        "DECKHAND_CLEANUP": json.dumps(
            {
                "enabled": True,
                "schedules": [{"name": "storage", "cron": "cron(0 3 ? * MON *)", "kinds": ["ebs-snapshot"]}],
                "kinds": {"ebs-snapshot": {}, "elastic-ip": {}},
            }
        ),
        "DECKHAND_CLEANUP_BUCKET": BUCKET,
        "DECKHAND_REGIONS": "us-east-1",
    }
)
# An EventBridge schedule's own event (AWS Lambda Developer Guide, "Using Lambda with EventBridge"): the cleanup
# rules hand the function their input instead, so an event like this one reaching it is not its own.
SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": ACCOUNT,
    "time": "2015-10-08T16:53:06Z",
    "region": "us-east-1",
    "resources": [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/my-scheduled-rule"],
    "detail": {},
}
SAMPLES = [
    SCHEDULED_EVENT,
    *(json.loads(path.read_text()) for path in sorted(Path("events/cleanup").glob("*.json"))),
    *(json.loads(path.read_text()) for path in sorted(Path("tests/events").glob("*.json"))),
]
ANSWERS = {"planned", "done", "partial", "idle", "stopped", "paused", "disabled", "rejected", "ignored"}


@pytest.fixture(autouse=True)
def no_default_amis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # read when moto first builds the EC2 backend


@pytest.fixture
def mutating(deployed: Deployed) -> Iterator[MutatingCalls]:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    recorder = MutatingCalls()
    yield recorder
    recorder.close()


def invoke(deployed: Deployed, event: Any) -> dict[str, Any]:
    rt = replace(deployed.runtime, clock=lambda: NOW)
    return handle(event, rt, CONFIG, account=ACCOUNT, remaining_ms=lambda: 900_000)


def test_an_aws_event_is_ignored_and_changes_nothing(deployed: Deployed, mutating: MutatingCalls) -> None:
    answer = invoke(deployed, {**SCHEDULED_EVENT, "source": "aws.events" + "x" * 5000})

    assert (answer["status"], answer["changed"]) == ("ignored", False)
    assert len(answer["reason"]) <= ECHO_LIMIT
    assert mutating.made == []


@pytest.mark.parametrize("dry_run", ["false", "no", "off", 0, 1, "true", [], {}])
def test_dry_run_is_a_strict_boolean(deployed: Deployed, mutating: MutatingCalls, dry_run: Any) -> None:
    answer = invoke(deployed, {"action": "run", "kinds": ["ebs-snapshot"], "dry_run": dry_run})

    assert answer["status"] == "rejected"
    assert mutating.made == []


def test_huge_values_are_echoed_capped(deployed: Deployed, mutating: MutatingCalls) -> None:
    for payload in (
        {"trigger": "schedule", "group": "g" * 1_000_000},
        {"action": "plan", "regions": ["r" * 1_000_000]},
        {"action": "plan", "kinds": ["k" * 1_000_000] * 50},
    ):
        answer = invoke(deployed, payload)
        assert answer["status"] == "rejected"
        assert 0 < len(answer["errors"]) <= 20
        assert all(len(error) <= ECHO_LIMIT for error in answer["errors"])
    assert mutating.made == []


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    event=JSON_VALUES
    | mutated(
        SAMPLES,
        tricky=["false", "off", 0, [], ["ebs-snapshot", "ebs-snapshot"], "storage"],
        extra_keys=["extra", "source", "dry_run", "group", "kinds", "regions"],
    )
)
def test_no_payload_raises_or_changes_aws_when_refused(deployed: Deployed, mutating: MutatingCalls, event: Any) -> None:
    mutating.made.clear()

    answer = invoke(deployed, event)

    assert answer["status"] in ANSWERS, answer
    if answer["status"] in {"rejected", "ignored"}:
        assert answer["changed"] is False
        assert mutating.made == []


def test_the_recorder_sees_the_writes_of_a_real_run(deployed: Deployed, mutating: MutatingCalls) -> None:
    invoke(deployed, {"action": "plan"})

    assert {"s3:PutObject", "dynamodb:PutItem"} <= set(mutating.made)
