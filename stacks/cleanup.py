"""The cleanup duty: one function that finds and removes stale, costly resources in every policy region.

Its role holds exactly what the configured kinds call. Reads go on `*` where the service has no
resource-level permissions; every destructive action names its resource types in each policy region
and, where the service supports tag conditions, requires the resource to carry the mark tag (it was
marked a grace period before) and not the protect tag. The reports go to a bucket of their own.
"""

from __future__ import annotations

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

from functions.cleanup.kinds.common import KEEP_UNTIL_TAG
from functions.cleanup.kinds.volumes import FINAL_SNAPSHOT_TAG
from functions.cleanup.policy import Cleanup as CleanupPolicy
from functions.cleanup.policy import ScheduleGroup
from functions.shared.policy import Policy

from .core import Core, largest_environment, policy_source
from .core import check_environment_size as check_duty_environment
from .function import DeckhandFunction

SERVICE = "cleanup"
CLEANUP_VARIABLE = "DECKHAND_CLEANUP"
BUCKET_VARIABLE = "DECKHAND_CLEANUP_BUCKET"
REGIONS_VARIABLE = "DECKHAND_REGIONS"
REPORTS_PREFIX = "reports/"
TIMEOUT_SECONDS = 15 * 60  # the engine checkpoints before it and resumes on the next invocation
MEMORY_MB = 256
NONCURRENT_REPORT_DAYS = 30  # an overwritten report (a resumed run writes its report again) is kept this long
FINAL_SNAPSHOT_TAGS = (FINAL_SNAPSHOT_TAG, KEEP_UNTIL_TAG, "Name")  # what the ebs-volume kind tags one with
LONGEST_REGION = "ap-southeast-5"  # for the size check of an environment whose regions default to the policy's

# EMF metrics the cleanup function emits (namespace Deckhand); the per-kind ones carry a `kind` dimension.
PER_KIND = "SEARCH('{{Deckhand,kind,service}} MetricName=\"{name}\"', 'Sum', 86400)"
ANY_DIMENSIONS = "SUM(SEARCH('Namespace=\"Deckhand\" MetricName=\"{name}\"', 'Sum', 86400))"


def report_bucket_name(prefix: str, account: str, region: str) -> str:
    """Bucket names are global: the account and region make the prefix's name unique (at most 56 characters)."""
    return f"{prefix}-cleanup-{account}-{region}"


def cleanup_environment(policy: Policy, bucket: str) -> dict[str, str]:
    """What the cleanup function reads besides the shared settings."""
    return {
        CLEANUP_VARIABLE: policy.cleanup.model_dump_json(by_alias=True),
        BUCKET_VARIABLE: bucket,
        REGIONS_VARIABLE: ",".join(policy.regions),
    }


def check_environment_size(policy: Policy, source: str) -> None:
    longest = max([*policy.regions, LONGEST_REGION], key=len)
    bucket = report_bucket_name(policy.name_prefix, "000000000000", longest)
    check_duty_environment(
        source,
        largest_environment(policy, (SERVICE,), cleanup_environment(policy, bucket)),
        key="cleanup.kinds",
        variable=CLEANUP_VARIABLE,
        remedy="clean fewer kinds, list fewer repositories or stack name prefixes, or merge schedule groups",
    )


