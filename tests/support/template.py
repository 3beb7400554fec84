"""Reading a synthesized template: values as text, and IAM statements with actions and resources as lists."""

import json
from typing import Any

from aws_cdk import App
from aws_cdk.assertions import Template

from stacks.app import build
from stacks.member import MemberStack
from stacks.nag import flattened
from stacks.policy import Policy


def text(value: Any) -> str:
    """A template value as text: Fn::Join flattened, Ref and GetAtt as ${...}."""
    return flattened(value, lambda name: "${" + name + "}", lambda other: json.dumps(other, sort_keys=True))


def listed(statement: dict[str, Any]) -> dict[str, Any]:
    """The statement with its actions and resources as lists, resources as text."""
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return {**statement, "Action": actions, "Resource": [text(r) for r in resources]}


def statements(template: Template) -> list[tuple[str, dict[str, Any]]]:
    """(policy logical id, statement) for every IAM statement of the template's inline policies."""
    return [
        (logical_id, listed(statement))
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def function_ids(template: Template) -> dict[str, str]:
    return {
        fn["Properties"]["FunctionName"]: logical_id
        for logical_id, fn in template.find_resources("AWS::Lambda::Function").items()
    }


def role_statements(template: Template, function_name: str) -> list[dict[str, Any]]:
    """Every statement the function's role holds: its default policy, and the managed ones it overflows into."""
    fn = template.find_resources("AWS::Lambda::Function")[function_ids(template)[function_name]]
    return statements_of_role(template, fn["Properties"]["Role"]["Fn::GetAtt"][0])


def named_role(template: Template, role_name: str) -> str:
    """The logical id of the role the stack names `role_name`."""
    [logical_id] = [
        logical_id
        for logical_id, role in template.find_resources("AWS::IAM::Role").items()
        if role["Properties"].get("RoleName") == role_name
    ]
    return logical_id


def statements_of_role(template: Template, role_logical_id: str) -> list[dict[str, Any]]:
    """Every statement the role holds: its default policy, and the managed ones it overflows into."""
    role = {"Ref": role_logical_id}
    return [
        listed(statement)
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        for policy in template.find_resources(kind).values()
        if role in policy["Properties"].get("Roles", [])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def as_deployed(value: Any, account: str, region: str = "us-east-1", refs: dict[str, str] | None = None) -> Any:
    """A template value as the account holds it, for the IAM simulator: pseudo parameters filled in, and each
    `${Ref}` or `${Logical.Attribute}` that `refs` names replaced with its physical value."""
    if isinstance(value, str) or (isinstance(value, dict) and value.keys() in ({"Fn::Join"}, {"Ref"}, {"Fn::GetAtt"})):
        flat = text(value).replace("${AWS::Partition}", "aws").replace("${AWS::AccountId}", account)
        flat = flat.replace("${AWS::Region}", region)
        for name, physical in (refs or {}).items():
            flat = flat.replace("${" + name + "}", physical)
        return flat
    if isinstance(value, dict):
        return {key: as_deployed(item, account, region, refs) for key, item in value.items()}
    if isinstance(value, list):
        return [as_deployed(item, account, region, refs) for item in value]
    return value


def hub_and_member(policy: Policy, outdir: str) -> tuple[Template, Template]:
    """The hub's and the member stack's templates of an organization policy, synthesized with cdk-nag, which raises on
    a finding nobody acknowledged in either stack."""
    app = App(outdir=outdir)
    hub = build(app, policy)
    member = app.node.find_child("DeckhandMember")
    assert isinstance(member, MemberStack)
    app.synth()
    return Template.from_stack(hub), Template.from_stack(member)
