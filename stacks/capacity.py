"""The capacity duty: one function that moves its targets' bounds on alarms, on schedules and from the console."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aws_cdk import Acknowledgment, ArnFormat, Duration, RemovalPolicy, Stack, TimeZone, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from constructs import Construct

from functions.capacity.config import CAPACITY_VARIABLE, SCHEDULE_GROUP_VARIABLE, SCHEDULER_ROLE_VARIABLE
from functions.capacity.declared import PARTITION, TARGET_TAG, scalable_id
from functions.capacity.policy import WEEKDAYS, Schedule, Target
from functions.shared.members import MEMBER_ROLE_VARIABLE, role_arn

from . import core, nag
from .core import Core, lines, policy_source, unique
from .function import DeckhandFunction
from .policy import Policy

SERVICE = "capacity"
ALARM_STATES = ["ALARM", "OK"]
# A profile applied this late is no longer the right one: Scheduler drops the delivery instead.
SCHEDULE_MAX_AGE = Duration.hours(1)

# EMF metrics the capacity function emits (namespace Deckhand), shown on the dashboard.
CHANGES_BY_TRIGGER = "SEARCH('{Deckhand,service,trigger} MetricName=\"CapacityChange\"', 'Sum', 300)"
BOUND_METRICS = ("CapacityMin", "CapacityMax", "CapacityDesired")


def bounds_search(metric: str) -> str:
    return f"SEARCH('{{Deckhand,service,target}} MetricName=\"{metric}\"', 'Maximum', 300)"


def schedule_group_name(prefix: str) -> str:
    return f"{prefix}-capacity"


def scheduler_role_name(prefix: str) -> str:
    return f"{prefix}-capacity-scheduler"


def scheduler_role_arn(prefix: str, *, partition: str, account: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{scheduler_role_name(prefix)}"


def capacity_environment(policy: Policy, scheduler_role: str) -> dict[str, str]:
    """What the capacity function reads besides the shared settings (see the contract in its handler)."""
    environment = {
        CAPACITY_VARIABLE: policy.capacity.model_dump_json(),
        SCHEDULE_GROUP_VARIABLE: schedule_group_name(policy.name_prefix),
        SCHEDULER_ROLE_VARIABLE: scheduler_role,
    }
    if policy.organization is not None:
        environment[MEMBER_ROLE_VARIABLE] = policy.organization.duty_role("capacity")
    return environment


def check_environment_size(policy: Policy, source: str) -> None:
    longest_role = scheduler_role_arn(policy.name_prefix, partition="aws-us-gov", account="000000000000")
    core.check_environment_size(
        source,
        core.largest_environment(policy, (SERVICE,), capacity_environment(policy, longest_role)),
        key="capacity.targets",
        variable=CAPACITY_VARIABLE,
        remedy="scale fewer targets, or drop profiles, schedules and except_dates they no longer use",
    )


def schedule_name(target: Target, index: int) -> str:
    """Unique in the group by target and index; the profile only helps a reader (names end at 64 characters)."""
    return f"{target.name}-{index}-{target.schedules[index].profile}"[:64]


def cron(schedule: Schedule) -> str:
    """Scheduler's cron for a schedule: its own, or one built from `at` and `days`."""
    if schedule.cron is not None:
        return schedule.cron
    if schedule.at is None:  # the policy guarantees one of them
        raise ValueError("a schedule needs at or cron")
    days = "*" if set(schedule.days) == set(WEEKDAYS) else ",".join(d for d in WEEKDAYS if d in schedule.days)
    return f"cron({schedule.at.minute} {schedule.at.hour} ? * {days} *)"


