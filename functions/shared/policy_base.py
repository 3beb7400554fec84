"""The base of every policy section (strict, frozen, and no key it does not know) and the value types they share."""

import re
from collections.abc import Hashable
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Duty(Section):
    """A duty's section; each duty adds its own settings to a subclass."""

    enabled: bool = False


def matching(pattern: str, expected: str) -> AfterValidator:
    """Check one value with fullmatch (`$` alone would let a trailing newline through)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"expected {expected}")
        return value

    return AfterValidator(check)


Listed = TypeVar("Listed", bound=Hashable)


def listed_once(values: list[Listed]) -> list[Listed]:
    first: dict[Listed, int] = {}
    for index, value in enumerate(values):
        if value in first:
            raise ValueError(f"{value!r} is listed twice, at [{first[value]}] and [{index}]; list each once")
        first[value] = index
    return values


def _tag_key(key: str) -> str:
    if key.startswith("aws:") or not re.fullmatch(r"[\w.:/=+@ -]{1,128}", key):
        raise ValueError("expected a tag key of 1-128 letters, digits, spaces or _.:/=+-@ not starting with 'aws:'")
    return key


NAME_PATTERN = r"[a-z0-9][a-z0-9-]{0,39}"
NAME_RULE = "1-40 lowercase letters, digits or '-', starting with a letter or digit"
Name = Annotated[str, matching(NAME_PATTERN, NAME_RULE)]
Cron = Annotated[
    str, matching(r"cron\(\S+ \S+ \S+ \S+ \S+ \S+\)", "an EventBridge cron of six fields like 'cron(0 3 ? * MON *)'")
]
Region = Annotated[str, matching(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d", "an AWS region name like eu-west-1")]
TagKey = Annotated[str, AfterValidator(_tag_key)]

# The values PutRetentionPolicy accepts: the CloudWatch Logs service model's `Days` shape lists them.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip


def _log_retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"expected one of the CloudWatch Logs retention values {LOG_RETENTION_DAYS}")
    return days


LogRetentionDays = Annotated[int, AfterValidator(_log_retention)]
