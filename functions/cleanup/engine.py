"""The cleanup run: for each scope (account x region x kind) find, decide, mark, then act with bounded concurrency.

`run_scope` is one unit of work, callable on its own (what a Step Functions Map state would call).
`run` walks a run's scopes in order and stops cleanly before the deadline; the run's state is plain JSON
(`RunState.to_json`), so the next invocation resumes exactly the acts not yet carried out. Every found
resource ends in exactly one of acted, marked, skipped (by reason), failed or pending. A dry run reads
only: it never tags, marks or acts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextvars import copy_context
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

from functions.shared.observability import logger
from functions.shared.pacing import Key, Pacer

from .decide import Decision, Protection, blast_radius, decide
from .kinds import KindRules
from .kinds.base import Kind, KindName, KindRule, Resource, Scope
from .state import MarkStore

ERROR_CHARS = 1000
ABORTED = "blast radius: kind aborted"
GONE = "gone before its turn"
NO_LONGER_DUE = "no longer due: "
UNCONFIGURED = "kind no longer configured"


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:ERROR_CHARS]


@dataclass(frozen=True)
class Deadline:
    """Stop starting work once fewer than `margin_ms` remain (in a function: the context's remaining time)."""

    remaining_ms: Callable[[], int]
    margin_ms: int = 60_000

    def near(self) -> bool:
        return self.remaining_ms() < self.margin_ms


NO_DEADLINE = Deadline(lambda: 2**31, 0)


@dataclass(frozen=True)
class Item:
    """One resource acted on or marked, as the report and the audit show it."""

    id: str
    name: str
    action: str
    monthly_usd: float
    why: str
    due: str = ""

    @classmethod
    def of(cls, decision: Decision) -> Item:
        assert decision.candidate is not None
        resource, candidate = decision.resource, decision.candidate
        due = decision.due.isoformat() if decision.due else ""
        return cls(resource.id, resource.name, candidate.action, candidate.monthly_usd, candidate.why, due)


@dataclass(frozen=True)
class Failure:
    region: str
    kind: str
    id: str  # "" when the whole scope failed (listing, in-use checks)
    action: str
    error: str


@dataclass
class ScopeResult:
    scope: Scope
    found: int = 0
    acted: list[Item] = field(default_factory=list)  # in a dry run: would act
    marked: list[Item] = field(default_factory=list)  # in a dry run: would mark
    skipped: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    aborted: str | None = None
    pending: list[str] = field(default_factory=list)  # ids still to act on: the time ran out

    @property
    def monthly_usd(self) -> float:
        return round(sum(item.monthly_usd for item in self.acted), 2)

    @property
    def marked_monthly_usd(self) -> float:
        return round(sum(item.monthly_usd for item in self.marked), 2)

    def failure(self, id_: str, action: str, error: BaseException | str) -> None:
        text = error if isinstance(error, str) else describe(error)
        self.failures.append(Failure(self.scope.region, self.scope.kind, id_, action, text))

    def merged(self, later: ScopeResult) -> ScopeResult:
        """This result followed by a later portion of the same scope (a resumed run)."""
        return ScopeResult(
            scope=self.scope,
            found=self.found + later.found,
            acted=self.acted + later.acted,
            marked=self.marked + later.marked,
            skipped=self.skipped + later.skipped,
            failures=self.failures + later.failures,
            aborted=self.aborted or later.aborted,
            pending=later.pending,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.scope.account,
            "region": self.scope.region,
            "kind": self.scope.kind,
            "found": self.found,
            "acted": [item.__dict__ for item in self.acted],
            "marked": [item.__dict__ for item in self.marked],
            "skipped": dict(self.skipped),
            "failures": [failure.__dict__ for failure in self.failures],
            "aborted": self.aborted,
            "pending": self.pending,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScopeResult:
        return cls(
            scope=Scope(data["account"], data["region"], cast("KindName", data["kind"])),
            found=data["found"],
            acted=[Item(**item) for item in data["acted"]],
            marked=[Item(**item) for item in data["marked"]],
            skipped=Counter(data["skipped"]),
            failures=[Failure(**failure) for failure in data["failures"]],
            aborted=data["aborted"],
            pending=list(data["pending"]),
        )


@dataclass(frozen=True)
class Options:
    """What every scope of one invocation shares."""

    now: datetime
    dry_run: bool
    protect: Protection
    mark_tag: str
    grace_days: int
    concurrency: int
    marks: MarkStore
    pacer: Pacer  # the scope's mutating calls (marks, acts) spend its account-region's budget
    deadline: Deadline = NO_DEADLINE


def run_scope(
    scope: Scope, rule: KindRule, kind: Kind, options: Options, pending: Collection[str] | None = None
) -> ScopeResult:
    """Clean one scope. With `pending` (a resumed scope), only act on those ids, if they still qualify."""
    result = ScopeResult(scope)
    step = "find"
    try:
        found = list(kind.find(scope, rule))
        step = "check in use"
        users = kind.in_use(scope, rule, found)
        step = "judge"
        judged = kind.judge(found, rule, options.now)
        step = "read marks"
        marks = _marks_of(scope, kind, found, options)
    except Exception as error:  # one scope's failure never stops the others
        logger.exception("cleanup scope failed", extra={"scope": scope.__dict__, "step": step})
        result.failure("", step, error)
        return result
    decisions = [
        decide(
            resource,
            judged.get(resource.id),
            users.get(resource.id),
            rule,
            marks.get(resource.id),
            now=options.now,
            protect=options.protect,
            account=scope.account,
            grace_days=options.grace_days,
        )
        for resource in found
    ]
    if pending is not None:
        return _resume(result, kind, rule, decisions, pending=pending, options=options)
    result.found = len(found)
    result.skipped.update(decision.reason for decision in decisions if decision.verdict == "skip")
    to_mark = [decision for decision in decisions if decision.verdict == "mark"]
    to_act = [decision for decision in decisions if decision.verdict == "act"]
    blast = blast_radius(decisions, rule, len(found))
    if blast.exceeded:
        result.aborted = blast.describe()
        result.skipped[ABORTED] += len(to_mark) + len(to_act)
        return result
    _mark(result, kind, to_mark, options)
    _act(result, kind, rule, to_act, options)
    return result


def _marks_of(scope: Scope, kind: Kind, found: Sequence[Resource], options: Options) -> Mapping[str, str]:
    if kind.taggable:
        return {resource.id: resource.tags[options.mark_tag] for resource in found if options.mark_tag in resource.tags}
    return options.marks.read(scope) if found else {}


def _mark(result: ScopeResult, kind: Kind, to_mark: Sequence[Decision], options: Options) -> None:
    by_due: dict[date, list[Decision]] = {}
    for decision in to_mark:
        assert decision.due is not None
        by_due.setdefault(decision.due, []).append(decision)
    for due, decisions in by_due.items():
        try:
            if not options.dry_run:
                resources = [decision.resource for decision in decisions]
                if kind.taggable:
                    with options.pacer.pacing(_budget(result.scope)):
                        kind.mark(result.scope, resources, options.mark_tag, due.isoformat())
                else:
                    options.marks.write(result.scope, [resource.id for resource in resources], due)
        except Exception as error:
            for decision in decisions:
                result.failure(decision.resource.id, "mark", error)
        else:
            result.marked.extend(Item.of(decision) for decision in decisions)


def _act(result: ScopeResult, kind: Kind, rule: KindRule, to_act: Sequence[Decision], options: Options) -> None:
    """Act with at most `concurrency` actions in flight; stop submitting when the deadline is near."""
    if options.dry_run:
        result.acted.extend(Item.of(decision) for decision in to_act)
        return
    in_flight: dict[Future[None], Decision] = {}

    def act(decision: Decision) -> None:  # in a worker thread: the pacing context is the thread's own
        assert decision.candidate is not None
        with options.pacer.pacing(_budget(result.scope)):
            kind.act(result.scope, decision.resource, decision.candidate, rule)

    def settle(done: Iterable[Future[None]]) -> None:
        for future in done:
            decision = in_flight.pop(future)
            error = future.exception()
            if error is None:
                result.acted.append(Item.of(decision))
            else:
                assert decision.candidate is not None
                result.failure(decision.resource.id, decision.candidate.action, error)

    with ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="cleanup") as pool:
        for index, decision in enumerate(to_act):
            if index and options.deadline.near():  # the first act always goes: every invocation makes progress
                result.pending = [later.resource.id for later in to_act[index:]]
                break
            if len(in_flight) >= options.concurrency:
                settle(wait(in_flight, return_when=FIRST_COMPLETED).done)
            # Each act runs in a copy of this thread's context: the acting account (clients.acting) reaches it.
            in_flight[pool.submit(copy_context().run, act, decision)] = decision
        settle(wait(in_flight).done)
    if not kind.taggable:
        _forget_marks(result, options)


def _budget(scope: Scope) -> Key:
    return Key(scope.account, scope.region)


def _forget_marks(result: ScopeResult, options: Options) -> None:
    acted = [item.id for item in result.acted if item.due]
    try:
        options.marks.forget(result.scope, acted)
    except Exception:  # the marks expire on their own; the resources are gone either way
        logger.exception("cleanup marks not forgotten", extra={"scope": result.scope.__dict__, "count": len(acted)})


def _resume(
    result: ScopeResult,
    kind: Kind,
    rule: KindRule,
    decisions: Sequence[Decision],
    *,
    pending: Collection[str],
    options: Options,
) -> ScopeResult:
    """Carry out the acts a stopped invocation left, for those that still qualify; count the others skipped."""
    wanted = set(pending)
    by_id = {decision.resource.id: decision for decision in decisions if decision.resource.id in wanted}
    result.skipped[GONE] += len(wanted - by_id.keys())
    result.skipped.update(NO_LONGER_DUE + decision.reason for decision in by_id.values() if decision.verdict != "act")
    ordered = [by_id[id_] for id_ in pending if id_ in by_id and by_id[id_].verdict == "act"]
    _act(result, kind, rule, ordered, options)
    return result


@dataclass
class RunState:
    """A run in plain data: what is done (results) and what is left (todo scopes, a scope's pending acts)."""

    run_id: str
    action: str  # plan | run
    dry_run: bool
    account: str
    started_at: str
    regions: list[str]
    kinds: list[KindName]
    todo: list[tuple[str, KindName]]  # (region, kind) not started, in order
    results: list[ScopeResult] = field(default_factory=list)
    invocations: int = 1

    @classmethod
    def start(
        cls,
        run_id: str,
        *,
        action: str,
        dry_run: bool,
        account: str,
        now: datetime,
        regions: Sequence[str],
        kinds: Sequence[KindName],
    ) -> RunState:
        return cls(
            run_id=run_id,
            action=action,
            dry_run=dry_run,
            account=account,
            started_at=now.isoformat(),
            regions=list(regions),
            kinds=list(kinds),
            todo=[(region, kind) for region in regions for kind in kinds],
        )

    @property
    def finished(self) -> bool:
        return not self.todo and not any(result.pending for result in self.results)

    def to_json(self) -> dict[str, Any]:
        data = {key: value for key, value in self.__dict__.items() if key != "results"}
        return {**data, "todo": [list(pair) for pair in self.todo], "results": [r.to_json() for r in self.results]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunState:
        return cls(
            **{key: value for key, value in data.items() if key not in ("todo", "results")},
            todo=[(region, cast("KindName", kind)) for region, kind in data["todo"]],
            results=[ScopeResult.from_json(result) for result in data["results"]],
        )


def run(state: RunState, kinds: Mapping[KindName, Kind], rules: KindRules, options: Options) -> list[ScopeResult]:
    """Carry the run on until it is finished or the deadline is near; the portions this invocation did."""
    portions: list[ScopeResult] = []
    for index, earlier in enumerate(state.results):
        if earlier.pending:
            if options.deadline.near():
                return portions
            portion = _portion(earlier.scope, kinds, rules, options, earlier.pending)
            state.results[index] = earlier.merged(portion)
            portions.append(portion)
            if portion.pending:
                return portions
    while state.todo and not options.deadline.near():
        region, kind = state.todo.pop(0)
        portion = _portion(Scope(state.account, region, kind), kinds, rules, options, None)
        state.results.append(portion)
        portions.append(portion)
        if portion.pending:
            break
    return portions


def _portion(
    scope: Scope, kinds: Mapping[KindName, Kind], rules: KindRules, options: Options, pending: list[str] | None
) -> ScopeResult:
    rule = rules.rule(scope.kind)
    if rule is None or not rule.enabled or scope.kind not in kinds:
        result = ScopeResult(scope, aborted=f"{scope.kind} is not configured or enabled in the cleanup policy now")
        result.skipped[UNCONFIGURED] += len(pending or ())
        return result
    portion = run_scope(scope, rule, kinds[scope.kind], options, pending)
    logger.info(
        "cleanup scope",
        extra={
            "scope": scope.__dict__,
            "found": portion.found,
            "acted": len(portion.acted),
            "marked": len(portion.marked),
            "failed": len(portion.failures),
            "pending": len(portion.pending),
            "aborted": portion.aborted,
        },
    )
    return portion
