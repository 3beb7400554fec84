"""The scope step with moto's STS across accounts: reads and marks as the member role, removals as the member deleter
chained through the hub deleter (in the engine's worker threads too), a denied role answered as the account's
failure, throttling before any change raised for the state machine's retry, a scope split over invocations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.cleanup.config import CleanupConfig
from functions.cleanup.declared import DELETER_ROLE_VARIABLE
from functions.cleanup.fanout import scope as scope_step
from functions.cleanup.fanout.messages import ScopeStep
from functions.cleanup.fanout.scope import DeckhandThrottled, scope
from functions.cleanup.kinds.base import KindRule, Resource, Scope
from functions.cleanup.kinds.common import deleter_role
from functions.cleanup.policy import Cleanup
from functions.shared import clients
from functions.shared.clients import client
from functions.shared.organization import Organization
from tests.functions.cleanup.fakes import Countdown, FakeKind, throttled
from tests.support.aws import fake_aws
from tests.support.runtime import MemoryRuntime

from .runner import DELETE, BrokenKind, due_resources
from .test_properties import NOW

HUB = "123456789012"
MEMBER = "222222222222"
HUB_DELETER = f"arn:aws:iam::{HUB}:role/deckhand-cleanup-deleter"
OPEN = {"min_age_days": 0, "max_share": 1.0}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(DELETER_ROLE_VARIABLE, HUB_DELETER)
    yield from fake_aws(monkeypatch)


def config() -> CleanupConfig:
    cleanup = Cleanup.model_validate({"enabled": True, "concurrency": 2, "kinds": {"ebs-snapshot": OPEN}})
    organization = Organization.model_validate({"id": "o-a1b2c3d4e5", "accounts": [MEMBER], "regions": ["eu-west-1"]})
    return CleanupConfig(cleanup, "bucket", ("eu-west-1",), organization, None)


def step(dry_run: bool = False, **more: Any) -> ScopeStep:
    item = {"run_id": "r-1", "account": MEMBER, "region": "eu-west-1", "kind": "ebs-snapshot", "action": "run",
            "dry_run": dry_run, "pace": {"per_second": 100.0, "burst": 100}}  # fmt: skip
    return ScopeStep.model_validate({"step": "scope", "item": item, **more})


class WhoAmI(FakeKind):
    """Records who the kind's calls act as: its listing (member role) and each removal (member deleter)."""

    def __init__(self, resources: list[Resource]) -> None:
        super().__init__(resources, dict.fromkeys((resource.id for resource in resources), DELETE))  # type: ignore[arg-type]
        self.identities: list[tuple[str, str]] = []

    def find(self, scope: Scope, rule: KindRule) -> list[Resource]:
        self.identities.append(("find", client("sts", scope.region).get_caller_identity()["Arn"]))
        return super().find(scope, rule)

    def act(self, scope: Scope, resource: Resource, candidate: object, rule: KindRule) -> None:
        arn = client("sts", scope.region, deleter_role()).get_caller_identity()["Arn"]
        self.identities.append(("act", arn))
        super().act(scope, resource, candidate, rule)


def run(kind: Any, given: ScopeStep, rt: Any = None, remaining: Any = None) -> dict[str, Any]:
    rt = rt or MemoryRuntime(clock=lambda: NOW).runtime
    return scope(given, rt, config(), partition="aws", remaining_ms=remaining or (lambda: 900_000),
                 kinds={"ebs-snapshot": kind})  # fmt: skip


def test_reads_act_as_the_member_role_and_removals_as_the_member_deleter_in_the_worker_threads(aws: None) -> None:
    kind = WhoAmI(due_resources(step().item, 3, NOW))

    answer = run(kind, step())

    assert answer["status"] == "done"
    assert (answer["tally"]["found"], answer["tally"]["acted"], answer["tally"]["invocations"]) == (3, 3, 1)
    assert kind.identities[0] == ("find", f"arn:aws:sts::{MEMBER}:assumed-role/deckhand-member/deckhand")
    assert {identity for call, identity in kind.identities[1:]} == {
        f"arn:aws:sts::{MEMBER}:assumed-role/deckhand-member-deleter/deckhand"
    }
    # The hub's own clients (audit, state, reports) stay the hub's outside the scope.
    assert client("sts").get_caller_identity()["Account"] == HUB


def test_a_denied_member_role_is_an_answered_failure_naming_account_and_role_and_is_audited(aws: None) -> None:
    def deny(params: dict[str, Any], **_: Any) -> None:
        if MEMBER in params["RoleArn"]:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "AssumeRole")

    clients._session().events.register("provide-client-params.sts.AssumeRole", deny)
    memory = MemoryRuntime(clock=lambda: NOW)
    kind = WhoAmI(due_resources(step().item, 2, NOW))

    answer = run(kind, step(), memory.runtime)

    assert answer["status"] == "failed"
    reason = answer["tally"]["reason"]
    assert f"account {MEMBER}" in reason
    assert f"arn:aws:iam::{MEMBER}:role/deckhand-member" in reason
    assert kind.identities == []  # nothing was read
    [record] = memory.audit.records
    assert (record.subject, record.outcome) == (f"cleanup/{MEMBER}/eu-west-1/ebs-snapshot", "failed")


