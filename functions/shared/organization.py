"""The policy's `organization` section: the member accounts one hub deployment works in, and the member roles.

Only cleanup's functions and the stacks read it: apart from the shared policy base, so that the other functions' cold
starts do not build it (7 M instructions, ~1 ms).
"""

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from .policy_base import ACCOUNT_PATTERN, AccountId, Placed, Region, Section, account_as_text, listed_once, matching

Member = Annotated[
    str,
    BeforeValidator(account_as_text),
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
