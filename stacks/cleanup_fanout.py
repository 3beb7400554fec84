"""The cleanup fan-out over the organization (policy `organization` section only): a Standard state machine that
plans the scopes (account x region x kind), runs each in a Distributed Map through the fan-out function, which
assumes the member roles, and aggregates one organization report.

Plan (Lambda) -> Distributed Map (items from S3, MaxConcurrency and ToleratedFailurePercentage from the policy,
results to S3 in the cleanup bucket, STANDARD child executions; each item: Scope -> "stopped"? -> Scope again with
its pending acts) -> Aggregate (Lambda), also when the Map fails, so the report lists what is missing. The Lambda
tasks retry with exponential backoff and full jitter on Lambda's transient errors and on the scope's own
throttling error.

Least privilege: the fan-out function's role may assume only the member roles (by ARN when every member is listed
by id; otherwise the role's name in any account of the organization, aws:ResourceOrgID), list only the
organization's units and roots it resolves, and use only its prefixes of the cleanup bucket; the hub deleter it
chains through may assume only the member deleters, alike. The cleanup function may start this state machine only.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from functions.cleanup.config import FANOUT_VARIABLE, ORGANIZATION_VARIABLE
from functions.cleanup.declared import (
    FANOUT_REPORTS_PREFIX,
    FANOUT_RUNS_PREFIX,
    MARKS_PARTITION,
    THROTTLED_ERROR,
)
from functions.shared.members import role_arn
from functions.shared.organization import Organization

from . import nag
from .cleanup import Cleanup, cleanup_environment
from .function import RETENTION, DeckhandFunction
from .policy import Policy

SERVICE = "fanout"
DUTY = "cleanup"
TIMEOUT_SECONDS = 15 * 60  # a scope stops a minute before it and is invoked again with its pending acts
MEMORY_MB = 256
EXECUTION_HOURS = 24
RESULT_WRITER_V2 = "@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2"
# Lambda's transient errors as Step Functions names them (Step Functions Developer Guide, "Handling errors in Step
# Functions workflows": retry Lambda.ServiceException, Lambda.AWSLambdaException, Lambda.SdkClientException and
# Lambda.TooManyRequestsException), and the scope's throttling error.
RETRIED = (
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    THROTTLED_ERROR,
)


def state_machine_name(prefix: str) -> str:
    return f"{prefix}-cleanup-fanout"


def state_machine_arn(prefix: str, *, partition: str, account: str, region: str) -> str:
    return f"arn:{partition}:states:{region}:{account}:stateMachine:{state_machine_name(prefix)}"


def organization_of(policy: Policy) -> Organization:
    if policy.organization is None:
        raise ValueError("the cleanup fan-out needs the policy's organization section")
    return policy.organization


def fanout_environment(policy: Policy, bucket: str, deleter_role: str) -> dict[str, str]:
    """What the fan-out function reads besides the shared settings: the cleanup function's, and the organization."""
    section = organization_of(policy).model_dump_json(by_alias=True)
    return {**cleanup_environment(policy, bucket, deleter_role), ORGANIZATION_VARIABLE: section}


def starter_environment(policy: Policy, state_machine: str) -> dict[str, str]:
    """What the cleanup function reads besides its own, with an organization: where its runs start."""
    section = organization_of(policy).model_dump_json(by_alias=True)
    return {FANOUT_VARIABLE: state_machine, ORGANIZATION_VARIABLE: section}


def member_roles(stack: Stack, organization: Organization, name: str) -> tuple[list[str], dict[str, Any] | None]:
    """The member roles named `name`: by ARN when every member is an account id; otherwise in any account that
    belongs to the organization (aws:ResourceOrgID, a global condition key: IAM User Guide, "AWS global condition
    context keys"; sts:AssumeRole authorizes on the role resource: SAR, AWS Security Token Service)."""
    if organization.resolved_at_run_time:
        wildcard = f"arn:{stack.partition}:iam::*:role/{name}"
        return [wildcard], {"StringEquals": {"aws:ResourceOrgID": organization.id}}
    listed = [account for account in organization.accounts if account not in organization.exclude]
    return [role_arn(stack.partition, account, name) for account in listed], None


def organization_parents(stack: Stack, organization: Organization) -> list[str]:
    """What the plan lists: the roots named, and every unit of the organization (units nest, and only Organizations
    knows the children). ListAccountsForParent and ListOrganizationalUnitsForParent authorize on the root and
    organizationalunit resources (SAR, AWS Organizations); the management account in their ARNs is not known here."""
    base = f"arn:{stack.partition}:organizations::*"
    roots = [f"{base}:root/{organization.id}/{member}" for member in organization.accounts if member.startswith("r-")]
    units = [f"{base}:ou/{organization.id}/*"] if organization.resolved_at_run_time else []
    return roots + units


