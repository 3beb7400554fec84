"""Lambda function versions beyond the last K, never $LATEST nor one behind an alias."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from functions.cleanup.kinds.base import KindRule


class Rule(KindRule):
    keep_last: Annotated[int, Field(ge=0, le=10_000)] = 3  # the newest K published versions of each function stay
