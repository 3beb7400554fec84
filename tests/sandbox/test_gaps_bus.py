"""EventBridge in the sandbox server: PutEvents validated as AWS validates it, every event routed through the bus's
rules to Lambda, SQS and SNS targets, each delivery authorized as AWS authorizes events.amazonaws.com, a failed one
counted in AWS/Events FailedInvocations."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox import deployed
from sandbox.gaps import bus as eventbridge
from sandbox.gaps.app import SandboxApp, make_app
from sandbox.gaps.bus import Bus
from sandbox.gaps.cloudwatch import STATE_ROUTE, alarm_configuration
from tests.support.gating import serve
from tests.support.sandbox_server import Client, control, published_function, sample_event

ACCOUNT = "123456789012"
REGION = "ca-central-1"  # moto's backends are process-wide: keep to a region of this module's own


@dataclass
class FakeFunctions:
    """Stands for `store.functions` (sandbox.gaps.invoke): records each invocation, answers 202."""

    invoked: list[tuple[str, Any, str]] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)

    def invoke(self, *, account: str, region: str, function: str, payload: bytes, invocation_type: str = "") -> Any:
        if function in self.missing:
            raise LookupError(f"Function not found: {function}")
        self.invoked.append((function, json.loads(payload), invocation_type))
        if invocation_type == "Event":
            return SimpleNamespace(status_code=202, payload=b"", function_error=None, log_tail="")
        return SimpleNamespace(status_code=200, payload=b'{"status": "ok"}', function_error=None, log_tail="")


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


def failed_invocations(client: Client, rule_name: str, **dimensions: str) -> float:
    return rule_metric(client, "FailedInvocations", rule_name, **dimensions)


def rule_metric(client: Client, metric: str, rule_name: str, **dimensions: str) -> float:
    """The sum of an AWS/Events metric with exactly these dimensions (RuleName, and any other given)."""
    now = datetime.now(UTC)
    found = client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Events",
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in {"RuleName": rule_name, **dimensions}.items()],
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


def test_an_entry_for_a_bus_that_does_not_exist_is_taken_as_aws_takes_it(client: Client) -> None:
    answer = put(client, entry(EventBusName="no-such-bus"))
    assert (answer["FailedEntryCount"], "EventId" in answer["Entries"][0]) == (0, True)


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


@pytest.mark.parametrize(
    ("pattern", "matching", "other"),
    [
        ({"detail": {"pipeline": [{"prefix": "orders-"}]}}, {"pipeline": "orders-api"}, {"pipeline": "billing"}),
        ({"detail": {"state": [{"anything-but": ["SUCCEEDED"]}]}}, {"state": "FAILED"}, {"state": "SUCCEEDED"}),
        ({"detail": {"errors": [{"numeric": [">", 0, "<=", 5]}]}}, {"errors": 3}, {"errors": 9}),
        ({"detail": {"token": [{"exists": True}]}}, {"token": "abc"}, {"other": 1}),
        ({"detail": {"token": [{"exists": False}]}}, {"other": 1}, {"token": "abc"}),
    ],
    ids=["prefix", "anything-but", "numeric", "exists", "not-exists"],
)
def test_content_filters_route_matching_events_only(
    client: Client, bus: Bus, pattern: dict[str, Any], matching: dict[str, Any], other: dict[str, Any]
) -> None:
    url, arn = queue(client)
    kind = f"Filtered {uuid.uuid4().hex[:6]}"
    rule(client, {"detail-type": [kind], **pattern}, {"Id": "q", "Arn": arn})
    put(client, entry(matching, DetailType=kind), entry(other, DetailType=kind))
    bus.wait()
    assert [e["detail"] for e in received(client, url)] == [matching]


def test_a_disabled_rule_is_ignored(client: Client, bus: Bus) -> None:
    url, arn = queue(client)
    name = rule(client, {"detail-type": ["Disabled"]}, {"Id": "q", "Arn": arn})
    client("events").disable_rule(Name=name)
    put(client, entry(DetailType="Disabled"))
    bus.wait()
    assert received(client, url) == []


def test_payloads_follow_input_then_input_path_then_transformer(client: Client, bus: Bus) -> None:
    targets = {shape: queue(client) for shape in ("constant", "path", "transformer", "whole")}
    rule(
        client,
        {"detail-type": ["Shapes"]},
        {"Id": "constant", "Arn": targets["constant"][1], "Input": '{"mode": "dry-run"}'},
        {"Id": "path", "Arn": targets["path"][1], "InputPath": "$.detail"},
        {
            "Id": "transformer",
            "Arn": targets["transformer"][1],
            "InputTransformer": {
                "InputPathsMap": {"alarm": "$.detail.alarm", "count": "$.detail.count", "first": "$.resources[0]"},
                "InputTemplate": '{"alarm": <alarm>, "count": <count>, "text": "<alarm> x<count>", '
                '"resource": <first>}',
            },
        },
        {"Id": "whole", "Arn": targets["whole"][1]},
    )
    detail = {"alarm": 'cpu "high"', "count": 3}
    put(client, entry(detail, DetailType="Shapes", Resources=["arn:aws:ec2:eu-west-3:123456789012:instance/i-1"]))
    bus.wait()
    got = {shape: received(client, url) for shape, (url, _) in targets.items()}
    assert {shape: got[shape] for shape in ("constant", "path", "transformer")} == {
        "constant": [{"mode": "dry-run"}],
        "path": [detail],
        "transformer": [
            {
                "alarm": 'cpu "high"',
                "count": 3,
                "text": 'cpu "high" x3',
                "resource": "arn:aws:ec2:eu-west-3:123456789012:instance/i-1",
            }
        ],
    }
    assert [e["detail"] for e in got["whole"]] == [detail]


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


def test_a_failed_invocation_on_a_custom_bus_is_counted_by_bus_and_rule(client: Client, bus: Bus) -> None:
    # "Metrics that specify both the EventBusName and RuleName dimensions refer to a custom event bus" (EventBridge
    # user guide, "Monitoring Amazon EventBridge").
    client("events").create_event_bus(Name="deckhand-counted")
    _, arn = queue(client, policy=False)
    name = rule(client, {"detail-type": ["Counted"]}, {"Id": "q", "Arn": arn}, bus_name="deckhand-counted")
    put(client, entry(DetailType="Counted", EventBusName="deckhand-counted"))
    bus.wait()
    assert failed_invocations(client, name, EventBusName="deckhand-counted") == 1.0
    (metric,) = client("cloudwatch").list_metrics(
        Namespace="AWS/Events", MetricName="FailedInvocations", Dimensions=[{"Name": "RuleName", "Value": name}]
    )["Metrics"]
    assert sorted(d["Name"] for d in metric["Dimensions"]) == ["EventBusName", "RuleName"]


def dead_letter_queue(client: Client, *, policy: bool = True) -> tuple[str, str]:
    return queue(client, policy=policy)


def dead_letters(client: Client, url: str) -> list[tuple[Any, dict[str, str]]]:
    messages = client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
    )
    return [
        (json.loads(m["Body"]), {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()})
        for m in messages.get("Messages", [])
    ]


def test_a_delivery_iam_refuses_goes_to_the_targets_dead_letter_queue(client: Client, bus: Bus) -> None:
    # EventBridge user guide, "Using dead-letter queues to process undelivered events": a failure from missing
    # permissions is not retried but sent directly to the DLQ, with RULE_ARN, TARGET_ARN, ERROR_CODE, ... attributes.
    _, arn = queue(client, policy=False)
    dlq_url, dlq_arn = dead_letter_queue(client)
    target = {"Id": "q", "Arn": arn, "DeadLetterConfig": {"Arn": dlq_arn}, "Input": '{"shaped": true}'}
    name = rule(client, {"detail-type": ["Dead Lettered"]}, target)
    (result,) = put(client, entry({"n": 4}, DetailType="Dead Lettered"))["Entries"]
    bus.wait()
    ((body, attributes),) = dead_letters(client, dlq_url)
    assert (body["id"], body["detail"]) == (result["EventId"], {"n": 4})  # the event, not the target's input
    assert attributes["RULE_ARN"] == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"
    assert (attributes["TARGET_ARN"], attributes["ERROR_CODE"], attributes["RETRY_ATTEMPTS"]) == (
        arn,
        "NO_PERMISSIONS",
        "0",
    )
    assert attributes["ERROR_MESSAGE"]
    assert rule_metric(client, "InvocationsSentToDlq", name) == 1.0
    assert (bus.delivered[-1].outcome, bus.delivered[-1].dead_letter) == ("refused", dlq_arn)


def test_a_target_that_no_longer_exists_dead_letters_with_no_resource(
    client: Client, bus: Bus, functions: FakeFunctions
) -> None:
    function, name = lambda_target(client, "Gone Dead Lettered")
    dlq_url, dlq_arn = dead_letter_queue(client)
    client("events").put_targets(
        Rule=name, Targets=[{"Id": "f", "Arn": function, "DeadLetterConfig": {"Arn": dlq_arn}}]
    )
    functions.missing.add(function)
    put(client, entry(DetailType="Gone Dead Lettered"))
    bus.wait()
    ((_, attributes),) = dead_letters(client, dlq_url)
    assert attributes["ERROR_CODE"] == "NO_RESOURCE"
    assert failed_invocations(client, name) == 1.0


def test_a_dead_letter_queue_that_refuses_events_gets_nothing_and_is_counted(client: Client, bus: Bus) -> None:
    _, arn = queue(client, policy=False)
    dlq_url, dlq_arn = dead_letter_queue(client, policy=False)
    name = rule(client, {"detail-type": ["Nowhere"]}, {"Id": "q", "Arn": arn, "DeadLetterConfig": {"Arn": dlq_arn}})
    put(client, entry(DetailType="Nowhere"))
    bus.wait()
    assert dead_letters(client, dlq_url) == []
    assert rule_metric(client, "InvocationsFailedToBeSentToDlq", name) == 1.0
    assert bus.delivered[-1].dead_letter is None


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


# --- SetAlarmState from any client: the state change on the bus, the alarm's SNS actions ----------------------------


def alarm_topic(client: Client, *, cloudwatch_may_publish: bool) -> tuple[str, str]:
    """A topic for an alarm's actions, and the url of a queue subscribed to it: (topic ARN, queue url)."""
    sns = client("sns")
    topic = sns.create_topic(Name=f"alarms-{uuid.uuid4().hex[:8]}")["TopicArn"]
    principal = "cloudwatch.amazonaws.com" if cloudwatch_may_publish else "events.amazonaws.com"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": principal}, "Action": "sns:Publish", "Resource": topic}
        ],
    }
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy))
    url, arn = queue(client, policy=False)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return topic, url


