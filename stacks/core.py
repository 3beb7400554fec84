"""The shared infrastructure every duty uses: key, topic, audit table, queues, switches, dashboard."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Token, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from functions.shared.audit import INDEX_BY_DUTY
from functions.shared.policy import Policy, PolicyError
from functions.shared.switches import SWITCH_NAMES, SwitchState, parameter_name

from .versions import REPO_ROOT, pinned_version

LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14
LAMBDA_ARCHITECTURE = lambda_.Architecture.ARM_64

# The function asset is the repository root reduced to the `functions` package, so handlers
# import `functions.shared...` exactly as the tests do.
ASSET_EXCLUDE = ["*", ".*", "!functions", "!functions/**", "**/__pycache__", "**/*.pyc"]


def powertools_layer_parameter(version: str) -> str:
    """The public SSM parameter AWS publishes with the Powertools layer ARN of one exact version."""
    python = LAMBDA_RUNTIME.name.removeprefix("python")
    return f"/aws/service/powertools/python/arm64/python{python}/{version}"


# Physical names, and the settings built from them: Core deploys them, `python -m sandbox invoke
# --here` computes them without a synth.
def audit_table_name(prefix: str) -> str:
    return f"{prefix}-audit"


def topic_name(prefix: str) -> str:
    return f"{prefix}-notifications"


def switches_path(prefix: str) -> str:
    return f"/{prefix}/switches"


def function_environment(policy: Policy, *, audit_table: str, topic_arn: str) -> dict[str, str]:
    """The settings every function reads (see functions/shared/settings.py)."""
    return {
        "DECKHAND_NAME_PREFIX": policy.name_prefix,
        "DECKHAND_AUDIT_TABLE": audit_table,
        "DECKHAND_TOPIC_ARN": topic_arn,
        "DECKHAND_SWITCHES_PATH": switches_path(policy.name_prefix),
        "DECKHAND_DRY_RUN": str(policy.defaults.dry_run).lower(),
        "DECKHAND_AUDIT_RETENTION_DAYS": str(policy.defaults.audit_retention_days),
        "DECKHAND_SWITCH_CACHE_SECONDS": str(policy.switches.cache_seconds),
        "DECKHAND_SWITCH_MAX_HOURS": str(policy.switches.max_hours),
        "DECKHAND_PROTECT_TAG": policy.defaults.protect_tag,
        "POWERTOOLS_METRICS_NAMESPACE": "Deckhand",
    }


# Lambda refuses a function whose variables, measured as their JSON object, exceed 4 KB.
ENVIRONMENT_LIMIT_BYTES = 4096


def environment_bytes(variables: Mapping[str, str]) -> int:
    return len(json.dumps(dict(variables), separators=(",", ":"), ensure_ascii=False).encode())


def largest_environment(policy: Policy, services: Iterable[str], duty: Mapping[str, str]) -> dict[str, str]:
    """The biggest environment one of a duty's functions gets, with physical names in place of CDK tokens."""
    prefix = policy.name_prefix
    longest_arn = f"arn:aws-us-gov:sns:{policy.regions[0]}:000000000000:{topic_name(prefix)}"
    shared = function_environment(policy, audit_table=audit_table_name(prefix), topic_arn=longest_arn)
    return {**shared, "POWERTOOLS_SERVICE_NAME": max(services, key=len), **duty}


def check_environment_size(
    source: str, environment: Mapping[str, str], *, key: str, variable: str, remedy: str
) -> None:
    """Fail the synth, naming the policy key, when a duty's section makes its functions' environment too big."""
    size = environment_bytes(environment)
    if size > ENVIRONMENT_LIMIT_BYTES:
        section, taken = key.split(".", maxsplit=1)[0], len(environment[variable].encode())
        raise PolicyError(
            source,
            [
                f"{key}: the {section} section takes {taken} bytes as the functions' {variable} "
                f"setting, which brings their environment to {size} bytes, over Lambda's limit of "
                f"{ENVIRONMENT_LIMIT_BYTES} bytes (4 KB); {remedy}"
            ],
        )


POLICY_CONTEXT_KEY = "deckhand:policy"  # cdk.json's context key naming the policy file (`cdk deploy -c` overrides)


def policy_source(scope: Construct) -> str:
    """The policy file's name as the app's context gives it, as a policy error names it."""
    return str(scope.node.try_get_context(POLICY_CONTEXT_KEY) or "deckhand.yaml")


def unique(values: Iterable[str]) -> list[str]:
    """The values in their first order, each once."""
    return list(dict.fromkeys(values))


