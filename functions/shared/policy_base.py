"""The base of every policy section (strict, frozen, and no key it does not know) and the value types they share."""

import re
from collections.abc import Hashable
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SerializerFunctionWrapHandler,
    model_serializer,
)


class Section(BaseModel):
    """A list default is written `Field(default=[])`: pydantic copies an unhashable default for each instance, and
    `default_factory=list` costs every function ~2 ms of cold start (pydantic reads list's signature through
    `inspect`, which compiles tokenize's patterns)."""

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


# The Organizations API's patterns (botocore `organizations` service model: AccountId, OrganizationalUnitId, RootId,
# OrganizationId), with [0-9] for \\d so that no other Unicode digit passes.
ACCOUNT_PATTERN = r"[0-9]{12}"


def account_as_text(value: Any) -> Any:
    """YAML reads an unquoted account id as a number, and one with a leading 0 as octal: take twelve digits back."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 10**11 <= value < 10**12:
            return str(value)
        raise ValueError("expected a 12-digit account id; quote it, like '012345678901', so YAML keeps it as text")
    return value


AccountId = Annotated[str, BeforeValidator(account_as_text), matching(ACCOUNT_PATTERN, "a 12-digit AWS account id")]


class Placed(Section):
    """A selection that may live in a member account and region of the organization rather than the hub's own.

    Unset, the keys are left out of the section's JSON, so a policy without them hands the functions the same
    settings as before they existed."""

    account: AccountId | None = None
    region: Region | None = None

    @model_serializer(mode="wrap")
    def _without_unset_placement(self, handler: SerializerFunctionWrapHandler) -> Any:
        dumped = handler(self)
        if isinstance(dumped, dict):
            for key in ("account", "region"):
                if dumped.get(key) is None:
                    dumped.pop(key, None)
        return dumped

    @property
    def placed(self) -> bool:
        return self.account is not None or self.region is not None
