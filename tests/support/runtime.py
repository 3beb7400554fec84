"""A runtime in memory, for flow tests on the adapters' twins: the audit trail, notifier and switches keep what
they are given instead of calling DynamoDB, SNS and SSM."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from functions.shared.audit import AuditRecord
from functions.shared.notify import Notice
from functions.shared.runtime import Runtime
from functions.shared.settings import Settings
from functions.shared.switches import SwitchBoard, SwitchState

SETTINGS = Settings(
    name_prefix="deckhand",
    audit_table="deckhand-audit",
    topic_arn="arn:aws:sns:us-east-1:123456789012:deckhand-notifications",
    switches_path="/deckhand/switches",
    default_dry_run=True,
    audit_retention_days=30,
    switch_cache_seconds=30,
    switch_max_hours=336,
    protect_tag="deckhand:protect",
)


@dataclass
class MemoryAudit:
    records: list[AuditRecord] = field(default_factory=list)

    def record(self, record: AuditRecord) -> None:
        """Write once, as AuditTrail does: a replayed record with the same id is kept once."""
        if all(kept.id != record.id for kept in self.records):
            self.records.append(record)


@dataclass
class MemoryNotifier:
    sent: list[Notice] = field(default_factory=list)

    def send(self, notice: Notice) -> str:
        self.sent.append(notice)
        return f"message-{len(self.sent)}"


@dataclass
class MemorySwitches:
    states: dict[str, SwitchState] = field(default_factory=dict)

    def read(self, fresh: bool = False) -> SwitchBoard:
        return SwitchBoard(states=dict(self.states))

    def set(self, name: str, *, until: datetime, reason: str = "test", set_by: str = "alice") -> None:
        self.states[name] = SwitchState(name=name, on=True, reason=reason, set_by=set_by, expires_at=until)


@dataclass
class MemoryRuntime:
    clock: Any
    default_dry_run: bool = True
    audit: MemoryAudit = field(default_factory=MemoryAudit)
    notifier: MemoryNotifier = field(default_factory=MemoryNotifier)
    switches: MemorySwitches = field(default_factory=MemorySwitches)

    @property
    def runtime(self) -> Runtime:
        """A Runtime whose parts are these (duck-typed: they answer the calls the functions make)."""
        return Runtime(
            settings=replace(SETTINGS, default_dry_run=self.default_dry_run),
            clock=self.clock,
            audit=cast(Any, self.audit),
            notifier=cast(Any, self.notifier),
            switches=cast(Any, self.switches),
        )
