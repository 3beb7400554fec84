"""The cleanup engine over an in-memory kind: marks, acts, failures, the blast radius, dry runs, deadlines, resume."""

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from functions.cleanup.decide import Protection, due_date
from functions.cleanup.engine import ABORTED, GONE, Deadline, Options, RunState, ScopeResult, run, run_scope
from functions.cleanup.kinds import KindRules
from functions.cleanup.kinds.base import Candidate, Excluded, Judgement, KindRule, Resource, Scope
from functions.shared.pacing import Key, Pace, Pacer

from .fakes import MUTATING, Countdown, FakeKind, FakeMarks, throttled
from .strategies import ACCOUNT, MARK_TAG, OTHER_ACCOUNT, PROTECT_TAG, Estate, estates, instants, rules

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
SCOPE = Scope(ACCOUNT, "us-east-1", "ebs-snapshot")
DELETE = Candidate(action="delete", monthly_usd=1.25, why="old")
RULES = KindRules.model_validate({"ebs-snapshot": {"min_age_days": 30, "max_share": 1.0, "max_count": 1000}})
OPEN: KindRule = RULES.ebs_snapshot  # type: ignore[assignment]


def options(
    *, dry_run: bool = False, grace_days: int = 7, concurrency: int = 4, marks: FakeMarks | None = None, **more: object
) -> Options:
    return Options(
        now=more.pop("now", NOW),  # type: ignore[arg-type]
        dry_run=dry_run,
        protect=Protection(PROTECT_TAG),
        mark_tag=MARK_TAG,
        grace_days=grace_days,
        concurrency=concurrency,
        marks=marks or FakeMarks(),  # type: ignore[arg-type]
        pacer=more.pop("pacer", Pacer(Pace(5.0, 50))),  # type: ignore[arg-type]
        **more,  # type: ignore[arg-type]
    )


def snapshot(index: int, days: int = 90, **fields: object) -> Resource:
    values: dict[str, object] = {"created": NOW - timedelta(days=days), "owner": ACCOUNT} | fields
    return Resource(kind="ebs-snapshot", id=f"snap-{index}", region="us-east-1", name=f"s{index}", **values)  # type: ignore[arg-type]


def due(days: int) -> dict[str, str]:
    return {MARK_TAG: (NOW.date() + timedelta(days=days)).isoformat()}


def fake(resources: list[Resource], **more: object) -> FakeKind:
    return FakeKind(resources, {resource.id: DELETE for resource in resources}, **more)  # type: ignore[arg-type]


def start(regions: list[str]) -> RunState:
    return RunState.start(
        "r1", action="run", dry_run=False, account=ACCOUNT, now=NOW, regions=regions, kinds=["ebs-snapshot"]
    )


def accounted(result: ScopeResult) -> int:
    """Every found resource lands in exactly one bucket."""
    failed = {failure.id for failure in result.failures if failure.id}
    return len(result.acted) + len(result.marked) + sum(result.skipped.values()) + len(failed) + len(result.pending)


def test_a_scope_marks_the_new_acts_on_the_due_and_leaves_the_rest_with_reasons() -> None:
    kind = fake(
        [
            snapshot(1, tags=due(-1)),  # due yesterday: acted on
            snapshot(2),  # unmarked: marked
            snapshot(3, tags=due(2)),  # not yet due
            snapshot(4, tags={PROTECT_TAG: "", **due(-1)}),
            snapshot(5, owner=OTHER_ACCOUNT),
            snapshot(6, days=3),
            snapshot(7, tags=due(-1)),  # in use
        ],
        users={"snap-7": "behind AMI ami-1 (available)"},
    )

    result = run_scope(SCOPE, OPEN, kind, options())

    assert [item.id for item in result.acted] == ["snap-1"]
    assert [(item.id, item.due) for item in result.marked] == [("snap-2", "2026-06-17")]
    assert kind.resources["snap-2"].tags[MARK_TAG] == "2026-06-17"
    assert result.skipped == {"marked, not yet due": 1, "protected": 1, "foreign": 1, "too young": 1, "in use": 1}
    assert (result.found, result.failures, result.aborted, result.monthly_usd) == (7, [], None, 1.25)
    assert accounted(result) == 7


