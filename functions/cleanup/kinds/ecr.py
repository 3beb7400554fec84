"""ECR images: untagged ones older than N days beyond the last K of each repository, never one a task runs."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from functions.cleanup.kinds.base import KindRule
from functions.cleanup.kinds.common import Days

RepositoryName = Annotated[str, Field(pattern=r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")]


class Rule(KindRule):
    untagged_older_than_days: Days = 14
    keep_last: Annotated[int, Field(ge=0, le=10_000)] = 10  # the newest K images of each repository stay
    repositories: Annotated[list[RepositoryName], Field(min_length=1)] | None = None  # None: every repository
