"""What a handler needs to act, built once per container and replaceable in tests."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from .audit_trail import AuditTrail
from .clock import Clock, utc_now
from .notify import Notifier
from .settings import Settings, settings
from .switch_parameters import SwitchReader


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    clock: Clock
    audit: AuditTrail
    notifier: Notifier
    switches: SwitchReader

    @classmethod
    def build(cls, config: Settings, clock: Clock = utc_now) -> Runtime:
        return cls(
            settings=config,
            clock=clock,
            audit=AuditTrail(config.audit_table, config.audit_retention_days),
            notifier=Notifier(config.topic_arn),
            switches=SwitchReader(config.switches_path, config.switch_cache_seconds),
        )

    def dry_run(self, requested: bool | None) -> bool:
        """A payload's explicit choice wins; otherwise the policy's default (dry-run unless told)."""
        return self.settings.default_dry_run if requested is None else requested


@cache
def runtime() -> Runtime:
    return Runtime.build(settings())
