"""Ephemeral CloudFormation stacks past the instant their TTL tag names, unless termination-protected."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from functions.cleanup.kinds.base import KindRule
from functions.cleanup.kinds.common import Days, TagKey

StackNamePrefix = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")]


class Rule(KindRule):
    min_age_days: Days = 0  # the TTL tag is what says when a stack may go
    ttl_tag: TagKey = "deckhand:ttl"  # value: the expiry instant, ISO 8601 UTC
    name_prefixes: Annotated[list[StackNamePrefix], Field(min_length=1)] | None = None  # None: any stack with a TTL
