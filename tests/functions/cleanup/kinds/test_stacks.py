"""Preview stacks against moto: only root stacks with the TTL tag and a listed prefix are found; an
imported export holds a stack; deletion (twice is safe); TTL, protection and status are judged purely."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from functions.cleanup.kinds.base import Candidate, Excluded, Resource
from functions.cleanup.kinds.stacks import KIND, Rule
from functions.shared.clients import client
from tests.support.aws import REGION

from .support import scope, setup_client, whole_cycle

SCOPE = scope("cfn-stack")
RULE = Rule(name_prefixes=["preview-"])
NOW = datetime(2026, 6, 1, tzinfo=UTC)
TTL = "deckhand:ttl"


def template(export: str | None = None, imports: str | None = None) -> str:
    value: object = {"Fn::ImportValue": imports} if imports else "preview"
    body: dict[str, object] = {
        "Resources": {
            "Url": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": {"Fn::Sub": "/${AWS::StackName}"}, "Type": "String", "Value": value},
            }
        }
    }
    if export:
        body["Outputs"] = {"Url": {"Value": {"Ref": "Url"}, "Export": {"Name": export}}}
    return json.dumps(body)


@pytest.fixture
def stacks(aws: None) -> dict[str, str]:
    cloudformation = setup_client("cloudformation")

    def create(name: str, tags: dict[str, str], body: str) -> str:
        made = cloudformation.create_stack(
            StackName=name, TemplateBody=body, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )
        return str(made["StackId"])

    return {
        "expired": create("preview-pr-101", {TTL: "2026-01-01T00:00:00Z"}, template()),
        "exporting": create("preview-pr-102", {TTL: "2026-01-01T00:00:00Z"}, template(export="pr-102-url")),
        "importer": create("consumer", {}, template(imports="pr-102-url")),
        "no-ttl": create("preview-pr-103", {}, template()),
        "other-prefix": create("sandbox-1", {TTL: "2026-01-01T00:00:00Z"}, template()),
    }


def test_find_keeps_root_stacks_with_a_ttl_and_a_listed_prefix(stacks: dict[str, str]) -> None:
    found = {stack.id: stack for stack in KIND.find(SCOPE, RULE)}

    assert set(found) == {stacks["expired"], stacks["exporting"]}
    assert found[stacks["exporting"]].details["exports"] == ["pr-102-url"]
    assert found[stacks["expired"]].name == "preview-pr-101"
    assert found[stacks["expired"]].created.utcoffset() == timedelta(0)
    assert stacks["other-prefix"] in {stack.id for stack in KIND.find(SCOPE, Rule())}


# moto 5.2.5 lacks ListImports: botocore's Stubber answers it on Deckhand's own client, and checks the request.
@pytest.mark.parametrize("imported", [True, False])
def test_a_stack_whose_export_is_imported_is_in_use(stacks: dict[str, str], imported: bool) -> None:
    found = list(KIND.find(SCOPE, RULE))
    with Stubber(client("cloudformation", REGION)) as stubber:
        if imported:
            stubber.add_response("list_imports", {"Imports": ["consumer"]}, {"ExportName": "pr-102-url"})
        else:
            message = "Export 'pr-102-url' is not imported by any stack."
            stubber.add_client_error("list_imports", "ValidationError", message, 400, {"ExportName": "pr-102-url"})

        used = KIND.in_use(SCOPE, RULE, found)

        stubber.assert_no_pending_responses()
    assert used == ({stacks["exporting"]: "export pr-102-url imported by consumer"} if imported else {})


def test_act_deletes_and_twice_is_safe(stacks: dict[str, str]) -> None:
    expired = next(stack for stack in KIND.find(SCOPE, RULE) if stack.id == stacks["expired"])

    KIND.act(SCOPE, expired, Candidate("delete", 0.0, "TTL passed"), RULE)
    KIND.act(SCOPE, expired, Candidate("delete", 0.0, "TTL passed"), RULE)

    assert stacks["expired"] not in {stack.id for stack in KIND.find(SCOPE, RULE)}


def stack(ttl: str, status: str = "CREATE_COMPLETE", protected: bool = False) -> Resource:
    details = {"status": status, "termination_protected": protected, "exports": []}
    return Resource(kind="cfn-stack", id="s-1", region=REGION, created=NOW, tags={TTL: ttl}, details=details)


@given(
    st.integers(-500, 500),
    st.sampled_from(["CREATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS"]),
    st.booleans(),
)
def test_only_a_deletable_unprotected_stack_past_its_ttl_is_a_candidate(
    hours: int, status: str, protected: bool
) -> None:
    ttl = (NOW + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")

    judged = KIND.judge([stack(ttl, status, protected)], RULE, NOW)["s-1"]

    expected = hours <= 0 and not protected and not status.endswith("_IN_PROGRESS")
    assert isinstance(judged, Candidate) == expected


def test_judge_says_why() -> None:
    assert KIND.judge([stack("2026-01-01T00:00:00Z", protected=True)], RULE, NOW)["s-1"] == Excluded(
        "termination-protected"
    )
    assert KIND.judge([stack("tomorrow")], RULE, NOW)["s-1"] == Excluded(f"{TTL} is not an ISO instant: 'tomorrow'")
    assert KIND.judge([stack("2026-06-02T00:00:00Z")], RULE, NOW)["s-1"] == Excluded("TTL not past: 2026-06-02T00:00Z")


def test_a_whole_cycle_calls_only_what_the_kind_declares(stacks: object) -> None:
    whole_cycle(KIND, Rule(name_prefixes=["preview-pr-101"]))  # no export: ListImports is stubbed above
