"""The gating duty: the gate (a CodePipeline Invoke action), approval automation, the watchdog, notices."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Acknowledgment, ArnFormat, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codepipeline_actions as codepipeline_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from functions.gating.config import GATING_VARIABLE, IDEMPOTENCY_VARIABLE
from functions.gating.declared import LOCK_PREFIX
from functions.gating.policy import Gating as GatingPolicy
from functions.shared.members import MEMBER_ROLE_VARIABLE, role_arn

from . import core, nag
from .core import Core, lines, policy_source, unique
from .function import DeckhandFunction
from .policy import Policy

SERVICES = ("gate", "approver", "watchdog", "pipeline-notices")
DUTY = "gating"

# EMF metrics the gating functions emit (namespace Deckhand), shown on the dashboard.
DECISIONS_BY_VERDICT = "SEARCH('{Deckhand,service,verdict} MetricName=\"Decision\"', 'Sum', 300)"


def idempotency_table_name(prefix: str) -> str:
    return f"{prefix}-gate-idempotency"


# The gating functions that read alarms in member accounts, through the gating member role.
MEMBER_READERS = ("gate", "watchdog")


def gating_environment(policy: Policy, service: str) -> dict[str, str]:
    """What a gating function reads besides the shared settings: the gating section, and the gate its table."""
    environment = {GATING_VARIABLE: policy.gating.model_dump_json()}
    if service == "gate":
        environment[IDEMPOTENCY_VARIABLE] = idempotency_table_name(policy.name_prefix)
    if service in MEMBER_READERS and policy.organization is not None:
        environment[MEMBER_ROLE_VARIABLE] = policy.organization.duty_role("gating")
    return environment


def largest_environment(policy: Policy) -> dict[str, str]:
    """The biggest environment a gating function gets (the gate's), with physical names in place of CDK tokens."""
    return core.largest_environment(policy, SERVICES, gating_environment(policy, "gate"))


def check_environment_size(policy: Policy, source: str) -> None:
    core.check_environment_size(
        source,
        largest_environment(policy),
        key="gating.gates",
        variable=GATING_VARIABLE,
        remedy="gate fewer stages, select alarms by prefix or tag instead of listing names, or drop deny periods "
        "that have passed",
    )


class Gating(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, core: Core) -> None:
        super().__init__(scope, construct_id)
        policy = core.policy
        gating: GatingPolicy = policy.gating
        source = policy_source(self)
        check_environment_size(policy, source)

        self.core = core
        self.policy = gating
        self.pipelines = unique(g.pipeline for g in gating.gates)
        self.approval_pipelines = unique(g.pipeline for g in gating.gates if g.approvals)
        self.watched_pipelines = unique(g.pipeline for g in gating.gates if g.watchdog)
        # What the gate and the watchdog read with their own roles: a selection placed in a member account is read
        # through the gating member role there (stacks/member.py), never here.
        self.watchdog_alarms = unique(
            a for g in gating.gates if g.watchdog and g.watchdog.account is None for a in g.watchdog.alarms
        )
        self.alarm_checks = [
            g.alarms for g in gating.gates if g.alarms and g.alarms.mode != "off" and g.alarms.account is None
        ]
        self.alarm_arns = self._alarm_arns()
        stack = Stack.of(self)
        self.pipeline_arns = [stack.format_arn(service="codepipeline", resource=p) for p in self.pipelines]

        self.idempotency_table = core.table(
            self,
            "IdempotencyTable",
            name=idempotency_table_name(policy.name_prefix),
            partition_key="id",
            ttl_attribute="expiration",
            # Short-lived records of answered job deliveries: nothing in it needs to outlive the stack.
            removal_policy=RemovalPolicy.DESTROY,
        )

        def function(construct_id: str, service: str, description: str, timeout_seconds: int = 30) -> DeckhandFunction:
            return DeckhandFunction(
                self,
                construct_id,
                core=core,
                service=service,
                duty=DUTY,
                description=description,
                timeout_seconds=timeout_seconds,
                environment=gating_environment(policy, service),
            )

        self.gate = function(
            "Gate", "gate", "Deckhand deploy gate: CodePipeline Invoke action, and console evaluate", 60
        )
        self.approver = function(
            "Approver", "approver", "Deckhand approval automation: approves manual approvals the gate passes", 60
        )
        self.watchdog = function(
            "Watchdog",
            "watchdog",
            "Deckhand watchdog: stops or rolls back a stage whose alarms fire after it deployed",
        )
        self.notices = function(
            "PipelineNotices",
            "pipeline-notices",
            "Deckhand pipeline notices: says what failed or stopped, why, and what to do next",
        )

        for gating_function in (self.gate, self.approver, self.watchdog, self.notices):
            core.grant_audit(gating_function.role, DUTY)
        self._grant_gate_reads(self.gate)
        # The Service Authorization Reference lists no resource type for GetJobDetails, PutJobSuccessResult and
        # PutJobFailureResult, so only "*" grants them. The scope comes from the code: the gate answers only a
        # job that GetJobDetails places before a gated stage, in an action that invokes the gate.
        self.gate.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "codepipeline:GetJobDetails",
                    "codepipeline:PutJobSuccessResult",
                    "codepipeline:PutJobFailureResult",
                ],
                resources=["*"],
            )
        )
        # Which gated stage a job stands before, when the job's own stage is not gated (GetPipeline).
        self._on_pipelines(self.gate, "codepipeline:GetPipeline")
        self.idempotency_table.grant(
            self.gate.role, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"
        )
        self._grant_gate_reads(self.approver)
        # Which gate answers an approval: the first gated stage after the approval's (GetPipeline).
        self._on_pipelines(self.approver, "codepipeline:GetPipeline")
        # PutApprovalResult acts on the approval action (SAR: PIPELINE/STAGE/ACTION): only those the policy lists.
        approval_actions = unique(
            stack.format_arn(service="codepipeline", resource=g.pipeline, resource_name=approval)
            for g in gating.gates
            for approval in g.approvals
        )
        if approval_actions:
            self.approver.role.add_to_policy(
                iam.PolicyStatement(actions=["codepipeline:PutApprovalResult"], resources=approval_actions)
            )
        self._grant_watchdog(core)
        self._on_pipelines(
            self.notices,
            "codepipeline:GetPipelineExecution",
            "codepipeline:GetPipelineState",
            "codepipeline:ListPipelineExecutions",  # who stopped an execution: its stopTrigger.reason
        )
        self._acknowledge_wildcards()

        self.approval_rule = self._rule(
            "ApprovalStarted",
            self.approver,
            "Hands manual approvals of the gated pipelines to the Deckhand approver",
            source="aws.codepipeline",
            detail_type="CodePipeline Action Execution State Change",
            detail={"pipeline": self.approval_pipelines, "state": ["STARTED"], "type": {"category": ["Approval"]}},
        )
        self.watchdog_rule = self._rule(
            "WatchdogAlarm",
            self.watchdog,
            "Wakes the Deckhand watchdog when an alarm it watches goes to ALARM",
            source="aws.cloudwatch",
            detail_type="CloudWatch Alarm State Change",
            detail={"alarmName": self.watchdog_alarms, "state": {"value": ["ALARM"]}},
            accounts=[stack.account],
        )
        placed = [g.watchdog for g in gating.gates if g.watchdog and g.watchdog.account is not None]
        # From the member accounts the watchdogs name only; the function acts only for the watchdog placed in the
        # event's own account and region, on an alarm DescribeAlarms confirms there.
        self.member_watchdog_rule = self._rule(
            "MemberWatchdogAlarm",
            self.watchdog,
            "Wakes the Deckhand watchdog when an alarm it watches in a member account goes to ALARM",
            source="aws.cloudwatch",
            detail_type="CloudWatch Alarm State Change",
            detail={"alarmName": unique(a for w in placed for a in w.alarms), "state": {"value": ["ALARM"]}},
            accounts=unique(str(w.account) for w in placed),
        )
        self._grant_member_roles(policy)
        self.notices_rule = self._rule(
            "PipelineEnded",
            self.notices,
            "Tells the Deckhand topic why a gated pipeline execution failed or stopped",
            source="aws.codepipeline",
            detail_type="CodePipeline Pipeline Execution State Change",
            detail={"pipeline": self.pipelines, "state": ["FAILED", "STOPPED"]},
        )
        self._add_dashboard(core)

    # --- permissions --------------------------------------------------------------------------------

    def _grant_member_roles(self, policy: Policy) -> None:
        """sts:AssumeRole, for the gate and the watchdog, on the gating member role of exactly the accounts the
        policy places their alarms in. Its resource is the role (SAR, AWS STS: AssumeRole on `role`); every
        placement names its account, so no `iam::*` wildcard (nor aws:ResourceOrgID to bound one) is needed."""
        if policy.organization is None:
            return
        role = policy.organization.duty_role("gating")
        partition = Stack.of(self).partition
        for function, selections in (
            (self.gate, [g.alarms for g in policy.gating.gates]),
            (self.watchdog, [g.watchdog for g in policy.gating.gates]),
        ):
            accounts = unique(str(s.account) for s in selections if s is not None and s.account is not None)
            if accounts:
                function.role.add_to_policy(
                    iam.PolicyStatement(
                        actions=["sts:AssumeRole"],
                        resources=[role_arn(partition, account, role) for account in accounts],
                    )
                )

    def _on_pipelines(self, function: DeckhandFunction, *actions: str) -> None:
        if self.pipeline_arns:
            function.role.add_to_policy(iam.PolicyStatement(actions=list(actions), resources=self.pipeline_arns))

    def _grant_watchdog(self, core: Core) -> None:
        """Confirm the alarm and its mutes, read the stage, stop (pipeline) or roll back (stage), give back slots."""
        if not self.watched_pipelines:
            return
        role = self.watchdog.role
        stack = Stack.of(self)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "codepipeline:GetPipelineState",
                    "codepipeline:ListPipelineExecutions",
                    "codepipeline:StopPipelineExecution",
                ],
                resources=[stack.format_arn(service="codepipeline", resource=p) for p in self.watched_pipelines],
            )
        )
        # RollbackStage acts on the stage (SAR resource type "stage": PIPELINE/STAGE), not on the pipeline.
        stages = unique(
            stack.format_arn(service="codepipeline", resource=g.pipeline, resource_name=g.stage)
            for g in self.policy.gates
            if g.watchdog and g.watchdog.action == "rollback"
        )
        if stages:
            role.add_to_policy(iam.PolicyStatement(actions=["codepipeline:RollbackStage"], resources=stages))
        if self.watchdog_alarms:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["cloudwatch:DescribeAlarms"],
                    resources=[self._alarm(name) for name in self.watchdog_alarms],
                )
            )
        self._grant_mute_reads(self.watchdog)
        # The hourly slots: claimed (PutItem) and given back (DeleteItem) under their own partition only.
        core.grant_state(self.watchdog.role, ["dynamodb:PutItem", "dynamodb:DeleteItem"], [LOCK_PREFIX])

    def _grant_mute_reads(self, function: DeckhandFunction) -> None:
        """Alarm mute rules: a muted alarm vouches for nothing. ListAlarmMuteRules names no mute rule (the SAR
        gives it the alarm-mute-rule type), so it is granted on "*", which covers the list whichever ARN AWS
        authorizes it on; GetAlarmMuteRule names one (alarm-mute-rule:NAME)."""
        stack = Stack.of(self)
        function.role.add_to_policy(iam.PolicyStatement(actions=["cloudwatch:ListAlarmMuteRules"], resources=["*"]))
        function.role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:GetAlarmMuteRule"],
                resources=[
                    stack.format_arn(
                        service="cloudwatch",
                        resource="alarm-mute-rule",
                        resource_name="*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )

    def _grant_gate_reads(self, function: DeckhandFunction) -> None:
        """What deciding a gate reads: alarms, metrics, tags, the bake stage's state, the execution (exemptions)."""
        role = function.role
        if self.alarm_arns:
            role.add_to_policy(iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=self.alarm_arns))
            self._grant_mute_reads(function)
        role.add_to_policy(
            iam.PolicyStatement(actions=["cloudwatch:GetMetricData", "tag:GetResources"], resources=["*"])
        )
        self._on_pipelines(function, "codepipeline:GetPipelineState", "codepipeline:GetPipelineExecution")

    def _alarm(self, name: str) -> str:
        return Stack.of(self).format_arn(
            service="cloudwatch", resource="alarm", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )

    def _alarm_arns(self) -> list[str]:
        """The alarms the gates name; every alarm of the region when one is selected by prefix or tag."""
        alarm = self._alarm
        # DescribeAlarms by AlarmNamePrefix or by the names GetResources returns cannot be scoped beforehand.
        if not self.alarm_checks:
            return []
        if any(c.tags or c.prefixes for c in self.alarm_checks):
            return [alarm("*")]
        return [alarm(n) for n in unique(n for c in self.alarm_checks for n in c.names)]

    def _acknowledge_wildcards(self) -> None:
        """Each wildcard the gating roles hold, with why, beside their policy (closest to the finding)."""
        mute_list = (
            "; cloudwatch:ListAlarmMuteRules lists the account's mute rules and names none: granted on *, "
            "which matches however AWS resolves the list"
        )
        reads = (
            "; cloudwatch:GetMetricData and tag:GetResources support none either (the metrics and tags read are "
            "named in the request)" + (mute_list if self.alarm_arns else "")
        )
        jobs = (
            "; codepipeline:GetJobDetails, PutJobSuccessResult and PutJobFailureResult have no resource type in "
            "the Service Authorization Reference: the gate answers only jobs GetJobDetails places before a gated "
            "stage"
        )
        mute_rules = nag.regional_wildcard(
            self,
            "cloudwatch",
            "alarm-mute-rule:*",
            "cloudwatch:GetAlarmMuteRule reads the mute rules ListAlarmMuteRules returns, whose names are only "
            "known at run time; it only reads them",
        )
        alarms: list[Acknowledgment] = []
        if any(a.endswith(":alarm:*") for a in self.alarm_arns):
            alarms.append(
                nag.regional_wildcard(
                    self,
                    "cloudwatch",
                    "alarm:*",
                    "cloudwatch:DescribeAlarms on this account's alarms in this region: the policy selects "
                    "alarms by prefix or tag, so their names are only known at run time; it only reads their states",
                )
            )
        reading = [mute_rules, *alarms] if self.alarm_arns else []
        tail = ". Every other statement of this role names its resources."
        roles = [(self.gate, reads + jobs, reading), (self.approver, reads, reading)]
        if self.watched_pipelines:
            roles.append((self.watchdog, mute_list, [mute_rules]))
        for function, text, more in roles:
            Validations.of(function.role.node.find_child("DefaultPolicy")).acknowledge(
                nag.any_resource(self, nag.X_RAY_REASON + text + tail), *more
            )

    # --- events -------------------------------------------------------------------------------------

    def _rule(
        self,
        construct_id: str,
        function: DeckhandFunction,
        description: str,
        *,
        source: str,
        detail_type: str,
        detail: Mapping[str, object],
        accounts: list[str] | None = None,
    ) -> events.Rule | None:
        """A rule for exactly the policy's pipelines or alarms; none when the policy names none. From `accounts`
        only, when given: a member's event forwarded to this bus keeps its own `account` (EventBridge User Guide,
        "Sending and receiving events between AWS accounts"), so a same-named alarm elsewhere does not match."""
        if not all(detail[key] for key in detail):
            return None
        return events.Rule(
            self,
            construct_id,
            description=description,
            event_pattern=events.EventPattern(
                source=[source],
                detail_type=[detail_type],
                account=accounts,
                detail=dict(detail),
            ),
            targets=[
                targets.LambdaFunction(
                    function.function, dead_letter_queue=function.dead_letter_queue, retry_attempts=2
                )
            ],
        )

    def _add_dashboard(self, core: Core) -> None:
        core.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Gate decisions by verdict (and gate errors, right)",
                left=[
                    lines(DECISIONS_BY_VERDICT, "${PROP('Dim.service')} ${PROP('Dim.verdict')}"),  # a line a verdict
                    core.count_metric("GatePaused"),
                ],
                right=[core.count_metric("GateError"), core.count_metric("GateConfigurationError")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title='Shadow checks that "would have blocked"',
                left=[core.count_metric("ShadowWouldBlock")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Watchdog stops and rollbacks",
                left=[core.count_metric("WatchdogAction")],
                width=8,
            ),
        )

    # --- for users of CDK pipelines -----------------------------------------------------------------

    def invoke_action(
        self,
        *,
        pipeline: str,
        stage: str,
        action_name: str = "DeckhandGate",
        run_order: int = 1,
        variables_namespace: str | None = None,
    ) -> codepipeline_actions.LambdaInvokeAction:
        """The Invoke action that runs the gate for `pipeline`'s `stage`; add it to that stage or one before it
        (the gate answers for the first gated stage at or after the action's own).

        With `variables_namespace`, later actions read `#{NAMESPACE.decision}`, `reasons` and `decision_id`.
        """
        if self.policy.gate(pipeline, stage) is None:
            gated = ", ".join(f"{g.pipeline}/{g.stage}" for g in self.policy.gates) or "none"
            raise ValueError(
                f"the policy has no gate for pipeline {pipeline!r} stage {stage!r} (gated: {gated}); "
                "add it under gating.gates so that the stack grants the gate access to that pipeline"
            )
        # No UserParameters: the gate reads where its job stands from GetJobDetails, never from the invoker.
        return codepipeline_actions.LambdaInvokeAction(
            action_name=action_name,
            lambda_=self.gate.function,
            run_order=run_order,
            variables_namespace=variables_namespace,
        )
