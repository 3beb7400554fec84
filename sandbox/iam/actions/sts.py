"""AWS STS: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecuritytokenservice.html"""

from __future__ import annotations

from collections.abc import Sequence

from sandbox.iam.actions.rows import Context, Row, Table, pairs, request_tags
from sandbox.iam.model import Call


def role(call: Call) -> Sequence[str]:
    return (str(call.params["RoleArn"]),)


def assuming(call: Call, resource: str) -> Context:
    found: dict[str, str | Sequence[str]] = {"sts:RoleSessionName": str(call.params["RoleSessionName"])}
    if call.params.get("ExternalId"):
        found["sts:ExternalId"] = str(call.params["ExternalId"])
    sent = pairs(call.params.get("Tags"))
    return {**found, **(request_tags(sent) if sent else {})}


TABLE: Table = {
    "AssumeRole": Row("sts:AssumeRole", role, assuming),
    # No permission is needed, and none can deny it
    # (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
    "GetCallerIdentity": Row(None),
}