class Capacity(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, core: Core) -> None:
        super().__init__(scope, construct_id)
        policy = core.policy
        capacity = policy.capacity
        check_environment_size(policy, policy_source(self))
        self.core = core
        self.policy = capacity
        self.scale_out_alarms = unique(a for t in capacity.targets if t.alarms for a in t.alarms.scale_out)
        self.muted_alarms = unique(a for t in capacity.targets for a in t.mute_at_zero)
        prefix = policy.name_prefix
        stack = Stack.of(self)

        self.schedule_group = scheduler.ScheduleGroup(
            self,
            "Schedules",
            schedule_group_name=schedule_group_name(prefix),
            # Only schedules Deckhand itself declares or creates live in it: nothing to keep after the stack.
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            role_name=scheduler_role_name(prefix),
            description="Lets EventBridge Scheduler invoke the Deckhand capacity function from its schedule group",
            # Scheduler sets aws:SourceArn to the schedule GROUP's ARN, never a schedule's: the user guide's
            # "Confused deputy prevention" (scheduler/latest/UserGuide/cross-service-confused-deputy-prevention)
            # says so, and aws-cdk-lib's aws_scheduler_targets conditions its roles the same way.
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account, "aws:SourceArn": self._group_arn()},
                },
            ),
        )
        core.key.grant(self.scheduler_role, "kms:Decrypt", "kms:GenerateDataKey")  # its dead letters, encrypted
        self.function = DeckhandFunction(
            self,
            "Function",
            core=core,
            service=SERVICE,
            description="Deckhand capacity tweaks: moves bounds on alarms, schedules and console commands",
            timeout_seconds=60,
            environment=capacity_environment(policy, self.scheduler_role.role_arn),
        )
        self._grant()
        self.alarm_rule = self._alarm_rule()
        self.schedules = [
            self._schedule(target, index) for target in capacity.targets for index in range(len(target.schedules))
        ]
        self._acknowledge_wildcards()
        self._add_dashboard()

    # --- permissions --------------------------------------------------------------------------------

    def _arn(self, service: str, resource: str, name: str, *, colon: bool = False) -> str:
        return Stack.of(self).format_arn(
            service=service,
            resource=resource,
            resource_name=name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME if colon else ArnFormat.SLASH_RESOURCE_NAME,
        )

    def _group_arn(self) -> str:
        return self._arn("scheduler", "schedule-group", schedule_group_name(self.core.policy.name_prefix))

    def _schedules_arn(self) -> str:
        return self._arn("scheduler", "schedule", f"{schedule_group_name(self.core.policy.name_prefix)}/*")

    def _allow(self, actions: list[str], resources: list[str], conditions: Mapping[str, object] | None = None) -> None:
        if resources:
            self.function.role.add_to_policy(
                iam.PolicyStatement(actions=actions, resources=resources, conditions=dict(conditions or {}))
            )

    def _target_arn(self, target: Target, service: str, resource: str, name: str, colon: bool) -> str:
        """A resource of a target in this account: in the region the target names, else the stack's."""
        return Stack.of(self).format_arn(
            service=service,
            region=self._elsewhere(target),
            resource=resource,
            resource_name=name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME if colon else ArnFormat.SLASH_RESOURCE_NAME,
        )

    def _elsewhere(self, target: Target) -> str | None:
        """The region a target of this account names, when it is not the stack's."""
        return target.region if target.region not in (None, Stack.of(self).region) else None

    def _regional(self, region: str | None, service: str, resource: str, reason: str) -> Acknowledgment:
        if region is None:
            return nag.regional_wildcard(self, service, resource, reason)
        stack = Stack.of(self)
        return nag.wildcard_resource(
            self, f"arn:{stack.partition}:{service}:{region}:{stack.account}:{resource}", reason
        )

    def _grant(self) -> None:
        """Exactly the calls the function makes, on the policy's targets and alarms only; those placed in a member
        account it reaches through the member role (stacks/member.py), never with its own."""
        self.here = [t for t in self.policy.targets if t.account is None]
        granted = grant_targets(self.function.role, self.here, self.core.policy.defaults.protect_tag, self._target_arn)
        self.unscoped_reads, self.groups = granted.unscoped_reads, granted.groups
        self._allow(
            ["scheduler:CreateSchedule", "scheduler:GetSchedule", "scheduler:DeleteSchedule"], [self._schedules_arn()]
        )
        self._allow(
            ["iam:PassRole"],
            [self.scheduler_role.role_arn],
            {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
        )
        self.core.grant_state(self.function.role, ["dynamodb:GetItem", "dynamodb:PutItem"], [PARTITION])
        self.core.grant_audit(self.function.role, SERVICE)
        self._grant_member_roles()

    def _grant_member_roles(self) -> None:
        """sts:AssumeRole on the capacity member role of exactly the accounts the policy places targets in. Its
        resource is the role (SAR, AWS STS: AssumeRole on `role`); every placement names its account, so no
        `iam::*` wildcard (nor aws:ResourceOrgID to bound one) is needed."""
        organization = self.core.policy.organization
        accounts = unique(str(t.account) for t in self.policy.targets if t.account is not None)
        if organization is None or not accounts:
            return
        partition = Stack.of(self).partition
        role = organization.duty_role("capacity")
        self._allow(["sts:AssumeRole"], [role_arn(partition, account, role) for account in accounts])

    def _acknowledge_wildcards(self) -> None:
        """Each wildcard the function and scheduler roles hold, with why, beside their policies."""
        group = schedule_group_name(self.core.policy.name_prefix)
        reads = (
            f"; {', '.join(self.unscoped_reads)} support none either (they only read levels and refreshes)"
            if self.unscoped_reads
            else ""
        )
        found = [
            nag.any_resource(
                self,
                f"{nag.X_RAY_REASON}{reads}. Every other statement of this role names its resources or has its own "
                "acknowledgement.",
            ),
            nag.regional_wildcard(
                self,
                "scheduler",
                f"schedule/{group}/*",
                f"The one-time schedules that revert expiring overrides get their names at run time; "
                f"the function may create, read and delete schedules in its own group {group} only.",
            ),
        ]
        found += [
            self._regional(
                region,
                "application-autoscaling",
                "scalable-target/*",
                "A scalable target's ARN ends in an id AWS assigns, and no condition key names the "
                "resource it scales (Service Authorization Reference, Application Auto Scaling), so the ARN "
                f"cannot be written here. RegisterScalableTarget is allowed only on scalable targets tagged "
                f"{TARGET_TAG} with the name of one of the policy's targets, in that target's service namespace "
                "and scalable dimension, and never with tags in the request; ListTagsForResource (for a "
                "scalable-target that opts in by tag) only on the targets so tagged.",
            )
            for region in dict.fromkeys(self._elsewhere(t) for t in self.here if t.kind != "asg")
        ]
        found += [
            self._regional(
                region,
                "autoscaling",
                f"autoScalingGroup:{_group_resource(group)}",
                f"An Auto Scaling group's ARN holds an id AWS assigns; this names the group {group} "
                "exactly, and a condition excludes it while it carries the protect tag.",
            )
            for region, group in dict.fromkeys((self._elsewhere(t), str(t.group)) for t in self.here if t.kind == "asg")
        ]
        Validations.of(self.function.role.node.find_child("DefaultPolicy")).acknowledge(*found)
        Validations.of(self.scheduler_role).acknowledge(
            nag.wildcard_resource(
                self,
                f"{self.function.function.function_arn}:*",
                "CDK's invoke grant covers the versions and aliases of the one capacity function, "
                "the only target of Deckhand's capacity schedules.",
            ),
        )

    # --- triggers -----------------------------------------------------------------------------------

    def _alarm_rule(self) -> events.Rule | None:
        """ALARM and OK of exactly the scale-out alarms of the targets in this account; none when no target names
        one. A member's alarm event forwarded to this bus keeps its own account (EventBridge User Guide, "Sending and
        receiving events between AWS accounts"): a same-named alarm there is not ours."""
        here = [t for t in self.policy.targets if t.account is None]
        self.member_alarm_rule = self._member_alarm_rule()
        return self._rule_for("AlarmChanged", here, [Stack.of(self).account], "capacity targets' scale-out alarms")

    def _member_alarm_rule(self) -> events.Rule | None:
        """The same for the targets placed in member accounts, from those accounts only: the function then acts
        only on the target placed in the event's own account and region, once DescribeAlarms there confirms it."""
        placed = [t for t in self.policy.targets if t.account is not None]
        accounts = unique(str(t.account) for t in placed)
        return self._rule_for("MemberAlarmChanged", placed, accounts, "member targets' scale-out alarms")

    def _rule_for(self, construct_id: str, chosen: list[Target], accounts: list[str], what: str) -> events.Rule | None:
        names = unique(a for t in chosen if t.alarms for a in t.alarms.scale_out)
        if not names:
            return None
        return events.Rule(
            self,
            construct_id,
            description=f"Hands ALARM and OK of the {what} to the capacity function",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                account=accounts,
                detail={"alarmName": names, "state": {"value": ALARM_STATES}},
            ),
            targets=[
                targets.LambdaFunction(
                    self.function.function, dead_letter_queue=self.function.dead_letter_queue, retry_attempts=2
                )
            ],
        )

    def _schedule(self, target: Target, index: int) -> scheduler.Schedule:
        schedule = target.schedules[index]
        when = f"at {schedule.at:%H:%M} on {','.join(schedule.days)}" if schedule.at else schedule.cron
        return scheduler.Schedule(
            self,
            f"Schedule-{target.name}-{index}",
            schedule_name=schedule_name(target, index),
            schedule_group=self.schedule_group,
            description=f"Deckhand capacity: {target.name} to profile {schedule.profile} {when} ({schedule.timezone})",
            schedule=scheduler.ScheduleExpression.expression(cron(schedule), TimeZone.of(schedule.timezone)),
            target=scheduler_targets.LambdaInvoke(
                self.function.function,
                input=scheduler.ScheduleTargetInput.from_object(
                    {"trigger": "schedule", "target": target.name, "profile": schedule.profile, "schedule": index}
                ),
                role=self.scheduler_role,
                dead_letter_queue=self.function.dead_letter_queue,
                retry_attempts=2,
                max_event_age=SCHEDULE_MAX_AGE,
            ),
        )

    # --- dashboard ----------------------------------------------------------------------------------

    def _add_dashboard(self) -> None:
        core_ = self.core
        core_.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Capacity changes by trigger (and refusals, right)",
                left=[lines(CHANGES_BY_TRIGGER, "${PROP('Dim.trigger')}")],  # one line per trigger
                right=[core_.count_metric("CapacityRefused")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Capacity bounds per target",
                left=[
                    lines(bounds_search(metric), f"${{PROP('Dim.target')}} {metric.removeprefix('Capacity').lower()}")
                    for metric in BOUND_METRICS
                ],
                width=12,
            ),
        )


