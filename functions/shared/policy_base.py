"""The base of every policy section (strict, frozen, and no key it does not know) and the value types they share."""

import re
from collections.abc import Hashable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
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


def _account_as_text(value: Any) -> Any:
    """YAML reads an unquoted account id as a number, and one with a leading 0 as octal: take twelve digits back."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 10**11 <= value < 10**12:
            return str(value)
        raise ValueError("expected a 12-digit account id; quote it, like '012345678901', so YAML keeps it as text")
    return value


AccountId = Annotated[str, BeforeValidator(_account_as_text), matching(ACCOUNT_PATTERN, "a 12-digit AWS account id")]
Member = Annotated[
    str,
    BeforeValidator(_account_as_text),
    matching(
        rf"{ACCOUNT_PATTERN}|ou-[0-9a-z]{{4,32}}-[a-z0-9]{{8,32}}|r-[0-9a-z]{{4,32}}",
        "a 12-digit account id, an organizational unit id like ou-ab12-cd34ef56 or the root id like r-ab12",
    ),
]
OrganizationId = Annotated[str, matching(r"o-[a-z0-9]{10,32}", "an organization id like o-a1b2c3d4e5")]
# IAM's roleNameType (botocore `iam`: 1-64 characters of [\w+=,.@-]), ASCII only.
RoleName = Annotated[str, matching(r"[A-Za-z0-9_+=,.@-]{1,64}", "an IAM role name: 1-64 letters, digits or _+=,.@-")]
# The duties that work in members through a role of their own, named `<member_role>-<duty>` (stacks/member.py makes
# them): a role that changes capacity cannot touch cleanup, and the reverse.
MemberDuty = Literal["capacity", "gating"]
MEMBER_DUTIES: tuple[MemberDuty, ...] = ("capacity", "gating")
ROLE_NAME_MAX = 64  # IAM's roleNameType (botocore `iam`)
LONGEST_SUFFIX = max(len(f"-{duty}") for duty in MEMBER_DUTIES)


def _room_for_duty_roles(name: str) -> str:
    if len(name) > ROLE_NAME_MAX - LONGEST_SUFFIX:
        raise ValueError(
            f"expected an IAM role name of at most {ROLE_NAME_MAX - LONGEST_SUFFIX} characters: the capacity and "
            f"gating member roles are named <member_role>-capacity and -gating, and IAM takes {ROLE_NAME_MAX} at most"
        )
    return name


class Organization(Section):
    """The member accounts one hub deployment works in: account ids and organizational units (resolved through AWS
    Organizations at run time) less the excluded accounts, in these regions, through two roles in each member: one
    that reads, marks and changes (as the hub functions' own roles do), one that only deletes (as the hub's cleanup
    deleter does)."""

    id: OrganizationId  # for aws:PrincipalOrgID in the member roles' trust and the hub bus's policy
    accounts: Annotated[list[Member], Field(min_length=1), AfterValidator(listed_once)]
    exclude: Annotated[list[AccountId], AfterValidator(listed_once)] = Field(default=[])
    regions: Annotated[list[Region], Field(min_length=1), AfterValidator(listed_once)]
    member_role: Annotated[RoleName, AfterValidator(_room_for_duty_roles)] = "deckhand-member"
    deleter_role: RoleName = "deckhand-member-deleter"
    # The cleanup fan-out's Distributed Map: scopes (account x region x kind) run at once, at most (a Distributed Map
    # takes up to 10,000: Step Functions Developer Guide, "Distributed Map state"), and the share of failed scopes
    # it tolerates before the whole run fails (0-100).
    max_concurrency: Annotated[int, Field(ge=1, le=10_000)] = 40
    tolerated_failure_percentage: Annotated[int, Field(ge=0, le=100)] = 100

    @model_validator(mode="after")
    def _consistent(self) -> "Organization":
        if listed_and_excluded := [account for account in self.exclude if account in self.accounts]:
            raise ValueError(f"{', '.join(listed_and_excluded)} listed in both accounts and exclude; keep one")
        if self.member_role == self.deleter_role:
            raise ValueError(f"member_role and deleter_role are both {self.member_role!r}: the deleter is its own role")
        if self.deleter_role in (duty_roles := [self.duty_role(duty) for duty in MEMBER_DUTIES]):
            raise ValueError(f"deleter_role {self.deleter_role!r} is one of the duties' member roles {duty_roles}")
        return self

    def duty_role(self, duty: MemberDuty) -> str:
        """The name of the role `duty`'s hub function assumes in each member account."""
        return f"{self.member_role}-{duty}"

    @property
    def resolved_at_run_time(self) -> bool:
        """Whether the members include an organizational unit or the root, whose accounts only Organizations knows."""
        return any(not member.isdigit() for member in self.accounts)

    def misplaced(self, placed: "Placed") -> list[tuple[str, str, str]]:
        """The selection's account and region that the organization does not cover: (key, value, expectation)."""
        problems = []
        if placed.account in self.exclude:
            problems.append(("account", placed.account, "an account that organization.exclude does not exclude"))
        elif placed.account is not None and placed.account not in self.accounts and not self.resolved_at_run_time:
            problems.append(("account", placed.account, f"one of organization.accounts ({', '.join(self.accounts)})"))
        if placed.region is not None and placed.region not in self.regions:
            problems.append(("region", placed.region, f"one of organization.regions ({', '.join(self.regions)})"))
        return problems


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
