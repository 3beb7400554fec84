import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.shared.refusal import ECHO_LIMIT
from functions.switches.flow import run
from tests.support.deployed import NOW, Deployed
from tests.support.payloads import JSON_VALUES, mutated
from tests.support.recorders import MutatingCalls

FREEZE = {"action": "set", "switch": "freeze", "reason": "end of quarter", "expires_at": "2026-11-22T18:00:00Z"}


def test_show_lists_every_switch_off_on_a_new_stack(deployed: Deployed) -> None:
    result = run({"action": "show"}, deployed.runtime)
    assert result["status"] == "ok"
    assert set(result["switches"]) == {"freeze", "pause-all", "pause-gating", "pause-capacity", "pause-cleanup"}
    assert not any(state["active"] for state in result["switches"].values())


def test_a_set_without_dry_run_false_only_plans_and_audits(deployed: Deployed) -> None:
    result = run(FREEZE, deployed.runtime)
    assert result["status"] == "planned"
    assert result["dry_run"] is True
    assert deployed.parameters()["freeze"]["on"] is False
    [item] = deployed.audit_items()
    assert item["dry_run"] == {"BOOL": True}
    assert item["outcome"] == {"S": "planned"}
    assert deployed.notifications() == []


def test_set_for_real_changes_the_parameter_audits_and_notifies(deployed: Deployed) -> None:
    result = run({**FREEZE, "dry_run": False, "actor": "alice"}, deployed.runtime, correlation_id="req-1")
    assert result["status"] == "changed"
    stored = deployed.parameters()["freeze"]
    assert stored["on"] is True
    assert stored["expires_at"] == "2026-11-22T18:00:00+00:00"
    assert stored["set_by"] == "alice"
    [item] = deployed.audit_items()
    assert item["action"] == {"S": "set-switch"}
    assert item["correlation_id"] == {"S": "req-1"}
    assert item["id"] == {"S": result["audit_id"]}
    [notice] = deployed.notifications()
    assert notice["Subject"].startswith("Deckhand switches: freeze ON until 2026-11-22T18:00")
    assert "end of quarter" in notice["Message"]
    assert '"action": "clear"' in notice["Message"]
    shown = run({"action": "show"}, deployed.runtime)["switches"]["freeze"]
    assert shown["active"] is True


def test_running_the_same_set_twice_has_one_effect(deployed: Deployed) -> None:
    first = run({**FREEZE, "dry_run": False}, deployed.runtime)
    second = run({**FREEZE, "dry_run": False}, deployed.runtime)
    assert (first["status"], second["status"]) == ("changed", "unchanged")
    assert len(deployed.audit_items()) == 1
    assert len(deployed.notifications()) == 1


def test_clear_turns_the_switch_off(deployed: Deployed) -> None:
    run({**FREEZE, "dry_run": False}, deployed.runtime)
    result = run(
        {"action": "clear", "switch": "freeze", "reason": "quarter closed", "dry_run": False}, deployed.runtime
    )
    assert result["status"] == "changed"
    assert deployed.parameters()["freeze"]["on"] is False
    assert len(deployed.audit_items()) == 2


def test_a_bad_payload_is_rejected_and_changes_nothing(deployed: Deployed) -> None:
    before = deployed.parameters()
    result = run({"action": "set", "switch": "freeze", "for": "2h", "dry_run": False}, deployed.runtime)
    assert result["status"] == "rejected"
    assert any("reason" in error for error in result["errors"])
    assert deployed.parameters() == before
    assert deployed.audit_items() == []


