"""Every payload gets an answer (issue 11 items 20-21), for the four gating functions: malformed events and
console payloads never raise, and when the answer is `rejected` or `ignored` no mutating AWS call is made."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from functions.gating.approver.flow import run as run_approver
from functions.gating.gate.handler import run as run_gate
from functions.gating.pipeline_notices.flow import run as run_notices
from functions.gating.watchdog.flow import run as run_watchdog
from functions.shared import clients
from functions.shared.refusal import ECHO_LIMIT
from tests.support.gating import GatingSandbox, fake_context, gating, web_app_gate
from tests.support.payloads import JSON_VALUES, mutated
from tests.support.recorders import MutatingCalls

REFUSALS = ("rejected", "ignored")
EVENTS = Path("tests/events")
SAMPLES = {path.name: json.loads(path.read_text()) for path in sorted(EVENTS.rglob("*.json"))}
POLICY = gating(web_app_gate(watchdog={"alarms": ["web-app-5xx", "ServerCpuTooHigh"]}))

Handler = Callable[[Any, GatingSandbox], dict[str, Any]]
HANDLERS: dict[str, Handler] = {
    "gate": lambda event, box: run_gate(event, lambda: box.runtime, lambda: POLICY, fake_context()),
    "approver": lambda event, box: run_approver(event, box.runtime, POLICY),
    "watchdog": lambda event, box: run_watchdog(event, box.runtime, POLICY),
    "pipeline-notices": lambda event, box: run_notices(event, box.runtime, POLICY),
}


@pytest.fixture
def estate(sandbox: GatingSandbox) -> Iterator[tuple[GatingSandbox, MutatingCalls]]:
    sandbox.create_pipeline()
    sandbox.metric_alarm("web-app-5xx", "ALARM")
    clients.reset()  # clients made from now on carry the recorder's hook
    recorder = MutatingCalls()
    yield sandbox.live(), recorder
    recorder.close()


def answer(name: str, event: Any, box: GatingSandbox, recorder: MutatingCalls) -> dict[str, Any]:
    """The handler's answer; a refusal must have changed nothing and echo nothing long."""
    recorder.made.clear()
    result = HANDLERS[name](event, box)
    assert isinstance(result, dict)
    assert isinstance(result.get("status"), str)
    if result["status"] in REFUSALS:
        assert recorder.made == [], (name, result)
        assert result["changed"] is False
        assert all(len(text) <= ECHO_LIMIT for text in [result.get("reason", ""), *result.get("errors", [])])
    return result


FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("name", list(HANDLERS))
@FUZZ
@given(event=JSON_VALUES)
def test_any_json_value_gets_an_answer(estate: tuple[GatingSandbox, MutatingCalls], name: str, event: Any) -> None:
    answer(name, event, *estate)


@pytest.mark.parametrize("name", list(HANDLERS))
@FUZZ
@given(event=mutated(list(SAMPLES.values())))
def test_a_mutated_real_sample_gets_an_answer(
    estate: tuple[GatingSandbox, MutatingCalls], name: str, event: Any
) -> None:
    answer(name, event, *estate)


def alarm(**detail: Any) -> dict[str, Any]:
    event = copy.deepcopy(SAMPLES["cloudwatch-alarm-state-change-web-app-5xx.json"])
    event["detail"].update(detail)
    return event


def without(event: dict[str, Any], *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    node = changed
    for key in path[:-1]:
        node = node[key]
    node.pop(path[-1])
    return changed


ALARM_5XX = SAMPLES["cloudwatch-alarm-state-change-web-app-5xx.json"]
APPROVAL = SAMPLES["codepipeline-action-execution-approval-started-web-app.json"]
JOB = SAMPLES["codepipeline-lambda-invoke-job-event.json"]
THE_ISSUES = [
    ("watchdog", without(ALARM_5XX, "detail")),
    ("watchdog", {**ALARM_5XX, "detail": None}),
    ("watchdog", {**ALARM_5XX, "detail": {}}),
    ("watchdog", {**ALARM_5XX, "detail": "ALARM"}),
    ("watchdog", without(ALARM_5XX, "detail", "state")),
    ("watchdog", without(without(ALARM_5XX, "detail", "state", "timestamp"), "time")),
    ("gate", {"CodePipeline.job": None}),
    ("gate", {"CodePipeline.job": {}}),
    ("gate", {"CodePipeline.job": {**JOB["CodePipeline.job"], "id": "../../etc"}}),
    ("approver", {**APPROVAL, "detail": "STARTED"}),
    ("pipeline-notices", {**SAMPLES["codepipeline-pipeline-execution-stopped-web-app.json"], "detail": "STOPPED"}),
]


@pytest.mark.parametrize(("name", "event"), THE_ISSUES)
def test_the_payloads_that_raised_are_ignored(
    estate: tuple[GatingSandbox, MutatingCalls], name: str, event: Any
) -> None:
    assert answer(name, event, *estate)["status"] == "ignored"


@pytest.mark.parametrize("mute", ["muted", [1, 2], {"muteWindowEnd": 3}])
def test_a_mute_detail_of_any_type_is_not_read(estate: tuple[GatingSandbox, MutatingCalls], mute: Any) -> None:
    """The event's muteDetail is the sender's word; mutes come from the mute rules."""
    assert answer("watchdog", alarm(muteDetail=mute), *estate)["status"] == "handled"


def test_a_1_mb_actor_is_capped_in_the_audit_record(estate: tuple[GatingSandbox, MutatingCalls]) -> None:
    box, recorder = estate
    payload = {"action": "evaluate", "pipeline": "web-app", "stage": "Deploy", "actor": "x" * 1_000_000}
    assert answer("gate", payload, box, recorder)["status"] == "ok"
    assert recorder.made == ["dynamodb:PutItem"]  # the recorder sees the audit write: its silence elsewhere counts
    [record] = box.audit_items()
    assert len(record["actor"]["S"]) <= ECHO_LIMIT


def test_an_unknown_execution_is_rejected(estate: tuple[GatingSandbox, MutatingCalls]) -> None:
    box, recorder = estate
    payload = {"action": "evaluate", "pipeline": "web-app", "stage": "Deploy", "execution_id": "no-such-execution"}
    result = answer("gate", payload, box, recorder)
    assert result["status"] == "rejected"
    assert "execution_id: 'no-such-execution'" in result["errors"][0]


SHIPPED = {
    "watchdog": ("events/watchdog", "not a CloudWatch alarm state change"),
    "approver": ("events/approver", "not a Manual approval action reaching STARTED"),
    "pipeline-notices": ("events/pipeline-notices", "not a pipeline execution that FAILED or was STOPPED"),
}


@pytest.mark.parametrize("name", list(SHIPPED))
def test_the_console_test_events_shipped_are_read_as_their_functions_events(
    estate: tuple[GatingSandbox, MutatingCalls], name: str
) -> None:
    folder, unread = SHIPPED[name]
    shipped = sorted(Path(folder).glob("*.json"))
    assert shipped
    for path in shipped:
        result = answer(name, json.loads(path.read_text()), *estate)
        assert unread not in str(result.get("reason")), path.name
