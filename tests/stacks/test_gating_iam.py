"""Gating IAM regressions (issues 10 and 11): the exact request the code makes, built from its call by
`sandbox.iam.actions.requests_for`, judged by `sandbox.iam.simulator` under the old statement (kept here) and
under the role as the example policy's stack synthesizes it."""

from typing import Any

import pytest
from aws_cdk.assertions import Template

from sandbox.iam.actions import requests_for
from sandbox.iam.model import Call
from sandbox.iam.simulator import Policy, Simulation, Simulator, Verdict
from tests.support.aws import make_audit_table
from tests.support.template import as_deployed, role_statements

ACCOUNT = "123456789012"
REGION = "us-east-1"
PIPELINE_ARN = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:web-app"
AUDIT_TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/deckhand-audit"

# The statements the old stack gave, as it synthesized them (the ones these requests meet).
OLD_WATCHDOG = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "codepipeline:GetPipelineState",
                "codepipeline:ListPipelineExecutions",
                "codepipeline:StopPipelineExecution",
                "codepipeline:RollbackStage",
            ],
            "Resource": PIPELINE_ARN,
        },
        {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": AUDIT_TABLE},
    ],
}
OLD_APPROVER = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "codepipeline:PutApprovalResult", "Resource": f"{PIPELINE_ARN}/*"}],
}
OLD_GATE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "codepipeline:GetJobDetails",
                "codepipeline:PutJobSuccessResult",
                "codepipeline:PutJobFailureResult",
            ],
            "Resource": "*",
        }
    ],
}


def deployed(template: Template, function_name: str) -> dict[str, Any]:
    """The function's role as the account holds it: the audit table's ARN in place of its reference."""
    [table] = [
        logical_id
        for logical_id, table in template.find_resources("AWS::DynamoDB::Table").items()
        if table["Properties"].get("TableName") == "deckhand-audit"
    ]
    refs = {f"{table}.Arn": AUDIT_TABLE}
    return {
        "Version": "2012-10-17",
        "Statement": as_deployed(role_statements(template, function_name), ACCOUNT, REGION, refs),
    }


def session(function_name: str) -> str:
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{function_name}-role/{function_name}"


def verdicts(
    simulator: Simulator, policy: dict[str, Any], function_name: str, service: str, operation: str, **params: Any
) -> list[Verdict]:
    """AWS's decision on every IAM request of the call, as the function's session makes it."""
    call = Call(service=service, operation=operation, params=params, account=ACCOUNT, region=REGION)
    return [
        simulator.evaluate(
            Simulation(
                principal=session(function_name),
                action=request.action,
                resource=request.resource,
                resource_account=ACCOUNT,
                context=request.context,
                identity_policies=[Policy(function_name, policy)],
            )
        )
        for request in requests_for(call)
    ]


def allowed(found: list[Verdict]) -> bool:
    return bool(found) and all(verdict.allowed for verdict in found)


# --- item 1: the watchdog's rollback acts on the stage --------------------------------------------------------


def test_rolling_back_the_stage_was_refused_and_is_now_allowed(simulator: Simulator, template: Template) -> None:
    call = {"pipelineName": "web-app", "stageName": "Deploy", "targetPipelineExecutionId": "e-good"}
    new = deployed(template, "deckhand-watchdog")
    assert not allowed(verdicts(simulator, OLD_WATCHDOG, "deckhand-watchdog", "codepipeline", "RollbackStage", **call))
    found = verdicts(simulator, new, "deckhand-watchdog", "codepipeline", "RollbackStage", **call)
    assert allowed(found), [v.explain() for v in found]
    other = {**call, "stageName": "Build"}  # an ungated stage stays out of reach
    assert not allowed(verdicts(simulator, new, "deckhand-watchdog", "codepipeline", "RollbackStage", **other))


def test_the_watchdog_gives_back_only_its_own_slots(simulator: Simulator, template: Template, aws: None) -> None:
    make_audit_table()  # the mapping reads the table's key schema for dynamodb:LeadingKeys
    new = deployed(template, "deckhand-watchdog")

    def delete(key: str) -> bool:
        item = {"pk": {"S": key}, "sk": {"S": "2026-12-06T16#0"}}
        return allowed(
            verdicts(
                simulator, new, "deckhand-watchdog", "dynamodb", "DeleteItem", TableName="deckhand-audit", Key=item
            )
        )

    assert not allowed(
        verdicts(
            simulator,
            OLD_WATCHDOG,
            "deckhand-watchdog",
            "dynamodb",
            "DeleteItem",
            TableName="deckhand-audit",
            Key={"pk": {"S": "watchdog-lock/web-app/Deploy"}, "sk": {"S": "2026-12-06T16#0"}},
        )
    )
    assert delete("watchdog-lock/web-app/Deploy")
    assert not delete("audit/gating/pipeline/web-app/Deploy")  # an audit record stays write-once


