"""Injected failures: an AWS error on the next calls naming an id; BatchWriteItem processed in part."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.shared import clients
from functions.shared.batch import batch_write
from tests.support.sandbox_server import Client, control, error_code

REGION = "us-east-1"


# --- injected failures ------------------------------------------------------------------------------------------


def inject(endpoint: str, action: str, ident: str, code: str, **extra: Any) -> tuple[int, Any]:
    body = {"action": action, "id": ident, "code": code, "message": f"{code} for the test", **extra}
    return control(endpoint, "POST", "/_sandbox/failures", body)


def test_an_injected_failure_answers_the_next_call_on_that_id_only(endpoint: str, client: Client) -> None:
    ec2 = client("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    failing, other = (ec2.create_snapshot(VolumeId=volume)["SnapshotId"] for _ in range(2))
    assert inject(endpoint, "DeleteSnapshot", failing, "InvalidSnapshot.InUse")[0] == 200

    ec2.delete_snapshot(SnapshotId=other)  # another id goes through while the failure waits
    with pytest.raises(ClientError) as raised:
        ec2.delete_snapshot(SnapshotId=failing)
    assert raised.value.response["Error"] == {
        "Code": "InvalidSnapshot.InUse",
        "Message": "InvalidSnapshot.InUse for the test",
    }
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert ec2.describe_snapshots(SnapshotIds=[failing])["Snapshots"]  # moto never saw the delete

    ec2.delete_snapshot(SnapshotId=failing)  # spent: the next call reaches moto
    assert error_code(lambda: ec2.describe_snapshots(SnapshotIds=[failing])) == "InvalidSnapshot.NotFound"
    failures = control(endpoint, "GET", "/_sandbox/failures")[1]
    assert [f["id"] for f in failures["answered"] if f["id"] in (failing, other)] == [failing]
    assert all(f["id"] != failing for f in failures["pending"])


def test_a_snapshot_can_stay_in_use_right_after_its_ami_is_deregistered(endpoint: str, client: Client) -> None:
    ec2 = client("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    image = ec2.register_image(
        Name=f"released-{uuid.uuid4().hex[:6]}",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}],
    )["ImageId"]
    after = {"action": "DeregisterImage", "id": image}
    assert inject(endpoint, "DeleteSnapshot", snapshot, "InvalidSnapshot.InUse", after=after)[0] == 200
    [pending] = [f for f in control(endpoint, "GET", "/_sandbox/failures")[1]["pending"] if f["id"] == snapshot]
    assert pending["after"] == after

    ec2.deregister_image(ImageId=image)  # the call that arms it goes through itself
    assert image not in {found["ImageId"] for found in ec2.describe_images(Owners=["self"])["Images"]}
    with pytest.raises(ClientError) as raised:
        ec2.delete_snapshot(SnapshotId=snapshot)
    assert raised.value.response["Error"] == {
        "Code": "InvalidSnapshot.InUse",
        "Message": "InvalidSnapshot.InUse for the test",
    }
    ec2.delete_snapshot(SnapshotId=snapshot)  # a moment later it is released
    assert error_code(lambda: ec2.describe_snapshots(SnapshotIds=[snapshot])) == "InvalidSnapshot.NotFound"


def test_a_failure_after_a_call_sleeps_until_that_call(endpoint: str, client: Client) -> None:
    ec2 = client("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    after = {"action": "DeregisterImage", "id": "ami-0123456789abcdef0"}
    assert inject(endpoint, "DeleteSnapshot", snapshot, "InvalidSnapshot.InUse", after=after)[0] == 200

    ec2.delete_snapshot(SnapshotId=snapshot)  # no such deregistration yet: the call reaches moto

    assert error_code(lambda: ec2.describe_snapshots(SnapshotIds=[snapshot])) == "InvalidSnapshot.NotFound"


def test_a_failure_after_a_call_needs_the_operation_and_the_id(endpoint: str) -> None:
    code, answer = inject(endpoint, "DeleteSnapshot", "snap-1", "InvalidSnapshot.InUse", after={"action": "X"})
    assert code == 400
    assert "after" in json.dumps(answer)


def test_other_operations_on_the_id_are_not_failed(endpoint: str, client: Client) -> None:
    ec2 = client("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    assert inject(endpoint, "DeleteVolume", volume, "VolumeInUse", times=2)[0] == 200

    ec2.create_tags(Resources=[volume], Tags=[{"Key": "deckhand:cleanup-after", "Value": "2026-11-28"}])
    assert ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["Tags"]
    assert error_code(lambda: ec2.delete_volume(VolumeId=volume)) == "VolumeInUse"
    assert error_code(lambda: ec2.delete_volume(VolumeId=volume)) == "VolumeInUse"
    ec2.delete_volume(VolumeId=volume)


def test_failures_in_the_json_and_query_protocols(endpoint: str, client: Client) -> None:
    group = f"/aws/lambda/gone-{uuid.uuid4().hex[:6]}"
    logs = client("logs")
    logs.create_log_group(logGroupName=group)
    stack = f"preview-{uuid.uuid4().hex[:6]}"
    cloudformation = client("cloudformation")
    cloudformation.create_stack(
        StackName=stack, TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    )
    inject(endpoint, "DeleteLogGroup", group, "OperationAbortedException", status=409)
    inject(endpoint, "DeleteStack", stack, "AccessDenied", status=403)

    assert error_code(lambda: logs.delete_log_group(logGroupName=group)) == "OperationAbortedException"
    assert error_code(lambda: cloudformation.delete_stack(StackName=stack)) == "AccessDenied"
    logs.delete_log_group(logGroupName=group)
    assert not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    cloudformation.delete_stack(StackName=stack)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "snap-1", "code": "X"},
        {"action": "DeleteSnapshot", "code": "X"},
        {"action": "DeleteSnapshot", "id": "snap-1", "status": 200},
        {"action": "DeleteSnapshot", "id": "snap-1", "times": 0},
    ],
)
def test_a_failure_without_an_action_an_id_an_error_status_or_a_count_is_refused(
    endpoint: str, body: dict[str, Any]
) -> None:
    code, answer = control(endpoint, "POST", "/_sandbox/failures", body)
    assert (code, answer["error"]) == (400, "ValidationException")
    assert body.get("id", "-") not in {f["id"] for f in control(endpoint, "GET", "/_sandbox/failures")[1]["pending"]}


# --- BatchWriteItem processed in part (UnprocessedItems), through the failure route -----------------------------


@pytest.fixture
def batch_table(client: Client) -> str:
    name = f"audit-{uuid.uuid4().hex[:8]}"
    client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    return name


def put_request(sk: str) -> dict[str, Any]:
    return {"PutRequest": {"Item": {"pk": {"S": "cleanup-mark/x"}, "sk": {"S": sk}}}}


def written(client: Client, table: str) -> set[str]:
    return {item["sk"]["S"] for item in client("dynamodb").scan(TableName=table)["Items"]}


def test_the_writes_naming_the_id_come_back_unprocessed_and_the_rest_is_written(
    endpoint: str, client: Client, batch_table: str
) -> None:
    assert inject(endpoint, "BatchWriteItem", "img-7", "UnprocessedItems")[0] == 200

    requests = [put_request("img-1"), put_request("img-7"), put_request("img-9")]
    answer = client("dynamodb").batch_write_item(RequestItems={batch_table: requests})

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["UnprocessedItems"] == {batch_table: [put_request("img-7")]}
    assert written(client, batch_table) == {"img-1", "img-9"}
    again = client("dynamodb").batch_write_item(RequestItems=answer["UnprocessedItems"])  # spent: moto writes it
    assert again["UnprocessedItems"] == {}
    assert written(client, batch_table) == {"img-1", "img-7", "img-9"}


@pytest.fixture
def deckhand_clients(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """functions.shared.clients pointed at the sandbox server, as a deployed function's are."""
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    clients.reset()
    yield
    clients.reset()


@pytest.mark.usefixtures("deckhand_clients")
def test_the_batch_writer_retries_until_dynamodb_took_every_write(
    endpoint: str, client: Client, batch_table: str
) -> None:
    inject(endpoint, "BatchWriteItem", "img-3", "UnprocessedItems", times=3)
    waits: list[float] = []

    batch_write(batch_table, [put_request(f"img-{n}") for n in range(5)], sleep=waits.append)

    assert written(client, batch_table) == {f"img-{n}" for n in range(5)}
    assert len(waits) == 3  # three partial answers, three waits, then the fourth call took the rest


@pytest.mark.parametrize(
    "body",
    [
        {"action": "PutItem", "id": "x", "code": "UnprocessedItems"},
        {"action": "BatchWriteItem", "id": "x", "code": "UnprocessedItems", "status": 500},
    ],
)
def test_unprocessed_items_is_an_answer_of_batch_write_item_only(endpoint: str, body: dict[str, Any]) -> None:
    assert control(endpoint, "POST", "/_sandbox/failures", body)[0] == 400
