"""The fan-out's properties over random organizations (issue 13): every planned scope is accounted for exactly once,
no account-region ever gets more than its rate of mutating calls however many of its items run at once, and one
account's failure changes no other account's outcome. Accounts, regions, kinds, resources, failures and the
deadline are drawn; the Map runs in process (runner.py) through the real plan, scope and aggregation code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.cleanup.config import CleanupConfig
from functions.cleanup.fanout.aggregate import Outcome, outcomes
from functions.cleanup.fanout.messages import Item
from functions.cleanup.fanout.plan import items
from functions.cleanup.kinds.base import KindName
from functions.cleanup.policy import Cleanup
from functions.shared.organization import Organization
from tests.support.runtime import MemoryRuntime

from .runner import MapRun

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
KIND_NAMES: list[KindName] = ["ebs-snapshot", "ebs-volume", "elastic-ip", "stopped-instance"]
REGIONS = ["eu-west-1", "us-east-1", "ap-south-1"]
OPEN = {"min_age_days": 0, "max_share": 1.0, "max_count": 100_000}


@st.composite
def organizations(draw: st.DrawFn) -> dict[str, Any]:
    accounts = draw(st.lists(st.integers(10**11, 10**12 - 1).map(str), min_size=1, max_size=5, unique=True))
    kinds = draw(st.lists(st.sampled_from(KIND_NAMES), min_size=1, max_size=4, unique=True))
    return {
        "accounts": accounts,
        "regions": draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=3, unique=True)),
        "kinds": kinds,
        "failing": draw(
            st.dictionaries(st.sampled_from(accounts), st.sampled_from(["unreachable", "throttled", "broken"]))
        ),
        "per_second": draw(st.sampled_from([0.5, 1.0, 5.0, 20.0])),
        # At least one token per item of an account-region (plan.share: below that, k calls may go at once).
        "burst": draw(st.integers(len(kinds), 60)),
        "looks": draw(st.integers(1, 6)),
        "seed": draw(st.integers(0, 7)),
    }


def run(org: dict[str, Any], failing: dict[str, str]) -> tuple[MapRun, list[Item], list[Outcome]]:
    cleanup = Cleanup.model_validate(
        {
            "enabled": True,
            "concurrency": 1,
            "pacing": {"per_second": org["per_second"], "burst": org["burst"]},
            "kinds": dict.fromkeys(org["kinds"], OPEN),
        }
    )
    organization = Organization.model_validate(
        {"id": "o-a1b2c3d4e5", "accounts": org["accounts"], "regions": org["regions"]}
    )
    cfg = CleanupConfig(cleanup, "bucket", tuple(org["regions"]), organization, None)
    planned = items(
        "run-1",
        org["accounts"],
        org["regions"],
        org["kinds"],
        action="run",
        dry_run=False,
        cfg=cfg,
    )
    seed = org["seed"]
    runner = MapRun(
        MemoryRuntime(clock=lambda: NOW, default_dry_run=False).runtime,
        cfg,
        resources=lambda item: (int(item.account) + len(item.region) * 7 + len(item.kind) + seed) % 9,
        failing=failing,
        looks=org["looks"],
    )
    return runner, planned, outcomes(planned, runner.run(planned), "missing")


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(organizations())
def test_every_planned_scope_is_accounted_for_exactly_once(org: dict[str, Any]) -> None:
    runner, planned, rows = run(org, org["failing"])

    assert len(planned) == len(org["accounts"]) * len(org["regions"]) * len(org["kinds"])
    assert [row.item for row in rows] == planned
    for row in rows:
        failure = org["failing"].get(row.item.account)
        if failure is None:  # every due resource acted on, over however many invocations the deadline took
            assert row.status == "done"
            assert row.tally.found == row.tally.acted == runner.resources(row.item)
            assert not row.tally.pending
        else:
            assert row.status == "failed"
            assert row.tally.reason or row.tally.failed
            assert row.tally.acted == 0


@SETTINGS
@given(organizations())
def test_no_account_region_ever_gets_more_than_its_rate(org: dict[str, Any]) -> None:
    runner, _, _ = run(org, {})
    rate, burst = org["per_second"], org["burst"]

    for key, sent in runner.sent.items():
        instants = sorted(sent)
        for first in range(len(instants)):
            for last in range(first, len(instants)):
                calls = last - first + 1
                # Any window holds at most the bucket's size plus what it refills in the window.
                assert calls <= burst + rate * (instants[last] - instants[first]) + 1e-6, (key, instants)


@SETTINGS
@given(organizations(), st.data())
def test_one_accounts_failure_changes_no_other_accounts_outcome(org: dict[str, Any], data: st.DataObject) -> None:
    failed = data.draw(st.sampled_from(org["accounts"]))
    how = data.draw(st.sampled_from(["unreachable", "throttled", "broken"]))

    _, _, alone = run(org, {})
    _, _, with_failure = run(org, {failed: how})

    assert [row for row in with_failure if row.item.account != failed] == [
        row for row in alone if row.item.account != failed
    ]
    assert all(row.status == "failed" for row in with_failure if row.item.account == failed)