payloads = st.dictionaries(
    keys=st.sampled_from(["action", "switch", "reason", "for", "expires_at", "actor", "dry_run", "extra"]),
    values=st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from(["set", "clear", "show", "freeze", "pause-all", "2h", "0m", "9999d", "2026-11-22T00:00Z"]),
        st.text(max_size=8),
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
def test_no_payload_in_dry_run_ever_changes_a_switch(deployed: Deployed, payload: dict[str, Any]) -> None:
    before = deployed.parameters()
    payload = {**payload, "dry_run": True}
    result = run(payload, deployed.runtime)
    assert result["status"] in {"ok", "planned", "unchanged", "rejected"}
    assert deployed.parameters() == before
    if result["status"] == "rejected":
        assert result["errors"]


def test_the_clock_is_the_runtime_clock(deployed: Deployed) -> None:
    result = run({**FREEZE, "dry_run": False}, deployed.runtime)
    assert result["after"]["set_at"] == NOW.isoformat()


def test_every_console_event_shipped_in_events_is_accepted(deployed: Deployed) -> None:
    shipped = sorted(Path("events/switches").glob("*.json"))
    assert len(shipped) >= 5
    for path in shipped:
        result = run(json.loads(path.read_text()), deployed.runtime)
        assert result["status"] in {"ok", "planned", "changed", "unchanged"}, (path.name, result)


EDIT_EVENT = json.loads(Path("tests/events/ssm-parameter-store-change.json").read_text())


def test_the_sweep_turns_off_expired_switches_once_and_says_so(deployed: Deployed) -> None:
    run({**FREEZE, "dry_run": False}, deployed.runtime)
    deployed.notifications()  # the "ON" notice
    later = replace(deployed.runtime, clock=lambda: NOW + timedelta(days=2))
    first = run({"action": "sweep", "dry_run": False}, later)
    second = run({"action": "sweep", "dry_run": False}, later)
    assert [change["switch"] for change in first["expired"]] == ["freeze"]
    assert second["expired"] == []
    assert deployed.parameters()["freeze"]["on"] is False
    assert deployed.parameters()["freeze"]["reason"].startswith("expired at 2026-11-22T18:00")
    [notice] = deployed.notifications()
    assert notice["Subject"] == "Deckhand switches: freeze OFF"


def test_a_dry_run_sweep_changes_nothing(deployed: Deployed) -> None:
    run({**FREEZE, "dry_run": False}, deployed.runtime)
    later = replace(deployed.runtime, clock=lambda: NOW + timedelta(days=2))
    result = run({"action": "sweep"}, later)
    assert result["dry_run"] is True
    assert result["expired"][0]["status"] == "planned"
    assert deployed.parameters()["freeze"]["on"] is True


def test_a_change_made_by_the_switches_function_is_not_reported_again(deployed: Deployed) -> None:
    run({**FREEZE, "dry_run": False}, deployed.runtime)
    deployed.notifications()
    result = run(EDIT_EVENT, deployed.runtime)
    assert result["status"] == "ok"
    assert deployed.notifications() == []


def test_a_hand_edit_of_a_switch_is_audited_and_notified(deployed: Deployed) -> None:
    boto3.client("ssm").put_parameter(
        Name="/deckhand/switches/freeze", Value='{"on": true, "reason": "by hand"}', Type="String", Overwrite=True
    )
    result = run(EDIT_EVENT, deployed.runtime)
    assert result["status"] == "observed"
    [item] = deployed.audit_items()
    assert item["action"] == {"S": "observe-switch"}
    [notice] = deployed.notifications()
    assert "edited outside Deckhand" in notice["Subject"]


def test_an_unreadable_switch_is_reported_as_critical(deployed: Deployed) -> None:
    boto3.client("ssm").put_parameter(
        Name="/deckhand/switches/freeze", Value="{not json", Type="String", Overwrite=True
    )
    result = run(EDIT_EVENT, deployed.runtime)
    assert result["status"] == "observed"
    [notice] = deployed.notifications()
    assert "unreadable and counts as ON" in notice["Subject"]
    assert notice["MessageAttributes"]["severity"]["Value"] == "critical"


def test_a_change_to_another_parameter_is_ignored(deployed: Deployed) -> None:
    event = {**EDIT_EVENT, "detail": {**EDIT_EVENT["detail"], "name": "/deckhand/switches/other"}}
    assert run(event, deployed.runtime)["status"] == "ignored"
    assert deployed.audit_items() == []


@pytest.mark.parametrize(
    "detail",
    [[{"name": "/deckhand/switches/freeze"}], None, "freeze", {}, {"name": 7, "operation": "Update"}],
)
def test_a_parameter_store_event_without_a_readable_detail_is_ignored(deployed: Deployed, detail: object) -> None:
    result = run({**EDIT_EVENT, "detail": detail}, deployed.runtime)
    assert (result["status"], result["changed"]) == ("ignored", False)
    assert deployed.audit_items() == []


def test_an_event_from_another_source_is_ignored_with_a_capped_reason(deployed: Deployed) -> None:
    result = run({**EDIT_EVENT, "source": "aws.ec2" + "x" * 5000}, deployed.runtime)
    assert result["status"] == "ignored"
    assert len(result["reason"]) <= ECHO_LIMIT


def test_a_switch_of_another_deployment_is_ignored(deployed: Deployed) -> None:
    event = {**EDIT_EVENT, "detail": {**EDIT_EVENT["detail"], "name": "/other/switches/freeze"}}
    assert run(event, deployed.runtime)["status"] == "ignored"
    assert deployed.audit_items() == []


def test_a_huge_console_value_is_echoed_capped(deployed: Deployed) -> None:
    result = run({**FREEZE, "reason": "r" * 1_000_000}, deployed.runtime)
    assert result["status"] == "rejected"
    assert all(len(error) <= ECHO_LIMIT for error in result["errors"])


SAMPLES = [
    EDIT_EVENT,
    *(json.loads(path.read_text()) for path in sorted(Path("events/switches").glob("*.json"))),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=JSON_VALUES | mutated(SAMPLES, tricky=["false", "off", 0, "999999999d", "0001-01-01T00:00+14:00"]))
def test_no_event_raises_or_changes_aws_when_refused(deployed: Deployed, event: Any) -> None:
    recorder = MutatingCalls()
    try:
        result = run(event, deployed.runtime)
    finally:
        recorder.close()
    assert result["status"] in {"ok", "planned", "changed", "unchanged", "observed", "rejected", "ignored"}
    if result["status"] in {"rejected", "ignored"}:
        assert result["changed"] is False
        assert recorder.made == []


def test_the_recorder_sees_the_writes_of_a_real_change(deployed: Deployed) -> None:
    recorder = MutatingCalls()
    run({**FREEZE, "dry_run": False}, deployed.runtime)
    recorder.close()
    assert {"ssm:PutParameter", "dynamodb:PutItem", "sns:Publish"} <= set(recorder.made)
