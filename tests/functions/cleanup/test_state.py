"""Marks of untaggable kinds and unfinished runs in the audit table (moto)."""

from datetime import UTC, date, datetime

import boto3

from functions.cleanup.kinds.base import Scope
from functions.cleanup.state import UNFINISHED, MarkStore, RunStore

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
SCOPE = Scope("123456789012", "eu-west-1", "ecr-image")


def test_marks_are_written_read_back_per_scope_and_forgotten(audit_table: str) -> None:
    marks = MarkStore(audit_table)
    ids = [f"repo@sha256:{n:064x}" for n in range(60)]  # more than one batch of 25

    marks.write(SCOPE, ids, date(2026, 6, 17))
    marks.write(Scope("123456789012", "us-east-1", "ecr-image"), ["other"], date(2026, 6, 17))
    marks.forget(SCOPE, ids[:5])

    assert marks.read(SCOPE) == dict.fromkeys(ids[5:], "2026-06-17")
    item = boto3.client("dynamodb").get_item(
        TableName=audit_table, Key={"pk": {"S": MarkStore.partition(SCOPE)}, "sk": {"S": ids[9]}}
    )["Item"]
    assert item["expires_at"]["N"] == str(int(datetime(2026, 7, 17, tzinfo=UTC).timestamp()))


def test_an_unfinished_run_is_saved_in_parts_and_claimed_once(audit_table: str) -> None:
    store = RunStore(audit_table)
    state = {"run_id": "r1", "results": [{"acted": [f"snap-{n:017x}" for n in range(200_000)]}]}

    store.save("r1", state, NOW)
    parts = boto3.client("dynamodb").query(
        TableName=audit_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "cleanup-run/r1"}},
    )["Items"]

    assert len(parts) > 1  # the compressed state is larger than one item
    assert store.claim() == state
    assert store.claim() is None
    assert (
        boto3.client("dynamodb").query(
            TableName=audit_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": UNFINISHED}},
        )["Items"]
        == []
    )


def test_a_run_saved_again_with_fewer_parts_reads_back_only_its_own(audit_table: str) -> None:
    store = RunStore(audit_table)
    store.save("r1", {"acted": [f"snap-{n:017x}" for n in range(200_000)]}, NOW)
    store.save("r1", {"acted": ["snap-1"]}, NOW)

    assert store.claim() == {"acted": ["snap-1"]}
