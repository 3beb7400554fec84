"""Stopped EC2 instances past their TTL tag, or stopped for longer than N days."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from functions.cleanup.kinds.base import KindRule
from functions.cleanup.kinds.common import Days, TagKey


class Rule(KindRule):
    min_age_days: Days = 0  # the TTL tag or the stopped time is what says when an instance may go
    ttl_tag: TagKey | None = "deckhand:ttl"  # value: the expiry instant, ISO 8601 UTC
    stopped_for_days: Annotated[int, Field(ge=1, le=3650)] | None = None  # for instances without a TTL tag

    @model_validator(mode="after")
    def _some_criterion(self) -> Rule:
        if self.ttl_tag is None and self.stopped_for_days is None:
            raise ValueError("set ttl_tag, stopped_for_days or both: otherwise no stopped instance ever qualifies")
        return self