# --- item 11 and 12: the watchdog confirms the alarm and reads its mutes ----------------------------------------


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("DescribeAlarms", {"AlarmNames": ["web-app-5xx"], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}),
        ("ListAlarmMuteRules", {"AlarmName": "web-app-5xx", "Statuses": ["ACTIVE"]}),
        ("GetAlarmMuteRule", {"AlarmMuteRuleName": "release"}),
    ],
)
def test_confirming_the_alarm_was_refused_and_is_now_allowed(
    simulator: Simulator, template: Template, operation: str, params: dict[str, Any]
) -> None:
    new = deployed(template, "deckhand-watchdog")
    assert not allowed(verdicts(simulator, OLD_WATCHDOG, "deckhand-watchdog", "cloudwatch", operation, **params))
    found = verdicts(simulator, new, "deckhand-watchdog", "cloudwatch", operation, **params)
    assert allowed(found), [v.explain() for v in found]


def test_the_watchdog_describes_only_the_alarms_it_watches(simulator: Simulator, template: Template) -> None:
    new = deployed(template, "deckhand-watchdog")
    other = {"AlarmNames": ["billing-alarm"], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
    assert not allowed(verdicts(simulator, new, "deckhand-watchdog", "cloudwatch", "DescribeAlarms", **other))


# --- item 6: the approver answers only the listed approvals before a gated stage --------------------------------


def approve(stage: str, action: str) -> dict[str, Any]:
    return {
        "pipelineName": "web-app",
        "stageName": stage,
        "actionName": action,
        "result": {"summary": "Deckhand", "status": "Approved"},
        "token": "t-1",
    }


def test_an_approval_after_the_gated_stage_was_allowed_and_is_now_refused(
    simulator: Simulator, template: Template
) -> None:
    new = deployed(template, "deckhand-approver")
    after = approve("ProdApproval", "ProdApproval")
    assert allowed(verdicts(simulator, OLD_APPROVER, "deckhand-approver", "codepipeline", "PutApprovalResult", **after))
    assert not allowed(verdicts(simulator, new, "deckhand-approver", "codepipeline", "PutApprovalResult", **after))
    before = approve("Approve", "Approve")  # the policy's listed approval, before Deploy
    found = verdicts(simulator, new, "deckhand-approver", "codepipeline", "PutApprovalResult", **before)
    assert allowed(found), [v.explain() for v in found]


# --- item 7: the gate's job actions have no resource type: IAM cannot tell pipelines apart ----------------------


def test_a_job_of_another_pipeline_is_the_codes_to_refuse_not_iams(simulator: Simulator, template: Template) -> None:
    """PutJobSuccessResult is authorized on "*" (no resource type in the SAR) before and after: the gate's
    refusal of another pipeline's job is in the code (tests/functions/gating/gate `..._refused_whatever_its_user_
    parameters_say`). What changed in IAM: the gate may read the pipeline's structure to place its job."""
    new = deployed(template, "deckhand-gate")
    answer = {"jobId": "11111111-abcd-1111-abcd-111111abcdef", "executionDetails": {"summary": "ok"}}
    for policy in (OLD_GATE, new):
        found = verdicts(simulator, policy, "deckhand-gate", "codepipeline", "PutJobSuccessResult", **answer)
        assert allowed(found), [v.explain() for v in found]
    assert [r.resource for r in requests_for(Call("codepipeline", "PutJobSuccessResult", answer, ACCOUNT, REGION))] == [
        "*"
    ]
    assert not allowed(verdicts(simulator, OLD_GATE, "deckhand-gate", "codepipeline", "GetPipeline", name="web-app"))
    assert allowed(verdicts(simulator, new, "deckhand-gate", "codepipeline", "GetPipeline", name="web-app"))
    assert not allowed(verdicts(simulator, new, "deckhand-gate", "codepipeline", "GetPipeline", name="payments"))
