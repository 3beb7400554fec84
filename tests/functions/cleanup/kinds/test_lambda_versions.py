"""Lambda versions against moto: every version with its function's tags, what aliases (weighted routing too)
and event source mappings hold, deletion (twice is safe); keep-last and $LATEST are judged purely."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.cleanup.kinds.base import Candidate, Excluded, Resource
from functions.cleanup.kinds.lambda_versions import KIND, LATEST, Rule
from tests.support.aws import REGION

from .support import handler_zip, python_function, scope, setup_client, whole_cycle

SCOPE = scope("lambda-version")
RULE = Rule(keep_last=1)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def versions(aws: None) -> None:
    awslambda, sqs = setup_client("lambda"), setup_client("sqs")
    python_function("orders-api", 0, Tags={"team": "shop"})
    for release in range(1, 7):
        awslambda.update_function_code(FunctionName="orders-api", ZipFile=handler_zip(release))
        awslambda.publish_version(FunctionName="orders-api", Description=f"release {release}")
    awslambda.create_alias(
        FunctionName="orders-api",
        Name="live",
        FunctionVersion="4",
        RoutingConfig={"AdditionalVersionWeights": {"3": 0.1}},
    )
    queue = sqs.create_queue(QueueName="orders")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    awslambda.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName="orders-api:2")


def test_find_lists_every_version_with_the_functions_tags(versions: None) -> None:
    found = {version.id: version for version in KIND.find(SCOPE, RULE)}

    assert set(found) == {f"orders-api:{v}" for v in (LATEST, "1", "2", "3", "4", "5", "6")}
    assert found["orders-api:1"].tags == {"team": "shop"}
    assert found["orders-api:1"].created.utcoffset() == timedelta(0)


def test_aliases_weighted_routing_and_event_source_mappings_hold_versions(versions: None) -> None:
    used = KIND.in_use(SCOPE, RULE, list(KIND.find(SCOPE, RULE)))

    assert used["orders-api:4"] == "alias live"
    assert used["orders-api:3"] == "alias live"
    assert used["orders-api:2"].startswith("event source mapping ")
    assert set(used) == {"orders-api:2", "orders-api:3", "orders-api:4"}


def test_act_deletes_the_version_only_and_twice_is_safe(versions: None) -> None:
    first = next(version for version in KIND.find(SCOPE, RULE) if version.id == "orders-api:1")

    KIND.act(SCOPE, first, Candidate("delete", 0.0, "old"), RULE)
    KIND.act(SCOPE, first, Candidate("delete", 0.0, "old"), RULE)

    left = {version.id for version in KIND.find(SCOPE, RULE)}
    assert "orders-api:1" not in left
    assert "orders-api:6" in left


def test_act_refuses_latest_which_would_delete_the_function(versions: None) -> None:
    latest = next(version for version in KIND.find(SCOPE, RULE) if version.id == f"orders-api:{LATEST}")

    with pytest.raises(ValueError, match="never cleaned"):
        KIND.act(SCOPE, latest, Candidate("delete", 0.0, "?"), RULE)
    assert setup_client("lambda").get_function(FunctionName="orders-api")


def version(function: str, number: str) -> Resource:
    return Resource(
        kind="lambda-version",
        id=f"{function}:{number}",
        region=REGION,
        created=NOW - timedelta(days=30),
        details={"function": function, "version": number},
    )


estates = st.dictionaries(
    st.sampled_from(["api", "worker", "cron"]), st.sets(st.integers(1, 60), max_size=15), max_size=3
).map(
    lambda functions: [
        version(name, number) for name, numbers in functions.items() for number in [LATEST, *map(str, numbers)]
    ]
)


@given(estates, st.integers(0, 10))
def test_latest_and_the_newest_k_are_never_candidates(found: list[Resource], keep_last: int) -> None:
    judged = KIND.judge(found, Rule(keep_last=keep_last), NOW)

    assert set(judged) == {v.id for v in found}
    for candidate in (v for v in found if isinstance(judged[v.id], Candidate)):
        assert candidate.details["version"] != LATEST
        newer = [
            v
            for v in found
            if v.details["function"] == candidate.details["function"]
            and v.details["version"] != LATEST
            and int(v.details["version"]) > int(candidate.details["version"])
        ]
        assert len(newer) >= keep_last
    assert all(isinstance(judged[v.id], Excluded) for v in found if v.details["version"] == LATEST)


def test_judge_says_why() -> None:
    found = [version("api", LATEST), version("api", "9"), version("api", "10")]

    judged = KIND.judge(found, Rule(keep_last=1), NOW)

    assert judged["api:$LATEST"] == Excluded("$LATEST is the function's current code")
    assert judged["api:10"] == Excluded("one of the last 1 versions of api")
    assert judged["api:9"] == Candidate("delete", 0.0, "version 9, beyond the last 1")


def test_a_whole_cycle_calls_only_what_the_kind_declares(versions: object) -> None:
    whole_cycle(KIND, RULE)
