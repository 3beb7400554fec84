"""Amazon ECR: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerregistry.html"""

from __future__ import annotations

from collections.abc import Sequence

from moto.ecr.models import ecr_backends

from sandbox.iam.actions.rows import MOTO_ERRORS, Context, Row, Table, arn, pairs, resource_tags
from sandbox.iam.model import Call


def _repository(call: Call, name: str) -> str:
    return arn(call, "ecr", f"repository/{name}", account=call.params.get("registryId") or True)


def repository(call: Call) -> Sequence[str]:
    return (_repository(call, call.params["repositoryName"]),)


def repositories(call: Call) -> Sequence[str]:
    """The repositories named; without names, every repository: `repository/*`.

    Listing answers only the repositories the caller may describe ("all repositories in the default registry
    to which the current user has access", https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeRepositories.html),
    so a grant on `repository/*` lists them all, and the sandbox asks for that.
    """
    names = call.params.get("repositoryNames") or ["*"]
    return [_repository(call, name) for name in names]


def named(call: Call) -> Sequence[str]:
    return (call.params["resourceArn"],)


def tags(call: Call, resource: str) -> Context:
    if resource.endswith("/*"):
        return {}
    try:
        found = ecr_backends[call.account][call.region].list_tags_for_resource(resource)["tags"]
    except MOTO_ERRORS:
        return {}
    return resource_tags(pairs(found), "ecr")


TABLE: Table = {
    "DescribeRepositories": Row("ecr:DescribeRepositories", repositories, tags),
    "ListImages": Row("ecr:ListImages", repository, tags),
    "DescribeImages": Row("ecr:DescribeImages", repository, tags),
    "BatchGetImage": Row("ecr:BatchGetImage", repository, tags),
    "BatchDeleteImage": Row("ecr:BatchDeleteImage", repository, tags),
    "ListTagsForResource": Row("ecr:ListTagsForResource", named, tags),
}
