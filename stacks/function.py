"""One construct for every Deckhand function, so each gets the same runtime, logging and safety nets."""

from __future__ import annotations

from aws_cdk import Duration, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from constructs import Construct

from . import nag
from .core import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, Core, alarm_name, dead_letter_queue_name

RETENTION = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS, 5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS, 120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS, 180: logs.RetentionDays.SIX_MONTHS, 365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS, 545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS, 1096: logs.RetentionDays.THREE_YEARS, 1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS, 2557: logs.RetentionDays.SEVEN_YEARS, 2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS, 3653: logs.RetentionDays.TEN_YEARS,
}  # fmt: skip


def handler_path(service: str, duty: str | None = None) -> str:
    """A function's handler is `functions/<service>/handler.py:handler`, or, for one of a duty's several
    functions, `functions/<duty>/<service>/handler.py:handler`; `-` written `_`."""
    package = service.replace("-", "_")
    return f"functions.{duty}.{package}.handler.handler" if duty else f"functions.{package}.handler.handler"


class DeckhandFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        core: Core,
        service: str,
        duty: str | None = None,
        description: str,
        timeout_seconds: int = 30,
        memory_size: int = 256,
        environment: dict[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        prefix = core.policy.name_prefix
        function_name = f"{prefix}-{service}"

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{function_name}",
            retention=RETENTION[core.policy.defaults.log_retention_days],
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs the Deckhand {service} function",
        )
        # Written by hand instead of AWSLambdaBasicExecutionRole, which allows every log group.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.dead_letter_queue = core.queue("DeadLetterQueue", dead_letter_queue_name(function_name), scope=self)

        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description=description,
            runtime=LAMBDA_RUNTIME,
            architecture=LAMBDA_ARCHITECTURE,
            code=core.code,
            handler=handler_path(service, duty),
            layers=[core.powertools],
            role=self.role,
            timeout=Duration.seconds(timeout_seconds),
            memory_size=memory_size,
            environment={**core.environment(), "POWERTOOLS_SERVICE_NAME": service, **(environment or {})},
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel(core.policy.defaults.log_level),
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
            dead_letter_queue=self.dead_letter_queue,
            on_failure=destinations.SqsDestination(core.failed_invocations),
            retry_attempts=2,
            max_event_age=Duration.hours(6),
        )
        core.grant_runtime(self.role)
        Validations.of(self.role).acknowledge(
            nag.any_resource(self, f"{nag.X_RAY_REASON}; every other statement of this role names its resources."),
            nag.wildcard_action(
                "kms:GenerateDataKey*",
                "CDK's grant for publishing to the encrypted topic and queues; it is scoped to the "
                "one Deckhand key and covers only the GenerateDataKey variants.",
            ),
            nag.wildcard_action(
                "kms:ReEncrypt*",
                "CDK's grant for sending to the KMS-encrypted dead-letter queue; scoped to the one "
                "Deckhand key and covering only the ReEncrypt variants.",
            ),
        )

        to_topic = cw_actions.SnsAction(core.topic)
        self.error_alarm = self._alarm(
            "Errors",
            self.function.metric_errors(period=Duration.minutes(5), statistic=cloudwatch.Stats.SUM),
            alarm_name(function_name, "errors"),
            f"The Deckhand {service} function failed; see its log group {self.log_group.log_group_name} and its "
            "dead-letter queue.",
            to_topic,
        )
        self.dead_letter_alarm = self._alarm(
            "DeadLetters",
            self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic=cloudwatch.Stats.MAXIMUM
            ),
            alarm_name(function_name, "dead-letters"),
            f"Events the Deckhand {service} function could not process wait in "
            f"{dead_letter_queue_name(function_name)}.",
            to_topic,
        )

        core.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title=f"{service}: invocations and errors",
                left=[self.function.metric_invocations(), self.function.metric_errors()],
                width=12,
            )
        )

    def _alarm(
        self, construct_id: str, metric: cloudwatch.Metric, name: str, description: str, action: cw_actions.SnsAction
    ) -> cloudwatch.Alarm:
        """An alarm at one or more in the metric's period, told to the topic."""
        alarm = metric.create_alarm(
            self,
            construct_id,
            alarm_name=name,
            alarm_description=description,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(action)
        return alarm

    @property
    def function_name(self) -> str:
        return self.function.function_name
