"""AWS Lambda: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html

A call with a qualifier (version or alias) is authorized on the qualified ARN, which a grant on the
unqualified function ARN does not match, `$LATEST` included
(https://docs.aws.amazon.com/lambda/latest/dg/using-aliases.html, "Resource policies").
"""

from __future__ import annotations

from collections.abc import Sequence

from moto.awslambda.models import lambda_backends

from sandbox.iam.actions.rows import MOTO_ERRORS, Context, Row, Table, arn, resource_tags
from sandbox.iam.model import Call


def _function(call: Call) -> tuple[str, str | None]:
    """(name, qualifier) of FunctionName: a name, `name:qualifier`, a partial or a full ARN."""
    parts = str(call.params["FunctionName"]).split(":")
    if parts[0] == "arn":
        parts = parts[6:] or [""]  # an ARN cut short names no function: no grant matches it
    elif len(parts) >= 3 and parts[1] == "function":  # ACCOUNT:function:NAME[:QUALIFIER]
        parts = parts[2:]
    name = parts[0]
    qualifier = call.params.get("Qualifier") or (parts[1] if len(parts) > 1 else None)
    return name, qualifier


def function(call: Call) -> Sequence[str]:
    name, qualifier = _function(call)
    return (arn(call, "lambda", f"function:{name}" + (f":{qualifier}" if qualifier else "")),)


def unqualified(call: Call) -> Sequence[str]:
    return (arn(call, "lambda", f"function:{_function(call)[0]}"),)


def named(call: Call) -> Sequence[str]:
    return (call.params["Resource"],)


def tags(call: Call, resource: str) -> Context:
    """The function's tags: versions and aliases carry none of their own."""
    function_arn = ":".join(resource.split(":")[:7])
    try:
        return resource_tags(lambda_backends[call.account][call.region].list_tags(function_arn))
    except MOTO_ERRORS:
        return {}


TABLE: Table = {
    "ListFunctions": Row("lambda:ListFunctions"),
    "ListEventSourceMappings": Row("lambda:ListEventSourceMappings"),
    "ListVersionsByFunction": Row("lambda:ListVersionsByFunction", unqualified, tags),
    "ListAliases": Row("lambda:ListAliases", unqualified, tags),
    "GetFunction": Row("lambda:GetFunction", function, tags),
    "Invoke": Row("lambda:InvokeFunction", function, tags),
    "DeleteFunction": Row("lambda:DeleteFunction", function, tags),
    "ListTags": Row("lambda:ListTags", named, tags),
    "GetProvisionedConcurrencyConfig": Row("lambda:GetProvisionedConcurrencyConfig", function, tags),
    "PutProvisionedConcurrencyConfig": Row("lambda:PutProvisionedConcurrencyConfig", function, tags),
    "DeleteProvisionedConcurrencyConfig": Row("lambda:DeleteProvisionedConcurrencyConfig", function, tags),
}
