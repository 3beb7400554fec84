"""The audit trail: every decision and action, with its inputs, in one DynamoDB table.

A record's partition key is `audit/<duty>/<subject>`, so IAM's `dynamodb:LeadingKeys` can hold each
duty's role to its own records (stacks/core.py `grant_audit`). State a duty keeps in the same table
(saved capacity, cleanup marks and runs, watchdog slots) lives under partitions that never start with
`audit/` (`grant_state`), so the records stay write-once: no role may update or delete them.

This module is the record and its keys, with no AWS in it (the stack imports it); audit_trail.py writes and reads
the table.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .refusal import cap

INDEX_BY_DUTY = "by-duty"  # the audit table's index of a duty's records by time (stacks/core.py declares it)

# DynamoDB items stop at 400 KB; keep each JSON attribute well below so one record never fails.
MAX_JSON_CHARS = 64_000
MAX_TEXT_CHARS = 4_000  # the reason, the longest plain text of a record
# A partition key stops at 2048 bytes: 500 characters of up to 4 bytes each, after the audit prefix.
MAX_SUBJECT_CHARS = 500
AUDIT_PREFIX = "audit/"


def audit_partition(duty: str, subject: str = "") -> str:
    """The partition of a duty's records about one subject; with no subject, the prefix of all of them."""
    return f"{AUDIT_PREFIX}{duty}/{cap(subject, MAX_SUBJECT_CHARS) if subject else ''}"


def new_id() -> str:
    return uuid.uuid4().hex


def to_json(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= MAX_JSON_CHARS else text[: MAX_JSON_CHARS - 14] + "...(truncated)"


@dataclass(frozen=True)
class AuditRecord:
    duty: str
    action: str
    subject: str
    outcome: str
    reason: str
    dry_run: bool
    at: datetime
    inputs: Mapping[str, Any] = field(default_factory=dict)
    before: Any = None
    after: Any = None
    actor: str = "deckhand"
    correlation_id: str = ""
    id: str = field(default_factory=new_id)

    def item(self, retention_days: int) -> dict[str, dict[str, Any]]:
        expires = self.at + timedelta(days=retention_days)
        item: dict[str, dict[str, Any]] = {
            "pk": {"S": audit_partition(self.duty, self.subject)},
            # In UTC, so the sort key orders records by time whatever offset the caller used.
            "sk": {"S": f"{self.at.astimezone(UTC).isoformat()}#{self.id}"},
            "id": {"S": self.id},
            "duty": {"S": self.duty},
            "subject": {"S": cap(self.subject, MAX_SUBJECT_CHARS)},
            "action": {"S": cap(self.action)},
            "outcome": {"S": cap(self.outcome)},
            "reason": {"S": cap(self.reason or "-", MAX_TEXT_CHARS)},
            "dry_run": {"BOOL": self.dry_run},
            "actor": {"S": cap(self.actor)},
            "inputs": {"S": to_json(self.inputs)},
            "before": {"S": to_json(self.before)},
            "after": {"S": to_json(self.after)},
            "expires_at": {"N": str(int(expires.timestamp()))},
        }
        if self.correlation_id:
            item["correlation_id"] = {"S": cap(self.correlation_id)}
        return item
