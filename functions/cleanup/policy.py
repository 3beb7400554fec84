"""The `cleanup` section of the policy file: where Deckhand cleans, which kinds, how carefully and when."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from functions.shared.policy_base import Cron, Duty, Name, Region, Section, TagKey, listed_once

from .kinds import KindName, KindRules


class ScheduleGroup(Section):
    """One EventBridge rule: at `cron` (UTC), clean these kinds."""

    name: Name
    cron: Cron  # in UTC: an EventBridge rule's schedule has no time zone
    kinds: Annotated[list[KindName], Field(min_length=1), AfterValidator(listed_once)]


class Pacing(Section):
    """The mutating calls each account-region may take, as AWS throttles them: a bucket of `burst` calls refilled at
    `per_second`. The defaults are EC2's mutating bucket ("Request throttling for the Amazon EC2 API": 50 tokens, 5
    a second); raise them only to limits AWS raised for the account."""

    per_second: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] = 5.0
    burst: Annotated[int, Field(ge=1, le=10_000)] = 50


class Cleanup(Duty):
    regions: Annotated[list[Region], AfterValidator(listed_once)] = Field(default=[])  # empty: the policy's
    grace_days: Annotated[int, Field(ge=0, le=365)] = 7
    mark_tag: TagKey = "deckhand:cleanup-after"
    concurrency: Annotated[int, Field(ge=1, le=64)] = 8
    pacing: Pacing = Field(default_factory=Pacing)
    schedules: list[ScheduleGroup] = Field(default=[])
    kinds: KindRules = Field(default_factory=KindRules)

    @model_validator(mode="after")
    def _schedules_name_configured_kinds(self) -> Cleanup:
        configured = self.kinds.listed()
        seen: set[str] = set()
        for index, group in enumerate(self.schedules):
            if group.name in seen:
                raise ValueError(f"schedules[{index}]: the name {group.name!r} is used twice; give each group its own")
            seen.add(group.name)
            missing = [kind for kind in group.kinds if kind not in configured]
            if missing:
                raise ValueError(
                    f"schedules[{index}] ({group.name}) names {', '.join(missing)}, not configured under kinds "
                    f"(configured: {', '.join(configured) or 'none'})"
                )
        return self

    def group(self, name: str) -> ScheduleGroup | None:
        return next((group for group in self.schedules if group.name == name), None)
