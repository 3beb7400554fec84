"""The per-target saved state: round trip, optimistic concurrency, and apply-then-save under injected faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.capacity import store as store_module
from functions.capacity import targets
from functions.capacity.model import Change, Levels, Override, Saved, Suspension, Trigger
from functions.capacity.policy import Capacity
from functions.capacity.store import Conflict, StateStore, Stored, after, commit, from_json, state, to_json
from functions.capacity.targets import ApplyFailed, AwsTargets, Live
from tests.support.aws import REGION
from tests.support.errors import throttling

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
POLICY = Capacity.model_validate(
    {
        "targets": [
            {
                "name": "orders",
                "kind": "scalable-target",
                "namespace": "dynamodb",
                "dimension": "dynamodb:table:ReadCapacityUnits",
                "resource_id": "table/orders",
                "floor": 0,
                "ceiling": 400,
            }
        ]
    }
)
OWNER = "application-autoscaling"
AWS = AwsTargets()


def change(before: Levels, after_: Levels, **more: Any) -> Change:
    return Change(
        target="orders",
        before=before,
        after=after_,
        reason="test",
        refused=more.pop("refused", None),
        trigger=Trigger("schedule", profile="night"),
        precedence=2,
        **more,
    )


def failing(monkeypatch: pytest.MonkeyPatch, module: Any, method: str) -> None:
    """Make `method` of every client `module` gets raise Throttling; everything else goes to moto."""
    real = module.client

    def factory(service: str, region: str | None = None, role: str | None = None) -> Any:
        inner = real(service, region, role)

        class Client:
            def __getattr__(self, name: str) -> Any:
                if name == method:

                    def throttled(**_: Any) -> Any:
                        raise throttling(method)

                    return throttled
                return getattr(inner, name)

        return Client()

    monkeypatch.setattr(module, "client", factory)


def register_orders(low: int, high: int) -> None:
    boto3.client("application-autoscaling", region_name=REGION).register_scalable_target(
        ServiceNamespace="dynamodb",
        ResourceId="table/orders",
        ScalableDimension="dynamodb:table:ReadCapacityUnits",
        MinCapacity=low,
        MaxCapacity=high,
    )


def live_orders() -> Levels:
    found = boto3.client("application-autoscaling", region_name=REGION).describe_scalable_targets(
        ServiceNamespace="dynamodb", ResourceIds=["table/orders"]
    )["ScalableTargets"][0]
    return Levels(found["MinCapacity"], found["MaxCapacity"])


FULL = Stored(
    saved_before_zero=Saved(Levels(2, 9, 4), suspended=Suspension(dynamic_in=True)),
    last_changes=(NOW - timedelta(minutes=30), NOW - timedelta(minutes=5)),
    override=Override("apply", set_at=NOW, until=NOW + timedelta(hours=2), before=Levels(1, 5)),
    profile="day",
    alarm_baseline=Levels(1, 5, None),
)


# --- pure ---------------------------------------------------------------------------------------------


@given(
    saved=st.none()
    | st.builds(
        Saved,
        st.builds(Levels, st.integers(0, 9), st.integers(0, 9)),
        st.builds(Suspension, st.booleans(), st.booleans(), st.booleans()),
    ),
    minutes=st.lists(st.integers(0, 2000), max_size=5),
    override=st.none() | st.just(FULL.override) | st.just(Override("pause", set_at=NOW)),
    profile=st.none() | st.sampled_from(["day", "night"]),
    version=st.integers(1, 1000),
)
def test_the_stored_state_survives_its_json_round_trip(
    saved: Saved | None, minutes: list[int], override: Override | None, profile: str | None, version: int
) -> None:
    stored = Stored(version, saved, tuple(NOW - timedelta(minutes=m) for m in minutes), override, profile, None)
    assert from_json(to_json(stored), version) == stored


def test_going_to_zero_saves_and_restoring_forgets() -> None:
    zero = after(
        Stored(), change(Levels(2, 9), Levels(0, 0), save=Saved(Levels(2, 9), Suspension()), profile="zero"), NOW
    )
    assert (zero.saved_before_zero, zero.last_changes, zero.profile) == (
        Saved(Levels(2, 9), Suspension()),
        (NOW,),
        "zero",
    )

    later = NOW + timedelta(hours=8)
    day = after(zero, change(Levels(0, 0), Levels(2, 9), restored=True, profile="day"), later)
    assert (day.saved_before_zero, day.last_changes, day.profile) == (None, (NOW, later), "day")


def test_overrides_are_kept_and_cleared_and_old_changes_forgotten() -> None:
    paused = Override("pause", set_at=NOW)
    held = after(
        Stored(last_changes=(NOW - timedelta(days=2),)), change(Levels(1, 5), Levels(1, 5), override=paused), NOW
    )
    assert (held.override, held.last_changes) == (paused, ())  # a pause moves nothing: no change counted

    resumed = after(held, change(Levels(1, 5), Levels(1, 5), clear_override=True), NOW)
    assert resumed.override is None

    assert after(FULL, change(Levels(1, 5), Levels(0, 0), refused="no"), NOW) == FULL


def test_the_planner_state_joins_live_levels_and_stored_memory() -> None:
    out = Suspension(dynamic_out=True)
    live = Live("orders", "application-autoscaling", Levels(3, 8), suspended=out, deployment_in_progress=True)
    seen = state(live, FULL, in_alarm=True, tagged=True)
    assert (seen.current, seen.suspended, seen.deployment_in_progress, seen.in_alarm) == (
        Levels(3, 8),
        out,
        True,
        True,
    )
    assert (seen.saved_before_zero, seen.override, seen.profile) == (FULL.saved_before_zero, FULL.override, "day")


# --- DynamoDB -------------------------------------------------------------------------------------------


def test_save_and_load_round_trip_with_a_version(audit_table: str) -> None:
    states = StateStore(audit_table)
    assert states.load("orders") == Stored()

    first = states.save("orders", FULL, expected_version=0)
    assert first.version == 1
    assert states.load("orders") == first

    second = states.save("orders", Stored(profile="night"), expected_version=1)
    assert states.load("orders") == second == Stored(version=2, profile="night")

    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=audit_table, Key={"pk": {"S": "capacity/orders"}, "sk": {"S": "state"}}
    )["Item"]
    assert "expires_at" not in item  # never expires
    assert "duty" not in item  # never listed among audit records


def test_a_stale_version_is_a_conflict_and_changes_nothing(audit_table: str) -> None:
    states = StateStore(audit_table)
    states.save("orders", FULL, expected_version=0)

    with pytest.raises(Conflict, match="'orders': its saved state changed since version 0"):
        states.save("orders", Stored(), expected_version=0)
    with pytest.raises(Conflict, match="since version 7"):
        states.save("orders", Stored(), expected_version=7)

    assert states.load("orders") == Stored(**{**FULL.__dict__, "version": 1})


# --- commit: apply, then save ---------------------------------------------------------------------------


def test_commit_applies_then_saves(audit_table: str) -> None:
    register_orders(2, 9)
    states = StateStore(audit_table)
    zero = change(Levels(2, 9), Levels(0, 0), save=Saved(Levels(2, 9), Suspension()), profile="zero")

    done = commit(zero, POLICY, OWNER, Stored(), store=states, through=AWS, now=NOW, dry_run=False)

    assert done.saved
    assert [c.method for c in done.calls] == ["register_scalable_target"]
    assert live_orders() == Levels(0, 0)
    assert states.load("orders") == done.stored == after(Stored(version=1), zero, NOW)


def test_a_dry_run_commit_neither_applies_nor_saves(audit_table: str) -> None:
    register_orders(2, 9)
    states = StateStore(audit_table)

    done = commit(
        change(Levels(2, 9), Levels(0, 0)), POLICY, OWNER, Stored(), store=states, through=AWS, now=NOW, dry_run=True
    )

    assert [c.method for c in done.calls] == ["register_scalable_target"]
    assert live_orders() == Levels(2, 9)
    assert states.load("orders") == Stored()


def test_a_throttled_apply_leaves_the_saved_state_as_it_was(audit_table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    register_orders(2, 9)
    states = StateStore(audit_table)
    before = states.save("orders", FULL, expected_version=0)
    failing(monkeypatch, targets, "register_scalable_target")

    with pytest.raises(ApplyFailed, match=r"'orders': application-autoscaling\.register_scalable_target failed"):
        commit(
            change(Levels(2, 9), Levels(0, 0)), POLICY, OWNER, before, store=states, through=AWS, now=NOW, dry_run=False
        )

    assert states.load("orders") == before
    assert live_orders() == Levels(2, 9)


def test_a_throttled_save_after_a_good_apply_is_reported(audit_table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    register_orders(2, 9)
    states = StateStore(audit_table)
    before = states.save("orders", FULL, expected_version=0)
    failing(monkeypatch, store_module, "put_item")

    done = commit(
        change(Levels(2, 9), Levels(3, 9)), POLICY, OWNER, before, store=states, through=AWS, now=NOW, dry_run=False
    )

    assert not done.saved
    assert done.unsaved is not None
    assert "applied, but the saved state was not written" in done.unsaved
    assert "Throttling" in done.unsaved
    assert "reconciles from the live levels" in done.unsaved
    assert not done.conflict
    assert done.stored == before
    assert live_orders() == Levels(3, 9)  # the live levels are the truth the next run starts from
    assert states.load("orders") == before


def test_a_save_that_lost_the_race_is_reported(audit_table: str) -> None:
    register_orders(2, 9)
    states = StateStore(audit_table)
    stale = states.save("orders", FULL, expected_version=0)
    newer = states.save("orders", Stored(profile="night"), expected_version=1)

    done = commit(
        change(Levels(2, 9), Levels(3, 9)), POLICY, OWNER, stale, store=states, through=AWS, now=NOW, dry_run=False
    )

    assert done.unsaved is not None
    assert "changed since version 1" in done.unsaved
    assert done.conflict
    assert states.load("orders") == newer


def test_a_refused_change_or_an_unknown_target_commits_nothing(audit_table: str) -> None:
    states = StateStore(audit_table)
    refused = change(Levels(2, 9), Levels(2, 9), refused="cooldown")

    assert commit(refused, POLICY, OWNER, FULL, store=states, through=AWS, now=NOW, dry_run=False).calls == []
    with pytest.raises(targets.UnknownTarget, match="'ghost'"):
        commit(
            Change(
                target="ghost",
                before=Levels(1, 2),
                after=Levels(3, 4),
                reason="x",
                refused=None,
                trigger=Trigger("manual"),
                precedence=4,
            ),
            POLICY,
            OWNER,
            Stored(),
            store=states,
            through=AWS,
            now=NOW,
            dry_run=False,
        )
    assert states.load("orders") == Stored()
    assert states.load("ghost") == Stored()


def test_a_state_saved_with_one_suspended_boolean_restores_all_three_flags_as_it_meant() -> None:
    legacy = '{"saved_before_zero": {"levels": {"min": 2, "max": 9, "desired": null}, "suspended": true}}'
    assert from_json(legacy, 4).saved_before_zero == Saved(Levels(2, 9), Suspension.every(True))
