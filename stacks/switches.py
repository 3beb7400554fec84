"""The switches duty: the console function operators use to freeze deploys and pause automation."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from functions.switches.declared import DUTY

from .core import Core
from .function import DeckhandFunction


class Switches(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, core: Core) -> None:
        super().__init__(scope, construct_id)
        self.function = DeckhandFunction(
            self,
            "Function",
            core=core,
            service="switches",
            description="Show, set or clear Deckhand's deploy freeze and pause switches (console)",
        )
        core.grant_audit(self.function.role, DUTY)
        self.function.role.add_to_policy(
            iam.PolicyStatement(
                actions=["ssm:PutParameter"],
                resources=[parameter.parameter_arn for parameter in core.switch_parameters.values()],
            )
        )
        fn = self.function.function
        self.sweep_rule = events.Rule(
            self,
            "Sweep",
            description="Turns expired Deckhand switches off and notifies that they ended",
            schedule=events.Schedule.rate(Duration.minutes(5)),
            targets=[
                targets.LambdaFunction(
                    fn,
                    event=events.RuleTargetInput.from_object({"action": "sweep", "dry_run": False}),
                    dead_letter_queue=self.function.dead_letter_queue,
                    retry_attempts=2,
                )
            ],
        )
        self.edit_rule = events.Rule(
            self,
            "SwitchEdited",
            description="Audits and reports a Deckhand switch parameter changed outside the switches function",
            event_pattern=events.EventPattern(
                source=["aws.ssm"],
                detail_type=["Parameter Store Change"],
                detail={"name": [{"prefix": f"{core.switches_path}/"}]},
            ),
            targets=[targets.LambdaFunction(fn, dead_letter_queue=self.function.dead_letter_queue, retry_attempts=2)],
        )
