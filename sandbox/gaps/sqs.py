"""AWS::SQS::QueuePolicy, which moto's CloudFormation skips: without it a deployed queue had no policy, and the
deliveries it governs (a rule's dead-letter queue) could not be checked."""

from __future__ import annotations

import json

from moto.core.common_models import CloudFormationModel
from moto.sqs.models import sqs_backends

from sandbox.gaps.cloudformation import CfnAttachment
from sandbox.gaps.common import JSON


class CfnQueuePolicy(CfnAttachment, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"

    @classmethod
    def attach(cls, properties: JSON, account_id: str, region_name: str, *, removing: bool = False) -> None:
        policy = "" if removing else json.dumps(properties["PolicyDocument"])
        for url in properties["Queues"]:
            name = str(url).rstrip("/").rsplit("/", 1)[1]
            sqs_backends[account_id][region_name].set_queue_attributes(name, {"Policy": policy})
