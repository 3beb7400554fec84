"""EventBridge in the sandbox server: PutEvents validated as AWS validates it, every event routed through the bus's
rules to Lambda, SQS and SNS targets, each delivery authorized as AWS authorizes events.amazonaws.com, a failed one
counted in AWS/Events FailedInvocations."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.gaps.app import SandboxApp, make_app
from sandbox.gaps.bus import Bus
from tests.support.gating import serve
from tests.support.sandbox_server import Client, published_function

ACCOUNT = "123456789012"
REGION = "eu-west-3"  # moto's backends are process-wide: keep to a region of this module's own


@dataclass
class FakeFunctions:
    """Stands for `store.functions` (sandbox.gaps.invoke): records each invocation, answers 202."""

    invoked: list[tuple[str, Any, str]] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)

    def invoke(self, *, account: str, region: str, function: str, payload: bytes, invocation_type: str = "") -> Any:
        if function in self.missing:
            raise LookupError(f"Function not found: {function}")
        self.invoked.append((function, json.loads(payload), invocation_type))
        return type("Invoked", (), {"status_code": 202})()


@pytest.fixture(scope="module")
def region() -> str:
    return REGION


@pytest.fixture(scope="module")
def app() -> SandboxApp:
    return make_app()


@pytest.fixture(scope="module")
def endpoint(app: SandboxApp) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MOTO_ACCOUNT_ID"):
            env.delenv(name, raising=False)
        yield from serve(app)


@pytest.fixture
def bus(app: SandboxApp) -> Bus:
    return app.store.bus


@pytest.fixture
def functions(bus: Bus, monkeypatch: pytest.MonkeyPatch) -> FakeFunctions:
    fake = FakeFunctions()
    monkeypatch.setattr(bus, "invoke", fake.invoke)
    return fake


def entry(detail: Any = None, **fields: Any) -> dict[str, Any]:
    return {
        "Source": "deckhand.test",
        "DetailType": "Deckhand Test",
        "Detail": json.dumps({"n": 1} if detail is None else detail),
        **fields,
    }


def put(client: Client, *entries: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = client("events").put_events(Entries=list(entries))
    return answer


def allowing_events(action: str, resource: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": action,
                    "Resource": resource,
                }
            ],
        }
    )


def queue(client: Client, *, policy: bool = True) -> tuple[str, str]:
    """A queue (url, arn), its policy letting EventBridge send unless `policy` is False."""
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    if policy:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": allowing_events("sqs:SendMessage", arn)})
    return url, arn


def rule(client: Client, pattern: dict[str, Any], *targets: dict[str, Any], bus_name: str = "default") -> str:
    events = client("events")
    name = f"r-{uuid.uuid4().hex[:8]}"
    events.put_rule(Name=name, EventPattern=json.dumps(pattern), EventBusName=bus_name)
    events.put_targets(Rule=name, EventBusName=bus_name, Targets=list(targets))
    return name


def received(client: Client, url: str) -> list[Any]:
    messages = client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def failed_invocations(client: Client, rule_name: str) -> float:
    now = datetime.now(UTC)
    found = client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Events",
        MetricName="FailedInvocations",
        Dimensions=[{"Name": "RuleName", "Value": rule_name}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(hours=1),
        Period=3600,
        Statistics=["Sum"],
    )
    return float(sum(point["Sum"] for point in found["Datapoints"]))


def lambda_target(client: Client, detail_type: str) -> tuple[str, str]:
    """A function EventBridge may invoke for a new rule on `detail_type`: (function ARN, rule name)."""
    name, _ = published_function(client, "bus")
    function = client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    rule_name = rule(client, {"detail-type": [detail_type]}, {"Id": "f", "Arn": function})
    client("lambda").add_permission(
        FunctionName=name,
        StatementId="events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule_name}",
    )
    return function, rule_name


# --- validation, as AWS validates PutEvents ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("Source", "Parameter Source is not valid. Reason: Source is a required argument."),
        ("DetailType", "Parameter DetailType is not valid. Reason: DetailType is a required argument."),
        ("Detail", "Parameter Detail is not valid. Reason: Detail is a required argument."),
    ],
)
def test_an_entry_without_source_detail_type_or_detail_fails_alone(client: Client, missing: str, message: str) -> None:
    incomplete = {k: v for k, v in entry().items() if k != missing}
    answer = put(client, entry(), incomplete)
    assert answer["FailedEntryCount"] == 1
    assert "EventId" in answer["Entries"][0]
    assert answer["Entries"][1] == {"ErrorCode": "InvalidArgument", "ErrorMessage": message}


@pytest.mark.parametrize("detail", ["not json", "[1, 2]", '"text"', "42"])
def test_a_detail_that_is_no_json_object_is_malformed(client: Client, detail: str) -> None:
    answer = put(client, entry(), {**entry(), "Detail": detail})
    assert answer["Entries"][1] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}


def test_a_client_may_not_put_an_aws_source(client: Client) -> None:
    answer = put(client, entry(), entry(Source="aws.codepipeline"))
    assert answer["Entries"][1]["ErrorCode"] == "NotAuthorizedForSourceException"


def test_a_request_where_no_entry_is_complete_fails_whole(client: Client) -> None:
    events = client("events")
    with pytest.raises(events.exceptions.ClientError) as refused:
        events.put_events(Entries=[{"Source": "deckhand.test", "DetailType": "x"}])
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_entries_over_one_megabyte_fail_the_request(client: Client) -> None:
    big = json.dumps({"blob": "x" * (200 * 1024)})
    events = client("events")
    with pytest.raises(events.exceptions.ClientError) as refused:
        events.put_events(Entries=[{**entry(), "Detail": big} for _ in range(6)])
    assert refused.value.response["Error"]["Message"] == "Total size of the entries in the request is over the limit."


# --- routing and delivery ------------------------------------------------------------------------------------------


def test_an_event_reaches_a_queue_target_as_eventbridge_shapes_it(client: Client, bus: Bus) -> None:
    url, arn = queue(client)
    rule(client, {"source": ["deckhand.test"], "detail": {"n": [7]}}, {"Id": "q", "Arn": arn})
    answer = put(
        client, entry({"n": 7}, Resources=["arn:aws:ec2:eu-west-3:123456789012:instance/i-1"]), entry({"n": 8})
    )
    bus.wait()
    (event,) = received(client, url)
    assert event["id"] == answer["Entries"][0]["EventId"]
    assert {k: event[k] for k in ("version", "source", "detail-type", "account", "region", "resources", "detail")} == {
        "version": "0",
        "source": "deckhand.test",
        "detail-type": "Deckhand Test",
        "account": ACCOUNT,
        "region": REGION,
        "resources": ["arn:aws:ec2:eu-west-3:123456789012:instance/i-1"],
        "detail": {"n": 7},
    }


def test_a_named_bus_routes_only_its_own_rules(client: Client, bus: Bus) -> None:
    client("events").create_event_bus(Name="deckhand-bus")
    on_bus, on_bus_arn = queue(client)
    on_default, on_default_arn = queue(client)
    rule(client, {"source": ["deckhand.test"]}, {"Id": "q", "Arn": on_bus_arn}, bus_name="deckhand-bus")
    rule(client, {"source": ["deckhand.test"], "detail-type": ["Only Default"]}, {"Id": "q", "Arn": on_default_arn})
    put(client, entry(DetailType="Only Default", EventBusName="deckhand-bus"))
    bus.wait()
    assert [e["detail-type"] for e in received(client, on_bus)] == ["Only Default"]
    assert received(client, on_default) == []


def test_an_input_transformer_shapes_what_the_target_gets(client: Client, bus: Bus) -> None:
    url, arn = queue(client)
    transformer = {
        "InputPathsMap": {"n": "$.detail.n", "source": "$.source"},
        "InputTemplate": '{"count": <n>, "from": "<source>", "rule": "<aws.events.rule-name>"}',
    }
    name = rule(client, {"detail-type": ["Transformed"]}, {"Id": "q", "Arn": arn, "InputTransformer": transformer})
    put(client, entry({"n": 3}, DetailType="Transformed"))
    bus.wait()
    assert received(client, url) == [{"count": 3, "from": "deckhand.test", "rule": name}]


def test_an_input_path_delivers_part_of_the_event(client: Client, bus: Bus) -> None:
    url, arn = queue(client)
    rule(client, {"detail-type": ["Path"]}, {"Id": "q", "Arn": arn, "InputPath": "$.detail"})
    put(client, entry({"n": 5, "why": "part"}, DetailType="Path"))
    bus.wait()
    assert received(client, url) == [{"n": 5, "why": "part"}]


def test_a_topic_target_publishes_through_sns(client: Client, bus: Bus) -> None:
    sns = client("sns")
    topic = sns.create_topic(Name=f"t-{uuid.uuid4().hex[:8]}")["TopicArn"]
    sns.set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=allowing_events("sns:Publish", topic)
    )
    url, arn = queue(client, policy=False)  # SNS's delivery to its subscriber is not EventBridge's to authorize
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    rule(client, {"detail-type": ["To Topic"]}, {"Id": "t", "Arn": topic})
    put(client, entry({"n": 9}, DetailType="To Topic"))
    bus.wait()
    assert [e["detail"] for e in received(client, url)] == [{"n": 9}]


def test_a_lambda_target_is_invoked_asynchronously(client: Client, bus: Bus, functions: FakeFunctions) -> None:
    function, _ = lambda_target(client, "To Lambda")
    put(client, entry({"n": 1}, DetailType="To Lambda"))
    bus.wait()
    ((invoked, payload, invocation_type),) = functions.invoked
    assert (invoked, payload["detail"], invocation_type) == (function, {"n": 1}, "Event")


def test_a_delivery_iam_refuses_is_not_made_and_counted(client: Client, bus: Bus) -> None:
    url, arn = queue(client, policy=False)
    name = rule(client, {"detail-type": ["Refused"]}, {"Id": "q", "Arn": arn})
    put(client, entry(DetailType="Refused"))
    bus.wait()
    assert received(client, url) == []
    assert failed_invocations(client, name) == 1.0
    assert bus.delivered[-1].outcome == "refused"


def test_a_target_that_cannot_take_the_event_is_a_failed_invocation(
    client: Client, bus: Bus, functions: FakeFunctions
) -> None:
    function, name = lambda_target(client, "Gone")
    functions.missing.add(function)  # Lambda answers ResourceNotFoundException
    put(client, entry(DetailType="Gone"))
    bus.wait()
    assert failed_invocations(client, name) == 1.0
    assert (bus.delivered[-1].outcome, functions.invoked) == ("failed", [])


# --- any entry is either refused with a reason or routed, and the server stays up -----------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    source=st.one_of(st.none(), st.text(max_size=20)),
    detail_type=st.one_of(st.none(), st.text(max_size=20)),
    detail=st.one_of(
        st.none(),
        st.text(max_size=40),
        st.recursive(st.none() | st.integers(), lambda c: st.lists(c) | st.dictionaries(st.text(max_size=5), c)).map(
            json.dumps
        ),
    ),
)
def test_any_entry_is_refused_with_a_reason_or_routed(
    client: Client, bus: Bus, source: str | None, detail_type: str | None, detail: str | None
) -> None:
    candidate = {
        k: v for k, v in (("Source", source), ("DetailType", detail_type), ("Detail", detail)) if v is not None
    }
    answer = client("events").put_events(Entries=[entry(), candidate])  # one complete entry: never refused whole
    result = answer["Entries"][1]
    assert ("EventId" in result) != ("ErrorCode" in result)
    assert "EventId" in result or result["ErrorMessage"]
    bus.wait()
    assert client("sts").get_caller_identity()["Account"] == ACCOUNT  # the server still answers
