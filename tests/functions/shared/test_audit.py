"""The audit trail in DynamoDB (moto): one item per record, with TTL, JSON inputs, and newest-first reads."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.shared.audit import MAX_JSON_CHARS, AuditRecord, audit_partition, new_id, to_json
from functions.shared.audit_trail import AuditTrail

AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
RETENTION_DAYS = 400


def record(**changes: object) -> AuditRecord:
    fields: dict[str, object] = {
        "duty": "cleanup",
        "action": "delete-snapshot",
        "subject": "arn:aws:ec2:us-east-1:123456789012:snapshot/snap-0123",
        "outcome": "planned",
        "reason": "older than 90 days",
        "dry_run": True,
        "at": AT,
        "inputs": {"age_days": 120, "tags": {"team": "web"}},
        **changes,
    }
    return AuditRecord(**fields)  # type: ignore[arg-type]


def items(table: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=table)["Items"]
    return found


def test_record_writes_one_item_with_ttl_and_json(audit_table: str) -> None:
    entry = record(before={"size": 8}, after=None, correlation_id="req-1", actor="alice")

    AuditTrail(audit_table, RETENTION_DAYS).record(entry)

    [item] = items(audit_table)
    assert item["pk"] == {"S": f"audit/cleanup/{entry.subject}"}
    assert item["subject"] == {"S": entry.subject}
    assert item["sk"] == {"S": f"2026-11-21T12:00:00+00:00#{entry.id}"}
    assert item["id"] == {"S": entry.id}
    assert item["duty"] == {"S": "cleanup"}
    assert item["action"] == {"S": "delete-snapshot"}
    assert item["outcome"] == {"S": "planned"}
    assert item["reason"] == {"S": "older than 90 days"}
    assert item["dry_run"] == {"BOOL": True}
    assert item["actor"] == {"S": "alice"}
    assert item["correlation_id"] == {"S": "req-1"}
    expires = AT + timedelta(days=RETENTION_DAYS)
    assert item["expires_at"] == {"N": str(int(expires.timestamp()))}
    assert int(item["expires_at"]["N"]) == 1829822400  # 2027-12-26T12:00:00Z
    assert json.loads(item["inputs"]["S"]) == {"age_days": 120, "tags": {"team": "web"}}
    assert json.loads(item["before"]["S"]) == {"size": 8}
    assert json.loads(item["after"]["S"]) is None


def test_an_empty_reason_and_correlation_id_are_stored_as_dash_and_left_out(audit_table: str) -> None:
    AuditTrail(audit_table, 1).record(record(reason="", correlation_id=""))

    [item] = items(audit_table)
    assert item["reason"] == {"S": "-"}
    assert "correlation_id" not in item
    assert item["actor"] == {"S": "deckhand"}
    assert int(item["expires_at"]["N"]) == int((AT + timedelta(days=1)).timestamp())


def test_the_same_record_written_twice_is_one_item(audit_table: str) -> None:
    trail = AuditTrail(audit_table, RETENTION_DAYS)
    entry = record()

    trail.record(entry)
    trail.record(entry)
    trail.record(record(id=entry.id, outcome="replayed"))  # same key: the first write wins

    [item] = items(audit_table)
    assert item["outcome"] == {"S": "planned"}


def test_distinct_records_at_the_same_time_are_kept(audit_table: str) -> None:
    trail = AuditTrail(audit_table, RETENTION_DAYS)
    trail.record(record())
    trail.record(record())

    assert len(items(audit_table)) == 2


def test_recent_returns_one_dutys_records_newest_first(audit_table: str) -> None:
    trail = AuditTrail(audit_table, RETENTION_DAYS)
    written = [record(at=AT + timedelta(minutes=minute), subject=f"snap-{minute}") for minute in (3, 1, 4, 2)]
    for entry in written:
        trail.record(entry)
    trail.record(record(duty="gating", action="approve", at=AT + timedelta(hours=1)))

    recent = trail.recent("cleanup")

    assert [row["subject"] for row in recent] == ["snap-4", "snap-3", "snap-2", "snap-1"]
    assert {row["duty"] for row in recent} == {"cleanup"}
    assert recent[0]["dry_run"] is True
    assert recent[0]["expires_at"] == str(int((AT + timedelta(minutes=4, days=RETENTION_DAYS)).timestamp()))
    assert json.loads(recent[0]["inputs"]) == {"age_days": 120, "tags": {"team": "web"}}


def test_recent_honours_the_limit_and_other_duties(audit_table: str) -> None:
    trail = AuditTrail(audit_table, RETENTION_DAYS)
    for minute in range(5):
        trail.record(record(at=AT + timedelta(minutes=minute), action=f"step-{minute}"))

    assert [row["action"] for row in trail.recent("cleanup", limit=2)] == ["step-4", "step-3"]
    assert trail.recent("capacity") == []


def test_to_json_is_compact_sorted_and_stringifies_the_unknown() -> None:
    assert to_json({"b": 1, "a": [AT]}) == '{"a":["2026-11-21 12:00:00+00:00"],"b":1}'
    assert to_json(None) == "null"


def test_to_json_truncates_huge_inputs_below_the_limit() -> None:
    huge = {"lines": ["x" * 1000] * 200}

    text = to_json(huge)

    assert len(text) <= MAX_JSON_CHARS
    assert text.endswith("...(truncated)")
    assert text.startswith('{"lines":["xxx')


def test_to_json_keeps_inputs_at_the_limit_whole() -> None:
    exact = "y" * (MAX_JSON_CHARS - 2)  # the quotes make it exactly the limit
    assert to_json(exact) == f'"{exact}"'


def test_a_huge_record_is_still_written(audit_table: str) -> None:
    entry = record(inputs={"blob": "z" * 500_000}, before=["w" * 300_000], after={"v": "q" * 300_000})

    AuditTrail(audit_table, RETENTION_DAYS).record(entry)

    [item] = items(audit_table)
    for name in ("inputs", "before", "after"):
        assert len(item[name]["S"]) <= MAX_JSON_CHARS
        assert item[name]["S"].endswith("...(truncated)")


def test_new_ids_are_unique_hex() -> None:
    ids = {new_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in ids)


@pytest.mark.usefixtures("aws")
def test_recent_needs_the_table() -> None:
    trail = AuditTrail("no-such-table", RETENTION_DAYS)
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        trail.recent("cleanup")


def test_every_duty_writes_under_its_own_audit_prefix() -> None:
    pks = {duty: record(duty=duty).item(RETENTION_DAYS)["pk"]["S"] for duty in ("gating", "capacity", "cleanup")}
    for duty, pk in pks.items():
        assert audit_partition(duty) == f"audit/{duty}/"
        assert pk.startswith(audit_partition(duty))
        assert not any(pk.startswith(audit_partition(other)) for other in pks if other != duty)


def test_a_huge_actor_reason_or_subject_still_fits_an_item(audit_table: str) -> None:
    entry = record(actor="a" * 1_000_000, reason="r" * 1_000_000, subject="s" * 1_000_000)

    AuditTrail(audit_table, RETENTION_DAYS).record(entry)

    [item] = items(audit_table)
    assert len(item["pk"]["S"].encode()) <= 2048
    assert len(item["actor"]["S"]) <= 300
    assert len(item["reason"]["S"]) <= 4000
