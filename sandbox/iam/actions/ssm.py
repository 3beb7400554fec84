"""AWS Systems Manager: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssystemsmanager.html"""

from __future__ import annotations

from collections.abc import Sequence

from moto.ssm.models import ssm_backends

from sandbox.iam.actions.rows import MOTO_ERRORS, Context, Row, Table, arn, request_tags, resource_tags
from sandbox.iam.model import Call


def _parameter(call: Call, name: str) -> str:
    """`parameter/NAME`, the name without its leading slash; a parameter may be named by its ARN."""
    return name if name.startswith("arn:") else arn(call, "ssm", f"parameter/{name.lstrip('/')}")


def parameter(call: Call) -> Sequence[str]:
    return (_parameter(call, call.params["Name"]),)


def path(call: Call) -> Sequence[str]:
    return (_parameter(call, call.params["Path"]),)


def tags(call: Call, resource: str) -> Context:
    name = "/" + resource.partition(":parameter/")[2]
    backend = ssm_backends[call.account][call.region]
    for candidate in (name, name.lstrip("/")):
        try:
            return resource_tags(backend.list_tags_for_resource("Parameter", candidate))
        except (*MOTO_ERRORS, KeyError):
            continue
    return {}


def recursive(call: Call, resource: str) -> Context:
    return {"ssm:Recursive": str(bool(call.params.get("Recursive"))).lower()}


def putting(call: Call, resource: str) -> Context:
    found = dict(tags(call, resource))
    found["ssm:Overwrite"] = str(bool(call.params.get("Overwrite"))).lower()
    sent = {t["Key"]: t["Value"] for t in call.params.get("Tags") or []}
    return {**found, **(request_tags(sent) if sent else {})}


TABLE: Table = {
    "GetParameter": Row("ssm:GetParameter", parameter, tags),
    "GetParametersByPath": Row("ssm:GetParametersByPath", path, recursive),
    "PutParameter": Row("ssm:PutParameter", parameter, putting),
    "LabelParameterVersion": Row("ssm:LabelParameterVersion", parameter, tags),
}
