"""`service_environment` computes, without a synth, what the stack gives each function (for `invoke --here`)."""

from aws_cdk.assertions import Template

from stacks.core import audit_table_name, function_environment
from stacks.deckhand_stack import DeckhandStack, service_environment

ACCOUNT, REGION = "123456789012", "us-east-1"


def test_each_functions_variables_are_what_service_environment_computes(
    stack: DeckhandStack, template: Template
) -> None:
    policy = stack.core.policy
    shared = function_environment(policy, audit_table=audit_table_name(policy.name_prefix), topic_arn="")
    seen = set()
    for function in template.find_resources("AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        service = variables["POWERTOOLS_SERVICE_NAME"]
        computed = service_environment(policy, service, partition="aws", account=ACCOUNT, region=REGION)
        seen.add(service)

        assert set(variables) == {*shared, "POWERTOOLS_SERVICE_NAME", *computed}, service
        for name, value in computed.items():
            if isinstance(variables[name], str):  # the rest are CloudFormation references to the same names
                assert variables[name] == value, (service, name)
    assert {"capacity", "cleanup", "gate"} <= seen