def test_one_failed_action_does_not_stop_the_others_and_is_listed_with_its_error() -> None:
    kind = fake([snapshot(n, tags=due(0)) for n in range(10)], failing={"snap-3": throttled(), "snap-7": KeyError("x")})

    result = run_scope(SCOPE, OPEN, kind, options())

    assert sorted(item.id for item in result.acted) == [f"snap-{n}" for n in range(10) if n not in (3, 7)]
    assert sorted((f.id, f.action, f.error.split(":")[0]) for f in result.failures) == [
        ("snap-3", "delete", "ClientError"),
        ("snap-7", "delete", "KeyError"),
    ]
    assert "RequestLimitExceeded" in next(f.error for f in result.failures if f.id == "snap-3")
    assert accounted(result) == 10


def test_a_kind_that_cannot_list_fails_its_scope_alone() -> None:
    class Broken(FakeKind):
        def find(self, scope: Scope, rule: KindRule) -> list[Resource]:
            raise throttled("DescribeSnapshots")

    broken, working = Broken([], {}), fake([snapshot(1, tags=due(0))])
    state = start(["us-east-1", "eu-west-1"])

    kinds = {"ebs-snapshot": broken}
    first = run(state, kinds, RULES, options())  # type: ignore[arg-type, dict-item]
    kinds["ebs-snapshot"] = working
    assert [(r.scope.region, r.failures[0].action) for r in first] == [("us-east-1", "find"), ("eu-west-1", "find")]

    state = start(["us-east-1"])
    [done] = run(state, kinds, RULES, options())  # type: ignore[arg-type]
    assert [item.id for item in done.acted] == ["snap-1"]


def test_a_scope_over_the_blast_radius_is_aborted_with_its_figures_and_nothing_changes() -> None:
    kind = fake([snapshot(n, tags=due(0)) for n in range(6)] + [snapshot(9)])
    rule = KindRule(min_age_days=30, max_share=0.5, max_count=100)

    result = run_scope(SCOPE, rule, kind, options())

    assert result.aborted == (
        "would act on 6 of 7 found (86%), above the cap of 3 (max_count 100, max_share 50% of 7); nothing was done"
    )
    assert (result.acted, result.marked, result.skipped[ABORTED]) == ([], [], 7)
    assert kind.calls == [("find", ()), ("in_use", ())]


def test_untaggable_kinds_keep_marks_in_the_store_read_once_and_forget_them_once_acted() -> None:
    marks = FakeMarks({"snap-1": "2026-06-01", "snap-2": "2026-06-30"})
    kind = fake([snapshot(1), snapshot(2), snapshot(3)], taggable=False)

    result = run_scope(SCOPE, OPEN, kind, options(marks=marks))

    assert [item.id for item in result.acted] == ["snap-1"]
    assert [item.id for item in result.marked] == ["snap-3"]
    assert marks.calls == [("read", ()), ("write", ("snap-3",)), ("forget", ("snap-1",))]
    assert marks.marks == {"snap-2": "2026-06-30", "snap-3": "2026-06-17"}


def test_actions_run_concurrently_but_never_more_than_the_policys_concurrency() -> None:
    kind = fake([snapshot(n, tags=due(0)) for n in range(24)], act_seconds=0.02)

    result = run_scope(SCOPE, OPEN, kind, options(concurrency=3))

    assert len(result.acted) == 24
    assert kind.most_in_flight == 3


@settings(max_examples=150)
@given(data=st.data(), now=instants, rule=rules, grace=st.integers(0, 14), taggable=st.booleans())
def test_a_dry_run_never_reaches_a_mutating_call_and_reports_what_a_real_run_would_do(
    data: st.DataObject, now: datetime, rule: KindRule, grace: int, taggable: bool
) -> None:
    estate: Estate = data.draw(estates(now, taggable))
    dry_kind, dry_marks = (
        FakeKind(estate.resources, estate.judgements, estate.users, taggable=taggable),
        FakeMarks(estate.marks),
    )
    real_kind, real_marks = (
        FakeKind(estate.resources, estate.judgements, estate.users, taggable=taggable),
        FakeMarks(estate.marks),
    )

    planned = run_scope(SCOPE, rule, dry_kind, options(dry_run=True, grace_days=grace, now=now, marks=dry_marks))
    done = run_scope(SCOPE, rule, real_kind, options(grace_days=grace, now=now, marks=real_marks))

    assert not [call for call in dry_kind.calls + dry_marks.calls if call[0] in MUTATING]
    assert dry_marks.marks == estate.marks
    assert {item.id for item in planned.acted} == {item.id for item in done.acted}
    assert {item.id for item in planned.marked} == {item.id for item in done.marked}
    assert (planned.skipped, planned.aborted) == (done.skipped, done.aborted)


