"""What the kinds share: tag conversions, the TTL tag's instant, batching, and tag-key validation."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, Field

_TAG_KEY = re.compile(r"^[\w.:/=+@ -]{1,128}$")
T = TypeVar("T")


def _tag_key(key: str) -> str:
    if key.startswith("aws:") or not _TAG_KEY.fullmatch(key):
        raise ValueError("expected a tag key of 1-128 letters, digits, spaces or _.:/=+-@ not starting with 'aws:'")
    return key


TagKey = Annotated[str, AfterValidator(_tag_key)]
Days = Annotated[int, Field(ge=0, le=3650)]


def tag_map(tags: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """EC2/CloudFormation style [{"Key", "Value"}] as a plain mapping."""
    return {str(tag["Key"]): str(tag.get("Value", "")) for tag in tags or ()}


def utc(instant: datetime) -> datetime:
    """A service timestamp in UTC (botocore gives aware datetimes; a naive one is taken as UTC)."""
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def ttl_instant(value: str | None) -> datetime | None:
    """The instant a TTL tag names (ISO 8601, e.g. 2026-03-01T18:00:00Z); None when absent or unreadable."""
    if not value:
        return None
    try:
        return utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        return None


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
