"""The member stack: what each member account and region of the organization holds for the hub deployment.

Two roles, the member account's halves of the hub's two cleanup identities: the member role reads and marks (the
statements the hub's cleanup function role holds for the kinds, rendered for this account and the organization's
regions), the deleter role only removes what carries the mark (the hub deleter's statements). Each trusts only its
hub counterpart, by role ARN, and only while that principal belongs to the organization (aws:PrincipalOrgID). And an
EventBridge rule that forwards the state changes of the alarms the policy places in members to the hub's default
bus, through a role that may put events on that bus only.

The hub's role ARNs and bus are parameters: the hub's StackSet (MemberStackSet, service-managed, deploying to the
organization's units as accounts join them) passes them, and a plain `cdk deploy <prefix>-member --parameters ...`
per account does the same by hand.
"""

from __future__ import annotations

import json
import tempfile
from typing import Any

from aws_cdk import App, Aws, BootstraplessSynthesizer, CfnCondition, CfnParameter, CfnResource, Fn, Stack, Validations
from aws_cdk import aws_cloudformation as cloudformation
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from functions.capacity.policy import Target
from functions.shared.organization import Organization
from functions.shared.policy_base import Placed

from . import nag
from .capacity import grant_targets
from .cleanup import Grants, KindStatements, acknowledge_wildcards
from .policy import Policy

HUB_CLEANUP_ROLE = "HubCleanupRoleArn"
HUB_DELETER_ROLE = "HubDeleterRoleArn"
HUB_EVENT_BUS = "HubEventBusArn"
HUB_CAPACITY_ROLE = "HubCapacityRoleArn"
HUB_GATE_ROLE = "HubGateRoleArn"
HUB_WATCHDOG_ROLE = "HubWatchdogRoleArn"
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
# CreateStackSet's TemplateBody: "a maximum length of 51,200 bytes" (botocore `cloudformation` service model).
TEMPLATE_BODY_MAX_BYTES = 51_200


def member_stack_name(prefix: str) -> str:
    return f"{prefix}-member"


def forwarded_alarms(policy: Policy) -> list[str]:
    """The alarms the policy selects in member accounts, by name, or by prefix as `prefix*`."""
    names: list[str] = []
    for target in policy.capacity.targets:
        if target.placed:
            names += [*(target.alarms.scale_out if target.alarms else []), *target.mute_at_zero]
    for gate in policy.gating.gates:
        if gate.alarms is not None and gate.alarms.placed:
            names += [*gate.alarms.names, *(f"{prefix}*" for prefix in gate.alarms.prefixes)]
        if gate.watchdog is not None and gate.watchdog.placed:
            names += gate.watchdog.alarms
    return list(dict.fromkeys(names))


def member_targets(policy: Policy) -> list[Target]:
    """The capacity targets the policy places in a member account: the capacity member role's only resources."""
    return (
        [target for target in policy.capacity.targets if target.account is not None] if policy.capacity.enabled else []
    )


def member_alarm_selections(policy: Policy) -> list[tuple[Placed, list[str]]]:
    """The gates' alarm selections placed in a member account, each with the alarm names it reads ("*" for any)."""
    if not policy.gating.enabled:
        return []
    found: list[tuple[Placed, list[str]]] = []
    for gate in policy.gating.gates:
        if gate.alarms is not None and gate.alarms.account is not None:
            # DescribeAlarms by AlarmNamePrefix, or of the names GetResources finds by tag, cannot be scoped
            # beforehand (as in the hub's gating grants): every alarm of the account then.
            unknown = gate.alarms.prefixes or gate.alarms.tags
            found.append((gate.alarms, ["*"] if unknown else list(gate.alarms.names)))
        if gate.watchdog is not None and gate.watchdog.account is not None:
            found.append((gate.watchdog, list(gate.watchdog.alarms)))
    return found


def alarm_name_filter(names: list[str]) -> list[Any]:
    """An event pattern's values for `detail.alarmName`: each name exactly, each `prefix*` as a prefix match."""
    return [{"prefix": name[:-1]} if name.endswith("*") else name for name in names]


def organization_of(policy: Policy) -> Organization:
    if policy.organization is None:
        raise ValueError("the member stack needs the policy's organization section")
    return policy.organization


class MemberStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, policy: Policy, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        organization = organization_of(policy)
        self.policy = policy
        self.hub_event_bus = CfnParameter(
            self, HUB_EVENT_BUS, description="The ARN of the hub deployment's default event bus"
        ).value_as_string
        self.member_role: iam.Role | None = None
        self.deleter_role: iam.Role | None = None
        if policy.cleanup.enabled:
            self._cleanup_roles(organization)
        self.capacity_role = self._capacity_role(organization) if member_targets(policy) else None
        self.gating_role = self._gating_role(organization) if member_alarm_selections(policy) else None
        self.forwarding = self._forward_alarms()

    def _trusting(self, parameter: str, description: str, organization: Organization) -> iam.IPrincipal:
        """One hub role by ARN, while it belongs to the organization. aws:PrincipalOrgID is a global condition key
        (IAM User Guide, "AWS global condition context keys"); sts:AssumeRole takes it (SAR, AWS STS)."""
        arn = CfnParameter(self, parameter, description=description).value_as_string
        return iam.ArnPrincipal(arn).with_conditions({"StringEquals": {"aws:PrincipalOrgID": organization.id}})

    def _in_first_region(self, role: iam.Role, organization: Organization) -> None:
        """IAM names are global to the account, and the StackSet puts this stack in every organization region: a named
        role (whose statements name every region) lives in the stack of the first region only."""
        if self.node.try_find_child("RolesRegion") is None:
            CfnCondition(self, "RolesRegion", expression=Fn.condition_equals(Aws.REGION, organization.regions[0]))
        condition = self.node.find_child("RolesRegion")
        assert isinstance(condition, CfnCondition)
        for resource in role.node.find_all():
            if isinstance(resource, CfnResource):
                resource.cfn_options.condition = condition

    def _capacity_role(self, organization: Organization) -> iam.Role:
        """The hub capacity function's hands here: the calls it makes on the targets the policy places in this
        account, their alarms and nothing else; it can neither read nor touch what cleanup works on."""
        role = iam.Role(
            self,
            "CapacityRole",
            role_name=organization.duty_role("capacity"),
            assumed_by=self._trusting(HUB_CAPACITY_ROLE, "The ARN of the hub's capacity function role", organization),
            description="Deckhand's capacity in this member account: moves the bounds of the policy's targets here",
        )
        granted = grant_targets(role, member_targets(self.policy), self.policy.defaults.protect_tag, _member_arn)
        reads = [
            nag.any_resource(
                self,
                f"{', '.join(granted.unscoped_reads)} support no resource (Service Authorization Reference); they "
                "only read levels and refreshes. Every other statement names the targets the policy places in "
                "this account.",
            )
        ]
        Validations.of(role.node.find_child("DefaultPolicy")).acknowledge(
            *(reads if granted.unscoped_reads else []),
            *(
                nag.wildcard_resource(
                    self,
                    resource,
                    "A resource of a target the policy places in this account, named by its account: '*' stands for "
                    "its region when the target names none (it then lives in the hub's region, which this template "
                    "does not know), and for the id AWS assigns to an Auto Scaling group (named exactly; never with "
                    "the protect tag) or a scalable target (only those tagged with a target's name, in its "
                    "namespace and dimension, never with tags in the request).",
                )
                for resource in granted.wildcards
            ),
        )
        self._in_first_region(role, organization)
        return role

    def _gating_role(self, organization: Organization) -> iam.Role:
        """The hub gate's and watchdog's eyes here: DescribeAlarms on the alarms the policy places in this account
        (by name, or prefix*), their mute rules and tag lookups; it changes nothing."""
        role = iam.Role(
            self,
            "GatingRole",
            role_name=organization.duty_role("gating"),
            assumed_by=iam.CompositePrincipal(
                self._trusting(HUB_GATE_ROLE, "The ARN of the hub's gate function role", organization),
                self._trusting(HUB_WATCHDOG_ROLE, "The ARN of the hub's watchdog function role", organization),
            ),
            description="Deckhand's gate and watchdog in this member account: read the policy's alarms here",
        )
        alarms = list(
            dict.fromkeys(
                f"arn:{Aws.PARTITION}:cloudwatch:{placed.region or '*'}:{placed.account}:alarm:{name}"
                for placed, names in member_alarm_selections(self.policy)
                for name in names
            )
        )
        mute_rules = f"arn:{Aws.PARTITION}:cloudwatch:*:{Aws.ACCOUNT_ID}:alarm-mute-rule:*"
        role.add_to_policy(iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=alarms))
        # ListAlarmMuteRules and GetResources name no resource (SAR, Amazon CloudWatch and Resource Groups Tagging).
        role.add_to_policy(
            iam.PolicyStatement(actions=["cloudwatch:ListAlarmMuteRules", "tag:GetResources"], resources=["*"])
        )
        role.add_to_policy(iam.PolicyStatement(actions=["cloudwatch:GetAlarmMuteRule"], resources=[mute_rules]))
        Validations.of(role.node.find_child("DefaultPolicy")).acknowledge(
            nag.any_resource(
                self,
                "cloudwatch:ListAlarmMuteRules and tag:GetResources support no resource (Service Authorization "
                "Reference); both only read. Every other statement names the policy's alarms in this account.",
            ),
            nag.wildcard_resource(
                self,
                mute_rules,
                "A muted alarm vouches for nothing: the gate and the watchdog read the mute rules, whose names are "
                "known only at run time; read only, in this account.",
            ),
            *(
                nag.wildcard_resource(
                    self,
                    alarm,
                    "An alarm the policy places in this account, read only: '*' stands for its region when the "
                    "selection names none (it then lives in the hub's region, which this template does not know), "
                    "and for every alarm name when the selection picks alarms by prefix or tag, whose names are "
                    "known only at run time.",
                )
                for alarm in alarms
                if "*" in alarm
            ),
        )
        self._in_first_region(role, organization)
        return role

    def _cleanup_roles(self, organization: Organization) -> None:
        policy = self.policy
        self.member_role = iam.Role(
            self,
            "MemberRole",
            role_name=organization.member_role,
            assumed_by=self._trusting(
                HUB_CLEANUP_ROLE, "The ARN of the hub's cleanup fan-out function role", organization
            ),
            description="Deckhand's cleanup in this member account: reads and marks; it deletes nothing",
        )
        self.deleter_role = iam.Role(
            self,
            "DeleterRole",
            role_name=organization.deleter_role,
            assumed_by=self._trusting(HUB_DELETER_ROLE, "The ARN of the hub's cleanup deleter role", organization),
            description="Deckhand's cleanup removals in this member account: only resources that carry the mark and "
            "not the protect tag; it writes no mark",
        )
        statements = KindStatements(
            self, policy.cleanup, organization.regions, policy.defaults.protect_tag, policy.defaults.protect_values
        )
        marker, deleter = Grants(), Grants()
        statements.grant(policy.cleanup.kinds.listed(), marker, deleter)
        for role, grants in ((self.member_role, marker), (self.deleter_role, deleter)):
            for statement in grants.statements():
                role.add_to_policy(statement)
            acknowledge_wildcards(self, role, grants, traced=False)
        for role in (self.member_role, self.deleter_role):
            self._in_first_region(role, organization)

    def _forward_alarms(self) -> events.Rule | None:
        """The member's alarm state changes the hub listens to, put on the hub's default bus. A rule whose target
        is another account's bus sends with a role allowed events:PutEvents on that bus (EventBridge User Guide,
        "Sending and receiving events between AWS accounts"; SAR, Amazon EventBridge: PutEvents on event-bus)."""
        names = forwarded_alarms(self.policy)
        if not names:
            return None
        sender = iam.Role(
            self,
            "ForwardingRole",
            assumed_by=iam.ServicePrincipal(
                "events.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": self.account}}
            ),
            description="Lets EventBridge put this account's Deckhand alarm state changes on the hub's bus",
        )
        hub_bus = events.EventBus.from_event_bus_arn(self, "HubBus", self.hub_event_bus)
        rule = events.Rule(
            self,
            "ForwardAlarms",
            description="Forwards the state changes of the alarms Deckhand's policy uses here to the hub's bus",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=[ALARM_STATE_CHANGE],
                detail={"alarmName": alarm_name_filter(names)},
            ),
        )
        rule.add_target(targets.EventBus(hub_bus, role=sender))
        return rule


