"""The sandbox's control routes: creation dates, a steady ECS service."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from tests.support.sandbox_server import Client, control, published_function

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


# --- backdating ------------------------------------------------------------------------------------------------


def backdate(endpoint: str, service: str, kind: str, ident: str, created: datetime) -> int:
    body = {"service": service, "kind": kind, "id": ident, "created": created.isoformat()}
    return control(endpoint, "POST", "/_sandbox/backdate", body)[0]


def test_backdating_sets_creation_times(endpoint: str, client: Client) -> None:
    ec2 = client("ec2")
    then = NOW - timedelta(days=400)
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    image = ec2.create_image(InstanceId=instance, Name=f"golden-{uuid.uuid4().hex[:6]}")["ImageId"]
    group = f"/aws/lambda/old-{uuid.uuid4().hex[:6]}"
    client("logs").create_log_group(logGroupName=group)
    stack = f"ephemeral-{uuid.uuid4().hex[:6]}"
    client("cloudformation").create_stack(
        StackName=stack, TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    )
    repository = f"orders-{uuid.uuid4().hex[:6]}"
    ecr = client("ecr")
    ecr.create_repository(repositoryName=repository)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "layers": [{"digest": "sha256:" + "a" * 64, "size": 1}],
        }
    )
    digest = ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag="v1")["image"]["imageId"][
        "imageDigest"
    ]

    for service, kind, ident in [
        ("ec2", "volume", volume),
        ("ec2", "snapshot", snapshot),
        ("ec2", "instance", instance),
        ("ec2", "image", image),
        ("logs", "log-group", group),
        ("cloudformation", "stack", stack),
        ("ecr", "image", f"{repository}@{digest}"),
    ]:
        assert backdate(endpoint, service, kind, ident, then) == 200, (service, kind)

    assert ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["CreateTime"] == then
    assert ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["StartTime"] == then
    assert ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["LaunchTime"] == then
    assert ec2.describe_images(ImageIds=[image])["Images"][0]["CreationDate"].startswith(
        then.strftime("%Y-%m-%dT%H:%M")
    )
    [log_group] = client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert log_group["creationTime"] == int(then.timestamp() * 1000)
    assert client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["CreationTime"] == then
    [pushed] = ecr.describe_images(repositoryName=repository)["imageDetails"]
    assert pushed["imagePushedAt"] == then


def test_backdating_a_lambda_version(endpoint: str, client: Client) -> None:
    awslambda = client("lambda")
    name, version = published_function(client, "versions")
    assert backdate(endpoint, "lambda", "version", f"{name}:{version}", NOW - timedelta(days=90)) == 200
    modified = awslambda.get_function_configuration(FunctionName=name, Qualifier=version)["LastModified"]
    assert modified == "2026-08-23T12:00:00.000+0000"
    assert awslambda.get_function_configuration(FunctionName=name)["LastModified"] != modified


def test_backdating_something_unknown_is_not_found(endpoint: str) -> None:
    assert backdate(endpoint, "ec2", "snapshot", "snap-00000000000000000", NOW) == 404
    assert backdate(endpoint, "logs", "log-group", "/nope", NOW) == 404
    assert backdate(endpoint, "s3", "bucket", "b", NOW) == 404
    assert (
        control(
            endpoint, "POST", "/_sandbox/backdate", {"service": "ec2", "kind": "volume", "id": "v", "created": "soon"}
        )[0]
        == 400
    )


def test_a_new_ecs_service_can_be_made_steady(endpoint: str, client: Client) -> None:
    ecs = client("ecs")
    ecs.create_cluster(clusterName="steady")
    task = ecs.register_task_definition(
        family="steady", containerDefinitions=[{"name": "app", "image": "app", "memory": 512}]
    )
    arn = task["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="steady", serviceName="app", taskDefinition=arn, desiredCount=2)
    [deployment] = ecs.describe_services(cluster="steady", services=["app"])["services"][0]["deployments"]
    assert deployment["rolloutState"] == "IN_PROGRESS"  # moto's, for ever

    assert control(endpoint, "POST", "/_sandbox/ecs/steady", {"cluster": "steady", "service": "app"})[0] == 200
    [service] = ecs.describe_services(cluster="steady", services=["app"])["services"]
    [deployment] = service["deployments"]
    assert (deployment["rolloutState"], deployment["runningCount"], service["runningCount"]) == ("COMPLETED", 2, 2)
    assert control(endpoint, "POST", "/_sandbox/ecs/steady", {"cluster": "steady", "service": "nope"})[0] == 404
