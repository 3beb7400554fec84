"""The cleanup fan-out's construct (issue 13 item 3), synthesized with cdk-nag from the example policy plus an
organization: the state machine's ASL (Plan, a Distributed Map over S3 items with results to S3, the stopped-scope
loop, Aggregate, retries), and least privilege for the fan-out function, the hub deleter, the cleanup function and
the state machine. Without an organization, nothing of it is there."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from functions.shared.organization import Organization
from stacks.app import build
from stacks.cleanup_fanout import RETRIED, member_roles
from stacks.core import audit_table_name, function_environment
from stacks.deckhand_stack import DeckhandStack, service_environment
from stacks.policy import parse_policy
from tests.stacks.test_member import ORG_ID, organization_policy
from tests.support.policy import assert_named_problem
from tests.support.template import function_ids, named_role, role_statements, statements_of_role, text


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Template:
    app = App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    stack = build(app, organization_policy())
    app.synth()  # raises when cdk-nag reports a finding nobody acknowledged
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def machine(hub: Template) -> tuple[str, dict[str, Any]]:
    [(logical_id, resource)] = hub.find_resources("AWS::StepFunctions::StateMachine").items()
    return logical_id, resource


@pytest.fixture(scope="module")
def asl(machine: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """The definition with each intrinsic written REF (they only stand in string values)."""
    parts = machine[1]["Properties"]["DefinitionString"]["Fn::Join"][1]
    return dict(json.loads("".join(part if isinstance(part, str) else "REF" for part in parts)))


def test_a_standard_state_machine_named_for_the_prefix_plans_maps_and_aggregates(
    machine: tuple[str, dict[str, Any]], asl: dict[str, Any]
) -> None:
    properties = machine[1]["Properties"]
    assert properties["StateMachineName"] == "deckhand-cleanup-fanout"
    assert properties["StateMachineType"] == "STANDARD"
    assert properties["TracingConfiguration"] == {"Enabled": True}
    assert properties["LoggingConfiguration"]["Level"] == "ALL"
    states = asl["States"]
    assert asl["StartAt"] == "Plan"
    assert states["Plan"]["Next"] == "Scopes"
    assert states["Plan"]["Parameters"] == {"step": "plan", "command.$": "$", "execution.$": "$$.Execution.Name"}
    assert states["Scopes"]["Next"] == "Aggregate"
    assert states["Aggregate"]["Parameters"] == {"step": "aggregate", "plan.$": "$.plan", "map.$": "$.map"}
    assert states["Aggregate"]["End"] is True


def test_the_distributed_map_reads_items_from_s3_writes_results_to_s3_and_takes_the_policys_limits(
    asl: dict[str, Any],
) -> None:
    scopes = asl["States"]["Scopes"]

    assert scopes["Type"] == "Map"
    assert scopes["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert scopes["ItemReader"]["Resource"] == "arn:REF:states:::s3:getObject"
    assert scopes["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
    assert scopes["ItemReader"]["Parameters"] == {"Bucket": "REF", "Key.$": "$.plan.items_key"}
    assert scopes["ItemSelector"] == {"step": "scope", "item.$": "$$.Map.Item.Value"}
    assert scopes["ResultWriter"] == {
        "Resource": "arn:REF:states:::s3:putObject",
        "Parameters": {"Bucket": "REF", "Prefix.$": "$.plan.results_prefix"},
    }
    assert (scopes["MaxConcurrency"], scopes["ToleratedFailurePercentage"]) == (40, 100)  # the policy's defaults
    assert scopes["ResultPath"] == "$.map"
    # A failed Map (past its tolerated failures) still gets its report: Aggregate reads what was written.
    assert scopes["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.map", "Next": "Aggregate"}]


def test_a_stopped_scope_is_invoked_again_with_its_own_answer(asl: dict[str, Any]) -> None:
    processor = asl["States"]["Scopes"]["ItemProcessor"]
    states = processor["States"]

    assert processor["StartAt"] == "Scope"
    assert "Parameters" not in states["Scope"]  # the state's input as it is: the item, or the stopped answer
    assert states["Scope"]["Next"] == "Stopped?"
    assert states["Stopped?"]["Choices"] == [{"Variable": "$.status", "StringEquals": "stopped", "Next": "Scope"}]
    assert states[states["Stopped?"]["Default"]]["Type"] == "Succeed"


def test_every_lambda_task_retries_throttling_with_exponential_backoff_and_jitter(asl: dict[str, Any]) -> None:
    tasks = [
        asl["States"]["Plan"],
        asl["States"]["Aggregate"],
        asl["States"]["Scopes"]["ItemProcessor"]["States"]["Scope"],
    ]

    for task in tasks:
        [retry] = task["Retry"]
        assert retry["ErrorEquals"] == list(RETRIED)
        assert "DeckhandThrottled" in retry["ErrorEquals"]
        assert retry["BackoffRate"] == 2
        assert retry["JitterStrategy"] == "FULL"
        assert retry["MaxAttempts"] == 6


def fanout_statements(hub: Template) -> list[dict[str, Any]]:
    return role_statements(hub, "deckhand-fanout")


def test_the_fanout_function_may_assume_only_the_member_role_in_the_organizations_accounts(hub: Template) -> None:
    assumed = [(resource, s.get("Condition")) for s in fanout_statements(hub) if "sts:AssumeRole" in s["Action"]
               for resource in s["Resource"]]  # fmt: skip
    deleter = named_role(hub, "deckhand-cleanup-deleter")

    assert sorted(assumed, key=str) == sorted(
        [
            ("arn:${AWS::Partition}:iam::*:role/deckhand-member", {"StringEquals": {"aws:ResourceOrgID": ORG_ID}}),
            (f"${{{deleter}.Arn}}", None),  # the hub deleter, for removals (chained on to the member deleter)
        ],
        key=str,
    )


def test_the_fanout_function_lists_only_the_organizations_root_and_units_and_uses_its_bucket_prefixes(
    hub: Template,
) -> None:
    granted = fanout_statements(hub)
    [listing] = [s for s in granted if "organizations:ListAccountsForParent" in s["Action"]]
    s3 = {(action, text(resource)) for s in granted for action in s["Action"] if action.startswith("s3:")
          for resource in s["Resource"]}  # fmt: skip

    assert sorted(listing["Action"]) == ["organizations:ListAccountsForParent",
                                         "organizations:ListOrganizationalUnitsForParent"]  # fmt: skip
    assert [text(resource) for resource in listing["Resource"]] == [
        f"arn:${{AWS::Partition}}:organizations::*:root/{ORG_ID}/r-ab12",
        f"arn:${{AWS::Partition}}:organizations::*:ou/{ORG_ID}/*",
    ]
    assert {action for action, resource in s3} == {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}
    assert all("/runs/organization/*" in r or "/reports/organization/*" in r or "/" not in r.split(":::")[-1]
               for _, r in s3), s3  # fmt: skip
    assert not any(action.startswith(("ec2:", "ecr:", "logs:Delete", "lambda:Delete")) for s in granted
                   for action in s["Action"])  # fmt: skip


def test_removals_chain_through_the_hub_deleter_which_may_assume_only_the_member_deleters(hub: Template) -> None:
    deleter = named_role(hub, "deckhand-cleanup-deleter")
    [assume] = [s for s in statements_of_role(hub, deleter) if s["Action"] == ["sts:AssumeRole"]]
    trust = hub.find_resources("AWS::IAM::Role")[deleter]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    fanout_role = hub.find_resources("AWS::Lambda::Function")[function_ids(hub)["deckhand-fanout"]]["Properties"]

    assert [text(resource) for resource in assume["Resource"]] == [
        "arn:${AWS::Partition}:iam::*:role/deckhand-member-deleter"
    ]
    assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": ORG_ID}}
    assert any(statement["Principal"] == {"AWS": fanout_role["Role"]} for statement in trust)


def test_the_cleanup_function_may_start_only_the_fanout_and_is_told_which(
    hub: Template, machine: tuple[str, dict[str, Any]]
) -> None:
    logical_id = machine[0]
    starts = [s for s in role_statements(hub, "deckhand-cleanup") if "states:StartExecution" in s["Action"]]
    cleanup = hub.find_resources("AWS::Lambda::Function")[function_ids(hub)["deckhand-cleanup"]]
    variables = cleanup["Properties"]["Environment"]["Variables"]

    assert [(s["Action"], s["Resource"]) for s in starts] == [(["states:StartExecution"], [f"${{{logical_id}}}"])]
    assert variables["DECKHAND_CLEANUP_FANOUT"] == {"Ref": logical_id}
    assert json.loads(variables["DECKHAND_ORGANIZATION"])["id"] == ORG_ID


def test_the_state_machine_may_invoke_the_fanout_and_run_its_own_child_executions(
    hub: Template, machine: tuple[str, dict[str, Any]]
) -> None:
    role = machine[1]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    granted = {
        action: [text(r) for r in s["Resource"]] for s in statements_of_role(hub, role) for action in s["Action"]
    }
    fanout = function_ids(hub)["deckhand-fanout"]

    assert granted["lambda:InvokeFunction"] == [f"${{{fanout}.Arn}}", f"${{{fanout}.Arn}}:*"]
    assert granted["states:StartExecution"] == [f"${{{machine[0]}}}"]
    assert all(":execution:" in resource for resource in granted["states:DescribeExecution"])
    assert all(":execution:" in resource for resource in granted["states:StopExecution"])
    assert {"s3:GetObject", "s3:PutObject"} <= granted.keys()


def test_members_listed_by_id_are_assumed_by_their_role_arns_alone() -> None:
    stack = Stack(App(), "S")
    organization = Organization.model_validate(
        {"id": ORG_ID, "accounts": ["111111111111", "222222222222"], "regions": ["eu-west-1"]}
    )

    roles, condition = member_roles(stack, organization, "deckhand-member")

    assert [text(stack.resolve(role)) for role in roles] == [
        "arn:${AWS::Partition}:iam::111111111111:role/deckhand-member",
        "arn:${AWS::Partition}:iam::222222222222:role/deckhand-member",
    ]
    assert condition is None


def test_without_an_organization_there_is_no_fanout(template: Template, stack: DeckhandStack) -> None:
    assert template.find_resources("AWS::StepFunctions::StateMachine") == {}
    assert "deckhand-fanout" not in function_ids(template)
    cleanup = template.find_resources("AWS::Lambda::Function")[function_ids(template)["deckhand-cleanup"]]
    assert "DECKHAND_CLEANUP_FANOUT" not in cleanup["Properties"]["Environment"]["Variables"]
    assert stack.cleanup_fanout is None


FANOUT_POLICY = """version: 1
organization: {id: o-a1b2c3d4e5, accounts: ['111111111111'], regions: [eu-west-1]%s}
"""


@pytest.mark.parametrize(
    ("keys", "path", "value", "expected"),
    [
        (", max_concurrency: 0", "organization.max_concurrency", "0", "greater than or equal to 1"),
        (", max_concurrency: 10001", "organization.max_concurrency", "10001", "less than or equal to 10000"),
        (", tolerated_failure_percentage: 101", "organization.tolerated_failure_percentage", "101", "less than or"),
        (", tolerated_failure_percentage: '5'", "organization.tolerated_failure_percentage", "'5'", "integer"),
    ],
)
def test_the_maps_limits_are_checked_with_key_path_value_and_expectation(
    keys: str, path: str, value: str, expected: str
) -> None:
    assert_named_problem(FANOUT_POLICY % keys, path, value, expected)


def test_the_maps_limits_reach_the_state_machine(tmp_path_factory: pytest.TempPathFactory) -> None:
    document = organization_policy().model_dump(by_alias=True, exclude_none=True)
    document["organization"] |= {"max_concurrency": 7, "tolerated_failure_percentage": 5}
    app = App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    stack = build(app, parse_policy(document, "organization.yaml"))
    [resource] = Template.from_stack(stack).find_resources("AWS::StepFunctions::StateMachine").values()
    parts = resource["Properties"]["DefinitionString"]["Fn::Join"][1]
    scopes = json.loads("".join(part if isinstance(part, str) else "REF" for part in parts))["States"]["Scopes"]

    assert (scopes["MaxConcurrency"], scopes["ToleratedFailurePercentage"]) == (7, 5)


def test_the_fanout_and_cleanup_variables_are_what_service_environment_computes(hub: Template) -> None:
    policy = organization_policy()
    shared = function_environment(policy, audit_table=audit_table_name(policy.name_prefix), topic_arn="")
    for name in ("deckhand-cleanup", "deckhand-fanout"):
        variables = hub.find_resources("AWS::Lambda::Function")[function_ids(hub)[name]]["Properties"]["Environment"]
        service = variables["Variables"]["POWERTOOLS_SERVICE_NAME"]
        computed = service_environment(policy, service, partition="aws", account="123456789012", region="us-east-1")

        assert set(variables["Variables"]) == {*shared, "POWERTOOLS_SERVICE_NAME", *computed}, service
        for variable, value in computed.items():
            if isinstance(variables["Variables"][variable], str):  # the rest reference the same physical names
                assert variables["Variables"][variable] == value, (service, variable)
