"""The audit table, written once per record and read back newest first: the audit trail's DynamoDB adapter."""

from __future__ import annotations

from typing import Any

from .audit import INDEX_BY_DUTY, AuditRecord
from .clients import client


class AuditTrail:
    def __init__(self, table_name: str, retention_days: int) -> None:
        self.table_name = table_name
        self.retention_days = retention_days

    def record(self, record: AuditRecord) -> None:
        """Write once: a replayed record with the same id and time is not written twice.

        The condition is the code's promise that it never overwrites a record; IAM cannot require a
        ConditionExpression, so what IAM itself guarantees is narrower (see `grant_audit`).
        """
        try:
            client("dynamodb").put_item(
                TableName=self.table_name,
                Item=record.item(self.retention_days),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except client("dynamodb").exceptions.ConditionalCheckFailedException:
            pass

    def recent(self, duty: str, limit: int = 10) -> list[dict[str, Any]]:
        """The newest records of one duty, newest first."""
        page = client("dynamodb").query(
            TableName=self.table_name,
            IndexName=INDEX_BY_DUTY,
            KeyConditionExpression="duty = :duty",
            ExpressionAttributeValues={":duty": {"S": duty}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [{name: next(iter(value.values())) for name, value in item.items()} for item in page["Items"]]