def _member_arn(target: Target, service: str, resource: str, name: str, colon: bool) -> str:
    """A placed target's resource ARN, in its account and region (any region when it names none)."""
    separator = ":" if colon else "/"
    return f"arn:{Aws.PARTITION}:{service}:{target.region or '*'}:{target.account}:{resource}{separator}{name}"


def member_template(policy: Policy) -> dict[str, Any]:
    """The member stack's template, synthesized in an app of its own (checked by cdk-nag like the hub's), without
    the CDK bootstrap version check: a StackSet deploys it to accounts nobody bootstrapped, and it has no assets."""
    with tempfile.TemporaryDirectory() as outdir:
        app = App(outdir=outdir)
        stack = MemberStack(
            app,
            "Member",
            policy=policy,
            stack_name=member_stack_name(policy.name_prefix),
            synthesizer=BootstraplessSynthesizer(),
        )
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
        template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
    return template


class MemberStackSet(Construct):
    """In the hub stack: the member stack as a service-managed StackSet on the organization's units (less the
    excluded accounts), deployed automatically to accounts that join them, in the organization's regions.

    Service-managed StackSets target organizational units (or the root); an account listed by id alone is deployed
    with a plain `cdk deploy` of the member stack. They never deploy to the management account."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        policy: Policy,
        cleanup_role: iam.IRole | None,
        deleter_role: iam.IRole | None,
        capacity_role: iam.IRole | None = None,
        gate_role: iam.IRole | None = None,
        watchdog_role: iam.IRole | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        organization = organization_of(policy)
        stack = Stack.of(self)
        units = [member for member in organization.accounts if not member.isdigit()]
        body = json.dumps(member_template(policy), separators=(",", ":"), sort_keys=True)
        if len(body.encode()) > TEMPLATE_BODY_MAX_BYTES:
            raise ValueError(
                f"the member stack's template is {len(body.encode())} bytes; a StackSet's template body takes "
                f"{TEMPLATE_BODY_MAX_BYTES} at most: clean fewer kinds or regions in the organization"
            )
        hub_bus = stack.format_arn(service="events", resource="event-bus", resource_name="default")
        parameters = {HUB_EVENT_BUS: hub_bus}
        if cleanup_role is not None and deleter_role is not None:
            parameters |= {HUB_CLEANUP_ROLE: cleanup_role.role_arn, HUB_DELETER_ROLE: deleter_role.role_arn}
        if capacity_role is not None and member_targets(policy):
            parameters[HUB_CAPACITY_ROLE] = capacity_role.role_arn
        if gate_role is not None and watchdog_role is not None and member_alarm_selections(policy):
            parameters |= {HUB_GATE_ROLE: gate_role.role_arn, HUB_WATCHDOG_ROLE: watchdog_role.role_arn}
        self.stack_set = cloudformation.CfnStackSet(
            self,
            "Members",
            stack_set_name=member_stack_name(policy.name_prefix),
            description="Deckhand's member roles and alarm forwarding, in every member account and region",
            permission_model="SERVICE_MANAGED",
            auto_deployment=cloudformation.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=False
            ),
            capabilities=["CAPABILITY_NAMED_IAM"],
            managed_execution={"Active": True},
            operation_preferences=cloudformation.CfnStackSet.OperationPreferencesProperty(
                region_concurrency_type="PARALLEL", max_concurrent_percentage=25, failure_tolerance_percentage=10
            ),
            parameters=[
                cloudformation.CfnStackSet.ParameterProperty(parameter_key=key, parameter_value=value)
                for key, value in parameters.items()
            ],
            stack_instances_group=[
                cloudformation.CfnStackSet.StackInstancesProperty(
                    deployment_targets=cloudformation.CfnStackSet.DeploymentTargetsProperty(
                        organizational_unit_ids=units,
                        accounts=organization.exclude or None,
                        account_filter_type="DIFFERENCE" if organization.exclude else "NONE",
                    ),
                    regions=organization.regions,
                )
            ]
            if units
            else None,
            template_body=body,
        )
