from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox.estate import GATE_FUNCTION, PROTECT_TAG, TTL_TAG, Estate, EstateError, _Seeder, recorded, seed

# A region of its own: moto's backends are process-wide, so other in-process tests cannot collide with it.
REGION = "sa-east-1"  # a region of this module's own: moto's backends are process-wide
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)

Client = Callable[[str], Any]


@pytest.fixture(scope="module")
def region() -> str:
    return REGION


@pytest.fixture(scope="module")
def seeded(endpoint: str) -> tuple[Estate, Counter[str]]:
    """The estate seeded, and the AWS calls (by operation) the seeding made."""
    calls: Counter[str] = Counter()
    make_client = _Seeder.client

    def counting(seeder: _Seeder, service: str) -> Any:
        made = make_client(seeder, service)
        if service not in counted:
            made.meta.events.register("before-call", lambda model, **_: calls.update([model.name]))
            counted.add(service)
        return made

    counted: set[str] = set()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_Seeder, "client", counting)
        estate = seed(endpoint, now=NOW, region=REGION)
    return estate, calls


@pytest.fixture(scope="module")
def estate(seeded: tuple[Estate, Counter[str]]) -> Estate:
    return seeded[0]


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def same_instant(reported: datetime | str | float, expected: datetime) -> bool:
    if isinstance(reported, float | int):
        reported = datetime.fromtimestamp(reported, UTC)
    elif isinstance(reported, str):
        reported = datetime.fromisoformat(reported.replace("+0000", "+00:00"))
    if reported.tzinfo is None:
        reported = reported.replace(tzinfo=UTC)
    return abs(reported - expected) < timedelta(seconds=1)


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint_url",
    [
        "https://ec2.us-east-1.amazonaws.com",
        "http://localhost.attacker.example:4566",
        "http://10.0.0.8:5000",
        "localhost:5000",
        "",
    ],
)
def test_refuses_anything_but_a_local_sandbox(endpoint_url: str) -> None:
    with pytest.raises(EstateError, match="only ever seeded into a sandbox on this machine"):
        seed(endpoint_url, now=NOW)


def test_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        seed("http://localhost:1", now=datetime(2026, 1, 1))


def test_refuses_to_seed_twice(estate: Estate, endpoint: str) -> None:
    with pytest.raises(EstateError, match="already has pipeline 'web-app'"):
        seed(endpoint, now=NOW, region=REGION)


def test_seeding_makes_a_call_or_two_per_resource(seeded: tuple[Estate, Counter[str]]) -> None:
    # How long seeding takes is the demo's figure (its `seed` timing); what keeps it short is checked here: a call or
    # two per resource made (create, then tag, version or read back), no waiter or poll adding calls. Not an exact
    # count: a role another module's seeding made (IAM is global) is read instead of created.
    estate, calls = seeded
    resources = sum(
        len(getattr(estate, f.name)) for f in fields(Estate) if f.type == "tuple[str, ...]" and f.name != "lines"
    )
    assert resources <= sum(calls.values()) <= 2 * resources


def test_the_sandbox_keeps_the_estate_as_seeded(estate: Estate, endpoint: str) -> None:
    kept = recorded(endpoint, region=REGION)
    assert kept == estate
    assert kept.created[kept.snapshots[0]].tzinfo is not None


def test_an_estate_never_seeded_in_a_region_is_refused(endpoint: str) -> None:
    with pytest.raises(EstateError, match="no estate in ap-south-2"):
        recorded(endpoint, region="ap-south-2")


def test_summary_has_a_line_per_kind(estate: Estate) -> None:
    text = "\n".join(estate.summary())
    for word in ("pipeline web-app", "composite", "scalable 2-10", "workers", "snapshots", "AMIs", "Elastic IPs"):
        assert word in text
    for word in ("ECR", "log groups", "alias live", "stacks"):
        assert word in text


