"""The watchdog's hourly action budget per stage: slots claimed before acting, given back when nothing was done.

A slot is a lock item in the audit table (partition `watchdog-lock/PIPELINE/STAGE`, one sort key per
slot of the clock hour), claimed by a conditional put, so two deliveries of one alarm never both act.
An action AWS refused (AccessDenied, a CodePipeline refusal, an unexpected error) did nothing: its slot
is given back, so the retries and the next alarm are not answered "rate-limited" for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from functions.gating.declared import LOCK_PREFIX
from functions.shared.clients import client

LOCK_DAYS = 2


@dataclass(frozen=True)
class Slot:
    key: str
    sort: str


class Slots(Protocol):
    def claim(self, pipeline: str, stage: str, now: datetime, limit: int) -> Slot | None: ...

    def give_back(self, slot: Slot) -> None: ...


def lock_key(pipeline: str, stage: str) -> str:
    return f"{LOCK_PREFIX}{pipeline}/{stage}"


class TableSlots:
    """Slots as conditional lock items of a DynamoDB table (the audit table)."""

    def __init__(self, table: str) -> None:
        self.table = table

    def claim(self, pipeline: str, stage: str, now: datetime, limit: int) -> Slot | None:
        """One of this hour's `limit` slots for the stage; None when all are taken."""
        hour = now.astimezone(UTC).strftime("%Y-%m-%dT%H")
        dynamodb = client("dynamodb")
        for number in range(limit):
            slot = Slot(lock_key(pipeline, stage), f"{hour}#{number}")
            try:
                dynamodb.put_item(
                    TableName=self.table,
                    Item={
                        "pk": {"S": slot.key},
                        "sk": {"S": slot.sort},
                        "expires_at": {"N": str(int((now + timedelta(days=LOCK_DAYS)).timestamp()))},
                    },
                    ConditionExpression="attribute_not_exists(pk)",
                )
                return slot
            except dynamodb.exceptions.ConditionalCheckFailedException:
                continue
        return None

    def give_back(self, slot: Slot) -> None:
        client("dynamodb").delete_item(TableName=self.table, Key={"pk": {"S": slot.key}, "sk": {"S": slot.sort}})
