"""ECR images: untagged ones older than N days beyond the last K of each repository, never one ECS runs.

The listing reads every image of a repository (pages of 1000), not only the untagged ones, because the
last K are counted over all of them and a tagged image index (multi-architecture) holds untagged
children: those are in use, as are images ECS runs: a running task's (its task definition's image by
tag or digest, and the digest the task resolved), every service deployment's task definition, and every
version of a container-image Lambda function (GetFunction, one call a version of such functions). An
image's protect tag is its repository's (images carry no tags of their own), and marks live in the
engine's state table (taggable False). The saving is the image's size, an upper bound: layers shared
with other images stay billed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from functions.cleanup.kinds.base import (
    Arn,
    Candidate,
    Excluded,
    Guard,
    Judgement,
    KindName,
    KindRule,
    Listing,
    Permissions,
    Resource,
    Scope,
    Statement,
    register,
)
from functions.cleanup.kinds.common import (
    FUNCTION_VERSIONS,
    Days,
    age_days,
    chunks,
    deleter_role,
    own_rule,
    per_parent,
    tag_map,
    utc,
)
from functions.cleanup.prices import GIB, monthly
from functions.shared.clients import client
from functions.shared.policy_base import matching

if TYPE_CHECKING:
    from mypy_boto3_ecr.type_defs import ImageDetailTypeDef, RepositoryTypeDef
    from mypy_boto3_ecs.type_defs import ContainerDefinitionOutputTypeDef, ServiceTypeDef, TaskTypeDef
    from mypy_boto3_lambda.type_defs import FunctionConfigurationTypeDef

RepositoryName = Annotated[
    str,
    matching(
        r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*",
        "an ECR repository name: lowercase letters and digits, parts joined by . _ - or /",
    ),
]
INDEX_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
BATCH = 100  # BatchGetImage, DescribeTasks: at most 100 ids a call
SERVICES_BATCH = 10  # DescribeServices: at most 10 services a call


class Rule(KindRule):
    untagged_older_than_days: Days = 14
    keep_last: Annotated[int, Field(ge=0, le=10_000)] = 10  # the newest K images of each repository stay
    repositories: Annotated[list[RepositoryName], Field(min_length=1)] | None = None  # None: every repository


def _resource(
    region: str, repository: RepositoryTypeDef, tags: Mapping[str, str], image: ImageDetailTypeDef
) -> Resource:
    name, digest = repository["repositoryName"], image["imageDigest"]
    image_tags = list(image.get("imageTags", []))
    return Resource(
        kind="ecr-image",
        id=f"{name}@{digest}",
        region=region,
        created=utc(image["imagePushedAt"]),
        tags=tags,
        owner=image.get("registryId"),
        name=f"{name}:{image_tags[0]}" if image_tags else f"{name}@{digest[:19]}",
        details={
            "repository": name,
            "uri": repository["repositoryUri"],
            "registry": repository["registryId"],
            "digest": digest,
            "image_tags": image_tags,
            "gib": int(image.get("imageSizeInBytes", 0)) / GIB,
            "media_type": image.get("imageManifestMediaType", ""),
        },
    )


class Images:
    name: KindName = "ecr-image"
    rule: type[KindRule] = Rule
    taggable = False
    permissions = Permissions.of(
        reads=[
            "ecr:DescribeRepositories",
            "ecr:ListTagsForResource",
            "ecr:DescribeImages",
            "ecr:BatchGetImage",
            "ecs:ListClusters",
            "ecs:ListTasks",
            "ecs:DescribeTasks",
            "ecs:ListServices",
            "ecs:DescribeServices",
            "ecs:DescribeTaskDefinition",
            "lambda:ListFunctions",
            "lambda:ListVersionsByFunction",
            "lambda:GetFunction",
        ],
        writes=["ecr:BatchDeleteImage"],
    )

    def statements(self, rule: KindRule) -> Sequence[Statement]:
        repositories = tuple(Arn("ecr", f"repository/{name}") for name in own_rule(rule, Rule).repositories or ["*"])
        return (
            Statement(
                ("ecr:DescribeRepositories", "ecr:ListTagsForResource", "ecr:DescribeImages", "ecr:BatchGetImage"),
                repositories,
                "lists the repositories the policy cleans, their tags, their images and what image indexes hold",
            ),
            Statement(
                ("ecr:BatchDeleteImage",),
                repositories,
                "images cannot be tagged (their marks are in the audit table); never in a repository tagged protect "
                "(the repository resource type takes aws:ResourceTag: Service Authorization Reference, Amazon ECR)",
                Guard.UNPROTECTED,
                deleter=True,
            ),
            Statement(
                # Listing by cluster names no container instance, so AWS authorizes it on * (Service Authorization
                # Reference, Amazon ECS; cdklabs/construct-hub#1207): the ecs:cluster condition scopes it instead.
                ("ecs:ListTasks",),
                ("*",),
                "ecs:ListTasks by cluster names no resource, so it is authorized on * and scoped by the ecs:cluster "
                "condition to the clusters of the policy's regions",
                conditions={"ArnLike": {"ecs:cluster": Arn("ecs", "cluster/*")}},
            ),
            Statement(("ecs:DescribeTasks",), (Arn("ecs", "task/*"),), "the task definitions of the running tasks"),
            Statement(
                ("ecs:DescribeServices",),
                (Arn("ecs", "service/*"),),
                "the task definitions of every service's deployments, in any cluster",
            ),
            Statement(
                ("lambda:ListVersionsByFunction", "lambda:GetFunction"),
                (Arn("lambda", "function:*"),),
                "the image every version of a container-image function pins",
            ),
        )

    listing = Listing(
        "ecr",
        "describe_images",
        "imageDetails",
        page_size=1000,
        parent=Listing("ecr", "describe_repositories", "repositories", page_size=1000),
        per_parent={"repositoryName": "repositoryName", "registryId": "registryId"},
    )

    def find(self, scope: Scope, rule: KindRule) -> Iterator[Resource]:
        wanted = own_rule(rule, Rule).repositories
        ecr = client("ecr", scope.region)
        repository: RepositoryTypeDef
        images: Iterator[ImageDetailTypeDef]
        for repository, images in per_parent(scope.region, self.listing):
            if wanted is not None and repository["repositoryName"] not in wanted:
                continue
            tags = tag_map(ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"]).get("tags", []))
            for image in images:
                yield _resource(scope.region, repository, tags, image)

    def in_use(self, scope: Scope, rule: KindRule, found: Sequence[Resource]) -> dict[str, str]:
        by_reference: dict[tuple[str, str], str] = {}  # (repository URI, tag or digest) -> image id
        for image in found:
            for tag_or_digest in (image.details["digest"], *image.details.get("image_tags", [])):
                by_reference[(str(image.details["uri"]), tag_or_digest)] = image.id
        used: dict[str, str] = {}
        holders = [*_index_children(scope.region, found), *_running(scope.region), *_lambda_images(scope.region)]
        for held, user in holders:
            ident = by_reference.get(held)
            if ident is not None:
                used.setdefault(ident, user)
        return used

    def judge(self, found: Sequence[Resource], rule: KindRule, now: datetime) -> dict[str, Judgement]:
        own = own_rule(rule, Rule)
        by_repository: dict[str, list[Resource]] = defaultdict(list)
        for image in found:
            by_repository[str(image.details["repository"])].append(image)
        judged: dict[str, Judgement] = {}
        for repository, images in by_repository.items():
            newest_first = sorted(images, key=lambda image: (image.created, image.id), reverse=True)
            for rank, image in enumerate(newest_first):
                judged[image.id] = judge_one(image, rank, repository, own, now)
        return judged

    def act(self, scope: Scope, resource: Resource, candidate: Candidate, rule: KindRule) -> None:
        answer = client("ecr", scope.region, deleter_role()).batch_delete_image(
            repositoryName=resource.details["repository"],
            registryId=str(resource.details["registry"]),
            imageIds=[{"imageDigest": resource.details["digest"]}],
        )
        failures = [f for f in answer.get("failures", []) if f.get("failureCode") != "ImageNotFound"]
        if failures:
            raise RuntimeError(f"{failures[0].get('failureCode')}: {failures[0].get('failureReason')}")

    def mark(self, scope: Scope, resources: Sequence[Resource], tag: str, value: str) -> None:
        raise NotImplementedError("ECR images carry no tags: the engine keeps ecr-image marks")


def judge_one(image: Resource, rank: int, repository: str, rule: Rule, now: datetime) -> Judgement:
    if rank < rule.keep_last:
        return Excluded(f"one of the last {rule.keep_last} images of {repository}")
    image_tags = image.details.get("image_tags") or []
    if image_tags:
        return Excluded(f"tagged {', '.join(image_tags)}")
    age = age_days(image.created, now)
    if age < rule.untagged_older_than_days:
        return Excluded(f"untagged for {age} days, fewer than {rule.untagged_older_than_days}")
    gib = float(image.details.get("gib", 0))
    return Candidate("delete", monthly("ecr-gb", image.region, gib), f"untagged, pushed {age} days ago")


def _index_children(region: str, found: Sequence[Resource]) -> Iterator[tuple[tuple[str, str], str]]:
    """((repository URI, child digest), 'part of image index ...') for the images image indexes list."""
    indexes: dict[str, list[Resource]] = defaultdict(list)
    for image in found:
        if image.details.get("media_type") in INDEX_MEDIA_TYPES:
            indexes[str(image.details["repository"])].append(image)
    ecr = client("ecr", region)
    for repository, listed in indexes.items():
        for batch in chunks(listed, BATCH):
            answer = ecr.batch_get_image(
                repositoryName=repository,
                registryId=str(batch[0].details["registry"]),
                imageIds=[{"imageDigest": image.details["digest"]} for image in batch],
                acceptedMediaTypes=list(INDEX_MEDIA_TYPES),
            )
            uri = str(batch[0].details["uri"])
            for got in answer.get("images", []):
                manifest = json.loads(got.get("imageManifest", "{}"))
                for child in manifest.get("manifests", []):
                    index = got.get("imageId", {}).get("imageDigest", "")
                    yield (uri, child["digest"]), f"part of image index {repository}@{index}"


def _running(region: str) -> Iterator[tuple[tuple[str, str], str]]:
    """((repository URI, tag or digest), who runs it) for ECS: running tasks, and services' deployments, which
    run their task definition again whenever they scale out or replace a task."""
    ecs = client("ecs", region)
    definitions: dict[str, str] = {}  # task definition ARN -> a task or service running it
    for clusters in ecs.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 100}):
        for cluster in clusters.get("clusterArns", []):
            for task in _tasks(region, cluster):
                arn = task.get("taskDefinitionArn", "")
                user = f"running task {task.get('taskArn', '').rpartition('/')[2]} ({arn.rpartition('/')[2]})"
                definitions.setdefault(arn, user)
                for container in task.get("containers", []):
                    if container.get("imageDigest") and container.get("image"):
                        yield (_repository_uri(container["image"]), container["imageDigest"]), user
            for service in _services(region, cluster):
                for deployment in service.get("deployments", []):
                    user = f"ECS service {service.get('serviceName', '')}"
                    definitions.setdefault(deployment.get("taskDefinition", ""), user)
    for arn, user in definitions.items():
        definition = ecs.describe_task_definition(taskDefinition=arn).get("taskDefinition", {})
        yield from ((reference, user) for reference in _references(definition.get("containerDefinitions", [])))


def _tasks(region: str, cluster: str) -> Iterator[TaskTypeDef]:
    ecs = client("ecs", region)
    listing = ecs.get_paginator("list_tasks").paginate(
        cluster=cluster, desiredStatus="RUNNING", PaginationConfig={"PageSize": 100}
    )
    arns = [arn for page in listing for arn in page.get("taskArns", [])]
    for batch in chunks(arns, BATCH):
        yield from ecs.describe_tasks(cluster=cluster, tasks=list(batch)).get("tasks", [])


def _services(region: str, cluster: str) -> Iterator[ServiceTypeDef]:
    ecs = client("ecs", region)
    listing = ecs.get_paginator("list_services").paginate(cluster=cluster, PaginationConfig={"PageSize": 100})
    arns = [arn for page in listing for arn in page.get("serviceArns", [])]
    for batch in chunks(arns, SERVICES_BATCH):
        yield from ecs.describe_services(cluster=cluster, services=list(batch)).get("services", [])


def _references(containers: Iterable[ContainerDefinitionOutputTypeDef]) -> Iterator[tuple[str, str]]:
    return (reference(container.get("image", "")) for container in containers)


def reference(image: str) -> tuple[str, str]:
    """'URI:tag' or 'URI@digest' (no tag: latest) as (repository URI, tag or digest)."""
    if "@" in image:
        uri, _, digest = image.partition("@")
        return uri, digest
    uri = _repository_uri(image)
    return uri, image[len(uri) + 1 :] or "latest"


def _lambda_images(region: str) -> Iterator[tuple[tuple[str, str], str]]:
    """((repository URI, tag or digest), 'Lambda function NAME:VERSION') for container-image functions,
    every published version included: each pins the digest it was published with."""
    awslambda = client("lambda", region)
    function: FunctionConfigurationTypeDef
    versions: Iterator[FunctionConfigurationTypeDef]
    for function, versions in per_parent(region, FUNCTION_VERSIONS):
        if function.get("PackageType") != "Image":
            continue  # its versions are never listed
        name = function.get("FunctionName", "")
        for version in (listed.get("Version", "") for listed in versions):
            code = awslambda.get_function(FunctionName=name, Qualifier=version).get("Code", {})
            for image in {code.get("ImageUri", ""), code.get("ResolvedImageUri", "")} - {""}:
                yield reference(image), f"Lambda function {name}:{version}"


def _repository_uri(image: str) -> str:
    """'acct.dkr.ecr.region.amazonaws.com/web:v1' or '...@sha256:...' -> 'acct.dkr.ecr.region.amazonaws.com/web'."""
    image = image.partition("@")[0]
    registry, slash, path = image.rpartition("/")
    return f"{registry}{slash}{path.partition(':')[0]}"


KIND = register(Images())
