"""`python -m sandbox authorize`: the operator's "why is this denied?", asked of the running sandbox.

The question names a deployed function (its execution role, read with GetFunction) or a role, and either
an IAM request (action, resource, context keys) or an API call (`service:Operation` and its input, which
the server maps to the IAM requests AWS makes of it). The server evaluates it in its own process with the
policies as deployed, by the same simulator that authorizes the functions' requests (`enforce.Enforcer`).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.iam.enforce import AUTHORIZE_ROUTE

Client = Callable[[str], Any]


class AuthorizeError(ValueError):
    """The question cannot be asked: an unknown function or role, a malformed call or context."""


@dataclass(frozen=True)
class Asker:
    role_arn: str
    principal: str  # the session a function runs as (assumed-role/ROLE/FUNCTION), or the role itself


def asker(name: str, client: Client) -> Asker:
    """A deployed function's role session, as Lambda names it; else the role of that name or ARN."""
    try:
        role_arn = str(client("lambda").get_function(FunctionName=name)["Configuration"]["Role"])
    except client("lambda").exceptions.ResourceNotFoundException:
        role_name = name.rsplit("/", 1)[-1]
        try:
            role_arn = str(client("iam").get_role(RoleName=role_name)["Role"]["Arn"])
        except client("iam").exceptions.NoSuchEntityException:
            raise AuthorizeError(f"no deployed function and no role named {name!r}") from None
        return Asker(role_arn, role_arn)
    account = role_arn.split(":")[4]
    return Asker(role_arn, f"arn:aws:sts::{account}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/{name}")


def question(request: Sequence[str], context: Sequence[str], call: Sequence[str] | None) -> dict[str, Any]:
    """`ACTION RESOURCE` with `--context` pairs, or `--call SERVICE:OPERATION JSON`."""
    if call is not None:
        if request or context:
            raise AuthorizeError("--call takes neither ACTION RESOURCE nor --context")
        operation, params_json = call
        return call_question(operation, params_json)
    if len(request) != len(("ACTION", "RESOURCE")):
        raise AuthorizeError("give ACTION RESOURCE, or --call SERVICE:OPERATION 'JSON'")
    action, resource = request
    return {"action": action, "resource": resource, "context": context_pairs(context)}


def context_pairs(pairs: Sequence[str]) -> dict[str, str | list[str]]:
    """`KEY=VALUE` pairs; a key given twice holds every value (a multivalued key such as aws:TagKeys)."""
    found: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise AuthorizeError(f"--context {pair!r} is not KEY=VALUE")
        found.setdefault(key, []).append(value)
    return {key: values[0] if len(values) == 1 else values for key, values in found.items()}


def call_question(operation: str, params_json: str) -> dict[str, Any]:
    service, sep, name = operation.partition(":")
    if not sep or not service or not name:
        raise AuthorizeError(f"--call {operation!r} is not service:Operation (as botocore names them)")
    try:
        params = json.loads(params_json)
    except json.JSONDecodeError as bad:
        raise AuthorizeError(f"the call's input is not JSON: {bad}") from None
    if not isinstance(params, dict):
        raise AuthorizeError("the call's input must be a JSON object")
    return {"call": {"service": service, "operation": name, "params": params}}


def ask(endpoint: str, who: Asker, question: Mapping[str, Any]) -> dict[str, Any]:
    body = json.dumps({"role": who.role_arn, "principal": who.principal, **question}).encode()
    request = urllib.request.Request(  # noqa: S310 - the local sandbox
        endpoint + AUTHORIZE_ROUTE, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - the local sandbox
            return dict(json.load(answer))
    except urllib.error.HTTPError as refused:
        raise AuthorizeError(json.load(refused).get("message", str(refused))) from None


def render(answer: Mapping[str, Any]) -> list[str]:
    lines = [f"{answer['decision']}: {answer['principal']}"]
    if answer.get("unmapped"):
        lines.append(f"  {answer['unmapped']}")
    for request in answer["requests"]:
        context = " ".join(f"{k}={v}" for k, v in sorted(request["context"].items()))
        lines.append(f"  {request['decision']}: {request['action']} on {request['resource']}")
        if context:
            lines.append(f"    context: {context}")
        lines.append(f"    {request['explain']}")
    return lines