def alarm(client: Client, topic: str) -> str:
    name = f"cpu-{uuid.uuid4().hex[:8]}"
    client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=80,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
    )
    return name


def test_set_alarm_state_puts_the_state_change_on_the_bus_and_notifies(client: Client, bus: Bus) -> None:
    topic, inbox = alarm_topic(client, cloudwatch_may_publish=True)
    name = alarm(client, topic)
    url, arn = queue(client)
    rule(client, {"source": ["aws.cloudwatch"], "detail": {"alarmName": [name]}}, {"Id": "q", "Arn": arn})
    cloudwatch = client("cloudwatch")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Threshold Crossed")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="still crossed")  # no change
    bus.wait()
    (event,) = received(client, url)
    assert (event["detail-type"], event["resources"]) == (
        "CloudWatch Alarm State Change",
        [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"],
    )
    assert (event["detail"]["previousState"]["value"], event["detail"]["state"]) == (
        "OK",
        {"value": "ALARM", "reason": "Threshold Crossed", "timestamp": event["detail"]["state"]["timestamp"]},
    )
    assert event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["name"] == "CPUUtilization"
    (notice,) = received(client, inbox)
    assert (notice["AlarmName"], notice["OldStateValue"], notice["NewStateValue"]) == (name, "OK", "ALARM")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", notice["StateChangeTime"])


def test_a_muted_alarm_changes_state_on_the_bus_but_notifies_no_one(client: Client, bus: Bus) -> None:
    # PutAlarmMuteRule (botocore's cloudwatch model): targeted alarms "continue to ... transition between states,
    # but their configured actions (such as Amazon SNS notifications ...) are muted"; the event carries muteDetail
    # (tests/events/cloudwatch-alarm-state-change-metric.json).
    topic, inbox = alarm_topic(client, cloudwatch_may_publish=True)
    name = alarm(client, topic)
    url, arn = queue(client)
    rule(client, {"source": ["aws.cloudwatch"], "detail": {"alarmName": [name]}}, {"Id": "q", "Arn": arn})
    cloudwatch = client("cloudwatch")
    begins = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    cloudwatch.put_alarm_mute_rule(
        Name=f"quiet-{name}",
        Rule={"Schedule": {"Expression": f"at({begins:%Y-%m-%dT%H:%M})", "Duration": "PT1H"}},
        MuteTargets={"AlarmNames": [name]},
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Threshold Crossed")
    bus.wait()
    (event,) = received(client, url)
    assert event["detail"]["muteDetail"] == {
        "mutedByArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm-mute-rule:quiet-{name}",
        "muteWindowStart": f"{begins:%Y-%m-%dT%H:%M}:00.000+0000",
        "muteWindowEnd": f"{begins + timedelta(hours=1):%Y-%m-%dT%H:%M}:00.000+0000",
    }
    assert received(client, inbox) == []


def test_an_alarm_action_the_topic_policy_refuses_is_not_delivered(client: Client, bus: Bus) -> None:
    topic, inbox = alarm_topic(client, cloudwatch_may_publish=False)
    name = alarm(client, topic)
    refused = len(bus.ledger.refusals)
    client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Threshold Crossed")
    assert received(client, inbox) == []
    assert [r.delivery.kind for r in bus.ledger.refusals[refused:]] == ["alarm → topic"]


# --- what the services the sandbox plays put on the bus -----------------------------------------------------------


def test_a_service_event_put_on_the_bus_reaches_the_rule_for_its_source_and_type(client: Client, bus: Bus) -> None:
    url, arn = queue(client)
    rule(
        client,
        {
            "source": ["aws.codepipeline"],
            "detail-type": ["CodePipeline Action Execution State Change"],
            "detail": {"state": ["FAILED"], "type": {"category": ["Deploy"]}},
        },
        {"Id": "q", "Arn": arn},
    )
    stages, stages_arn = queue(client)
    rule(
        client,
        {"source": ["aws.codepipeline"], "detail-type": ["CodePipeline Stage Execution State Change"]},
        {"Id": "q", "Arn": stages_arn},
    )
    event = {**sample_event("codepipeline-action-execution-state-change.json"), "region": REGION}
    bus.put(account=ACCOUNT, region=REGION, event=event)
    bus.wait()
    assert (received(client, url), received(client, stages)) == ([event], [])


# --- the sandbox's own routes: a service's event, an alarm's state, delivered while the scenario waits ---------------


def test_a_service_event_put_by_the_route_answers_what_each_function_said(
    client: Client, endpoint: str, functions: FakeFunctions
) -> None:
    function, rule_name = lambda_target(client, "Parameter Store Change")
    event = {"source": "aws.ssm", "detail-type": "Parameter Store Change", "detail": {"name": "/x"}}
    status, answer = control(endpoint, "POST", eventbridge.PUT_ROUTE, {"event": event, "region": REGION})
    assert status == 200
    assert (answer["event"]["source"], answer["event"]["account"], answer["event"]["region"]) == (
        "aws.ssm",
        ACCOUNT,
        REGION,
    )
    (delivered,) = answer["deliveries"]
    assert (delivered["target"], delivered["outcome"], delivered["answer"]) == (function, "delivered", {"status": "ok"})
    assert functions.invoked[-1][2] == "RequestResponse"
    assert delivered["rule"].endswith(f"rule/{rule_name}")


def test_the_route_refuses_an_event_without_detail(endpoint: str) -> None:
    event = {"source": "aws.ssm", "detail-type": "Parameter Store Change"}
    status, answer = control(endpoint, "POST", eventbridge.PUT_ROUTE, {"event": event, "region": REGION})
    assert (status, answer["error"]) == (400, "ValidationException")
    assert "EventBridge requires source, detail-type and detail" in answer["message"]


def test_the_alarm_state_route_routes_the_change_and_answers_it(client: Client, endpoint: str) -> None:
    topic, _ = alarm_topic(client, cloudwatch_may_publish=True)
    name = alarm(client, topic)
    url, arn = queue(client)
    rule(client, {"source": ["aws.cloudwatch"], "detail": {"alarmName": [name]}}, {"Id": "q", "Arn": arn})
    request = {"AlarmName": name, "StateValue": "ALARM", "StateReason": "Demo", "region": REGION}
    status, answer = control(endpoint, "POST", STATE_ROUTE, request)
    assert status == 200
    assert [d["outcome"] for d in answer["deliveries"]] == ["delivered"]
    assert answer["notified"] == [topic]
    assert [e["id"] for e in received(client, url)] == [answer["event"]["id"]]
    assert control(endpoint, "POST", STATE_ROUTE, request)[1]["event"] is None  # no change: no event


# --- `sandbox emit`: a thin wrapper that says what it added --------------------------------------------------------


def test_emit_puts_an_aws_event_as_its_service_does_and_says_what_it_added(
    client: Client, endpoint: str, functions: FakeFunctions, capsys: pytest.CaptureFixture[str]
) -> None:
    function, _ = lambda_target(client, "Emitted By A Service")
    event = {"source": "aws.ssm", "detail-type": "Emitted By A Service", "detail": {}, "region": REGION}
    (fired,) = deployed.emit(event, endpoint)
    assert (fired.invocation.function_name, fired.invocation.response) == (function.rsplit(":", 1)[1], {"status": "ok"})
    assert "aws.ssm put as its service puts it (PutEvents refuses aws.*), adding id, time, account, version" in (
        capsys.readouterr().out
    )


def test_emit_puts_a_custom_event_through_put_events(
    client: Client, endpoint: str, functions: FakeFunctions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deployed, "sandbox_client", lambda service, _: client(service))  # this module's region
    lambda_target(client, "Emitted By A Client")
    (fired,) = deployed.emit({"source": "my.app", "detail-type": "Emitted By A Client", "detail": {"n": 1}}, endpoint)
    assert fired.invocation.response == deployed.ASYNCHRONOUS
    (_, payload, invocation_type) = functions.invoked[-1]
    assert (payload["detail"], invocation_type) == ({"n": 1}, "Event")


@pytest.mark.parametrize("composite", [False, True], ids=["metric", "composite"])
def test_the_state_change_event_reads_the_alarm_as_describe_alarms_does(
    client: Client, bus: Bus, composite: bool
) -> None:
    cloudwatch = client("cloudwatch")
    name = child = alarm(client, alarm_topic(client, cloudwatch_may_publish=True)[0])
    if composite:
        name = f"health-{uuid.uuid4().hex[:8]}"
        cloudwatch.put_composite_alarm(AlarmName=name, AlarmRule=f'ALARM("{child}")', AlarmDescription="web")
    url, arn = queue(client)
    rule(client, {"source": ["aws.cloudwatch"], "detail": {"alarmName": [name]}}, {"Id": "q", "Arn": arn})
    kind = "CompositeAlarms" if composite else "MetricAlarms"
    (described,) = cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm", "CompositeAlarm"])[kind]
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Threshold Crossed")
    bus.wait()
    (event,) = received(client, url)
    assert event["detail"]["configuration"] == alarm_configuration(kind, described)
