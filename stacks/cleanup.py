"""The cleanup duty: one function that finds and removes stale, costly resources in every policy region.

Two identities, so that IAM alone keeps the mark meaningful. The function's own role reads, writes the
mark tag (that key only, never on a protected resource) and keeps state, but deletes nothing; for each
removal the function assumes the deleter role, which may delete or change only what carries the mark
and not the protect tag, and can write no mark (its one tagging grant is the final snapshot's own tags,
while creating it). Only the function's role may assume the deleter. Each configured kind declares its
statements beside its calls (functions/cleanup/kinds); the stack renders them for the policy's regions,
mark tag and protect tag. Reads go on `*` where the call names no resource; every other statement names
its resource types in each policy region. The reports go to a bucket of their own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from functions.cleanup.config import BUCKET_VARIABLE, CLEANUP_VARIABLE, REGIONS_VARIABLE
from functions.cleanup.declared import DELETER_ROLE_VARIABLE, MARKS_PARTITION, RUNS_PARTITION
from functions.cleanup.kinds import KINDS
from functions.cleanup.kinds.base import Arn, ConditionValue, Guard, KindName, Permissions, Statement
from functions.cleanup.policy import Cleanup as CleanupPolicy
from functions.cleanup.policy import ScheduleGroup

from . import nag
from .core import Core, largest_environment, lines, policy_source
from .core import check_environment_size as check_duty_environment
from .function import DeckhandFunction
from .policy import Policy

SERVICE = "cleanup"
REPORTS_PREFIX = "reports/"
TIMEOUT_SECONDS = 15 * 60  # the engine checkpoints before it and resumes on the next invocation
MEMORY_MB = 256
NONCURRENT_REPORT_DAYS = 30  # an overwritten report (a resumed run writes its report again) is kept this long
LONGEST_REGION = "ap-southeast-5"  # for the size check of an environment whose regions default to the policy's

# EMF metrics the cleanup function emits (namespace Deckhand); the per-kind ones carry a `kind` dimension.
PER_KIND = "SEARCH('{{Deckhand,kind,service}} MetricName=\"{name}\"', 'Sum', 86400)"
ANY_DIMENSIONS = "SUM(SEARCH('Namespace=\"Deckhand\" MetricName=\"{name}\"', 'Sum', 86400))"


def report_bucket_name(prefix: str, account: str, region: str) -> str:
    """Bucket names are global: the account and region make the prefix's name unique (at most 56 characters)."""
    return f"{prefix}-cleanup-{account}-{region}"


def deleter_role_name(prefix: str) -> str:
    return f"{prefix}-cleanup-deleter"


