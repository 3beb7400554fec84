"""Seed a realistic estate into a fresh sandbox: `seed(endpoint, now=...)`.

What a lone DevOps engineer's account looks like after a year or two: a gated pipeline, alarms, an
autoscaled ECS service and an Auto Scaling group, and the clutter cleanup exists for (old snapshots,
orphan volumes, an unused AMI, idle Elastic IPs, untagged images, log groups without retention or of
deleted functions, old Lambda versions, expired preview stacks, stopped instances past their TTL).
Ages are set through the sandbox's `/_sandbox/backdate` control route (served by `sandbox.gaps`).

Only ever talks to a sandbox on this machine: any other endpoint is refused before a request is made.
"""

from __future__ import annotations

import hashlib
import io
import json
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3.session
from botocore.config import Config
from botocore.exceptions import ClientError

from functions.capacity.declared import TARGET_TAG

from . import REGION

__all__ = ["GATE_FUNCTION", "GATE_TAG", "PROTECT_TAG", "TTL_TAG", "Estate", "EstateError", "recorded", "seed"]

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
BACKDATE_ROUTE = "/_sandbox/backdate"
STEADY_ROUTE = "/_sandbox/ecs/steady"  # a year-old service's deployment finished long ago
ESTATE_ROUTE = "/_sandbox/estate"  # the sandbox keeps what was seeded, for scenarios to check by id
PROTECT_TAG = "deckhand:protect"  # value "true"
TTL_TAG = "deckhand:ttl"  # value: the expiry instant, ISO 8601 UTC, e.g. 2026-03-01T18:00:00Z
GATE_TAG = "deckhand:gate"  # value: the pipeline the alarm gates
GATE_FUNCTION = "deckhand-gate"
PIPELINE = "web-app"
CLUSTER = "web-app"
SERVICE = "web"
ASG = "workers"
FUNCTION = "orders-api"
REPOSITORY = "web"
RUNNING_TAG = "v1.4.0"
BALANCER = [{"Name": "LoadBalancer", "Value": "app/web-app/50dc6c495c0c9188"}]

# Ages in days. Each row is one resource; `protect` rows carry PROTECT_TAG.
IMAGES = (("web-golden-current", 90, True), ("web-golden-legacy", 590, False))  # (name, age, in use)
INSTANCES = (("bastion", 60, None), ("report-batch", 45, -30), ("dev-box", 6, 4))  # (name, age, TTL days from now)
VOLUMES = (  # (name, GiB, age, protect); bastion-data is attached, the others are not
    ("bastion-data", 100, 60, False),
    ("old-build-cache", 200, 180, False),
    ("restored-for-debug", 50, 9, False),
    ("legal-hold-archive", 500, 800, True),
)
SNAPSHOTS = (  # (volume, age, protect)
    ("bastion-data", 1, False),
    ("bastion-data", 7, False),
    ("bastion-data", 35, False),
    ("old-build-cache", 120, False),
    ("legal-hold-archive", 400, False),
    ("legal-hold-archive", 700, True),
)
ADDRESSES = (("bastion", False), ("old-nat", False), ("partner-allowlisted", True))  # (name, protect)
ECR_IMAGES = ((None, 300), ("v1.0.0", 240), (None, 150), ("v1.2.0", 90), ("v1.3.0", 30), (RUNNING_TAG, 5))
LOG_GROUPS = (  # (name, retention days, age, has events)
    (f"/aws/lambda/{FUNCTION}", None, 200, True),
    ("/aws/lambda/gone-checkout-v1", None, 500, False),
    ("/aws/lambda/gone-thumbnailer", None, 300, False),
    ("/aws/codebuild/web-app-build", None, 120, True),
    ("/ecs/web", 30, 200, True),
    ("/app/audit", 365, 400, True),
)
FUNCTION_VERSIONS = (300, 180, 60, 14, 2)  # ages of versions 1..5; the alias `live` is on the one before last
PREVIEWS = (  # (pull request, age, TTL hours after creation, protect)
    (101, 20.0, 72, False),
    (102, 9.0, 72, False),
    (103, 4.0, 72, True),
    (104, 2.0, 72, False),
    (105, 0.25, 48, False),
    (106, 30.0, None, False),
)


class EstateError(RuntimeError):
    """The estate cannot be seeded here: not a local sandbox, already seeded, or a sandbox gap unfilled."""