@dataclass(frozen=True)
class TargetsGranted:
    unscoped_reads: list[str]  # granted on "*": no resource type (SAR)
    groups: list[str]  # the Auto Scaling groups, whose ARNs hold an id AWS assigns
    wildcards: list[str]  # the granted resources other than "*" that hold a wildcard


ArnOf = Callable[[Target, str, str, str, bool], str]  # target, service, resource type, name, colon-separated


def grant_targets(role: iam.IRole, targets_: list[Target], protect_tag: str, arn: ArnOf) -> TargetsGranted:
    """Exactly the calls the capacity function makes on `targets_` and their alarms, to `role`; `arn` places each
    target's resources (the hub's account and region, or the member's the target names)."""

    granted: list[str] = []

    def allow(actions: list[str], resources: list[str], conditions: Mapping[str, object] | None = None) -> None:
        granted.extend(resources)
        if resources:
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=actions, resources=resources, conditions=dict(conditions or {}))
            )

    unprotected = {"Null": {f"aws:ResourceTag/{protect_tag}": "true"}}
    # Every target but a group may have an Application Auto Scaling registration.
    scalable = [t for t in targets_ if t.kind != "asg"]
    _allow_registrations(allow, scalable, arn)
    unscoped_reads = (["application-autoscaling:DescribeScalableTargets"] if scalable else []) + (
        ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeInstanceRefreshes"]
        if any(t.kind == "asg" for t in targets_)
        else []
    )
    allow(unscoped_reads, ["*"] if unscoped_reads else [])

    services = [t for t in targets_ if _ecs_service(t)]
    allow(
        ["ecs:DescribeServices", "ecs:ListTagsForResource"],
        unique(arn(t, "ecs", "service", _ecs_service(t), False) for t in services),
    )
    raw = [t for t in targets_ if t.kind == "ecs-service"]  # desiredCount, if unregistered
    allow(
        ["ecs:UpdateService"], [arn(t, "ecs", "service", f"{t.cluster}/{t.service}", False) for t in raw], unprotected
    )

    grouped = [t for t in targets_ if t.kind == "asg"]
    allow(
        ["autoscaling:UpdateAutoScalingGroup", "autoscaling:SuspendProcesses", "autoscaling:ResumeProcesses"],
        unique(arn(t, "autoscaling", "autoScalingGroup", _group_resource(str(t.group)), True) for t in grouped),
        unprotected,
    )

    provisioned = [t for t in targets_ if t.kind == "lambda-provisioned-concurrency"]
    allow(
        [
            "lambda:GetProvisionedConcurrencyConfig",
            "lambda:PutProvisionedConcurrencyConfig",
            "lambda:DeleteProvisionedConcurrencyConfig",
        ],
        [arn(t, "lambda", "function", f"{t.function}:{t.qualifier}", True) for t in provisioned],
    )
    allow(["lambda:ListTags"], [arn(t, "lambda", "function", str(t.function), True) for t in provisioned])

    scale_out = [arn(t, "cloudwatch", "alarm", a, True) for t in targets_ if t.alarms for a in t.alarms.scale_out]
    muted = [arn(t, "cloudwatch", "alarm", a, True) for t in targets_ for a in t.mute_at_zero]
    allow(["cloudwatch:DescribeAlarms"], unique([*unique(scale_out), *unique(muted)]))
    allow(["cloudwatch:DisableAlarmActions", "cloudwatch:EnableAlarmActions"], unique(muted))
    wildcards = unique(r for r in granted if r != "*" and "*" in r)
    return TargetsGranted(unscoped_reads, unique(str(t.group) for t in grouped), wildcards)


