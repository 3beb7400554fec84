"""The `cleanup` section of the policy file: where Deckhand cleans, which kinds, how carefully and when."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from functions.shared.policy_base import Duty, Section

from .kinds import KindName, KindRules

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_CRON = re.compile(r"^cron\(\S+ \S+ \S+ \S+ \S+ \S+\)$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_TAG_KEY = re.compile(r"^[\w.:/=+@ -]{1,128}$")


def _regions(regions: list[str]) -> list[str]:
    for index, region in enumerate(regions):
        if not _REGION.fullmatch(region):
            raise ValueError(f"[{index}] {region!r}: expected an AWS region name like eu-west-1")
        if region in regions[:index]:
            raise ValueError(f"{region!r} is listed twice; list each region once")
    return regions


def _kinds_once(kinds: list[KindName]) -> list[KindName]:
    for index, kind in enumerate(kinds):
        if kind in kinds[:index]:
            raise ValueError(f"{kind!r} is listed twice; list each kind once")
    return kinds


class ScheduleGroup(Section):
    """One EventBridge rule: at `cron` (UTC), clean these kinds."""

    name: str
    cron: str
    kinds: Annotated[list[KindName], Field(min_length=1), AfterValidator(_kinds_once)]

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError("expected 1-40 lowercase letters, digits or '-', starting with a letter or digit")
        return name

    @field_validator("cron")
    @classmethod
    def _cron(cls, cron: str) -> str:
        if not _CRON.fullmatch(cron):
            raise ValueError("expected an EventBridge cron in UTC like 'cron(0 3 ? * MON *)' (six fields)")
        return cron


class Cleanup(Duty):
    regions: Annotated[list[str], AfterValidator(_regions)] = Field(default_factory=list)  # empty: the policy's
    grace_days: Annotated[int, Field(ge=0, le=365)] = 7
    mark_tag: str = "deckhand:cleanup-after"
    concurrency: Annotated[int, Field(ge=1, le=64)] = 8
    schedules: list[ScheduleGroup] = Field(default_factory=list)
    kinds: KindRules = Field(default_factory=KindRules)

    @field_validator("mark_tag")
    @classmethod
    def _tag(cls, key: str) -> str:
        if key.startswith("aws:") or not _TAG_KEY.fullmatch(key):
            raise ValueError("expected a tag key of 1-128 letters, digits, spaces or _.:/=+-@ not starting with 'aws:'")
        return key

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
