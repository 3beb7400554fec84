"""AWS Organizations: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsorganizations.html

Its resources' ARNs name the management account and the organization, whichever account asks:
`arn:aws:organizations::MANAGEMENT:ou/o-ORG/ou-UNIT`, `...:root/o-ORG/r-ROOT`, `...:account/o-ORG/ACCOUNT`.
"""

from __future__ import annotations

from collections.abc import Sequence

from moto.organizations.models import organizations_backends
from moto.utilities.utils import get_partition

from sandbox.iam.actions.rows import Row, Table
from sandbox.iam.model import Call


def _in_organization(call: Call, path: str) -> str:
    """The ARN of `path` (`ou/ou-...`) in the organization of the calling account; the call is refused by the
    row's reader (Unreadable) when the account belongs to none: Organizations refuses it too."""
    management, partition = organizations_backends.master_accounts.get(call.account, (call.account, "aws"))
    organization = organizations_backends[management][partition].org
    if organization is None:
        raise ValueError(f"account {call.account} belongs to no organization")
    return f"arn:{get_partition(call.region)}:organizations::{management}:{path.replace('ORG', organization.id)}"


def parent(call: Call) -> Sequence[str]:
    """The root or unit whose children the call lists (ParentId), by its resource type in the SAR."""
    named = str(call.params["ParentId"])
    kind = "root" if named.startswith("r-") else "ou"
    return (_in_organization(call, f"{kind}/ORG/{named}"),)


def child(call: Call) -> Sequence[str]:
    """The account or unit whose parents the call lists (ChildId)."""
    named = str(call.params["ChildId"])
    kind = "ou" if named.startswith("ou-") else "account"
    return (_in_organization(call, f"{kind}/ORG/{named}"),)


TABLE: Table = {
    "DescribeOrganization": Row("organizations:DescribeOrganization"),
    "ListRoots": Row("organizations:ListRoots"),
    "ListAccounts": Row("organizations:ListAccounts"),
    "ListAccountsForParent": Row("organizations:ListAccountsForParent", parent),
    "ListOrganizationalUnitsForParent": Row("organizations:ListOrganizationalUnitsForParent", parent),
    "ListChildren": Row("organizations:ListChildren", parent),
    "ListParents": Row("organizations:ListParents", child),
}
