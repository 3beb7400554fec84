"""AwsTargets' own ways (its calls, what moto cannot answer) and the pure planning of calls; what every Targets
does, the twin too, is in test_targets_contract.py.

moto 5.2.5 has Application Auto Scaling register/describe (with SuspendedState), Auto Scaling groups
(update, suspend/resume processes) and ECS services, but not DescribeInstanceRefreshes nor Lambda's
provisioned concurrency configs: those are answered by the recording fake below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.capacity import targets
from functions.capacity.model import MUTATING_PREFIXES, Call, Change, Levels, Owner, Suspension
from functions.capacity.policy import Capacity
from functions.capacity.targets import ApplyFailed, AwsTargets, Live, UnknownTarget, apply, calls
from tests.functions.capacity.world import change, make_service, register_web
from tests.support.aws import REGION
from tests.support.errors import throttling

ALL = Suspension.every(True)
AWS = AwsTargets()
POLICY = Capacity.model_validate(
    {
        "targets": [
            {"name": "web", "kind": "ecs-service", "cluster": "main", "service": "web", "floor": 0, "ceiling": 40},
            {"name": "workers", "kind": "asg", "group": "workers", "floor": 0, "ceiling": 40},
            {
                "name": "orders",
                "kind": "scalable-target",
                "namespace": "dynamodb",
                "dimension": "dynamodb:table:ReadCapacityUnits",
                "resource_id": "table/orders",
                "floor": 1,
                "ceiling": 400,
            },
            {
                "name": "api",
                "kind": "lambda-provisioned-concurrency",
                "function": "api",
                "qualifier": "live",
                "floor": 0,
                "ceiling": 50,
            },
        ]
    }
)


@dataclass
class Recorder:
    """A client factory whose clients record every method called and answer from `responses`."""

    responses: Mapping[tuple[str, str], Any] = field(default_factory=dict)
    fail: Callable[[str, str], Exception | None] = lambda service, method: None
    made: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, service: str, region: str | None = None, role: str | None = None) -> Any:
        recorder = self

        class Client:
            def __getattr__(self, method: str) -> Callable[..., Any]:
                def call(**params: Any) -> Any:
                    recorder.made.append((service, method, params))
                    error = recorder.fail(service, method)
                    if error is not None:
                        raise error
                    answer = recorder.responses.get((service, method), {})
                    if isinstance(answer, Exception):
                        raise answer
                    return answer

                return call

        return Client()

    @property
    def mutating(self) -> list[str]:
        return [method for _, method, _ in self.made if method.startswith(MUTATING_PREFIXES)]


# --- moto ---------------------------------------------------------------------------------------------


def scalable_web() -> dict[str, Any]:
    found = boto3.client("application-autoscaling", region_name=REGION).describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=["service/main/web"]
    )["ScalableTargets"]
    return dict(found[0])


def test_an_ecs_service_registered_with_application_auto_scaling_moves_by_its_bounds(aws: None) -> None:
    make_service(desired=0)  # moto's deployment is COMPLETED only when its tasks run: none wanted
    register_web(2, 10)

    live = AWS.read(POLICY.target("web"))  # type: ignore[arg-type]
    assert (live.owner, live.levels, live.suspended, live.deployment_in_progress) == (
        "application-autoscaling",
        Levels(2, 10),
        Suspension(),
        False,
    )

    made = apply(change("web", live.levels, Levels(4, 12)), POLICY, live.owner, dry_run=False, through=AWS)

    assert [c.method for c in made] == ["register_scalable_target"]
    assert (scalable_web()["MinCapacity"], scalable_web()["MaxCapacity"]) == (4, 12)
    desired = boto3.client("ecs", region_name=REGION).describe_services(cluster="main", services=["web"])
    assert desired["services"][0]["desiredCount"] == 0  # the raw count is the autoscaler's, untouched


def test_an_unregistered_ecs_service_is_raw_and_its_desired_count_is_written(aws: None) -> None:
    make_service(desired=3)

    web = POLICY.target("web")
    assert web is not None
    live = AWS.read(web)
    assert (live.owner, live.levels) == ("raw", Levels(3, 3, 3))
    assert live.deployment_in_progress  # moto runs no tasks: its deployment stays IN_PROGRESS
    assert live.busy is not None
    assert "is IN_PROGRESS" in live.busy
    assert AWS.check_deployment(web, live) == live.busy  # the describe already said: no second call

    apply(change("web", live.levels, Levels(5, 5, 5)), POLICY, "raw", dry_run=False, through=AWS)

    service = boto3.client("ecs", region_name=REGION).describe_services(cluster="main", services=["web"])
    assert service["services"][0]["desiredCount"] == 5


def make_group() -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.create_launch_template(LaunchTemplateName="workers", LaunchTemplateData={"ImageId": image})
    boto3.client("autoscaling", region_name=REGION).create_auto_scaling_group(
        AutoScalingGroupName="workers",
        LaunchTemplate={"LaunchTemplateName": "workers"},
        MinSize=1,
        MaxSize=4,
        DesiredCapacity=3,
        AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": "deckhand:capacity", "Value": "on"}],
    )


def with_refreshes(monkeypatch: pytest.MonkeyPatch, refreshes: list[dict[str, Any]]) -> None:
    """moto has no DescribeInstanceRefreshes: answer it, pass everything else to moto."""
    real = targets.client

    def factory(service: str, region: str | None = None, role: str | None = None) -> Any:
        inner = real(service, region, role)
        if service != "autoscaling":
            return inner

        class Client:
            def __getattr__(self, method: str) -> Any:
                if method == "describe_instance_refreshes":
                    return lambda **_: {"InstanceRefreshes": refreshes}
                return getattr(inner, method)

        return Client()

    monkeypatch.setattr(targets, "client", factory)


def test_a_group_suspends_and_resumes_only_the_processes_whose_flag_moves() -> None:
    target = POLICY.target("workers")
    assert target is not None
    scheduled_only = change(
        "workers",
        Levels(1, 4, 3),
        Levels(1, 4, 3),
        suspended_before=Suspension(dynamic_in=True),
        suspended_after=Suspension(scheduled=True),
    )
    made = calls(scheduled_only, target, "asg")
    assert [(c.method, c.params.get("ScalingProcesses")) for c in made] == [
        ("update_auto_scaling_group", None),
        ("suspend_processes", ["ScheduledActions"]),
        ("resume_processes", ["AlarmNotification"]),
    ]


def test_an_instance_refresh_in_progress_is_a_deployment(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    make_group()
    with_refreshes(monkeypatch, [{"InstanceRefreshId": "r-2", "Status": "InProgress"}])

    workers = POLICY.target("workers")
    assert workers is not None

    live = AWS.read(workers)

    assert not live.deployment_in_progress  # read does not ask: the refresh is checked only before lowering
    assert AWS.check_deployment(workers, live) == "instance refresh r-2 is InProgress"


# --- pure conversions and the recording fake ------------------------------------------------------------


@pytest.mark.parametrize(
    ("deployments", "busy"),
    [
        ([{"id": "d-1", "rolloutState": "COMPLETED"}], None),
        ([{"id": "d-2", "rolloutState": "IN_PROGRESS"}], "ECS deployment d-2 is IN_PROGRESS"),
        ([{"id": "d-3"}, {"id": "d-4"}], "ECS service web has 2 deployments"),
    ],
)
def test_an_ecs_deployment_is_detected(deployments: list[dict[str, str]], busy: str | None) -> None:
    assert targets.deployment_busy({"serviceName": "web", "deployments": deployments}) == busy


def test_an_ecs_deployment_on_a_registered_service_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(
        responses={
            ("application-autoscaling", "describe_scalable_targets"): {
                "ScalableTargets": [{"MinCapacity": 2, "MaxCapacity": 8}]
            },
            ("ecs", "describe_services"): {
                "services": [{"serviceName": "web", "deployments": [{"id": "d", "rolloutState": "IN_PROGRESS"}]}]
            },
        }
    )
    monkeypatch.setattr(targets, "client", recorder)

    web = POLICY.target("web")
    assert web is not None

    live = AWS.read(web)
    assert [method for _, method, _ in recorder.made] == ["describe_scalable_targets"]  # one call to read
    assert (live.levels, live.deployment_in_progress) == (Levels(2, 8), False)

    assert AWS.check_deployment(web, live) == "ECS deployment d is IN_PROGRESS"
    assert [method for _, method, _ in recorder.made][1:] == ["describe_services"]


def test_plain_lambda_provisioned_concurrency_is_read_and_written_only_when_unregistered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = Recorder(
        responses={
            ("application-autoscaling", "describe_scalable_targets"): {"ScalableTargets": []},
            ("lambda", "get_provisioned_concurrency_config"): {
                "RequestedProvisionedConcurrentExecutions": 5,
                "Status": "READY",
            },
        }
    )
    monkeypatch.setattr(targets, "client", recorder)

    live = AWS.read(POLICY.target("api"))  # type: ignore[arg-type]
    assert (live.owner, live.levels) == ("raw", Levels(5, 5, 5))
    apply(change("api", live.levels, Levels(7, 7, 7)), POLICY, "raw", dry_run=False, through=AWS)
    apply(change("api", Levels(7, 7, 7), Levels(0, 0, 0)), POLICY, "raw", dry_run=False, through=AWS)

    assert recorder.made[-2:] == [
        (
            "lambda",
            "put_provisioned_concurrency_config",
            {"FunctionName": "api", "Qualifier": "live", **{"ProvisionedConcurrentExecutions": 7}},
        ),
        ("lambda", "delete_provisioned_concurrency_config", {"FunctionName": "api", "Qualifier": "live"}),
    ]


def test_a_lambda_alias_registered_with_application_auto_scaling_is_not_written_raw() -> None:
    [call] = calls(change("api", Levels(1, 5), Levels(2, 6)), POLICY.target("api"), "application-autoscaling")  # type: ignore[arg-type]
    assert call == Call(
        "application-autoscaling",
        "register_scalable_target",
        {
            "ServiceNamespace": "lambda",
            "ResourceId": "function:api:live",
            "ScalableDimension": "lambda:function:ProvisionedConcurrency",
            "MinCapacity": 2,
            "MaxCapacity": 6,
        },
    )


def test_an_unknown_target_is_a_clear_error_and_makes_no_call(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(targets, "client", recorder)

    with pytest.raises(UnknownTarget, match=r"unknown capacity target 'nope'; known: api, orders, web, workers"):
        apply(change("nope", Levels(1, 2), Levels(3, 4)), POLICY, "asg", dry_run=False, through=AWS)

    assert recorder.made == []


def test_a_throttled_call_says_what_failed_and_what_was_already_made(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(service: str, method: str) -> Exception | None:
        return throttling("SuspendProcesses") if method == "suspend_processes" else None

    monkeypatch.setattr(targets, "client", Recorder(fail=fail))
    zero = change("workers", Levels(1, 4, 3), Levels(0, 0, 0), suspended_after=ALL)

    with pytest.raises(ApplyFailed, match=r"autoscaling\.suspend_processes failed") as failed:
        apply(zero, POLICY, "asg", dry_run=False, through=AWS)

    assert [c.method for c in failed.value.made] == ["update_auto_scaling_group"]


def test_a_refused_change_or_one_that_changes_nothing_makes_no_call() -> None:
    target = POLICY.target("web")
    assert target is not None
    assert calls(change("web", Levels(1, 2), Levels(3, 4), refused="no"), target, "application-autoscaling") == []
    assert calls(change("web", Levels(1, 2), Levels(1, 2)), target, "application-autoscaling") == []


# --- dry-run never reaches a mutating call -------------------------------------------------------------

OWNERS: dict[str, list[Owner]] = {
    "web": ["application-autoscaling", "raw"],
    "workers": ["asg"],
    "orders": ["application-autoscaling"],
    "api": ["application-autoscaling", "raw"],
}


@st.composite
def levels(draw: st.DrawFn) -> Levels:
    low = draw(st.integers(0, 50))
    high = draw(st.integers(low, 60))
    return Levels(low, high, draw(st.none() | st.integers(low, high)))


@st.composite
def changes(draw: st.DrawFn) -> tuple[Change, Owner]:
    name = draw(st.sampled_from([*OWNERS, "nope"]))
    owner = draw(st.sampled_from(OWNERS.get(name, ["asg"])))
    made = change(
        name,
        draw(levels()),
        draw(levels()),
        refused=draw(st.none() | st.just("refused")),
        suspended_before=draw(st.builds(Suspension, st.booleans(), st.booleans(), st.booleans())),
        suspended_after=draw(st.builds(Suspension, st.booleans(), st.booleans(), st.booleans())),
        restored=draw(st.booleans()),
    )
    return made, owner


@settings(max_examples=300, deadline=None)
@given(changes())
def test_dry_run_makes_no_mutating_call_and_returns_what_it_would_make(planned: tuple[Change, Owner]) -> None:
    the_change, owner = planned
    with pytest.MonkeyPatch.context() as monkeypatch:
        dry, wet = Recorder(), Recorder()
        monkeypatch.setattr(targets, "client", dry)
        try:
            would = apply(the_change, POLICY, owner, dry_run=True, through=AWS)
        except UnknownTarget:
            assert the_change.target == "nope"
            would = []
        assert dry.mutating == []
        assert dry.made == []

        monkeypatch.setattr(targets, "client", wet)
        try:
            made = apply(the_change, POLICY, owner, dry_run=False, through=AWS)
        except UnknownTarget:
            made = []
        assert made == would
        assert [(c.service, c.method, dict(c.params)) for c in made] == wet.made
        assert all(c.mutating for c in made)
        assert bool(made) == (the_change.changes_anything and the_change.target != "nope")


# --- opt-in tags --------------------------------------------------------------------------------------------


def test_lambda_and_scalable_target_tags_come_from_their_services(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(
        responses={
            ("lambda", "list_tags"): {"Tags": {"deckhand:capacity": "on"}},
            ("application-autoscaling", "list_tags_for_resource"): {"Tags": {"team": "a"}},
        }
    )
    monkeypatch.setattr(targets, "client", recorder)
    api, orders = POLICY.target("api"), POLICY.target("orders")
    assert api is not None
    assert orders is not None
    home = "arn:aws:lambda:eu-west-3:123456789012:function:deckhand-capacity"

    assert AWS.tags(api, Live("api", "raw", Levels(1, 1, 1)), home) == {"deckhand:capacity": "on"}
    registered = Live("orders", "application-autoscaling", Levels(1, 5), arn="arn:aws:application-autoscaling:x")
    assert AWS.tags(orders, registered, home) == {"team": "a"}
    assert AWS.tags(orders, Live("orders", "application-autoscaling", Levels(1, 5)), home) == {}

    assert [params for _, _, params in recorder.made] == [
        {"Resource": "arn:aws:lambda:eu-west-3:123456789012:function:api"},
        {"ResourceARN": "arn:aws:application-autoscaling:x"},
    ]


def test_a_lambda_function_name_is_placed_in_deckhands_account_and_region() -> None:
    home = "arn:aws-cn:lambda:cn-north-1:123456789012:function:deckhand-capacity"
    assert targets.lambda_arn("api", home) == "arn:aws-cn:lambda:cn-north-1:123456789012:function:api"
    assert targets.lambda_arn("arn:aws:lambda:us-east-1:1:function:x", home) == "arn:aws:lambda:us-east-1:1:function:x"
    with pytest.raises(ValueError, match="not an ARN"):
        targets.lambda_arn("api", "local")
