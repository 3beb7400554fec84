"""Log groups against moto: retention, the groups of deleted functions (never an Edge replica's nor one a
function logs to), emptiness, tags, setting retention and deleting (twice is safe), marks; judge is pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from functions.cleanup.kinds.base import Candidate, Excluded, Resource
from functions.cleanup.kinds.log_groups import KIND, Rule, function_of
from functions.shared.clients import client
from tests.support.aws import REGION

from .support import ACCOUNT, python_function, scope, setup_client, whole_cycle

SCOPE = scope("log-group")
RULE = Rule(retention_days=30)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def groups(aws: None) -> None:
    logs = setup_client("logs")
    python_function("orders-api", 1)
    for group in (
        "/aws/lambda/orders-api",
        "/aws/lambda/gone-empty",
        "/aws/lambda/gone-with-logs",
        "/aws/lambda/us-east-1.edge-function",
        "/ecs/web",
    ):
        logs.create_log_group(logGroupName=group, tags={"team": "shop"})
    logs.put_retention_policy(logGroupName="/ecs/web", retentionInDays=30)
    logs.create_log_stream(logGroupName="/aws/lambda/gone-with-logs", logStreamName="main")


def test_find_reads_retention_tags_and_which_groups_belong_to_deleted_functions(groups: None) -> None:
    found = {group.id: group for group in KIND.find(SCOPE, RULE)}

    deleted = {name for name, group in found.items() if group.details["function_deleted"]}
    assert deleted == {"/aws/lambda/gone-empty", "/aws/lambda/gone-with-logs"}
    assert found["/aws/lambda/gone-empty"].details["empty"] is True
    assert found["/aws/lambda/gone-with-logs"].details["empty"] is False
    assert found["/ecs/web"].details["retention_days"] == 30
    assert found["/ecs/web"].tags == {"team": "shop"}
    assert found["/ecs/web"].details["arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/web"
    assert found["/ecs/web"].created.utcoffset() == timedelta(0)

    judged = KIND.judge(list(found.values()), RULE, datetime.now(UTC))
    actions = {name: j.action for name, j in judged.items() if isinstance(j, Candidate)}
    assert actions == {
        "/aws/lambda/gone-empty": "delete",
        "/aws/lambda/gone-with-logs": "set-retention",
        "/aws/lambda/orders-api": "set-retention",
        "/aws/lambda/us-east-1.edge-function": "set-retention",
    }


# moto 5.2.5 does not keep a function's LoggingConfig: botocore's Stubber answers ListFunctions instead.
def test_a_group_a_function_logs_to_is_not_a_deleted_functions(groups: None) -> None:
    setup_client("logs").create_log_group(logGroupName="/aws/lambda/old-name")
    functions = [
        {"FunctionName": "orders-api"},
        {"FunctionName": "new-name", "LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/old-name"}},
    ]
    with Stubber(client("lambda", REGION)) as stubber:
        stubber.add_response("list_functions", {"Functions": functions}, {"MaxItems": 50})

        found = {group.id: group for group in KIND.find(SCOPE, RULE)}

    assert found["/aws/lambda/old-name"].details["function_deleted"] is False
    assert found["/aws/lambda/gone-empty"].details["function_deleted"] is True


def test_act_sets_retention_or_deletes_and_twice_is_safe(groups: None) -> None:
    found = {group.id: group for group in KIND.find(SCOPE, RULE)}
    retain, delete = Candidate("set-retention", 0.0, "forever"), Candidate("delete", 0.0, "empty")

    for _ in range(2):
        KIND.act(SCOPE, found["/aws/lambda/orders-api"], retain, RULE)
        KIND.act(SCOPE, found["/aws/lambda/gone-empty"], delete, RULE)

    after = {group.id: group for group in KIND.find(SCOPE, RULE)}
    assert "/aws/lambda/gone-empty" not in after
    assert after["/aws/lambda/orders-api"].details["retention_days"] == 30


def test_mark_tags_each_group(groups: None) -> None:
    KIND.mark(SCOPE, list(KIND.find(SCOPE, RULE)), "deckhand:cleanup-after", "2026-06-08")

    assert {group.tags.get("deckhand:cleanup-after") for group in KIND.find(SCOPE, RULE)} == {"2026-06-08"}


def test_function_of_names_only_a_regional_function() -> None:
    assert function_of("/aws/lambda/orders-api") == "orders-api"
    assert function_of("/aws/lambda/eu-west-1.edge") is None
    assert function_of("/aws/codebuild/web") is None
    assert function_of("/aws/lambda/") is None


def group(retention: int | None, days: int, gib: float, deleted: bool = False, empty: bool = False) -> Resource:
    details = {"retention_days": retention, "gib": gib, "function": "f", "function_deleted": deleted, "empty": empty}
    return Resource(kind="log-group", id="g", region=REGION, created=NOW - timedelta(days=days), details=details)


def test_judge_says_why() -> None:
    assert KIND.judge([group(30, 100, 10)], RULE, NOW)["g"] == Excluded("retention already 30 days")
    assert KIND.judge([group(None, 100, 10, deleted=True, empty=True)], RULE, NOW)["g"] == Candidate(
        "delete", 0.0, "empty log group of deleted function f"
    )
    keep = Rule(retention_days=30, remove_empty_of_deleted_functions=False)
    assert KIND.judge([group(None, 100, 10, deleted=True, empty=True)], keep, NOW)["g"] == Candidate(
        "set-retention", 0.21, "kept forever, 100 days old; keep 30 days"
    )


@given(st.integers(0, 4000), st.floats(0, 10_000), st.sampled_from([1, 7, 30, 365, 3653]))
def test_the_retention_saving_is_never_more_than_what_is_stored(days: int, gib: float, retention: int) -> None:
    judged = KIND.judge([group(None, days, gib)], Rule(retention_days=retention), NOW)["g"]

    assert isinstance(judged, Candidate)
    assert 0 <= judged.monthly_usd <= round(gib * 0.03, 4) + 1e-9


def test_a_whole_cycle_calls_only_what_the_kind_declares(groups: object) -> None:
    whole_cycle(KIND, RULE)
