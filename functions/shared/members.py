"""The role a hub function assumes to work in a member account of the organization (stacks/member.py makes them).

The stacks name the member-account role on the functions that work in members (DECKHAND_MEMBER_ROLE, and for
cleanup's removals DECKHAND_MEMBER_DELETER_ROLE); without the variable a function works in its own account only, as
before the organization section existed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# Set by the stacks, named once for both.
MEMBER_ROLE_VARIABLE = "DECKHAND_MEMBER_ROLE"
MEMBER_DELETER_ROLE_VARIABLE = "DECKHAND_MEMBER_DELETER_ROLE"


def role_arn(partition: str, account: str, name: str) -> str:
    """A role's ARN by name: IAM role names are account-wide, so the region has no part in it."""
    return f"arn:{partition}:iam::{account}:role/{name}"


class NotInOrganization(RuntimeError):
    """Work named another account, and this function has no member role to work there."""


@dataclass(frozen=True)
class Place:
    """An account and region a function reads or acts in, and the role it assumes there (None: its own)."""

    account: str
    region: str
    role: str | None = None


@dataclass(frozen=True)
class Home:
    """Where the function itself runs, from its own ARN (Lambda's context.invoked_function_arn)."""

    partition: str
    account: str
    region: str

    @classmethod
    def of(cls, function_arn: str) -> Home:
        parts = function_arn.split(":")
        if len(parts) < 7 or parts[0] != "arn" or parts[2] != "lambda":
            raise ValueError(f"expected a Lambda function ARN, got {function_arn[:200]!r}")
        return cls(partition=parts[1], account=parts[4], region=parts[3])

    def role_in(
        self, account: str, env: Mapping[str, str] | None = None, variable: str = MEMBER_ROLE_VARIABLE
    ) -> str | None:
        """The role ARN to assume to work in `account`: None in the function's own account."""
        if account == self.account:
            return None
        name = (os.environ if env is None else env).get(variable, "").strip()
        if not name:
            raise NotInOrganization(
                f"account {account} is not this function's ({self.account}) and {variable} is not set: "
                "the policy has no organization section, or the stack predates it (redeploy)"
            )
        return role_arn(self.partition, account, name)

    @property
    def here(self) -> Place:
        return Place(self.account, self.region)

    def place(
        self,
        account: str | None,
        region: str | None,
        env: Mapping[str, str] | None = None,
        variable: str = MEMBER_ROLE_VARIABLE,
    ) -> Place:
        """Where a selection naming `account` and `region` (None: the function's own) lives, with the role that
        reaches it; raises NotInOrganization for another account without a member role."""
        there = account or self.account
        return Place(there, region or self.region, self.role_in(there, env, variable))