def _allow_registrations(
    allow: Callable[[list[str], list[str], Mapping[str, object]], None], scalable: list[Target], arn: ArnOf
) -> None:
    """RegisterScalableTarget on exactly the policy's targets, as far as AWS lets a policy say it.

    Its resource is the scalable target's ARN, whose id AWS assigns, and its only service condition keys
    are the namespace and the dimension (Service Authorization Reference, Application Auto Scaling): the
    resource behind a target can be told only by the scalable target's tags. So the operator tags each
    scalable target with the policy's name for it, and the role may not send tags itself (aws:TagKeys
    absent), so it cannot tag a registration into scope.
    """
    by_pair: dict[tuple[str, str], list[Target]] = {}
    for target in scalable:
        ident = scalable_id(target)
        by_pair.setdefault((ident.namespace, ident.dimension), []).append(target)
    for (namespace, dimension), chosen in by_pair.items():
        allow(
            ["application-autoscaling:RegisterScalableTarget"],
            unique(arn(t, "application-autoscaling", "scalable-target", "*", False) for t in chosen),
            {
                "StringEquals": {
                    "application-autoscaling:service-namespace": namespace,
                    "application-autoscaling:scalable-dimension": dimension,
                    f"aws:ResourceTag/{TARGET_TAG}": [t.name for t in chosen],
                },
                "Null": {"aws:TagKeys": "true"},
            },
        )
    # A scalable-target target that opts in by tag reads its tags (a request without namespace keys).
    tagged = [t for t in scalable if t.kind == "scalable-target" and t.opt_in == "tag"]
    if tagged:
        allow(
            ["application-autoscaling:ListTagsForResource"],
            unique(arn(t, "application-autoscaling", "scalable-target", "*", False) for t in tagged),
            {"StringEquals": {f"aws:ResourceTag/{TARGET_TAG}": [t.name for t in tagged]}},
        )


def _group_resource(group: str) -> str:
    return f"*:autoScalingGroupName/{group}"


def _ecs_service(target: Target) -> str:
    """CLUSTER/SERVICE of the ECS service behind a target, or ''."""
    if target.kind == "ecs-service":
        return f"{target.cluster}/{target.service}"
    if target.namespace == "ecs" and target.resource_id:
        return target.resource_id.removeprefix("service/")
    return ""
