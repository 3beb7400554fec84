"""Resource Groups Tagging API (`tag:`): SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonresourcegrouptaggingapi.html"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sandbox.iam.actions.rows import Also, Row, Table, request_tags
from sandbox.iam.model import Call, IamRequest

# TagResources also needs the tagging action of each resource's own service.
TAG_RESOURCES = "https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_TagResources.html"
SERVICE_TAGGING: Mapping[str, str] = {
    "ec2": "ec2:CreateTags",
    "lambda": "lambda:TagResource",
    "logs": "logs:TagResource",
    "ecr": "ecr:TagResource",
    "ecs": "ecs:TagResource",
    "cloudwatch": "cloudwatch:TagResource",
    "sns": "sns:TagResource",
    "sqs": "sqs:TagQueue",
    "dynamodb": "dynamodb:TagResource",
    "s3": "s3:PutBucketTagging",
    "cloudformation": "cloudformation:TagResource",
    "codepipeline": "codepipeline:TagResource",
    "autoscaling": "autoscaling:CreateOrUpdateTags",
    "ssm": "ssm:AddTagsToResource",
}


def service_tagging(call: Call) -> Sequence[IamRequest]:
    context = request_tags(call.params.get("Tags") or {})
    found = []
    for resource in call.params["ResourceARNList"]:
        service = str(resource).split(":")[2]
        action = SERVICE_TAGGING.get(service, f"{service}:TagResource")
        found.append(IamRequest(action, str(resource), context))
    return found


TABLE: Table = {
    "GetResources": Row("tag:GetResources"),
    "TagResources": Row("tag:TagResources", also=(Also(service_tagging, TAG_RESOURCES),)),
}
