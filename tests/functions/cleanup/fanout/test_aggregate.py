"""The aggregation step over the Map's results as Step Functions writes them ("ResultWriter (Map)", Step Functions
Developer Guide: manifest.json listing SUCCEEDED/FAILED/PENDING result files, each a JSON array of child execution
records): one organization report in S3 with every planned scope once (answered, failed or missing), the failed
accounts with their reasons, one notice, one audit record; also when the Map itself failed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions.cleanup.fanout.handler import handler
from functions.cleanup.fanout.messages import Item, Plan, Tally
from functions.cleanup.fanout.steps import handle, parsed
from tests.support.aws import REGION, fake_aws
from tests.support.gating import fake_context
from tests.support.runtime import MemoryRuntime

from .test_plan import BUCKET, config
from .test_properties import NOW

RESULTS = "runs/organization/r-9/results"
MAP_RUN = "arn:aws:states:us-east-1:111111111111:mapRun:deckhand-cleanup-fanout/Scopes:0f1e"
GOOD, DENIED, CRASHED, LOST = "111111111111", "222222222222", "333333333333", "444444444444"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from fake_aws(monkeypatch)


def item(account: str) -> Item:
    given = {"run_id": "r-9", "account": account, "region": "eu-west-1", "kind": "ebs-snapshot", "action": "run"}
    return Item.model_validate(given | {"dry_run": False, "pace": {"per_second": 5.0, "burst": 50}})


def record(of: Item, status: str, output: dict[str, Any] | None = None, **more: str) -> dict[str, Any]:
    """A child execution record as the ResultWriter writes it (Transformation NONE)."""
    return {
        "ExecutionArn": f"arn:aws:states:us-east-1:111111111111:execution:deckhand-cleanup-fanout/Scopes:{of.account}",
        "Input": json.dumps({"step": "scope", "item": of.model_dump()}),
        "InputDetails": {"Included": True},
        "Name": of.account,
        "Output": json.dumps(output) if output is not None else None,
        "Status": status,
        "StartDate": "2026-06-10T12:00:00.000Z",
        "StopDate": "2026-06-10T12:01:00.000Z",
        **more,
    }


def tally(**figures: Any) -> dict[str, Any]:
    return Tally(invocations=1).model_dump() | figures


def put(key: str, body: Any) -> None:
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=json.dumps(body).encode())


@pytest.fixture
def results(aws: None) -> Plan:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    planned = [item(account) for account in (GOOD, DENIED, CRASHED, LOST)]
    put("runs/organization/r-9/items.json", [each.model_dump() for each in planned])
    reason = f"account {DENIED}: cannot assume its member role arn:aws:iam::{DENIED}:role/deckhand-member: denied"
    succeeded = [
        record(
            planned[0],
            "SUCCEEDED",
            {"status": "done", "tally": tally(found=4, acted=3, skipped={"in use": 1}, monthly_usd=2.25)},
        ),
        record(planned[1], "SUCCEEDED", {"status": "failed", "tally": tally(failed=1, reason=reason)}),
    ]
    failed = [record(planned[2], "FAILED", Error="DeckhandThrottled", Cause="RequestLimitExceeded, still")]
    pending = [record(planned[3], "PENDING")]  # not ended when the Map stopped: it stays missing
    prefix = f"{RESULTS}/0f1e"
    put(f"{prefix}/SUCCEEDED_0.json", succeeded)
    put(f"{prefix}/FAILED_0.json", failed)
    put(f"{prefix}/PENDING_0.json", pending)
    put(f"{prefix}/manifest.json", {"DestinationBucket": BUCKET, "MapRunArn": MAP_RUN, "ResultFiles": {
        "FAILED": [{"Key": f"{prefix}/FAILED_0.json", "Size": 1}],
        "PENDING": [{"Key": f"{prefix}/PENDING_0.json", "Size": 1}],
        "SUCCEEDED": [{"Key": f"{prefix}/SUCCEEDED_0.json", "Size": 1}]}})  # fmt: skip
    return Plan(run_id="r-9", action="run", dry_run=False, started_at=NOW.isoformat(),
                accounts=[GOOD, DENIED, CRASHED, LOST], regions=["eu-west-1"], kinds=["ebs-snapshot"], scopes=4,
                bucket=BUCKET, items_key="runs/organization/r-9/items.json", results_prefix=RESULTS)  # fmt: skip


def aggregate(plan: Plan, map_output: dict[str, Any]) -> tuple[dict[str, Any], MemoryRuntime]:
    memory = MemoryRuntime(clock=lambda: NOW)
    event = {"step": "aggregate", "plan": plan.model_dump(), "map": map_output}
    answer = handle(parsed(event), memory.runtime, config([GOOD]), home=None, remaining_ms=lambda: 900_000)  # type: ignore[arg-type]
    return answer, memory


def test_every_planned_scope_is_reported_once_with_the_failed_accounts_and_their_reasons(results: Plan) -> None:
    details = {"MapRunArn": MAP_RUN, "ResultWriterDetails": {"Bucket": BUCKET, "Key": f"{RESULTS}/0f1e/manifest.json"}}

    answer, memory = aggregate(results, details)

    assert answer["status"] == "partial"
    assert answer["report"] == {
        "json": f"s3://{BUCKET}/reports/organization/r-9.json",
        "markdown": f"s3://{BUCKET}/reports/organization/r-9.md",
    }
    assert [entry["account"] for entry in answer["failed_accounts"]] == [DENIED, CRASHED, LOST]
    assert "deckhand-member" in answer["failed_accounts"][0]["reason"]
    assert "DeckhandThrottled" in answer["failed_accounts"][1]["reason"]
    assert answer["missing"] == 1
    assert (answer["accounts"][GOOD]["acted"], answer["accounts"][GOOD]["monthly_usd"]) == (3, 2.25)
    assert answer["total_monthly_usd"] == 2.25
    s3 = boto3.client("s3", region_name=REGION)
    document = json.loads(s3.get_object(Bucket=BUCKET, Key="reports/organization/r-9.json")["Body"].read())
    assert [(row["account"], row["status"]) for row in document["scopes"]] == [
        (GOOD, "done"), (DENIED, "failed"), (CRASHED, "failed"), (LOST, "missing")
    ]  # fmt: skip
    assert document["scopes"][0]["skipped"] == {"in use": 1}
    markdown = s3.get_object(Bucket=BUCKET, Key="reports/organization/r-9.md")["Body"].read().decode()
    assert "## Failed accounts" in markdown
    assert f"- {LOST}: no result for it" in markdown
    [notice] = memory.notifier.sent
    assert "3 account(s) or region(s) failed" in notice.subject
    [audit] = memory.audit.records
    assert (audit.subject, audit.outcome) == ("cleanup/organization/r-9", "partial")


def test_a_failed_map_still_gets_its_report_from_the_manifest_under_the_prefix(results: Plan) -> None:
    error = {"Error": "States.ExceedToleratedFailureThreshold", "Cause": "The specified tolerated failure threshold"}

    answer, _ = aggregate(results, error)

    assert answer["status"] == "partial"
    assert answer["missing"] == 1  # the answered and failed scopes are read from the manifest found by listing
    assert answer["accounts"][GOOD]["acted"] == 3
    lost = next(entry for entry in answer["failed_accounts"] if entry["account"] == LOST)
    assert "States.ExceedToleratedFailureThreshold" in lost["reason"]


def test_with_no_results_at_all_every_scope_is_missing(results: Plan) -> None:
    empty = results.model_copy(update={"results_prefix": "runs/organization/none"})

    answer, _ = aggregate(empty, {"Error": "States.Runtime", "Cause": "boom"})

    assert answer["missing"] == 4
    assert {entry["account"] for entry in answer["failed_accounts"]} == {GOOD, DENIED, CRASHED, LOST}


def test_a_step_that_is_none_of_the_three_is_rejected() -> None:
    answer = handler({"step": "sweep"}, fake_context())

    assert answer["status"] == "rejected"
    assert "plan, scope, aggregate" in answer["errors"][0]
