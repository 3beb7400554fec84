"""The switches duty: the console function operators use to freeze deploys and pause automation."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from constructs import Construct

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
            handler="functions.switches.handler.handler",
            description="Show, set or clear Deckhand's deploy freeze and pause switches (console)",
        )
        self.function.role.add_to_policy(
            iam.PolicyStatement(
                actions=["ssm:PutParameter"],
                resources=[parameter.parameter_arn for parameter in core.switch_parameters.values()],
            )
        )