class CleanupFanout(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, cleanup: Cleanup) -> None:
        super().__init__(scope, construct_id)
        # The L2's ResultWriterV2 renders only under this flag (aws-cdk-lib); set for this construct alone.
        self.node.set_context(RESULT_WRITER_V2, True)
        core, policy = cleanup.core, cleanup.core.policy
        organization = organization_of(policy)
        stack = Stack.of(self)
        self.function = DeckhandFunction(
            self,
            "Function",
            core=core,
            service=SERVICE,
            duty=DUTY,
            description="Deckhand cleanup across the organization: plans the scopes, cleans one scope in its member "
            "account, aggregates the report",
            timeout_seconds=TIMEOUT_SECONDS,
            memory_size=MEMORY_MB,
            environment=fanout_environment(policy, cleanup.bucket.bucket_name, cleanup.deleter.role_arn),
        )
        self.role = self.function.role
        self._grant_function(cleanup, organization, stack)
        self.state_machine = self._state_machine(cleanup, organization)
        self.state_machine.grant_start_execution(cleanup.function.role)
        for variable, value in starter_environment(policy, self.state_machine.state_machine_arn).items():
            cleanup.function.function.add_environment(variable, value)

    # --- permissions --------------------------------------------------------------------------------

    def _grant_function(self, cleanup: Cleanup, organization: Organization, stack: Stack) -> None:
        role, bucket = self.role, cleanup.bucket
        roles, condition = member_roles(stack, organization, organization.member_role)
        role.add_to_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=roles, conditions=condition))
        # Removals: the member deleter trusts the hub deleter only, so the fan-out assumes the hub deleter and chains.
        deleter = cleanup.deleter
        assert isinstance(deleter.assume_role_policy, iam.PolicyDocument)
        deleter.assume_role_policy.add_statements(
            iam.PolicyStatement(actions=["sts:AssumeRole"], principals=[iam.ArnPrincipal(role.role_arn)])
        )
        deleter.grant_assume_role(role)
        deleters, condition = member_roles(stack, organization, organization.deleter_role)
        deleter.add_to_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=deleters, conditions=condition))
        parents = organization_parents(stack, organization)
        if parents:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["organizations:ListAccountsForParent", "organizations:ListOrganizationalUnitsForParent"],
                    resources=parents,
                )
            )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:GetObject"], resources=[bucket.arn_for_objects(f"{FANOUT_RUNS_PREFIX}*")]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[bucket.arn_for_objects(f"{FANOUT_REPORTS_PREFIX}*")]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{FANOUT_RUNS_PREFIX}*"]}},
            )
        )
        core = cleanup.core
        core.grant_state(
            role,
            ["dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"],
            [MARKS_PARTITION],
        )
        core.grant_audit(role, DUTY)
        wildcards = [*roles, *deleters, *parents] if organization.resolved_at_run_time else parents
        runs = "runs/organization/<run_id>/ (the Map's items and results) and reports/organization/<run_id>.json|md"
        acknowledgments = [
            nag.wildcard_resource(
                self,
                resource,
                "The organization's accounts and units are known only at run time (AWS Organizations): the member "
                "roles are named, and only in the organization's accounts (aws:ResourceOrgID); the units are the "
                "organization's.",
            )
            for resource in dict.fromkeys(wildcards)
            if "*" in resource
        ]
        acknowledgments += [
            nag.wildcard_resource(self, resource, f"The run ids are chosen at run time: {runs} of the cleanup bucket.")
            for resource in (
                bucket.arn_for_objects(f"{FANOUT_RUNS_PREFIX}*"),
                bucket.arn_for_objects(f"{FANOUT_REPORTS_PREFIX}*"),
            )
        ]
        Validations.of(role).acknowledge(*acknowledgments)
        Validations.of(deleter).acknowledge(*acknowledgments)

    # --- state machine ------------------------------------------------------------------------------

    def _invoke(self, construct_id: str, payload: sfn.TaskInput | None, **kwargs: Any) -> tasks.LambdaInvoke:
        """The fan-out function as a task answering its payload (None: the state's input as it is)."""
        task = tasks.LambdaInvoke(
            self,
            construct_id,
            lambda_function=self.function.function,
            payload=payload,
            payload_response_only=True,
            retry_on_service_exceptions=False,
            **kwargs,
        )
        task.add_retry(
            errors=list(RETRIED),
            interval=Duration.seconds(2),
            backoff_rate=2,
            max_attempts=6,
            max_delay=Duration.minutes(2),
            jitter_strategy=sfn.JitterType.FULL,
        )
        return task

    def _state_machine(self, cleanup: Cleanup, organization: Organization) -> sfn.StateMachine:
        core, bucket = cleanup.core, cleanup.bucket
        prefix = core.policy.name_prefix
        plan = self._invoke(
            "Plan",
            sfn.TaskInput.from_object(
                {
                    "step": "plan",
                    "command": sfn.JsonPath.object_at("$"),
                    "execution": sfn.JsonPath.string_at("$$.Execution.Name"),
                }
            ),
            result_path="$.plan",
        )
        scope = self._invoke("Scope", None)
        stopped = sfn.Choice(self, "Stopped?")
        stopped.when(sfn.Condition.string_equals("$.status", "stopped"), scope)
        stopped.otherwise(sfn.Succeed(self, "Scope answered"))
        scopes = sfn.DistributedMap(
            self,
            "Scopes",
            item_reader=sfn.S3JsonItemReader(bucket=bucket, key=sfn.JsonPath.string_at("$.plan.items_key")),
            item_selector={"step": "scope", "item": sfn.JsonPath.object_at("$$.Map.Item.Value")},
            result_writer_v2=sfn.ResultWriterV2(bucket=bucket, prefix=sfn.JsonPath.string_at("$.plan.results_prefix")),
            max_concurrency=organization.max_concurrency,
            tolerated_failure_percentage=organization.tolerated_failure_percentage,
            map_execution_type=sfn.StateMachineType.STANDARD,
            result_path="$.map",
        )
        scopes.item_processor(scope.next(stopped))
        aggregate = self._invoke(
            "Aggregate",
            sfn.TaskInput.from_object(
                {"step": "aggregate", "plan": sfn.JsonPath.object_at("$.plan"), "map": sfn.JsonPath.object_at("$.map")}
            ),
        )
        scopes.add_catch(aggregate, errors=["States.ALL"], result_path="$.map")
        name = state_machine_name(prefix)
        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/states/{name}",
            retention=RETENTION[core.policy.defaults.log_retention_days],
        )
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(plan.next(scopes).next(aggregate)),
            timeout=Duration.hours(EXECUTION_HOURS),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
        core.key.grant(machine, "kms:Decrypt", "kms:GenerateDataKey")
        self._acknowledge_machine(machine, bucket)
        return machine

    def _acknowledge_machine(self, machine: sfn.StateMachine, bucket: s3.IBucket) -> None:
        """The grants aws-cdk-lib's L2s give the state machine's role, each a wildcard cdk-nag reports."""
        stack = Stack.of(self)
        distributed = machine.node.find_child("DistributedMapPolicy")
        assert isinstance(distributed, iam.Policy)
        document = stack.resolve(distributed.document.to_json())
        executions = [
            nag.flattened(resource, lambda name: f"<{name}>", lambda part: json.dumps(part, separators=(",", ":")))
            for statement in document["Statement"]
            for resource in (
                [statement["Resource"]] if isinstance(statement["Resource"], (str, dict)) else statement["Resource"]
            )
        ]
        Validations.of(machine).acknowledge(
            nag.any_resource(
                self,
                "CloudWatch Logs' vended log delivery (logs:CreateLogDelivery and kin) and X-Ray's writes support no "
                "resource-level permissions (SAR); both are aws-cdk-lib's grants for logging and tracing.",
            ),
            nag.wildcard_resource(
                self,
                f"{self.function.function.function_arn}:*",
                "Invoking the fan-out function's versions and aliases: aws-cdk-lib's LambdaInvoke grant.",
            ),
            nag.wildcard_resource(
                self,
                f"arn:{stack.partition}:s3:::{bucket.bucket_name}/*",
                "aws-cdk-lib's S3JsonItemReader and ResultWriterV2 grant on the cleanup bucket's objects: the items "
                "and results keys are chosen per run (runs/organization/<run_id>/).",
            ),
            *(
                Acknowledgment(
                    id=f"{nag.WILDCARD_RULE}[Resource::{resource}]",
                    reason="Distributed Map's child executions and map runs of this state machine only "
                    '(Step Functions Developer Guide, "IAM policies for using Distributed Map states"): '
                    "aws-cdk-lib's DistributedMap grant.",
                )
                for resource in executions
                if "*" in resource
            ),
        )
