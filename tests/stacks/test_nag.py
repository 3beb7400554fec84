"""stacks/nag.py: the ids it builds are the ones cdk-nag reports, so its acknowledgements silence exactly those."""

import re
from pathlib import Path

import pytest
from aws_cdk import App, Environment, Stack, Validations
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks

from stacks import nag

TOKENS = (None, "<AWS::AccountId>", "<AWS::Region>")
KNOWN = (Environment(account="123456789012", region="eu-west-3"), "123456789012", "eu-west-3")


def wildcard_stack(app: App, env: Environment | None, left_out: str | None = None) -> None:
    """A role holding each kind of wildcard a Deckhand role holds, each acknowledged through nag but `left_out`."""
    stack = Stack(app, "Wildcards", env=env)
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    other = iam.Role(stack, "Other", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"))
    schedules = stack.format_arn(service="scheduler", resource="schedule", resource_name="deckhand-capacity/*")
    key = stack.format_arn(service="kms", resource="key", resource_name="1234abcd-12ab-34cd-56ef-1234567890ab")
    role.add_to_policy(iam.PolicyStatement(actions=["xray:PutTraceSegments"], resources=["*"]))
    role.add_to_policy(iam.PolicyStatement(actions=["scheduler:GetSchedule"], resources=[schedules]))
    role.add_to_policy(iam.PolicyStatement(actions=["iam:GetRole"], resources=[f"{other.role_arn}:*"]))
    role.add_to_policy(iam.PolicyStatement(actions=["kms:GenerateDataKey*"], resources=[key]))
    acknowledgments = {
        "any": nag.any_resource(stack, "test"),
        "regional": nag.regional_wildcard(stack, "scheduler", "schedule/deckhand-capacity/*", "test"),
        "token": nag.wildcard_resource(stack, f"{other.role_arn}:*", "test"),
        "action": nag.wildcard_action("kms:GenerateDataKey*", "test"),
    }
    Validations.of(role).acknowledge(*(a for name, a in acknowledgments.items() if name != left_out))
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


@pytest.mark.parametrize(("env", "account", "region"), [TOKENS, KNOWN], ids=["env tokens", "env known"])
def test_every_acknowledgement_silences_exactly_its_finding(
    env: Environment | None, account: str, region: str, tmp_path: Path
) -> None:
    app = App(outdir=str(tmp_path / "all"))
    wildcard_stack(app, env)
    app.synth()  # raises on a finding nobody acknowledged

    findings = {
        "any": "AwsSolutions-IAM5[Resource::*]",
        "regional": f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:{region}:{account}:"
        "schedule/deckhand-capacity/*]",
        "token": "AwsSolutions-IAM5[Resource::<Other",  # then the role's logical id's hash, .Arn>:*
        "action": "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
    }
    for left_out, finding in findings.items():
        app = App(outdir=str(tmp_path / left_out))
        wildcard_stack(app, env, left_out)
        with pytest.raises(Exception, match=re.escape(finding)) as raised:
            app.synth()
        assert str(raised.value).count("AwsSolutions-IAM5[") == 1


def test_a_resource_is_named_as_cdk_nag_names_it() -> None:
    stack = Stack(App(), "Named")
    role = iam.Role(stack, "Other", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"))
    arn = stack.format_arn(service="cloudwatch", resource="alarm", resource_name="web-*")
    assert nag.nag_name(stack, arn) == "arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm/web-*"
    assert re.fullmatch(r"<Other[0-9A-F]{8}\.Arn>:\*", nag.nag_name(stack, f"{role.role_arn}:*"))
    assert nag.nag_name(stack, "*") == "*"
