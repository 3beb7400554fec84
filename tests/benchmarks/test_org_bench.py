"""The organization bench's figures: the seeded plan and what a correct run does with it, the lower bound, the
judgement, the pace measured on the calls received, and the cost formula; then a tiny bench run end to end (3
accounts x 2 regions: the real app deployed into the sandbox, the fan-out executed)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.core.base_backend import BackendDict

from benchmarks.estate import MARK_TAG
from benchmarks.organization import (
    BURST,
    GB_SECOND_USD,
    LAMBDA_REQUEST_USD,
    MIN_AGE_DAYS,
    PER_SECOND,
    STATE_TRANSITION_USD,
    Clutter,
    Invocation,
    Observed,
    OrgRun,
    billed_ms,
    busiest_second,
    configured_functions,
    cost_usd,
    final_line,
    judged,
    lower_bound,
    observe,
    plan,
    report,
    run,
    seed,
    within_pace,
)
from functions.shared.pacing import Key, Pace, Pacer

REGIONS = ("us-east-1", "eu-west-1")
OLD = MIN_AGE_DAYS + 10.5
BASE = Clutter(0, 0, "us-east-1", "ebs-volume", OLD, False, False, "due", -3)


@pytest.mark.parametrize(
    ("spec", "verdict"),
    [
        (BASE, "remove"),
        (replace(BASE, mark="none"), "mark"),
        (replace(BASE, mark="pending", mark_offset_days=3), "keep"),
        (replace(BASE, protected=True), "keep"),
        (replace(BASE, in_use=True), "keep"),
        (replace(BASE, age_days=MIN_AGE_DAYS - 2.5), "keep"),
        (replace(BASE, kind="elastic-ip", age_days=0.5), "remove"),  # an address has no age to wait for
        (replace(BASE, kind="elastic-ip", in_use=True), "keep"),
    ],
)
def test_the_plan_says_what_a_correct_run_does_with_each_resource(spec: Clutter, verdict: str) -> None:
    assert spec.verdict == verdict


def test_the_plan_is_reproducible_and_holds_every_case_the_bench_judges() -> None:
    specs = plan(20, REGIONS, seed=6)

    assert specs == plan(20, REGIONS, seed=6)
    assert specs != plan(20, REGIONS, seed=7)
    assert [s.index for s in specs] == list(range(len(specs)))
    assert set(Counter(s.verdict for s in specs)) == {"remove", "mark", "keep"}
    assert all(any(getattr(s, case) for s in specs) for case in ("protected", "in_use"))
    assert any(s.kind == "ebs-volume" and s.age_days < MIN_AGE_DAYS for s in specs)
    assert all(abs(s.age_days - MIN_AGE_DAYS) >= 0.5 for s in specs)


def test_the_lower_bound_counts_lists_credentials_marks_and_removals() -> None:
    volume = replace(BASE, account=0, region="us-east-1")
    specs = [
        volume,  # remove
        replace(volume, index=1),  # remove
        replace(volume, index=2, mark="none"),  # mark
        replace(volume, index=3, kind="elastic-ip", mark="none"),  # mark: another kind, another CreateTags
        replace(volume, index=4, in_use=True),  # attached: not even listed as available
        replace(volume, index=5, account=1, region="eu-west-1", mark="none"),  # account 1: marks only
    ]

    bound = lower_bound(specs, accounts=2, regions=REGIONS)

    # 2 accounts: 1 ListAccountsForParent page + 1 ListOrganizationalUnitsForParent; 4 account-regions x (one
    # DescribeVolumes page + one DescribeAddresses).
    assert bound.lists == 2 + 4 * 2
    assert bound.credentials == 2 + 1 + 1  # each member role; account 0's member deleter, and the hub deleter
    assert bound.marks == 3
    assert bound.removals == 2
    assert bound.total == 10 + 4 + 3 + 2


def test_wrong_counts_what_the_run_did_otherwise_than_planned_and_missed_what_it_left() -> None:
    specs = [
        BASE,  # remove
        replace(BASE, index=1, mark="none"),  # mark
        replace(BASE, index=2, protected=True),  # keep
        replace(BASE, index=3),  # remove
    ]
    exact: dict[int, Observed] = {0: "removed", 1: "marked", 2: "untouched", 3: "removed"}
    assert judged(specs, exact) == (0, 0)
    assert judged(specs, {**exact, 2: "removed"}) == (1, 0)
    assert judged(specs, {**exact, 1: "removed"}) == (1, 0)  # removed what only had to be marked
    assert judged(specs, {**exact, 0: "untouched", 1: "untouched"}) == (0, 2)
    assert judged(specs, {**exact, 3: "marked"}) == (1, 0)


def test_the_busiest_second_is_found_in_any_window_not_only_clock_aligned_ones() -> None:
    assert busiest_second([]) == 0
    assert busiest_second([0.6, 0.9, 1.1, 1.5, 2.7]) == 4  # (0.6, 1.5] crosses the second's boundary
    assert busiest_second([0.0, 1.0, 2.0]) == 1  # a window holds [t, t + 1)


def test_within_pace_allows_the_burst_then_the_rate() -> None:
    assert within_pace([0.0] * 5, per_second=1, burst=5)
    assert not within_pace([0.0] * 6, per_second=1, burst=5)
    assert within_pace([0.0] * 5 + [1.0], per_second=1, burst=5)
    assert not within_pace([0.0] * 5 + [0.5], per_second=1, burst=5)


@settings(max_examples=40, deadline=None)
@given(
    rate=st.floats(min_value=1, max_value=50),
    burst=st.integers(min_value=1, max_value=60),
    workers=st.integers(min_value=1, max_value=4),
    calls=st.integers(min_value=1, max_value=120),
)
def test_calls_the_pacer_sends_pass_the_bench_check_and_never_exceed_burst_plus_rate_in_a_second(
    rate: float, burst: int, workers: int, calls: int
) -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    pacer = Pacer(Pace(rate, burst), clock=lambda: now[0], sleep=sleep)
    key = Key("111111111111", "us-east-1")
    sent = [pacer.send(key) for _ in range(calls * workers)]

    assert within_pace(sent, rate, burst)
    assert busiest_second(sent) <= burst + rate


def test_the_cost_is_transitions_requests_and_billed_gb_seconds_at_list_prices() -> None:
    invocations = [
        Invocation(duration_ms=0.2, memory_mb=256, architecture="arm64"),  # billed 1 ms
        Invocation(duration_ms=1500.01, memory_mb=1024, architecture="x86_64"),  # billed 1,501 ms
    ]
    # Step Functions Standard $0.025 per 1,000 transitions; Lambda $0.20 per 1M requests and, per GB-second,
    # $0.0000133334 on Arm, $0.0000166667 on x86.
    expected = 400 * 0.025 / 1000 + 2 * 0.20 / 1e6 + 0.001 * 0.25 * 0.0000133334 + 1.501 * 1 * 0.0000166667

    assert (STATE_TRANSITION_USD, LAMBDA_REQUEST_USD) == (0.025 / 1000, 0.20 / 1e6)
    assert GB_SECOND_USD == {"arm64": 0.0000133334, "x86_64": 0.0000166667}
    assert [billed_ms(i.duration_ms) for i in invocations] == [1, 1501]
    assert cost_usd(400, invocations) == pytest.approx(expected)
    assert cost_usd(0, []) == 0


def test_seeded_resources_are_read_back_as_the_run_left_them(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from moto.ec2.models import ec2_backends

    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    members = ["210000000001", "210000000002"]
    specs = plan(2, REGIONS, seed=0)
    assert {s.kind for s in specs if s.in_use} == {"ebs-volume", "elastic-ip"}  # attached and associated ones too
    now = datetime.now(UTC)
    ids = seed(specs, members, now)
    untouched = observe(specs, members, ids, now.date())
    assert set(untouched.values()) == {"untouched"}
    for spec in specs:  # what a correct run does, through moto's backends
        ec2 = ec2_backends[members[spec.account]][spec.region]
        if spec.verdict == "mark":
            ec2.create_tags([ids[spec.index]], {MARK_TAG: "2099-01-01"})
        elif spec.verdict == "remove" and spec.kind == "ebs-volume":
            ec2.delete_volume(ids[spec.index])
        elif spec.verdict == "remove":
            ec2.release_address(allocation_id=ids[spec.index])

    observed = observe(specs, members, ids, now.date())

    assert Counter(observed.values()) == Counter(
        {"remove": "removed", "mark": "marked", "keep": "untouched"}[s.verdict] for s in specs
    )
    assert judged(specs, observed) == (0, 0)
    assert judged(specs, untouched) == (0, sum(s.verdict != "keep" for s in specs))


def test_the_functions_are_priced_as_the_template_deploys_them_with_lambdas_defaults_elsewhere() -> None:
    template = {
        "Resources": {
            "Fanout": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"FunctionName": "deckhand-fanout", "MemorySize": 256, "Architectures": ["arm64"]},
            },
            "Plain": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "deckhand-plain"}},
            "Unnamed": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": {"Ref": "Name"}}},
            "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
        }
    }

    assert configured_functions(template) == {"deckhand-fanout": (256, "arm64"), "deckhand-plain": (128, "x86_64")}


def test_the_bench_prints_its_table_then_ends_on_the_org_line(capsys: pytest.CaptureFixture[str]) -> None:
    specs = [BASE, replace(BASE, index=1, mark="none"), replace(BASE, index=2, protected=True)]
    result = OrgRun(
        accounts=1,
        regions=1,
        specs=specs,
        bound=lower_bound(specs, accounts=1, regions=["us-east-1"]),
        scopes=2,
        wall_s=3.5,
        calls=Counter({"ec2:DeleteVolume": 1, "ec2:CreateTags": 1, "lambda:Invoke": 18}),
        all_requests=40,
        observed={0: "removed", 1: "untouched", 2: "removed"},
        mutating={("111111111111", "us-east-1"): [0.0, 0.5, 2.0]},
        transitions=8,
        retries=0,
        invocations=[Invocation(100.0, 256, "arm64")],
        status="SUCCEEDED",
        failed_accounts=[],
    )

    report(result, latency_s=0.005)
    printed = capsys.readouterr().out.splitlines()
    table = [row.split() for row in printed if row.split()[:1] in (["remove"], ["mark"], ["keep"])]
    line = final_line(result)

    # each planned verdict: seeded, then removed, marked, untouched by the run
    assert table == [["remove", "1", "1", "0", "0"], ["mark", "1", "0", "0", "1"], ["keep", "1", "1", "0", "0"]]
    assert line == (
        "org: accounts=1 regions=1 scopes=2 wall_s=3.5 api_calls/lower_bound="
        f"{20 / result.bound.total:.2f} wrong=1 missed=1 max_mutating_rate_per_account_region=2 transitions=8 "
        f"est_cost_usd={cost_usd(8, result.invocations):.4f}"
    )


@pytest.fixture
def moto_of_its_own() -> Iterator[None]:
    """moto to the bench alone, as in its own process under `make bench`: moto's backends are process-wide, and a
    module before this one on the worker may have left the CDK's bootstrap bucket (S3 bucket names are global, and
    CloudFormation's bucket then fails the bootstrap), an organization or StackSets. What the bench leaves goes too."""
    BackendDict.reset()
    yield
    BackendDict.reset()


@pytest.mark.sandbox
@pytest.mark.usefixtures("moto_of_its_own")
def test_a_tiny_organization_bench_cleans_as_planned_within_the_pace_and_prices_its_run() -> None:
    result = run(3, REGIONS, seed_value=0, latency_s=0.0)

    assert (result.status, result.failed_accounts) == ("SUCCEEDED", [])
    assert (result.wrong, result.missed) == (0, 0)
    assert {s.verdict for s in result.specs} == {"remove", "mark", "keep"}
    assert sum(len(instants) for instants in result.mutating.values()) >= result.bound.marks + result.bound.removals
    assert result.paced
    assert 0 < result.max_rate <= BURST + PER_SECOND
    assert result.transitions > result.scopes  # each scope's child execution enters two states at least
    assert len(result.invocations) >= result.scopes + 3  # the console's start, the plan, each scope, the aggregate
    assert result.api_calls >= result.bound.total
    assert result.cost_usd > result.transitions * STATE_TRANSITION_USD  # and Lambda's share
