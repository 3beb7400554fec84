"""The sandbox's Auto Scaling gaps: Application Auto Scaling tags, kept on the target and read as aws:ResourceTag by
the IAM map; no instance refresh for an Auto Scaling group."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from sandbox.iam import actions
from sandbox.iam.model import Call
from tests.support.sandbox_server import Client

ACCOUNT = "123456789012"
REGION = "eu-north-1"  # a region of this module's own: moto's backends are process-wide
TARGET = {
    "ServiceNamespace": "dynamodb",
    "ResourceId": "table/orders",
    "ScalableDimension": "dynamodb:table:ReadCapacityUnits",
}


@pytest.fixture(scope="module")
def region() -> str:
    return REGION


def test_tags_are_kept_listed_and_removed(client: Client) -> None:
    scaling = client("application-autoscaling")
    arn = scaling.register_scalable_target(**TARGET, MinCapacity=1, MaxCapacity=5)["ScalableTargetARN"]

    scaling.tag_resource(ResourceARN=arn, Tags={"deckhand:capacity-target": "orders", "team": "data"})
    assert scaling.list_tags_for_resource(ResourceARN=arn)["Tags"] == {
        "deckhand:capacity-target": "orders",
        "team": "data",
    }
    scaling.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert scaling.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"deckhand:capacity-target": "orders"}


def test_an_arn_of_no_target_is_not_found(client: Client) -> None:
    missing = f"arn:aws:application-autoscaling:{REGION}:{ACCOUNT}:scalable-target/0000000000000000000000000000000000ff"
    with pytest.raises(ClientError) as refused:
        client("application-autoscaling").list_tags_for_resource(ResourceARN=missing)
    assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_registration_is_authorized_with_the_target_s_tags(client: Client) -> None:
    scaling = client("application-autoscaling")
    arn = scaling.register_scalable_target(**TARGET, MinCapacity=1, MaxCapacity=5)["ScalableTargetARN"]
    scaling.tag_resource(ResourceARN=arn, Tags={"deckhand:capacity-target": "orders"})

    call = Call(
        service="application-autoscaling",
        operation="RegisterScalableTarget",
        params={**TARGET, "MinCapacity": 2},
        account=ACCOUNT,
        region=REGION,
    )
    [request] = actions.requests_for(call)

    assert request.resource == arn
    assert request.context["aws:ResourceTag/deckhand:capacity-target"] == "orders"
    assert request.context["application-autoscaling:service-namespace"] == "dynamodb"


# --- Auto Scaling instance refreshes ---------------------------------------------------------------------------


def test_an_auto_scaling_group_has_no_instance_refresh(client: Client) -> None:
    refreshes = client("autoscaling").describe_instance_refreshes(AutoScalingGroupName="workers", MaxRecords=5)
    assert refreshes["InstanceRefreshes"] == []