@dataclass
class Grants:
    """The statements of the function's role, and why each wildcard in them is needed (for cdk-nag)."""

    statements: list[iam.PolicyStatement] = field(default_factory=list)
    wildcards: dict[str, list[str]] = field(default_factory=dict)  # resource pattern -> why, per statement
    reads: list[str] = field(default_factory=list)  # actions on "*"

    def read(self, *actions: str) -> None:
        self.reads += [action for action in actions if action not in self.reads]

    def allow(
        self,
        actions: Sequence[str],
        resources: Sequence[str],
        why: str,
        conditions: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.statements.append(
            iam.PolicyStatement(
                actions=list(actions), resources=list(resources), conditions=dict(conditions) if conditions else None
            )
        )
        for resource in resources:
            reasons = self.wildcards.setdefault(resource, [])
            if why not in reasons:
                reasons.append(why)


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
        self.mark_tag = cleanup.mark_tag
        self.protect_tag = policy.defaults.protect_tag
        self.bucket = self._report_bucket(core, stack)
        self.function = DeckhandFunction(
            self,
            "Function",
            core=core,
            service=SERVICE,
            description="Deckhand cleanup: marks stale, costly resources, removes them after a grace period, "
            "reports the saving",
            timeout_seconds=TIMEOUT_SECONDS,
            memory_size=MEMORY_MB,
            environment=cleanup_environment(policy, self.bucket.bucket_name),
        )
        self.grants = Grants()
        self._grant_state(core, self.grants)
        self._grant_kinds(self.grants)
        for statement in [
            *([iam.PolicyStatement(actions=self.grants.reads, resources=["*"])] if self.grants.reads else []),
            *self.grants.statements,
        ]:
            self.function.role.add_to_policy(statement)
        self._acknowledge_wildcards(stack)
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
            ["s3:PutObject"],
            [self.bucket.arn_for_objects(f"{REPORTS_PREFIX}*")],
            "the run reports, under reports/YYYY/MM/DD/ of the cleanup bucket only",
        )
        table = core.audit_table.table_arn
        self.function.role.add_to_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"],
                resources=[table],
                # Only the cleanup duty's own items: its marks and its run checkpoints.
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["cleanup-mark/*", "cleanup-run/*"]}},
            )
        )

    def _arns(self, service: str, resource: str, *, account: bool = True) -> list[str]:
        """`resource` in every policy region; EC2 snapshots and AMIs have no account in their ARN."""
        stack = Stack.of(self)
        owner = stack.account if account else ""
        return [f"arn:{stack.partition}:{service}:{region}:{owner}:{resource}" for region in self.regions]

    def _marked_unprotected(self) -> dict[str, dict[str, str]]:
        """The resource carries the mark (unless there is no grace period, so no mark) and not the protect tag."""
        conditions: dict[str, dict[str, str]] = {"Null": {f"aws:ResourceTag/{self.protect_tag}": "true"}}
        if self.policy.grace_days > 0:
            conditions["StringLike"] = {f"aws:ResourceTag/{self.mark_tag}": "*"}
        return conditions

    def _only_the_mark(self) -> dict[str, dict[str, Any]]:
        """Tagging may add the mark tag only, and never to a protected resource."""
        return {
            "ForAllValues:StringEquals": {"aws:TagKeys": [self.mark_tag]},
            "Null": {f"aws:ResourceTag/{self.protect_tag}": "true"},
        }

    def _grant_kinds(self, grants: Grants) -> None:
        ec2_types: dict[str, list[str]] = {}  # EC2 resource type -> ARNs the marks may be written on

        def ec2(resource_type: str, *, account: bool = True) -> list[str]:
            arns = self._arns("ec2", f"{resource_type}/*", account=account)
            ec2_types[resource_type] = arns
            return arns

        marked = self._marked_unprotected()
        destroy = "destructive, so only on resources that carry the mark tag and not the protect tag"
        for kind in self.kinds:
            match kind:
                case "ebs-snapshot":
                    grants.read("ec2:DescribeSnapshots", "ec2:DescribeImages")
                    grants.allow(["ec2:DeleteSnapshot"], ec2("snapshot", account=False), destroy, marked)
                case "ebs-volume":
                    grants.read("ec2:DescribeVolumes", "ec2:DescribeSnapshots")
                    volumes = ec2("volume")
                    grants.allow(["ec2:DeleteVolume", "ec2:CreateSnapshot"], volumes, destroy, marked)
                    final = self._arns("ec2", "snapshot/*", account=False)
                    grants.allow(
                        ["ec2:CreateSnapshot"], final, "the final snapshot of a volume before it goes (not yet tagged)"
                    )
                    grants.allow(
                        ["ec2:CreateTags"],
                        final,
                        "tags a final snapshot as it is created, with the final snapshot's own tags only",
                        {
                            "StringEquals": {"ec2:CreateAction": "CreateSnapshot"},
                            "ForAllValues:StringEquals": {"aws:TagKeys": list(FINAL_SNAPSHOT_TAGS)},
                        },
                    )
                case "ami":
                    grants.read(
                        "ec2:DescribeImages",
                        "ec2:DescribeInstances",
                        "ec2:DescribeLaunchTemplates",
                        "ec2:DescribeLaunchTemplateVersions",
                        "autoscaling:DescribeAutoScalingGroups",
                        "autoscaling:DescribeLaunchConfigurations",
                    )
                    grants.allow(["ec2:DeregisterImage"], ec2("image", account=False), destroy, marked)
                    # The snapshots behind a deregistered AMI go with it. The kind marks the AMI, not them, so this
                    # statement cannot ask for the mark: it widens ebs-snapshot's DeleteSnapshot to any unprotected
                    # snapshot of the account.
                    grants.allow(
                        ["ec2:DeleteSnapshot"],
                        self._arns("ec2", "snapshot/*", account=False),
                        "the snapshots behind a deregistered AMI (marked through their AMI), never protected ones",
                        {"Null": {f"aws:ResourceTag/{self.protect_tag}": "true"}},
                    )
                case "elastic-ip":
                    grants.read("ec2:DescribeAddresses")
                    grants.allow(["ec2:ReleaseAddress"], ec2("elastic-ip"), destroy, marked)
                case "stopped-instance":
                    grants.read("ec2:DescribeInstances")
                    grants.allow(["ec2:TerminateInstances"], ec2("instance"), destroy, marked)
                case "ecr-image":
                    self._ecr_grants(grants)
                case "log-group":
                    self._log_group_grants(grants, marked)
                case "lambda-version":
                    self._lambda_version_grants(grants)
                case "cfn-stack":
                    self._stack_grants(grants)
        if ec2_types:
            grants.allow(
                ["ec2:CreateTags"],
                [arn for arns in ec2_types.values() for arn in arns],
                "writes the mark tag, and only that tag, on the kinds' own resource types, never on a protected one",
                self._only_the_mark(),
            )

    def _ecr_grants(self, grants: Grants) -> None:
        rule = self.policy.kinds.ecr_image
        names = rule.repositories if rule is not None and rule.repositories else None
        repositories = [arn for name in names or ["*"] for arn in self._arns("ecr", f"repository/{name}")]
        grants.read("ecs:ListClusters", "ecs:DescribeTaskDefinition")
        grants.allow(
            ["ecs:ListTasks"],
            self._arns("ecs", "container-instance/*"),
            "which tasks run, in any cluster: an image a running task uses is never removed",
        )
        grants.allow(["ecs:DescribeTasks"], self._arns("ecs", "task/*"), "the task definitions of the running tasks")
        grants.allow(
            ["ecr:DescribeRepositories", "ecr:DescribeImages"],
            repositories,
            "lists the repositories the policy cleans, and their images",
        )
        grants.allow(
            ["ecr:BatchDeleteImage"],
            repositories,
            "images cannot be tagged (their marks are in the audit table); never in a repository tagged protect",
            {"Null": {f"aws:ResourceTag/{self.protect_tag}": "true"}},
        )

    def _log_group_grants(self, grants: Grants, marked: Mapping[str, Mapping[str, str]]) -> None:
        groups = self._arns("logs", "log-group:*")
        grants.allow(
            ["logs:DescribeLogGroups", "logs:ListTagsForResource"],
            groups,
            "lists the log groups of the policy's regions and their tags",
        )
        grants.allow(
            ["logs:PutRetentionPolicy", "logs:DeleteLogGroup"],
            groups,
            "sets a retention or removes an empty group of a deleted function, only on marked, unprotected groups",
            marked,
        )
        grants.allow(
            ["logs:TagResource"], groups, "writes the mark tag, and only that tag, on log groups", self._only_the_mark()
        )
        grants.allow(
            ["lambda:GetFunction"],
            self._arns("lambda", "function:*"),
            "whether the function of a /aws/lambda/ log group still exists",
        )

    def _lambda_version_grants(self, grants: Grants) -> None:
        grants.read("lambda:ListFunctions")
        grants.allow(
            ["lambda:ListVersionsByFunction", "lambda:ListAliases"],
            self._arns("lambda", "function:*"),
            "the versions of every function and the aliases that keep some of them",
        )
        grants.allow(
            ["lambda:DeleteFunction"],
            self._arns("lambda", "function:*:*"),
            "deletes published versions only: the ARN must carry a version qualifier, so no function as a whole "
            "(versions cannot be tagged; their marks are in the audit table)",
        )

    def _stack_grants(self, grants: Grants) -> None:
        rule = self.policy.kinds.cfn_stack
        if rule is None:
            return
        prefixes = rule.name_prefixes or [""]
        stacks = [arn for prefix in prefixes for arn in self._arns("cloudformation", f"stack/{prefix}*/*")]
        grants.allow(
            ["cloudformation:DescribeStacks"], stacks, "lists the stacks the policy may remove, with their tags"
        )
        grants.allow(
            ["cloudformation:DeleteStack"],
            stacks,
            f"only stacks that carry the TTL tag {rule.ttl_tag} and not the protect tag (stack tags cannot change "
            "without an update: their marks are in the audit table)",
            {
                "StringLike": {f"aws:ResourceTag/{rule.ttl_tag}": "*"},
                "Null": {f"aws:ResourceTag/{self.protect_tag}": "true"},
            },
        )

    def _acknowledge_wildcards(self, stack: Stack) -> None:
        reads = (
            f"{', '.join(self.grants.reads)} support no resource-level permissions (list and describe calls), "
            if self.grants.reads
            else ""
        )
        acknowledgments = [
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason=f"{reads}nor do X-Ray's PutTraceSegments and PutTelemetryRecords. Every other statement of "
                "this role names its resource types in the policy's regions.",
            ),
        ]
        acknowledgments += [
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{_nag_name(stack, resource)}]",
                reason=f"The resources are only known at run time: {'; '.join(why)}",
            )
            for resource, why in self.grants.wildcards.items()
        ]
        # On the role: its statements may overflow from the default policy into managed policies of its own.
        Validations.of(self.function.role).acknowledge(*acknowledgments)

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
        def per_kind(name: str) -> cloudwatch.MathExpression:
            return cloudwatch.MathExpression(
                expression=PER_KIND.format(name=name), label="${PROP('Dim.kind')}", period=Duration.days(1)
            )

        def total(name: str, label: str) -> cloudwatch.MathExpression:
            return cloudwatch.MathExpression(
                expression=ANY_DIMENSIONS.format(name=name), label=label, period=Duration.days(1)
            )

        month = "-P30D"
        core.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Cleanup: resources removed per kind and day",
                left=[per_kind("CleanupActed")],
                stacked=True,
                start=month,
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Cleanup: estimated monthly saving (USD) of what was removed, per kind",
                left=[per_kind("CleanupMonthlySavingUSD")],
                stacked=True,
                start=month,
                width=8,
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


def _nag_name(stack: Stack, value: str) -> str:
    """A resource as cdk-nag names it in a finding: intrinsics written <AWS::Partition>, <Logical.Arn>..."""

    def flat(part: Any) -> str:
        if isinstance(part, str):
            return part
        if isinstance(part, dict) and "Fn::Join" in part:
            separator, pieces = part["Fn::Join"]
            return str(separator).join(flat(piece) for piece in pieces)
        if isinstance(part, dict) and "Ref" in part:
            return f"<{part['Ref']}>"
        if isinstance(part, dict) and "Fn::GetAtt" in part:
            return f"<{'.'.join(part['Fn::GetAtt'])}>"
        raise ValueError(f"cannot name {part!r} as cdk-nag does")

    return flat(stack.resolve(value))