@dataclass(frozen=True)
class Estate:
    """What `seed` created, by kind, as the sandbox reported it (names, ids, ARNs)."""

    endpoint: str
    region: str
    seeded_at: datetime
    artifact_bucket: str
    roles: tuple[str, ...]
    pipelines: tuple[str, ...]
    metric_alarms: tuple[str, ...]
    composite_alarms: tuple[str, ...]
    gate_tagged_alarms: tuple[str, ...]
    ecs_cluster: str
    ecs_services: tuple[str, ...]
    task_definitions: tuple[str, ...]
    scalable_targets: tuple[str, ...]  # Application Auto Scaling resource ids
    scaling_policies: tuple[str, ...]
    launch_templates: tuple[str, ...]
    auto_scaling_groups: tuple[str, ...]
    running_instances: tuple[str, ...]
    stopped_instances: tuple[str, ...]
    expired_instances: tuple[str, ...]  # stopped, past their TTL tag
    attached_volumes: tuple[str, ...]
    unattached_volumes: tuple[str, ...]
    snapshots: tuple[str, ...]
    images: tuple[str, ...]
    unused_images: tuple[str, ...]
    image_snapshots: dict[str, str]  # AMI id -> the snapshot behind it
    associated_addresses: tuple[str, ...]  # allocation ids
    unassociated_addresses: tuple[str, ...]
    ecr_repositories: tuple[str, ...]
    ecr_images: tuple[str, ...]  # "repo@digest"
    ecr_untagged_images: tuple[str, ...]
    log_groups: tuple[str, ...]
    functions: tuple[str, ...]
    function_versions: tuple[str, ...]  # "name:version"
    aliases: dict[str, str]  # "name:alias" -> version
    stacks: tuple[str, ...]
    expired_stacks: tuple[str, ...]
    protected: tuple[str, ...]  # ids and names carrying PROTECT_TAG
    created: dict[str, datetime]  # backdated creation instants, by the id the backdate route was given
    lines: tuple[str, ...] = field(repr=False)

    def summary(self) -> list[str]:
        """One human line per kind, as `sandbox seed` prints them."""
        return list(self.lines)

    def records(self) -> dict[str, Any]:
        """The estate as JSON: what `seed` posts to the sandbox and `recorded` reads back."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_records(cls, records: dict[str, Any]) -> Estate:
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = records[f.name]
            if f.name == "seeded_at":
                value = datetime.fromisoformat(value)
            elif f.name == "created":
                value = {ident: datetime.fromisoformat(at) for ident, at in value.items()}
            elif isinstance(value, list):
                value = tuple(value)
            values[f.name] = value
        return cls(**values)


def seed(endpoint: str, *, now: datetime, region: str = REGION) -> Estate:
    """Create the estate in the sandbox at `endpoint` (localhost only) as it would look at `now`."""
    _require_local(endpoint)
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    return _Seeder(endpoint.rstrip("/"), now.astimezone(UTC), region).run()


def recorded(endpoint: str, *, region: str = REGION) -> Estate:
    """The estate `seed` created in the sandbox at `endpoint`, as it recorded it there."""
    _require_local(endpoint)
    url = f"{endpoint.rstrip('/')}{ESTATE_ROUTE}?region={urllib.parse.quote(region)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - _require_local admitted it
            return Estate.from_records(json.load(response))
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:300]
        raise EstateError(f"the sandbox at {endpoint} has no estate in {region}: seed it first ({detail})") from error


def _require_local(endpoint: str) -> None:
    parsed = urllib.parse.urlsplit(endpoint)
    if parsed.scheme not in {"http", "https"} or parsed.hostname not in LOCAL_HOSTS:
        raise EstateError(
            f"refusing to seed {endpoint!r}: the estate is only ever seeded into a sandbox on this machine "
            "(http://localhost:PORT or http://127.0.0.1:PORT), never into real AWS"
        )


class _Seeder:
    def __init__(self, endpoint: str, now: datetime, region: str) -> None:
        self.endpoint = endpoint
        self.now = now
        self.region = region
        self.account = ""
        # Explicit dummy credentials and region: nothing is read from the environment or ~/.aws.
        self.session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - the sandbox's dummy credentials
            region_name=region,
        )
        self.config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)
        self.clients: dict[str, Any] = {}
        self.made: dict[str, list[str]] = {}
        self.image_snapshots: dict[str, str] = {}
        self.aliases: dict[str, str] = {}
        self.created: dict[str, datetime] = {}
        self.backdates: list[dict[str, str]] = []

    def client(self, service: str) -> Any:
        if service not in self.clients:
            # Named at run time: the seeding drives a dozen services by name, untyped like the estate's records.
            self.clients[service] = self.session.client(  # type: ignore[call-overload]
                service, endpoint_url=self.endpoint, config=self.config
            )
        return self.clients[service]

    def add(self, kind: str, *values: str) -> None:
        self.made.setdefault(kind, []).extend(values)

    def got(self, kind: str) -> tuple[str, ...]:
        return tuple(self.made.get(kind, ()))

    def age(self, service: str, kind: str, ident: str, days: float) -> None:
        created = self.now - timedelta(days=days)
        self.created[ident] = created
        self.backdates.append(
            {"service": service, "kind": kind, "id": ident, "created": created.isoformat(), "region": self.region}
        )

    def role(self, name: str) -> str:
        return f"arn:aws:iam::{self.account}:role/{name}"

    def run(self) -> Estate:
        self.refuse_if_seeded()
        self.account = self.client("sts").get_caller_identity()["Account"]
        self.iam_and_bucket()
        golden = self.images()
        self.addresses(self.instances_and_ebs(golden))
        self.auto_scaling_group(golden)
        self.ecs(self.ecr())
        self.alarms()
        self.logs()
        self.function()
        self.stacks()
        self.pipeline()
        for request in self.backdates:
            self.backdate(request)
        estate = self.estate()
        self.post(ESTATE_ROUTE, estate.records(), "recording the estate")
        return estate

    def refuse_if_seeded(self) -> None:
        try:
            self.client("codepipeline").get_pipeline(name=PIPELINE)
        except ClientError as error:
            if error.response["Error"]["Code"] == "PipelineNotFoundException":
                return
            raise
        raise EstateError(f"the sandbox at {self.endpoint} already has pipeline {PIPELINE!r}: seed once per sandbox")

    def backdate(self, request: dict[str, str]) -> None:
        self.post(BACKDATE_ROUTE, request, f"backdating {request}")

    def post(self, route: str, body: dict[str, Any], what: str) -> None:
        call = urllib.request.Request(  # noqa: S310 - _require_local admitted only http(s)://localhost
            self.endpoint + route,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(call, timeout=10) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:300]
            if error.code == 404 and "cannot backdate" not in detail:
                raise EstateError(
                    f"the sandbox at {self.endpoint} has no {route} route: serve sandbox.gaps.app.make_app()"
                ) from error
            raise EstateError(f"{what} failed: HTTP {error.code} {detail}") from error

    # --- IAM, S3 ----------------------------------------------------------------------------------

    def iam_and_bucket(self) -> None:
        iam = self.client("iam")
        for name, principal in (
            ("web-app-pipeline", "codepipeline.amazonaws.com"),  # moto checks the pipeline role trusts this
            ("orders-api", "lambda.amazonaws.com"),
            ("web-task-execution", "ecs-tasks.amazonaws.com"),
        ):
            statement = {"Effect": "Allow", "Principal": {"Service": principal}, "Action": "sts:AssumeRole"}
            trust = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
            try:
                role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]
            except iam.exceptions.EntityAlreadyExistsException:
                role = iam.get_role(RoleName=name)["Role"]  # IAM is global: another region was seeded first
            self.add("roles", role["Arn"])
        # CodePipeline invokes the gate as the pipeline's role, so the role must allow it.
        invoke_gate = {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": f"arn:aws:lambda:*:{self.account}:function:{GATE_FUNCTION}",
        }
        iam.put_role_policy(
            RoleName="web-app-pipeline",
            PolicyName="invoke-gate",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [invoke_gate]}),
        )
        bucket = f"web-app-artifacts-{self.account}-{self.region}"
        s3 = self.client("s3")
        location = (
            {} if self.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": self.region}}
        )
        s3.create_bucket(Bucket=bucket, **location)
        s3.put_object(Bucket=bucket, Key="web-app/source.zip", Body=_zip({"README.md": "web-app source\n"}))
        self.add("bucket", bucket)

    # --- EC2: AMIs, instances, EBS, Elastic IPs, Auto Scaling --------------------------------------

    def images(self) -> str:
        ec2 = self.client("ec2")
        zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
        golden = ""
        for name, days, in_use in IMAGES:
            builder = ec2.create_volume(AvailabilityZone=zone, Size=8, VolumeType="gp3")["VolumeId"]
            source = ec2.create_snapshot(VolumeId=builder, Description=f"root of {name}")["SnapshotId"]
            image = ec2.register_image(
                Name=name,
                Architecture="arm64",
                RootDeviceName="/dev/xvda",
                VirtualizationType="hvm",
                BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": source, "VolumeSize": 8}}],
                TagSpecifications=[{"ResourceType": "image", "Tags": _tags({"Name": name})}],
            )["ImageId"]
            ec2.delete_volume(VolumeId=builder)
            (described,) = ec2.describe_images(ImageIds=[image])["Images"]
            backing = next(m["Ebs"]["SnapshotId"] for m in described["BlockDeviceMappings"] if "Ebs" in m)
            if backing != source:
                # moto ignores RegisterImage's BlockDeviceMappings and backs the AMI with a snapshot of its
                # own: record that one, and drop ours so no snapshot claims an AMI it does not back.
                ec2.delete_snapshot(SnapshotId=source)
            self.image_snapshots[image] = backing
            self.add("images", image)
            self.add("snapshots", backing)
            self.age("ec2", "image", image, days)
            self.age("ec2", "snapshot", backing, days)
            if in_use:
                golden = image
            else:
                self.add("unused_images", image)
        return golden

    def instances_and_ebs(self, golden: str) -> str:
        ec2 = self.client("ec2")
        launched: dict[str, dict[str, Any]] = {}
        for name, days, ttl_days in INSTANCES:
            tags = {"Name": name} | ({} if ttl_days is None else {TTL_TAG: _iso(self.now + timedelta(days=ttl_days))})
            (instance,) = ec2.run_instances(
                ImageId=golden,
                InstanceType="t4g.small",
                MinCount=1,
                MaxCount=1,
                TagSpecifications=[{"ResourceType": "instance", "Tags": _tags(tags)}],
            )["Instances"]
            launched[name] = instance
            self.age("ec2", "instance", instance["InstanceId"], days)
            self.add("running_instances" if ttl_days is None else "stopped_instances", instance["InstanceId"])
            if ttl_days is not None and ttl_days < 0:
                self.add("expired_instances", instance["InstanceId"])
        ec2.stop_instances(InstanceIds=list(self.got("stopped_instances")))
        bastion = launched["bastion"]["InstanceId"]
        zone = launched["bastion"]["Placement"]["AvailabilityZone"]
        volumes: dict[str, str] = {}
        for name, size, days, protect in VOLUMES:
            volume = ec2.create_volume(
                AvailabilityZone=zone,
                Size=size,
                VolumeType="gp3",
                TagSpecifications=[{"ResourceType": "volume", "Tags": _named(name, protect)}],
            )["VolumeId"]
            volumes[name] = volume
            self.age("ec2", "volume", volume, days)
            if name == "bastion-data":
                ec2.attach_volume(VolumeId=volume, InstanceId=bastion, Device="/dev/sdf")
                self.add("attached_volumes", volume)
            else:
                self.add("unattached_volumes", volume)
            if protect:
                self.add("protected", volume)
        for name, days, protect in SNAPSHOTS:
            snapshot = ec2.create_snapshot(
                VolumeId=volumes[name],
                Description=f"backup of {name}",
                TagSpecifications=[{"ResourceType": "snapshot", "Tags": _named(f"{name}-{days}d", protect)}],
            )["SnapshotId"]
            self.age("ec2", "snapshot", snapshot, days)
            self.add("snapshots", snapshot)
            if protect:
                self.add("protected", snapshot)
        return str(bastion)

    def addresses(self, bastion: str) -> None:
        ec2 = self.client("ec2")
        for name, protect in ADDRESSES:
            allocation = ec2.allocate_address(
                Domain="vpc",
                TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": _named(name, protect)}],
            )["AllocationId"]
            if name == "bastion":
                ec2.associate_address(AllocationId=allocation, InstanceId=bastion)
                self.add("associated_addresses", allocation)
            else:
                self.add("unassociated_addresses", allocation)
            if protect:
                self.add("protected", allocation)

    def subnets(self) -> list[str]:
        found = self.client("ec2").describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])
        return sorted(subnet["SubnetId"] for subnet in found["Subnets"])[:2]

    def auto_scaling_group(self, golden: str) -> None:
        template = self.client("ec2").create_launch_template(
            LaunchTemplateName=ASG, LaunchTemplateData={"ImageId": golden, "InstanceType": "t4g.small"}
        )["LaunchTemplate"]["LaunchTemplateId"]
        self.add("launch_templates", template)
        autoscaling = self.client("autoscaling")
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=ASG,
            LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
            MinSize=1,
            MaxSize=4,
            DesiredCapacity=2,
            VPCZoneIdentifier=",".join(self.subnets()),
            Tags=[{"Key": "Name", "Value": ASG, "PropagateAtLaunch": True}],
        )
        self.add("auto_scaling_groups", ASG)
        (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG])["AutoScalingGroups"]
        self.add("running_instances", *(instance["InstanceId"] for instance in group["Instances"]))

    # --- ECR, ECS, Application Auto Scaling -------------------------------------------------------

    def ecr(self) -> str:
        ecr = self.client("ecr")
        repository = ecr.create_repository(repositoryName=REPOSITORY)["repository"]
        self.add("ecr_repositories", REPOSITORY)
        for number, (tag, days) in enumerate(ECR_IMAGES):
            tagging = {"imageTag": tag} if tag else {}
            image = ecr.put_image(repositoryName=REPOSITORY, imageManifest=_manifest(number), **tagging)["image"]
            ident = f"{REPOSITORY}@{image['imageId']['imageDigest']}"
            self.age("ecr", "image", ident, days)
            self.add("ecr_images", ident)
            if tag is None:
                self.add("ecr_untagged_images", ident)
        return f"{repository['repositoryUri']}:{RUNNING_TAG}"

    def ecs(self, image_uri: str) -> None:
        ecs = self.client("ecs")
        ecs.create_cluster(clusterName=CLUSTER)
        container = {"name": SERVICE, "image": image_uri, "essential": True, "portMappings": [{"containerPort": 8080}]}
        task = ecs.register_task_definition(
            family=SERVICE,
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            executionRoleArn=self.role("web-task-execution"),
            containerDefinitions=[container],
        )["taskDefinition"]["taskDefinitionArn"]
        self.add("task_definitions", task)
        ec2 = self.client("ec2")
        vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        group = ec2.create_security_group(GroupName=SERVICE, Description="web tasks", VpcId=vpc)["GroupId"]
        network = {"subnets": self.subnets(), "securityGroups": [group], "assignPublicIp": "DISABLED"}
        service = ecs.create_service(
            cluster=CLUSTER,
            serviceName=SERVICE,
            taskDefinition=task,
            desiredCount=2,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": network},
        )["service"]["serviceArn"]
        steady = {"cluster": CLUSTER, "service": SERVICE, "account": self.account, "region": self.region}
        self.post(STEADY_ROUTE, steady, "finishing the web deployment")
        self.add("ecs_services", service)
        target = {
            "ServiceNamespace": "ecs",
            "ResourceId": f"service/{CLUSTER}/{SERVICE}",
            "ScalableDimension": "ecs:service:DesiredCount",
        }
        scaling = self.client("application-autoscaling")
        registered = scaling.register_scalable_target(**target, MinCapacity=2, MaxCapacity=10)
        # The operator's one-time tag that lets the capacity role move web's bounds (README, capacity tweaks).
        scaling.tag_resource(ResourceARN=registered["ScalableTargetARN"], Tags={TARGET_TAG: "web"})
        self.add("scalable_targets", target["ResourceId"])
        policy = scaling.put_scaling_policy(
            **target,
            PolicyName="web-cpu-target-60",
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 60.0,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
                "ScaleInCooldown": 300,
                "ScaleOutCooldown": 60,
            },
        )["PolicyARN"]
        self.add("scaling_policies", policy)

    # --- CloudWatch -------------------------------------------------------------------------------

    def alarms(self) -> None:
        cloudwatch = self.client("cloudwatch")
        elb = {"Namespace": "AWS/ApplicationELB", "Dimensions": BALANCER, "Period": 60}
        steady = {"EvaluationPeriods": 3, "DatapointsToAlarm": 2, "TreatMissingData": "notBreaching"}
        above = {"ComparisonOperator": "GreaterThanThreshold"}
        alarms: list[dict[str, Any]] = [
            {
                "AlarmName": "web-app-5xx",
                "AlarmDescription": "web-app answers with 5xx errors",
                **elb,
                "MetricName": "HTTPCode_Target_5XX_Count",
                "Statistic": "Sum",
                "Threshold": 10,
                **above,
                **steady,
            },
            {
                "AlarmName": "web-app-latency-p99",
                "AlarmDescription": "web-app p99 latency is above 1.5 s",
                **elb,
                "MetricName": "TargetResponseTime",
                "ExtendedStatistic": "p99",
                "Threshold": 1.5,
                **above,
                **steady,
            },
            {
                "AlarmName": "web-app-error-rate",
                "AlarmDescription": "more than 2 % of web-app requests fail (metric math)",
                "Metrics": [
                    _metric_stat("errors", "HTTPCode_Target_5XX_Count"),
                    _metric_stat("requests", "RequestCount"),
                    {"Id": "rate", "Expression": "100 * errors / requests", "Label": "5xx %", "ReturnData": True},
                ],
                "Threshold": 2,
                **above,
                **steady,
            },
            {
                "AlarmName": "web-app-canary",
                "AlarmDescription": "the web-app synthetic canary fails",
                "Namespace": "CloudWatchSynthetics",
                "MetricName": "SuccessPercent",
                "Dimensions": [{"Name": "CanaryName", "Value": "web-app-home"}],
                "Statistic": "Average",
                "Period": 300,
                "Threshold": 90,
                "ComparisonOperator": "LessThanThreshold",
                "EvaluationPeriods": 1,
                "TreatMissingData": "missing",
                "Tags": _tags({GATE_TAG: PIPELINE}),
            },
            {
                "AlarmName": "web-cpu-high",
                "AlarmDescription": "the web ECS service runs hot",
                "Namespace": "AWS/ECS",
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": SERVICE}],
                "Statistic": "Average",
                "Period": 60,
                "Threshold": 80,
                **above,
                **steady,
            },
            {
                "AlarmName": "web-tasks-low",
                "AlarmDescription": "the web ECS service runs no task (muted while Deckhand holds it at zero)",
                "Namespace": "ECS/ContainerInsights",
                "MetricName": "RunningTaskCount",
                "Dimensions": [{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": SERVICE}],
                "Statistic": "Minimum",
                "Period": 60,
                "Threshold": 1,
                "ComparisonOperator": "LessThanThreshold",
                **steady,
            },
            {
                "AlarmName": "workers-backlog-high",
                "AlarmDescription": "the workers' job queue backs up",
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": "worker-jobs"}],
                "Statistic": "Maximum",
                "Period": 60,
                "Threshold": 500,
                **above,
                **steady,
            },
        ]
        for alarm in alarms:
            cloudwatch.put_metric_alarm(**alarm)
            self.add("metric_alarms", alarm["AlarmName"])
        self.add("gate_tagged_alarms", "web-app-canary")
        try:
            cloudwatch.put_composite_alarm(
                AlarmName="web-app-health",
                AlarmDescription="web-app is unhealthy: failing or slow",
                AlarmRule='ALARM("web-app-5xx") OR ALARM("web-app-latency-p99")',
            )
        except ClientError as error:
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 500:
                raise
            raise EstateError(
                f"the sandbox at {self.endpoint} does not answer CloudWatch PutCompositeAlarm "
                "(moto 5.2.5 lacks it): sandbox.gaps must fill that gap"
            ) from error
        self.add("composite_alarms", "web-app-health")
        datapoints: list[dict[str, Any]] = []
        for minutes_ago in range(10, 0, -1):
            at = {"Dimensions": BALANCER, "Timestamp": self.now - timedelta(minutes=minutes_ago)}
            datapoints += [
                {"MetricName": "RequestCount", **at, "Value": 1200.0, "Unit": "Count"},
                {"MetricName": "HTTPCode_Target_5XX_Count", **at, "Value": 2.0, "Unit": "Count"},
                {"MetricName": "TargetResponseTime", **at, "Value": 0.12 + minutes_ago / 100, "Unit": "Seconds"},
            ]
        cloudwatch.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=datapoints)

    # --- CloudWatch Logs, Lambda --------------------------------------------------------------------

    def logs(self) -> None:
        logs = self.client("logs")
        stamp = _accepted_log_time(self.now)
        for name, retention, days, has_events in LOG_GROUPS:
            logs.create_log_group(logGroupName=name)
            if retention is not None:
                logs.put_retention_policy(logGroupName=name, retentionInDays=retention)
            if has_events:
                logs.create_log_stream(logGroupName=name, logStreamName="main")
                events = [{"timestamp": stamp - 1000 * (3 - i), "message": f"{name} event {i}"} for i in range(3)]
                logs.put_log_events(logGroupName=name, logStreamName="main", logEvents=events)
            self.age("logs", "log-group", name, days)
            self.add("log_groups", name)

    def function(self) -> None:
        awslambda = self.client("lambda")
        awslambda.create_function(
            FunctionName=FUNCTION,
            Runtime="python3.12",
            Role=self.role("orders-api"),
            Handler="app.handler",
            Architectures=["arm64"],
            Code={"ZipFile": _function_zip(0)},
            Description="orders API",
        )
        self.add("functions", FUNCTION)
        for release, days in enumerate(FUNCTION_VERSIONS, start=1):
            awslambda.update_function_code(FunctionName=FUNCTION, ZipFile=_function_zip(release))
            version = awslambda.publish_version(FunctionName=FUNCTION, Description=f"release {release}")["Version"]
            self.age("lambda", "version", f"{FUNCTION}:{version}", days)
            self.add("function_versions", f"{FUNCTION}:{version}")
        live = self.got("function_versions")[-2].rpartition(":")[2]
        awslambda.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=live)
        self.aliases[f"{FUNCTION}:live"] = live

    # --- CloudFormation, CodePipeline ----------------------------------------------------------------

    def stacks(self) -> None:
        cloudformation = self.client("cloudformation")
        parameter = {
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                "Name": {"Fn::Sub": "/preview/pr-${PullRequest}/url"},
                "Type": "String",
                "Value": {"Fn::Sub": "https://pr-${PullRequest}.preview.example.com"},
            },
        }
        template = json.dumps(
            {
                "Description": "an ephemeral preview environment",
                "Parameters": {"PullRequest": {"Type": "String"}},
                "Resources": {"Url": parameter},
            }
        )
        for number, days, ttl_hours, protect in PREVIEWS:
            name = f"preview-pr-{number}"
            tags = {"deckhand:purpose": "preview", "pull-request": str(number)}
            if ttl_hours is not None:
                expiry = self.now - timedelta(days=days) + timedelta(hours=ttl_hours)
                tags[TTL_TAG] = _iso(expiry)
                if expiry <= self.now:
                    self.add("expired_stacks", name)
            if protect:
                tags[PROTECT_TAG] = "true"
                self.add("protected", name)
            cloudformation.create_stack(
                StackName=name,
                TemplateBody=template,
                Parameters=[{"ParameterKey": "PullRequest", "ParameterValue": str(number)}],
                Tags=_tags(tags),
            )
            self.age("cloudformation", "stack", name, days)
            self.add("stacks", name)

    def pipeline(self) -> None:
        bucket = self.got("bucket")[0]
        source = {"S3Bucket": bucket, "S3ObjectKey": "web-app/source.zip", "PollForSourceChanges": "false"}
        gate = {"FunctionName": GATE_FUNCTION, "UserParameters": json.dumps({"pipeline": PIPELINE, "stage": "Deploy"})}
        deploy = {"ClusterName": CLUSTER, "ServiceName": SERVICE, "FileName": "imagedefinitions.json"}
        approval = {"CustomData": "Check the preview, then approve the web-app release."}
        stages = [
            _stage("Source", "Source", "S3", configuration=source, outputArtifacts=[{"name": "source"}]),
            _stage(
                "Build",
                "Build",
                "CodeBuild",
                configuration={"ProjectName": "web-app-build"},
                inputArtifacts=[{"name": "source"}],
                outputArtifacts=[{"name": "image"}],
            ),
            _stage("Gate", "Invoke", "Lambda", configuration=gate, namespace="Gate"),
            _stage("Approve", "Approval", "Manual", configuration=approval),
            _stage("Deploy", "Deploy", "ECS", configuration=deploy, inputArtifacts=[{"name": "image"}]),
        ]
        self.client("codepipeline").create_pipeline(
            pipeline={
                "name": PIPELINE,
                "roleArn": self.role("web-app-pipeline"),
                "artifactStore": {"type": "S3", "location": bucket},
                "stages": stages,
                "pipelineType": "V2",
                "executionMode": "QUEUED",
            },
            tags=[{"key": GATE_TAG, "value": PIPELINE}],
        )
        self.add("pipelines", PIPELINE)

    # --- the result ---------------------------------------------------------------------------------

    def estate(self) -> Estate:
        got = self.got
        unused_age = max(days for _, days, in_use in IMAGES if not in_use)
        snapshot_ages = [days for _, days, _ in SNAPSHOTS] + [days for _, days, _ in IMAGES]
        lines = (
            f"pipeline {PIPELINE} (V2): Source → Build → Gate (Invoke {GATE_FUNCTION}) → Approve (manual) → Deploy",
            f"alarms: {len(got('metric_alarms'))} metric (web-app-error-rate is metric math, "
            f"{', '.join(got('gate_tagged_alarms'))} tagged {GATE_TAG}={PIPELINE}), "
            f"composite {', '.join(got('composite_alarms'))}",
            f"ECS service {CLUSTER}/{SERVICE}: desired 2, scalable 2-10, target tracking on CPU at 60 %",
            f"Auto Scaling group {ASG}: min 1, max 4, desired 2",
            f"instances: {len(got('running_instances'))} running, {len(got('stopped_instances'))} stopped "
            f"with a {TTL_TAG} tag ({sum(ttl < 0 for _, _, ttl in INSTANCES if ttl is not None)} expired)",
            f"EBS volumes: {len(got('attached_volumes'))} attached, {len(got('unattached_volumes'))} unattached "
            f"({sum(p for *_, p in VOLUMES)} protected)",
            f"EBS snapshots: {len(got('snapshots'))} aged {min(snapshot_ages)}-{max(snapshot_ages)} days, "
            f"{len(self.image_snapshots)} behind AMIs, {sum(p for *_, p in SNAPSHOTS)} protected",
            f"AMIs: {len(got('images'))}, {len(got('unused_images'))} unused ({unused_age} days old)",
            f"Elastic IPs: {len(got('associated_addresses'))} associated, "
            f"{len(got('unassociated_addresses'))} unassociated ({sum(p for _, p in ADDRESSES)} protected)",
            f"ECR {REPOSITORY}: {len(got('ecr_images'))} images, {len(got('ecr_untagged_images'))} untagged; "
            f"the service runs {RUNNING_TAG}",
            f"log groups: {len(got('log_groups'))}, {sum(r is None for _, r, _, _ in LOG_GROUPS)} without "
            f"retention, {sum(not e for *_, e in LOG_GROUPS)} empty of deleted functions",
            f"Lambda {FUNCTION}: {len(got('function_versions'))} versions, "
            f"alias live → {self.aliases[f'{FUNCTION}:live']}",
            f"stacks: {len(got('stacks'))} previews, {len(got('expired_stacks'))} past their TTL "
            f"({sum(p for *_, p in PREVIEWS)} protected), {sum(t is None for _, _, t, _ in PREVIEWS)} without TTL",
        )
        given: dict[str, Any] = {
            "endpoint": self.endpoint,
            "region": self.region,
            "seeded_at": self.now,
            "artifact_bucket": got("bucket")[0],
            "ecs_cluster": CLUSTER,
            "image_snapshots": dict(self.image_snapshots),
            "aliases": dict(self.aliases),
            "created": dict(self.created),
            "lines": lines,
        }
        # Every other field is a kind of resource: what `add` recorded under the field's own name.
        made: dict[str, Any] = {f.name: got(f.name) for f in fields(Estate) if f.name not in given}
        return Estate(**given, **made)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tags(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in pairs.items()]


def _named(name: str, protect: bool) -> list[dict[str, str]]:
    return _tags({"Name": name} | ({PROTECT_TAG: "true"} if protect else {}))


def _metric_stat(ident: str, metric: str) -> dict[str, Any]:
    stat = {"Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": metric, "Dimensions": BALANCER}}
    return {"Id": ident, "MetricStat": stat | {"Period": 60, "Stat": "Sum"}, "ReturnData": False}


def _stage(name: str, category: str, provider: str, **action: Any) -> dict[str, Any]:
    kind = {"category": category, "owner": "AWS", "provider": provider, "version": "1"}
    return {"name": name, "actions": [{"name": name, "actionTypeId": kind, **action}]}


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), text)
    return buffer.getvalue()


def _function_zip(release: int) -> bytes:
    return _zip({"app.py": f"def handler(event, context):\n    return {{'release': {release}}}\n"})


def _manifest(number: int) -> str:
    """A small, distinct Docker image manifest (ECR digests are the SHA-256 of the manifest)."""

    def blob(kind: str, media_type: str, size: int) -> dict[str, Any]:
        digest = hashlib.sha256(f"{REPOSITORY}/{number}/{kind}".encode()).hexdigest()
        return {"mediaType": media_type, "size": size, "digest": f"sha256:{digest}"}

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": blob("config", "application/vnd.docker.container.image.v1+json", 1024),
            "layers": [blob("layer", "application/vnd.docker.image.rootfs.diff.tar.gzip", 30_000_000)],
        }
    )


def _accepted_log_time(now: datetime) -> int:
    """`now` in epoch ms, clamped into the window PutLogEvents accepts (14 days back, 2 hours ahead of the clock)."""
    wall = datetime.now(UTC)
    return int(min(max(now, wall - timedelta(days=13)), wall + timedelta(hours=1)).timestamp() * 1000)
