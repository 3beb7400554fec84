"""What the cleanup duty keeps between invocations, in the audit table: marks and unfinished runs.

Marks of kinds that cannot be tagged: one item per resource under the scope's partition
(pk `cleanup-mark/<account>/<region>/<kind>`, sk the resource id), so one Query reads a scope's marks.
An unfinished run: its plain-JSON state, compressed and split into parts under pk `cleanup-run/<run_id>`,
and a pointer under pk `cleanup-run/unfinished` written after the parts. The next invocation claims the
pointer by deleting it (conditional), so two invocations never resume the same run.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from functions.shared.batch import batch_write
from functions.shared.clients import client

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    Item = dict[str, AttributeValueTypeDef]

from .decide import MARK_VALID_DAYS
from .declared import MARKS_PARTITION, RUNS_PARTITION
from .kinds.base import Scope

UNFINISHED = f"{RUNS_PARTITION}unfinished"
PART_BYTES = 350_000  # a DynamoDB item stops at 400 KB
RUN_STATE_DAYS = 7  # an unfinished run not resumed within a week is dropped by the table's TTL


def _epoch(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def _query(table: str, condition: str, values: Mapping[str, AttributeValueTypeDef]) -> Iterator[Item]:
    paginator = client("dynamodb").get_paginator("query")
    for page in paginator.paginate(TableName=table, KeyConditionExpression=condition, ExpressionAttributeValues=values):
        yield from page.get("Items", [])


class MarkStore:
    """The marks of kinds that cannot be tagged (ECR images, Lambda versions, CloudFormation stacks)."""

    def __init__(self, table: str) -> None:
        self.table = table

    @staticmethod
    def partition(scope: Scope) -> str:
        return f"{MARKS_PARTITION}{scope.account}/{scope.region}/{scope.kind}"

    def read(self, scope: Scope) -> dict[str, str]:
        """Resource id -> the mark's value (a due date), for the whole scope."""
        items = _query(self.table, "pk = :pk", {":pk": {"S": self.partition(scope)}})
        return {item["sk"]["S"]: item.get("due", {}).get("S", "") for item in items}

    def write(self, scope: Scope, ids: Sequence[str], due: date) -> None:
        expires = datetime(due.year, due.month, due.day, tzinfo=UTC) + timedelta(days=MARK_VALID_DAYS)
        pk = {"S": self.partition(scope)}
        batch_write(
            self.table,
            [
                {"PutRequest": {"Item": {"pk": pk, "sk": {"S": id_}, "due": {"S": due.isoformat()},
                                         "expires_at": {"N": _epoch(expires)}}}}
                for id_ in ids
            ],
        )  # fmt: skip

    def forget(self, scope: Scope, ids: Sequence[str]) -> None:
        """Drop the marks of resources acted on, so a later resource reusing an id starts unmarked."""
        pk = {"S": self.partition(scope)}
        batch_write(self.table, [{"DeleteRequest": {"Key": {"pk": pk, "sk": {"S": id_}}}} for id_ in ids])


class RunStore:
    """Unfinished runs: save one before the time runs out; claim the oldest at the next invocation."""

    def __init__(self, table: str) -> None:
        self.table = table

    def save(self, run_id: str, state: Mapping[str, Any], now: datetime) -> None:
        data = zlib.compress(json.dumps(state, separators=(",", ":")).encode())
        parts = [data[start : start + PART_BYTES] for start in range(0, len(data), PART_BYTES)]
        expires = {"N": _epoch(now + timedelta(days=RUN_STATE_DAYS))}
        batch_write(
            self.table,
            [
                {"PutRequest": {"Item": {"pk": {"S": f"{RUNS_PARTITION}{run_id}"}, "sk": {"S": f"part#{index:04d}"},
                                         "data": {"B": part}, "expires_at": expires}}}
                for index, part in enumerate(parts)
            ],
        )  # fmt: skip
        client("dynamodb").put_item(
            TableName=self.table,
            Item={
                "pk": {"S": UNFINISHED},
                "sk": {"S": run_id},
                "parts": {"N": str(len(parts))},
                "saved_at": {"S": now.isoformat()},
                "expires_at": expires,
            },
        )

    def claim(self) -> dict[str, Any] | None:
        """The oldest unfinished run's state, now owned by the caller; None when there is none to resume."""
        dynamodb = client("dynamodb")
        pointers = dynamodb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": UNFINISHED}},
            Limit=1,
        )["Items"]
        if not pointers:
            return None
        run_id, parts = pointers[0]["sk"]["S"], int(pointers[0]["parts"]["N"])
        try:
            dynamodb.delete_item(
                TableName=self.table,
                Key={"pk": {"S": UNFINISHED}, "sk": {"S": run_id}},
                ConditionExpression="attribute_exists(pk)",
            )
        except dynamodb.exceptions.ConditionalCheckFailedException:
            return None  # another invocation took it first
        items = _query(
            self.table,
            "pk = :pk AND sk BETWEEN :first AND :last",
            {
                ":pk": {"S": f"{RUNS_PARTITION}{run_id}"},
                ":first": {"S": "part#0000"},
                ":last": {"S": f"part#{parts - 1:04d}"},
            },
        )
        data = b"".join(item["data"]["B"] for item in items)
        state: dict[str, Any] = json.loads(zlib.decompress(data))
        return state