@settings(max_examples=150)
@given(data=st.data(), now=instants, rule=rules, grace=st.integers(0, 3), taggable=st.booleans())
def test_over_random_estates_only_what_qualifies_is_acted_on_within_the_cap_and_everything_is_accounted_for(
    data: st.DataObject, now: datetime, rule: KindRule, grace: int, taggable: bool
) -> None:
    estate: Estate = data.draw(estates(now, taggable))
    failing = {r.id: throttled() for r in estate.resources if data.draw(st.sampled_from([False] * 5 + [True]))}
    kind = FakeKind(estate.resources, estate.judgements, estate.users, taggable=taggable, failing=failing)
    marks = FakeMarks(estate.marks)

    result = run_scope(SCOPE, rule, kind, options(grace_days=grace, now=now, marks=marks))

    today = now.astimezone(UTC).date()
    by_id = {resource.id: resource for resource in estate.resources}
    for id_ in kind.acted():
        resource = by_id[id_]
        mark = resource.tags.get(MARK_TAG) if taggable else estate.marks.get(id_)
        assert PROTECT_TAG not in resource.tags
        assert resource.owner in (None, ACCOUNT)
        assert id_ not in estate.users
        assert isinstance(estate.judgements.get(id_), Candidate)
        assert now - resource.created >= timedelta(days=rule.min_age_days)
        marked_due = due_date(mark)
        assert (marked_due is not None and marked_due <= today) or (mark is None and grace == 0)
    allowed = min(rule.max_count, int(rule.max_share * len(estate.resources) + 1e-9))
    assert len(kind.acted()) <= allowed
    if result.aborted:
        assert not [call for call in kind.calls + marks.calls if call[0] in MUTATING]
    assert {f.id for f in result.failures} == set(failing) & set(kind.acted())
    assert accounted(result) == result.found == len(estate.resources)


def day_end(moment: datetime) -> datetime:
    utc = moment.astimezone(UTC)
    return datetime.combine(utc.date(), time.max, tzinfo=UTC)


@settings(max_examples=150)
@given(data=st.data(), now=instants, rule=rules, grace=st.integers(0, 3), taggable=st.booleans())
def test_a_second_run_right_after_a_real_run_finds_nothing_new(
    data: st.DataObject, now: datetime, rule: KindRule, grace: int, taggable: bool
) -> None:
    estate: Estate = data.draw(estates(now, taggable))
    kind = FakeKind(estate.resources, estate.judgements, estate.users, taggable=taggable)
    marks = FakeMarks(estate.marks)
    run_scope(SCOPE, rule, kind, options(grace_days=grace, now=now, marks=marks))
    kind.calls.clear()

    # Right after, on the same UTC day: at midnight a pending mark rightly comes due. Nor may a resource come of age
    # in between: one created 89 days 23 h 58 min before is rightly new to a 90-day rule 5 minutes later.
    later = max(now, min(now + timedelta(minutes=5), day_end(now)))
    assume(not any(now < r.created + timedelta(days=rule.min_age_days) <= later for r in estate.resources))
    again = run_scope(SCOPE, rule, kind, options(grace_days=grace, now=later, marks=marks))

    assert (again.acted, again.marked, again.failures) == ([], [], [])
    assert not [call for call in kind.calls if call[0] in MUTATING]