def test_a_denied_member_deleter_fails_a_real_run_before_anything_changes_but_not_a_plan(aws: None) -> None:
    def deny(params: dict[str, Any], **_: Any) -> None:
        if params["RoleArn"].endswith(":role/deckhand-member-deleter"):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "AssumeRole")

    # The member deleter is assumed with the hub deleter's credentials: its session makes that AssumeRole.
    clients._assumed(HUB_DELETER).events.register("provide-client-params.sts.AssumeRole", deny)

    real = run(WhoAmI(due_resources(step().item, 2, NOW)), step())
    plan = run(WhoAmI(due_resources(step().item, 2, NOW)), step(dry_run=True))

    assert real["status"] == "failed"
    assert "member deleter" in real["tally"]["reason"]
    assert (plan["status"], plan["tally"]["acted"]) == ("planned", 2)


def test_throttling_before_any_change_is_raised_for_the_state_machines_retry(aws: None) -> None:
    with pytest.raises(DeckhandThrottled, match="RequestLimitExceeded"):
        run(BrokenKind(throttled("DescribeSnapshots")), step())


@pytest.mark.parametrize("code", ["UnauthorizedOperation", "AccessDenied", "AccessDeniedException"])
def test_a_member_role_refused_after_it_was_assumed_fails_the_account_with_the_refusal(aws: None, code: str) -> None:
    """A warm container keeps its assumed credentials: a role deleted since is refused at the first call instead."""
    refusal = ClientError({"Error": {"Code": code, "Message": "not authorized"}}, "DescribeSnapshots")

    answer = run(BrokenKind(refusal), step())

    assert answer["status"] == "failed"
    reason = answer["tally"]["reason"]
    assert reason == (
        f"account {MEMBER}: its member role arn:aws:iam::{MEMBER}:role/deckhand-member was refused ({code}): "
        "deleted, or stripped of its permissions, since it was assumed"
    )


def test_another_failure_of_the_listing_is_answered(aws: None) -> None:
    answer = run(BrokenKind(RuntimeError("listing failed")), step())

    assert answer["status"] == "failed"
    assert answer["tally"]["failures"][0]["error"] == "RuntimeError: listing failed"


def test_a_scope_that_runs_out_of_time_stops_and_its_next_invocation_carries_on_from_its_answer(aws: None) -> None:
    memory = MemoryRuntime(clock=lambda: NOW)
    kind = WhoAmI(due_resources(step().item, 5, NOW))

    first = run(kind, step(), memory.runtime, Countdown(1))
    second = run(kind, ScopeStep.model_validate(first), memory.runtime)

    assert first["status"] == "stopped"
    assert len(first["tally"]["pending"]) == 3
    assert second["status"] == "done"
    assert (second["tally"]["found"], second["tally"]["acted"], second["tally"]["invocations"]) == (5, 5, 2)
    assert len(memory.audit.records) == 2  # one per scope and invocation


def test_a_pause_switch_stops_the_scopes_not_yet_done_without_a_call(aws: None) -> None:
    memory = MemoryRuntime(clock=lambda: NOW)
    memory.switches.set("pause-cleanup", until=NOW + timedelta(hours=1), reason="incident")
    kind = WhoAmI(due_resources(step().item, 2, NOW))

    answer = run(kind, step(), memory.runtime)

    assert answer["status"] == "failed"
    assert "paused by pause-cleanup (incident" in answer["tally"]["reason"]
    assert kind.identities == []


def test_a_scope_emits_the_dashboards_removal_figures_by_kind(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    run(WhoAmI(due_resources(step().item, 2, NOW)), step())

    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"CleanupActed"' in line]
    assert [(line["kind"], line["CleanupActed"]) for line in emitted] == [("ebs-snapshot", [2.0])]


def test_pending_ids_too_many_for_the_state_wait_in_s3_and_the_next_invocation_reads_them(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scope_step, "PENDING_INLINE_CHARS", 10)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="bucket")
    kind = WhoAmI(due_resources(step().item, 5, NOW))

    first = run(kind, step(), remaining=Countdown(1))
    second = run(kind, ScopeStep.model_validate(first))

    assert first["status"] == "stopped"
    assert first["tally"]["pending"] == []
    assert first["tally"]["pending_key"] == f"runs/organization/r-1/pending/{MEMBER}/eu-west-1/ebs-snapshot.json"
    assert (second["status"], second["tally"]["acted"], second["tally"]["pending_key"]) == ("done", 5, None)


def test_reaching_an_account_assumes_its_roles_and_makes_no_call_of_its_own(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reach check is the AssumeRole the scope's clients need anyway: no identity probe per role and scope."""
    assumed: list[str] = []
    clients._session().events.register(
        "provide-client-params.sts.AssumeRole", lambda params, **_: assumed.append(params["RoleArn"])
    )

    def no_client(*_: Any, **__: Any) -> Any:
        raise AssertionError("the reach check made an AWS client of its own")

    monkeypatch.setattr(scope_step, "client", no_client)
    item = step().item
    roles = clients.Acting(
        f"arn:aws:iam::{MEMBER}:role/deckhand-member", f"arn:aws:iam::{MEMBER}:role/deckhand-member-deleter"
    )

    assert scope_step.unreachable(item, roles) is None
    assert assumed == [roles.role, HUB_DELETER]  # the member deleter is assumed from the hub deleter's session