def test_every_kind_of_resource_was_recorded(estate: Estate) -> None:
    # Estate's tuple fields are filled by name from what the seeder recorded: a misnamed kind shows up empty.
    kinds = [f.name for f in fields(Estate) if f.type == "tuple[str, ...]" and f.name != "lines"]
    assert {"roles", "snapshots", "protected"} <= set(kinds)  # the type filter does find them
    assert [kind for kind in kinds if not getattr(estate, kind)] == []


# --- gating: pipeline and alarms -------------------------------------------------------------------


def test_pipeline_has_gate_approval_and_deploy_stages(estate: Estate, client: Client) -> None:
    pipeline = client("codepipeline").get_pipeline(name="web-app")["pipeline"]
    assert estate.pipelines == ("web-app",)
    assert pipeline["pipelineType"] == "V2"
    assert [stage["name"] for stage in pipeline["stages"]] == ["Source", "Build", "Gate", "Approve", "Deploy"]
    stages = {stage["name"]: stage["actions"] for stage in pipeline["stages"]}
    (gate,) = stages["Gate"]
    assert gate["actionTypeId"] == {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"}
    assert gate["configuration"]["FunctionName"] == GATE_FUNCTION == "deckhand-gate"
    assert json.loads(gate["configuration"]["UserParameters"]) == {"pipeline": "web-app", "stage": "Deploy"}
    (approve,) = stages["Approve"]
    assert (approve["actionTypeId"]["category"], approve["actionTypeId"]["provider"]) == ("Approval", "Manual")
    (deploy,) = stages["Deploy"]
    assert deploy["configuration"]["ServiceName"] == "web"
    assert pipeline["artifactStore"]["location"] == estate.artifact_bucket


def test_metric_math_composite_and_tagged_alarms(estate: Estate, client: Client) -> None:
    cloudwatch = client("cloudwatch")
    found = cloudwatch.describe_alarms(AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    metric = {alarm["AlarmName"]: alarm for alarm in found["MetricAlarms"]}
    assert {"web-app-5xx", "web-app-latency-p99", "web-app-error-rate"} <= set(metric)
    assert set(estate.metric_alarms) <= set(metric)
    assert metric["web-app-latency-p99"]["ExtendedStatistic"] == "p99"
    expressions = [query for query in metric["web-app-error-rate"]["Metrics"] if query.get("Expression")]
    assert [query["Expression"] for query in expressions] == ["100 * errors / requests"]
    (composite,) = found["CompositeAlarms"]
    assert composite["AlarmName"] == "web-app-health"
    assert 'ALARM("web-app-5xx")' in composite["AlarmRule"]
    assert 'ALARM("web-app-latency-p99")' in composite["AlarmRule"]
    (tagged,) = estate.gate_tagged_alarms
    tags = cloudwatch.list_tags_for_resource(ResourceARN=metric[tagged]["AlarmArn"])["Tags"]
    assert {"Key": "deckhand:gate", "Value": "web-app"} in tags


def test_metrics_have_recent_datapoints(client: Client) -> None:
    points = client("cloudwatch").get_metric_statistics(
        Namespace="AWS/ApplicationELB",
        MetricName="RequestCount",
        Dimensions=[{"Name": "LoadBalancer", "Value": "app/web-app/50dc6c495c0c9188"}],
        StartTime=NOW - timedelta(minutes=30),
        EndTime=NOW,
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    assert len(points) == 10


# --- capacity -------------------------------------------------------------------------------------


def test_ecs_service_is_a_scalable_target_with_target_tracking(estate: Estate, client: Client) -> None:
    (service,) = client("ecs").describe_services(cluster="web-app", services=["web"])["services"]
    assert service["desiredCount"] == 2
    scaling = client("application-autoscaling")
    (target,) = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert (target["ResourceId"], target["ScalableDimension"]) == ("service/web-app/web", "ecs:service:DesiredCount")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 10)
    (policy,) = scaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert estate.scalable_targets == ("service/web-app/web",)


def test_auto_scaling_group_bounds(estate: Estate, client: Client) -> None:
    (group,) = client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["workers"])[
        "AutoScalingGroups"
    ]
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (1, 4, 2)
    assert group["LaunchTemplate"]["LaunchTemplateId"] in estate.launch_templates
    assert len(group["Instances"]) == 2


# --- cleanup candidates ----------------------------------------------------------------------------


def test_volumes_attached_unattached_and_protected(estate: Estate, client: Client) -> None:
    ec2 = client("ec2")
    volumes = {v["VolumeId"]: v for v in ec2.describe_volumes()["Volumes"]}
    assert len(estate.unattached_volumes) == 3
    for volume_id in estate.unattached_volumes:
        assert volumes[volume_id]["State"] == "available"
        assert volumes[volume_id]["Attachments"] == []
    (attached,) = estate.attached_volumes
    assert volumes[attached]["Attachments"][0]["InstanceId"] in estate.running_instances
    protected = [v for v in estate.unattached_volumes if tags_of(volumes[v]).get(PROTECT_TAG) == "true"]
    assert len(protected) == 1


def test_images_link_to_snapshots_and_one_is_unused(estate: Estate, client: Client) -> None:
    ec2 = client("ec2")
    images = {image["ImageId"]: image for image in ec2.describe_images(Owners=["self"])["Images"]}
    snapshots = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert set(estate.images) == set(images)
    for image_id, snapshot_id in estate.image_snapshots.items():
        mapped = [m["Ebs"]["SnapshotId"] for m in images[image_id]["BlockDeviceMappings"] if "Ebs" in m]
        assert snapshot_id in mapped
        assert snapshot_id in snapshots
    (unused,) = estate.unused_images
    described = ec2.describe_instances()["Reservations"]
    in_use = {i["ImageId"] for r in described for i in r["Instances"] if i["State"]["Name"] != "terminated"}
    assert unused not in in_use
    assert set(estate.images) - {unused} <= in_use
    assert set(estate.snapshots) <= snapshots
    assert len(estate.snapshots) == 8


def test_elastic_ips_associated_and_not(estate: Estate, client: Client) -> None:
    addresses = {a["AllocationId"]: a for a in client("ec2").describe_addresses()["Addresses"]}
    (associated,) = estate.associated_addresses
    assert addresses[associated].get("AssociationId")
    assert len(estate.unassociated_addresses) == 2
    for allocation in estate.unassociated_addresses:
        assert not addresses[allocation].get("AssociationId")


def test_stopped_instances_carry_a_ttl_one_expired(estate: Estate, client: Client) -> None:
    described = client("ec2").describe_instances(InstanceIds=list(estate.stopped_instances))["Reservations"]
    instances = [i for r in described for i in r["Instances"]]
    assert {i["State"]["Name"] for i in instances} == {"stopped"}
    expiries = {i["InstanceId"]: datetime.fromisoformat(tags_of(i)[TTL_TAG].replace("Z", "+00:00")) for i in instances}
    assert sorted(expiry < NOW for expiry in expiries.values()) == [False, True]
    assert [ident for ident, expiry in expiries.items() if expiry < NOW] == list(estate.expired_instances)


def test_ecr_images_some_untagged_and_the_running_one_tagged(estate: Estate, client: Client) -> None:
    details = client("ecr").describe_images(repositoryName="web")["imageDetails"]
    assert len(details) == len(estate.ecr_images) == 6
    untagged = {f"web@{d['imageDigest']}" for d in details if not d.get("imageTags")}
    assert untagged == set(estate.ecr_untagged_images)
    assert len(untagged) == 2
    (task,) = estate.task_definitions
    image = client("ecs").describe_task_definition(taskDefinition=task)["taskDefinition"]["containerDefinitions"][0]
    assert image["image"].endswith("/web:v1.4.0")
    assert any("v1.4.0" in d.get("imageTags", []) for d in details)


def test_log_groups_with_and_without_retention_and_empty_of_deleted_functions(estate: Estate, client: Client) -> None:
    groups = {g["logGroupName"]: g for g in client("logs").describe_log_groups()["logGroups"]}
    assert set(estate.log_groups) == set(groups)
    assert sum("retentionInDays" not in g for g in groups.values()) == 4
    assert groups["/ecs/web"]["retentionInDays"] == 30
    gone = [name for name in groups if name.startswith("/aws/lambda/gone-")]
    assert len(gone) == 2
    for name in gone:
        assert client("logs").describe_log_streams(logGroupName=name)["logStreams"] == []
    assert client("logs").describe_log_streams(logGroupName="/aws/lambda/orders-api")["logStreams"]


def test_function_versions_and_alias(estate: Estate, client: Client) -> None:
    awslambda = client("lambda")
    versions = [v["Version"] for v in awslambda.list_versions_by_function(FunctionName="orders-api")["Versions"]]
    assert versions == ["$LATEST", "1", "2", "3", "4", "5"]
    alias = awslambda.get_alias(FunctionName="orders-api", Name="live")
    assert alias["FunctionVersion"] == estate.aliases["orders-api:live"] == "4"


def test_preview_stacks_with_ttl_tags(estate: Estate, client: Client) -> None:
    stacks = {s["StackName"]: s for s in client("cloudformation").describe_stacks()["Stacks"]}
    previews = [name for name in stacks if name.startswith("preview-pr-")]
    assert sorted(previews) == sorted(estate.stacks)
    assert len(previews) == 6
    ttls = {name: {t["Key"]: t["Value"] for t in stacks[name]["Tags"]}.get(TTL_TAG) for name in previews}
    assert sum(ttl is None for ttl in ttls.values()) == 1
    expired = [name for name, ttl in ttls.items() if ttl and datetime.fromisoformat(ttl.replace("Z", "+00:00")) < NOW]
    assert len(expired) == 3
    protected = [name for name in previews if PROTECT_TAG in {t["Key"] for t in stacks[name]["Tags"]}]
    assert protected == ["preview-pr-103"]


# --- ages (set through the sandbox's /_sandbox/backdate route) -------------------------------------


def test_ec2_ages(estate: Estate, client: Client) -> None:
    ec2 = client("ec2")
    for snapshot in ec2.describe_snapshots(SnapshotIds=list(estate.snapshots))["Snapshots"]:
        assert same_instant(snapshot["StartTime"], estate.created[snapshot["SnapshotId"]])
    ages = sorted((NOW - estate.created[s]).days for s in estate.snapshots)
    assert ages[0] <= 1
    assert ages[-1] >= 365
    for volume in ec2.describe_volumes(VolumeIds=list(estate.unattached_volumes))["Volumes"]:
        assert same_instant(volume["CreateTime"], estate.created[volume["VolumeId"]])
    for image in ec2.describe_images(ImageIds=list(estate.images))["Images"]:
        assert same_instant(image["CreationDate"], estate.created[image["ImageId"]])
    described = ec2.describe_instances(InstanceIds=list(estate.stopped_instances))["Reservations"]
    for instance in (i for r in described for i in r["Instances"]):
        assert same_instant(instance["LaunchTime"], estate.created[instance["InstanceId"]])


def test_ecr_logs_lambda_and_stack_ages(estate: Estate, client: Client) -> None:
    for detail in client("ecr").describe_images(repositoryName="web")["imageDetails"]:
        assert same_instant(detail["imagePushedAt"], estate.created[f"web@{detail['imageDigest']}"])
    for group in client("logs").describe_log_groups()["logGroups"]:
        created = datetime.fromtimestamp(group["creationTime"] / 1000, UTC)
        assert same_instant(created, estate.created[group["logGroupName"]])
    for version in client("lambda").list_versions_by_function(FunctionName="orders-api")["Versions"][1:]:
        assert same_instant(version["LastModified"], estate.created[f"orders-api:{version['Version']}"])
    for stack in client("cloudformation").describe_stacks()["Stacks"]:
        assert same_instant(stack["CreationTime"], estate.created[stack["StackName"]])
