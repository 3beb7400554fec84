"""ECR images against moto: every image of the chosen repositories with the repository's tags, what running
tasks and image indexes hold, deletion (twice is safe); keep-last and untagged-age are judged purely.

moto 5.2.5 keeps imagePushedAt at the push and does not resolve a task container's imageDigest, so ages are
judged on plain data and running images are matched through the task definition's tag; it also answers no
image index manifests, so BatchGetImage is answered by botocore's Stubber on Deckhand's own client.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from functions.cleanup.kinds.base import Candidate, Excluded, Resource
from functions.cleanup.kinds.ecr import INDEX_MEDIA_TYPES, KIND, Rule
from functions.shared.clients import client
from tests.support.aws import REGION

from .support import ACCOUNT, lambda_role, scope, setup_client, whole_cycle

SCOPE = scope("ecr-image")
RULE = Rule(keep_last=0, repositories=["web"])
NOW = datetime(2026, 6, 1, tzinfo=UTC)
URI = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/web"


def manifest(number: int) -> str:
    def blob(kind: str) -> dict[str, object]:
        digest = hashlib.sha256(f"web/{number}/{kind}".encode()).hexdigest()
        return {"mediaType": "application/octet-stream", "size": 1000, "digest": f"sha256:{digest}"}

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": blob("config"),
            "layers": [blob("layer")],
        }
    )


@pytest.fixture
def images(aws: None) -> dict[str, str]:
    ecr, ecs = setup_client("ecr"), setup_client("ecs")
    ecr.create_repository(repositoryName="web", tags=[{"Key": "team", "Value": "shop"}])
    ecr.create_repository(repositoryName="other")
    digests = {}
    for number, tag in enumerate((None, "v1.0.0", None, "v1.4.0")):
        pushed = ecr.put_image(
            repositoryName="web", imageManifest=manifest(number), **({"imageTag": tag} if tag else {})
        )
        digests[tag or f"untagged-{number}"] = pushed["image"]["imageId"]["imageDigest"]
    ecr.put_image(repositoryName="other", imageManifest=manifest(9))
    ecs.create_cluster(clusterName="web-app")
    ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "web", "image": f"{URI}:v1.4.0", "memory": 128}]
    )
    ecs.register_task_definition(
        family="api", containerDefinitions=[{"name": "api", "image": f"{URI}:v1.0.0", "memory": 128}]
    )
    ecs.create_service(cluster="web-app", serviceName="api", taskDefinition="api", desiredCount=0)
    setup_client("lambda").create_function(
        FunctionName="thumbnails",
        Role=lambda_role(),
        PackageType="Image",
        Code={"ImageUri": f"{URI}@{digests['untagged-2']}"},
    )
    network = {"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}}
    ecs.run_task(cluster="web-app", taskDefinition="web", launchType="FARGATE", networkConfiguration=network)
    return {name: f"web@{digest}" for name, digest in digests.items()}


def test_find_lists_every_image_of_the_chosen_repositories(images: dict[str, str]) -> None:
    found = {image.id: image for image in KIND.find(SCOPE, RULE)}

    assert set(found) == set(images.values())
    running = found[images["v1.4.0"]]
    assert running.name == "web:v1.4.0"
    assert running.tags == {"team": "shop"}
    assert running.details["uri"] == URI
    assert running.created.utcoffset() == timedelta(0)
    assert len(list(KIND.find(SCOPE, Rule()))) == len(images) + 1


def test_images_a_task_a_service_or_a_function_runs_are_in_use(images: dict[str, str]) -> None:
    used = KIND.in_use(SCOPE, RULE, list(KIND.find(SCOPE, RULE)))

    assert set(used) == {images["v1.4.0"], images["v1.0.0"], images["untagged-2"]}
    assert used[images["untagged-2"]] == "Lambda function thumbnails:$LATEST"
    assert used[images["v1.4.0"]].startswith("running task ")
    assert used[images["v1.0.0"]] == "ECS service api"  # scaled to zero, it runs the image again when it scales out


def test_the_children_of_an_image_index_are_in_use(aws: None) -> None:
    index = image_resource("web@sha256:index", 0, ["v2"], media_type=INDEX_MEDIA_TYPES[0])
    child = image_resource("web@sha256:child", 0, [])
    listed = {"manifests": [{"digest": "sha256:child", "mediaType": "application/vnd.oci.image.manifest.v1+json"}]}
    answer = {"images": [{"imageId": {"imageDigest": "sha256:index"}, "imageManifest": json.dumps(listed)}]}
    expected = {
        "repositoryName": "web",
        "registryId": ACCOUNT,
        "imageIds": [{"imageDigest": "sha256:index"}],
        "acceptedMediaTypes": list(INDEX_MEDIA_TYPES),
    }
    with Stubber(client("ecr", REGION)) as stubber:
        stubber.add_response("batch_get_image", answer, expected)

        used = KIND.in_use(SCOPE, RULE, [index, child])

    assert used == {"web@sha256:child": "part of image index web@sha256:index"}


def test_act_deletes_and_twice_is_safe(images: dict[str, str]) -> None:
    old = next(image for image in KIND.find(SCOPE, RULE) if image.id == images["untagged-0"])

    KIND.act(SCOPE, old, Candidate("delete", 0.1, "untagged"), RULE)
    KIND.act(SCOPE, old, Candidate("delete", 0.1, "untagged"), RULE)

    assert images["untagged-0"] not in {image.id for image in KIND.find(SCOPE, RULE)}


def image_resource(ident: str, days: int, tags: list[str], repository: str = "web", media_type: str = "") -> Resource:
    return Resource(
        kind="ecr-image",
        id=ident,
        region=REGION,
        created=NOW - timedelta(days=days),
        owner=ACCOUNT,
        details={
            "repository": repository,
            "uri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repository}",
            "registry": ACCOUNT,
            "digest": ident.partition("@")[2],
            "image_tags": tags,
            "gib": 0.5,
            "media_type": media_type,
        },
    )


estates = st.lists(
    st.tuples(st.sampled_from(["web", "api", "batch"]), st.integers(0, 400), st.booleans()), max_size=40
).map(
    lambda rows: [
        image_resource(f"{repo}@sha256:{n}", days, ["v"] if tagged else [], repo)
        for n, (repo, days, tagged) in enumerate(rows)
    ]
)


@given(estates, st.integers(0, 12), st.integers(0, 60))
def test_keep_last_newest_tagged_and_young_images_are_never_candidates(
    found: list[Resource], keep_last: int, older_than: int
) -> None:
    rule = Rule(keep_last=keep_last, untagged_older_than_days=older_than)

    judged = KIND.judge(found, rule, NOW)

    assert set(judged) == {image.id for image in found}
    for repository in {image.details["repository"] for image in found}:
        mine = sorted(
            (i for i in found if i.details["repository"] == repository), key=lambda i: (i.created, i.id), reverse=True
        )
        kept = [i for i in mine if isinstance(judged[i.id], Excluded)]
        assert len(kept) >= min(keep_last, len(mine))
        assert all(isinstance(judged[i.id], Excluded) for i in mine[:keep_last])
    for image in found:
        if isinstance(judged[image.id], Candidate):
            assert not image.details["image_tags"]
            assert (NOW - image.created).days >= older_than


def test_judge_says_why() -> None:
    found = [image_resource("web@sha256:new", 1, []), image_resource("web@sha256:old", 90, [])]

    judged = KIND.judge(found, Rule(keep_last=1, untagged_older_than_days=30), NOW)

    assert judged["web@sha256:new"] == Excluded("one of the last 1 images of web")
    assert judged["web@sha256:old"] == Candidate("delete", 0.05, "untagged, pushed 90 days ago")


def test_a_whole_cycle_calls_only_what_the_kind_declares(images: object) -> None:
    whole_cycle(KIND, RULE)
