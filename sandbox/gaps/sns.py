"""AWS::SNS::TopicPolicy, which moto's CloudFormation skips: without it a deployed topic had no policy, and the
deliveries it governs (an alarm's action) could not be checked."""

from __future__ import annotations

import json

from moto.core.common_models import CloudFormationModel
from moto.sns.models import sns_backends

from sandbox.gaps.cloudformation import CfnAttachment
from sandbox.gaps.common import JSON


class CfnTopicPolicy(CfnAttachment, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"

    @classmethod
    def attach(cls, properties: JSON, account_id: str, region_name: str, *, removing: bool = False) -> None:
        policy = "" if removing else json.dumps(properties["PolicyDocument"])
        for arn in properties["Topics"]:
            topic = sns_backends[account_id][region_name].get_topic(str(arn))
            # Without a policy of its own a topic has SNS's default one.
            topic.policy = policy or json.dumps(topic._create_default_topic_policy(region_name, account_id, topic.name))