def wildcard_finding(scope: Construct, service: str, resource: str) -> str:
    """The id cdk-nag gives a wildcard resource of this stack's region and account, to acknowledge it."""
    stack = Stack.of(scope)
    region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
    account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
    return f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:{service}:{region}:{account}:{resource}]"


class Core(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, policy: Policy) -> None:
        super().__init__(scope, construct_id)
        self.policy = policy
        prefix = policy.name_prefix
        stack = Stack.of(self)

        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{prefix}",
            description="Encrypts Deckhand's topic, queues and audit table",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch alarms publish to the encrypted topic, so the service needs the data key.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )

        self.topic = sns.Topic(
            self,
            "Notifications",
            topic_name=topic_name(prefix),
            display_name="Deckhand",
            master_key=self.key,
            enforce_ssl=True,
        )
        for email in policy.notifications.emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))

        self.failed_invocations = self.queue("FailedInvocations", f"{prefix}-failed-invocations")

        self.audit_table = self.table(
            self,
            "AuditTable",
            name=audit_table_name(prefix),
            partition_key="pk",
            sort_key="sk",
            ttl_attribute="expires_at",
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.audit_table.add_global_secondary_index(
            index_name=INDEX_BY_DUTY,
            partition_key=dynamodb.Attribute(name="duty", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
        )

        self.switches_path = switches_path(prefix)
        self.switch_parameters = {
            name: ssm.StringParameter(
                self,
                f"Switch-{name}",
                parameter_name=parameter_name(self.switches_path, name),
                string_value=json.dumps(SwitchState(name=name).document(), sort_keys=True),
                description=f"Deckhand runtime switch '{name}': set it with the switches function",
                simple_name=False,
            )
            for name in SWITCH_NAMES
        }

        self.code = lambda_.Code.from_asset(str(REPO_ROOT), exclude=ASSET_EXCLUDE)
        self.powertools_version = pinned_version("aws-lambda-powertools")
        self.powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "Powertools",
            ssm.StringParameter.value_for_string_parameter(self, powertools_layer_parameter(self.powertools_version)),
        )

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{prefix}-overview")
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# Deckhand ({prefix})\nDecisions, actions and savings of every duty; "
                "errors per function below. Switches live under "
                f"`{self.switches_path}` in Parameter Store.",
                width=24,
                height=2,
            ),
            cloudwatch.GraphWidget(
                title="Switch changes and rejected commands",
                left=[self.count_metric("SwitchChanged"), self.count_metric("CommandRejected")],
                width=12,
            ),
        )

    def count_metric(self, name: str) -> cloudwatch.IMetric:
        """A Deckhand EMF metric summed over every function that emits it."""
        return cloudwatch.MathExpression(
            expression=f"SUM(SEARCH('{{Deckhand,service}} MetricName=\"{name}\"', 'Sum', 300))",
            label=name,
            period=Duration.minutes(5),
        )

    def table(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        partition_key: str,
        ttl_attribute: str,
        removal_policy: RemovalPolicy,
        sort_key: str | None = None,
    ) -> dynamodb.Table:
        """A Deckhand table: on demand, encrypted with the key, point-in-time recovery, TTL."""
        return dynamodb.Table(
            scope,
            construct_id,
            table_name=name,
            partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.STRING) if sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=ttl_attribute,
            removal_policy=removal_policy,
        )

    def queue(self, construct_id: str, name: str, *, scope: Construct | None = None) -> sqs.Queue:
        """A KMS-encrypted queue, created in `scope` (a function's own dead-letter queue) or in the core."""
        queue = sqs.Queue(
            scope or self,
            construct_id,
            queue_name=name,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        Validations.of(queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue is itself the dead-letter store of failed Lambda invocations; "
                "a queue behind it would only hold the same records again.",
            )
        )
        return queue

    def environment(self) -> dict[str, str]:
        """The settings every function reads (see functions/shared/settings.py)."""
        return function_environment(
            self.policy, audit_table=self.audit_table.table_name, topic_arn=self.topic.topic_arn
        )

    def grant_runtime(self, grantee: iam.IGrantable) -> None:
        """What every function needs: write audit records, notify, read the switches."""
        principal = grantee.grant_principal
        table_arn = self.audit_table.table_arn
        principal.add_to_principal_policy(iam.PolicyStatement(actions=["dynamodb:PutItem"], resources=[table_arn]))
        principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["dynamodb:Query"], resources=[f"{table_arn}/index/{INDEX_BY_DUTY}"])
        )
        self.key.grant(grantee, "kms:Decrypt", "kms:GenerateDataKey")
        self.topic.grant_publish(grantee)
        stack = Stack.of(self)
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ssm:GetParametersByPath"],
                resources=[stack.format_arn(service="ssm", resource="parameter", resource_name=self.switches_path[1:])],
            )
        )