def deleter_role_arn(prefix: str, *, partition: str, account: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{deleter_role_name(prefix)}"


def cleanup_environment(policy: Policy, bucket: str, deleter_role: str) -> dict[str, str]:
    """What the cleanup function reads besides the shared settings."""
    return {
        CLEANUP_VARIABLE: policy.cleanup.model_dump_json(by_alias=True),
        BUCKET_VARIABLE: bucket,
        REGIONS_VARIABLE: ",".join(policy.regions),
        DELETER_ROLE_VARIABLE: deleter_role,
    }


def check_environment_size(policy: Policy, source: str) -> None:
    longest = max([*policy.regions, LONGEST_REGION], key=len)
    bucket = report_bucket_name(policy.name_prefix, "000000000000", longest)
    deleter = deleter_role_arn(policy.name_prefix, partition="aws-us-gov", account="000000000000")
    check_duty_environment(
        source,
        largest_environment(policy, (SERVICE,), cleanup_environment(policy, bucket, deleter)),
        key="cleanup.kinds",
        variable=CLEANUP_VARIABLE,
        remedy="clean fewer kinds, list fewer repositories or stack name prefixes, or merge schedule groups",
    )


@dataclass(frozen=True)
class Scoped:
    """Actions granted on named resources only (under conditions), and why the resources hold a wildcard.

    `deleter`: the grant goes to the deleter role (removals and changes), not to the function's role.
    """

    actions: tuple[str, ...]
    resources: Sequence[str]
    why: str
    conditions: Mapping[str, Mapping[str, Any]] | None = None
    deleter: bool = False


@dataclass
class Grants:
    """The statements of the function's role, and why each wildcard in them is needed (for cdk-nag).

    Statements with the same actions and conditions are one, naming the resources of all of them.
    """

    scoped: dict[str, tuple[Scoped, list[str]]] = field(default_factory=dict)  # actions, conditions -> resources
    wildcards: dict[str, list[str]] = field(default_factory=dict)  # resource pattern -> why, per statement
    reads: list[str] = field(default_factory=list)  # actions on "*"

    def read(self, *actions: str) -> None:
        self.reads += [action for action in actions if action not in self.reads]

    def allow(self, grant: Scoped) -> None:
        key = json.dumps([sorted(grant.actions), grant.conditions], sort_keys=True)
        _, resources = self.scoped.setdefault(key, (grant, []))
        resources += [resource for resource in grant.resources if resource not in resources]
        for resource in grant.resources:
            reasons = self.wildcards.setdefault(resource, [])
            if grant.why not in reasons:
                reasons.append(grant.why)

    def statements(self) -> list[iam.PolicyStatement]:
        reads = [iam.PolicyStatement(actions=self.reads, resources=["*"])] if self.reads else []
        return reads + [
            iam.PolicyStatement(
                actions=list(grant.actions),
                resources=resources,
                conditions=dict(grant.conditions) if grant.conditions else None,
            )
            for grant, resources in self.scoped.values()
        ]


def grant_kind(
    grants: Grants, deleter: Grants, kind: KindName, declared: Permissions, scoped: Sequence[Scoped]
) -> None:
    """Grant what the kind declares: its scoped statements (to the deleter role those marked so), and its other
    reads on `*`. A write is never granted on `*`, nor anything the kind does not declare: either is a mistake the
    synth names."""
    named = {action for grant in scoped for action in grant.actions}
    if undeclared := sorted(named - declared.actions):
        raise ValueError(f"the stack would grant {kind} {', '.join(undeclared)}, which it does not declare it calls")
    if unscoped := sorted(declared.writes - named):
        raise ValueError(
            f"{kind} declares the writes {', '.join(unscoped)}: give each the resources and conditions it may act "
            "on in the kind's statements() (a write never goes on *)"
        )
    grants.read(*sorted(declared.reads - named))
    for grant in scoped:
        (deleter if grant.deleter else grants).allow(grant)


@dataclass(frozen=True)
class KindStatements:
    """The statements each kind declares for its rule, rendered for the policy's regions, mark tag and protect tag in
    the account of `scope`'s stack: the hub's, or (stacks/member.py) each member account's."""

    scope: Construct
    policy: CleanupPolicy
    regions: Sequence[str]
    protect_tag: str
    protect_values: Sequence[str] | None

    @property
    def mark_tag(self) -> str:
        return self.policy.mark_tag

    def grant(self, kinds: Sequence[KindName], grants: Grants, deleter: Grants) -> None:
        for kind in kinds:
            grant_kind(grants, deleter, kind, KINDS[kind].permissions, self._scoped(kind))

    def _arns(self, service: str, resource: str, *, account: bool = True) -> list[str]:
        """`resource` in every policy region; EC2 snapshots and AMIs have no account in their ARN."""
        stack = Stack.of(self.scope)
        owner = stack.account if account else ""
        return [f"arn:{stack.partition}:{service}:{region}:{owner}:{resource}" for region in self.regions]

    def _unprotected(self) -> dict[str, dict[str, Any]]:
        """The resource does not carry the protect tag (with one of its protecting values, when the policy names
        them). A negated operator on a tag the resource lacks matches: IAM User Guide, "Condition operators"."""
        tag = f"aws:ResourceTag/{self.protect_tag}"
        if self.protect_values:
            return {"StringNotEquals": {tag: list(self.protect_values)}}
        return {"Null": {tag: "true"}}

    def _marked_unprotected(self) -> dict[str, dict[str, Any]]:
        """The resource carries the mark (unless there is no grace period, so no mark) and is not protected."""
        conditions = self._unprotected()
        if self.policy.grace_days > 0:
            conditions["StringLike"] = {f"aws:ResourceTag/{self.mark_tag}": "*"}
        return conditions

    def _only_the_mark(self) -> dict[str, dict[str, Any]]:
        """Tagging may add the mark tag only, and never to a protected resource."""
        return {"ForAllValues:StringEquals": {"aws:TagKeys": [self.mark_tag]}, **self._unprotected()}

    def _scoped(self, kind: KindName) -> list[Scoped]:
        """The statements the kind declares for its rule, for the policy's regions, mark tag and protect tag."""
        rule = self.policy.kinds.rule(kind)
        assert rule is not None  # the kind is cleaned, so the policy gives its rule
        return [self._render(statement) for statement in KINDS[kind].statements(rule)]

    def _render(self, statement: Statement) -> Scoped:
        conditions = self._guard(statement.guard)
        for operator, keys in statement.conditions.items():
            rendered = {key: self._condition_value(value) for key, value in keys.items()}
            conditions[operator] = {**conditions.get(operator, {}), **rendered}
        return Scoped(
            statement.actions,
            [arn for resource in statement.resources for arn in self._resources(resource)],
            statement.why,
            conditions or None,
            deleter=statement.deleter,
        )

    def _guard(self, guard: Guard) -> dict[str, dict[str, Any]]:
        match guard:
            case Guard.NONE:
                return {}
            case Guard.UNPROTECTED:
                return self._unprotected()
            case Guard.MARKED:
                return self._marked_unprotected()
            case Guard.ONLY_THE_MARK:
                return self._only_the_mark()

    def _resources(self, resource: Arn | str) -> list[str]:
        if isinstance(resource, Arn):
            return self._arns(resource.service, resource.resource, account=resource.account)
        return [resource]

    def _condition_value(self, value: ConditionValue) -> str | list[str]:
        if isinstance(value, Arn):
            return self._resources(value)
        return value if isinstance(value, str) else list(value)


def acknowledge_wildcards(stack: Stack, role: iam.IRole, grants: Grants, *, traced: bool) -> None:
    """Why each wildcard of the role's grants is needed; `traced`: the role runs a function (X-Ray's writes)."""
    reads = (
        f"{', '.join(grants.reads)} only list and describe: most name no resource, so AWS authorizes them on *, "
        "and the others would need every resource of their type in every region anyway; "
        if grants.reads
        else ""
    )
    on_any = "; ".join(grants.wildcards.get("*", []))
    xray = f"{nag.X_RAY_REASON}. "
    reason = f"{reads}{on_any + '; ' if on_any else ''}{xray if traced else ''}"
    acknowledgments = (
        [
            nag.any_resource(
                stack,
                f"{reason}Every other statement of this role names its resources (or their types in the "
                "policy's regions).",
            )
        ]
        if reason
        else []
    )
    acknowledgments += [
        nag.wildcard_resource(stack, resource, f"The resources are only known at run time: {'; '.join(why)}")
        for resource, why in grants.wildcards.items()
        if resource != "*"
    ]
    # On the role: its statements may overflow from the default policy into managed policies of its own.
    Validations.of(role).acknowledge(*acknowledgments)


class Cleanup(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, core: Core) -> None:
        super().__init__(scope, construct_id)
        policy = core.policy
        cleanup: CleanupPolicy = policy.cleanup
        check_environment_size(policy, policy_source(self))
        stack = Stack.of(self)

        self.core = core
        self.policy = cleanup
        self.regions = list(cleanup.regions or policy.regions)
        self.kinds = cleanup.kinds.listed()
        self.statements = KindStatements(
            self, cleanup, self.regions, policy.defaults.protect_tag, policy.defaults.protect_values
        )
        self.bucket = self._report_bucket(core, stack)
        deleter_name = deleter_role_name(policy.name_prefix)
        self.function = DeckhandFunction(
            self,
            "Function",
            core=core,
            service=SERVICE,
            description="Deckhand cleanup: marks stale, costly resources, removes them after a grace period, "
            "reports the saving",
            timeout_seconds=TIMEOUT_SECONDS,
            memory_size=MEMORY_MB,
            environment=cleanup_environment(
                policy,
                self.bucket.bucket_name,
                deleter_role_arn(policy.name_prefix, partition=stack.partition, account=stack.account),
            ),
        )
        self.deleter = iam.Role(
            self,
            "Deleter",
            role_name=deleter_name,
            assumed_by=iam.ArnPrincipal(self.function.role.role_arn),
            description="Deckhand cleanup's removals: only resources that carry the mark and not the protect tag; "
            "it writes no mark",
        )
        self.deleter.grant_assume_role(self.function.role)
        self.grants, self.deleter_grants = Grants(), Grants()
        self._grant_state(core, self.grants)
        self.statements.grant(self.kinds, self.grants, self.deleter_grants)
        for statement in self.grants.statements():
            self.function.role.add_to_policy(statement)
        for statement in self.deleter_grants.statements():
            self.deleter.add_to_policy(statement)
        acknowledge_wildcards(stack, self.function.role, self.grants, traced=True)
        acknowledge_wildcards(stack, self.deleter, self.deleter_grants, traced=False)
        self.schedules = {group.name: self._schedule(group) for group in cleanup.schedules}
        self._add_dashboard(core)

    # --- reports --------------------------------------------------------------------------------------

    def _report_bucket(self, core: Core, stack: Stack) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "Reports",
            bucket_name=report_bucket_name(core.policy.name_prefix, stack.account, stack.region),
            encryption=s3.BucketEncryption.KMS,
            encryption_key=core.key,
            # No S3 Bucket Key, on purpose: each report read or written is then a KMS call CloudTrail records.
            bucket_key_enabled=False,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-reports",
                    prefix=REPORTS_PREFIX,
                    expiration=Duration.days(core.policy.defaults.audit_retention_days),
                    noncurrent_version_expiration=Duration.days(NONCURRENT_REPORT_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        Validations.of(bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="The bucket holds only Deckhand's cleanup reports, written by the cleanup function's role. "
                "Every read and write of a report uses the Deckhand KMS key without an S3 Bucket Key, so CloudTrail "
                "already records who read or wrote which report (kms:Decrypt, kms:GenerateDataKey); server access "
                "logs would need a second, unencrypted bucket for a few reports a week.",
            )
        )
        return bucket

    # --- permissions --------------------------------------------------------------------------------

    def _grant_state(self, core: Core, grants: Grants) -> None:
        """Reports to the bucket; the marks of untaggable kinds and the run checkpoints in the audit table."""
        grants.allow(
            Scoped(
                ("s3:PutObject",),
                [self.bucket.arn_for_objects(f"{REPORTS_PREFIX}*")],
                "the run reports, under reports/YYYY/MM/DD/ of the cleanup bucket only",
            )
        )
        core.grant_state(
            self.function.role,
            ["dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"],
            [MARKS_PARTITION, RUNS_PARTITION],
        )
        core.grant_audit(self.function.role, SERVICE)

    # --- triggers -------------------------------------------------------------------------------------

    def _schedule(self, group: ScheduleGroup) -> events.Rule:
        return events.Rule(
            self,
            f"Schedule-{group.name}",
            description=f"Deckhand cleanup of {', '.join(group.kinds)} ({group.name}); dry run unless the policy "
            "acts by default",
            schedule=events.Schedule.expression(group.cron),
            targets=[
                targets.LambdaFunction(
                    self.function.function,
                    event=events.RuleTargetInput.from_object({"trigger": "schedule", "group": group.name}),
                    dead_letter_queue=self.function.dead_letter_queue,
                    retry_attempts=2,
                )
            ],
        )

    # --- dashboard ------------------------------------------------------------------------------------

    def _add_dashboard(self, core: Core) -> None:
        month = "-P30D"

        def total(name: str, label: str) -> cloudwatch.MathExpression:
            return lines(ANY_DIMENSIONS.format(name=name), label, Duration.days(1))

        def per_kind_and_day(title: str, name: str) -> cloudwatch.GraphWidget:
            kinds = lines(PER_KIND.format(name=name), "${PROP('Dim.kind')}", Duration.days(1))
            return cloudwatch.GraphWidget(title=title, left=[kinds], stacked=True, start=month, width=8)

        core.dashboard.add_widgets(
            per_kind_and_day("Cleanup: resources removed per kind and day", "CleanupActed"),
            per_kind_and_day(
                "Cleanup: estimated monthly saving (USD) of what was removed, per kind", "CleanupMonthlySavingUSD"
            ),
            cloudwatch.SingleValueWidget(
                title="Cleanup: monthly saving removed in 30 days (USD)",
                metrics=[total("CleanupMonthlySavingUSD", "USD per month")],
                set_period_to_time_range=True,
                start=month,
                width=4,
            ),
            cloudwatch.GraphWidget(
                title="Cleanup: marked, failed actions, aborted kinds (blast radius)",
                left=[total("CleanupMarked", "marked")],
                right=[total("CleanupFailed", "failed"), total("CleanupAborted", "aborted")],
                start=month,
                width=4,
            ),
        )
