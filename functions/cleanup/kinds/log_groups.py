"""CloudWatch log groups: set the retention where there is none; remove empty groups of deleted functions."""

from __future__ import annotations

from pydantic import field_validator

from functions.cleanup.kinds.base import KindRule


class Rule(KindRule):
    retention_days: int = 30  # what a group without retention gets
    remove_empty_of_deleted_functions: bool = True

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, days: int) -> int:
        # Imported here: the policy module imports the cleanup section, which imports this module.
        from functions.shared.policy import LOG_RETENTION_DAYS  # noqa: PLC0415

        if days not in LOG_RETENTION_DAYS:
            raise ValueError(f"expected one of the CloudWatch Logs retention values {LOG_RETENTION_DAYS}")
        return days