@settings(max_examples=80)
@given(
    data=st.data(),
    looks=st.integers(1, 40),
    concurrency=st.integers(1, 5),
    regions=st.lists(st.sampled_from(["us-east-1", "eu-west-1", "ap-south-1"]), min_size=1, max_size=3, unique=True),
)
def test_a_run_stopped_by_the_deadline_resumes_exactly_the_rest_and_acts_on_nothing_twice(
    data: st.DataObject, looks: int, concurrency: int, regions: list[str]
) -> None:
    counts = data.draw(st.lists(st.integers(0, 15), min_size=len(regions), max_size=len(regions)))
    kinds = {
        region: fake([snapshot(n, tags=due(0)) for n in range(count)])
        for region, count in zip(regions, counts, strict=True)
    }

    class ByRegion(FakeKind):
        def __init__(self) -> None:
            super().__init__([], {})

        def find(self, scope: Scope, rule: KindRule) -> list[Resource]:
            return kinds[scope.region].find(scope, rule)

        def judge(self, found: Sequence[Resource], rule: KindRule, now: datetime) -> dict[str, Judgement]:
            return dict.fromkeys((resource.id for resource in found), DELETE)

        def act(self, scope: Scope, resource: Resource, candidate: object, rule: KindRule) -> None:
            kinds[scope.region].act(scope, resource, candidate, rule)

    rules = RULES
    state = start(regions)
    invocations = 0
    while True:
        invocations += 1
        deadline = Deadline(Countdown(looks), margin_ms=60_000)
        run(state, {"ebs-snapshot": ByRegion()}, rules, options(concurrency=concurrency, deadline=deadline))  # type: ignore[dict-item]
        state = RunState.from_json(json.loads(json.dumps(state.to_json())))  # the checkpoint is plain JSON
        if state.finished:
            break
        assert invocations < 100, "the run makes no progress"

    if sum(counts) > looks + len(regions):
        assert invocations > 1, "the deadline never stopped the run"
    for region, count in zip(regions, counts, strict=True):
        acted = kinds[region].acted()
        assert sorted(acted) == sorted(f"snap-{n}" for n in range(count)), region
        assert kinds[region].resources == {}
    by_region = {result.scope.region: result for result in state.results}
    assert [len(by_region[region].acted) for region in regions] == counts
    assert all(result.found == len(result.acted) and not result.skipped for result in state.results)


def test_a_pending_act_that_no_longer_qualifies_or_is_gone_is_skipped_on_resume() -> None:
    kind = fake([snapshot(1, tags=due(0)), snapshot(2, tags={PROTECT_TAG: "", **due(0)}), snapshot(3, tags=due(0))])

    resumed = run_scope(SCOPE, OPEN, kind, options(), pending=["snap-1", "snap-2", "snap-4"])

    assert [item.id for item in resumed.acted] == ["snap-1"]
    assert resumed.skipped == {"no longer due: protected": 1, GONE: 1}
    assert resumed.found == 0
    assert kind.acted() == ["snap-1"]


def test_an_excluded_resource_is_skipped_with_the_kinds_own_reason() -> None:
    kind = FakeKind([snapshot(1)], {"snap-1": Excluded("within the last 3")})

    assert run_scope(SCOPE, OPEN, kind, options()).skipped == {"within the last 3": 1}


class SpyPacer(Pacer):
    """Counts the blocks whose calls spend an account-region's budget."""

    def __init__(self) -> None:
        super().__init__(Pace(5.0, 50))
        self.entered: list[Key] = []

    @contextmanager
    def pacing(self, key: Key) -> Iterator[None]:
        self.entered.append(key)
        with super().pacing(key):
            yield


def test_every_mark_and_act_spends_its_scopes_account_region_budget_and_a_dry_run_none() -> None:
    kind = fake([snapshot(n, tags=due(0)) for n in range(5)] + [snapshot(n) for n in range(5, 8)])
    pacer, idle = SpyPacer(), SpyPacer()

    result = run_scope(SCOPE, OPEN, kind, options(pacer=pacer))
    planned = run_scope(
        SCOPE, OPEN, fake([snapshot(n, tags=due(0)) for n in range(5)]), options(dry_run=True, pacer=idle)
    )

    assert (len(result.acted), len(result.marked), len(planned.acted)) == (5, 3, 5)
    assert pacer.entered == [Key(SCOPE.account, SCOPE.region)] * (1 + 5)  # one mark batch, five acts
    assert idle.entered == []
