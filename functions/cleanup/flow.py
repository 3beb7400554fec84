"""The `cleanup` function's flow: find stale, costly resources and remove them safely, with a report of the saving.

Payloads (console, schedule rules): {"action": "plan", "kinds"?, "regions"?} is always a dry run;
{"action": "run", "kinds": [...], "regions"?, "dry_run": false} acts (dry_run defaults to the policy's);
{"trigger": "schedule", "group": "<name>"} runs a schedule group's kinds; {"action": "resume"} carries on an
unfinished run, which any invocation also does first. A bad payload is rejected, an AWS event (one with a
`source`) ignored, and a pause switch (pause-all, pause-cleanup) stops everything; none changes anything.
Each invocation audits one record per scope it worked on (ids chunked), writes the report (JSON and
Markdown) to S3, and notifies once the run is finished; when the time runs out it saves the run and
answers "stopped". The handler loads this module on the first invocation (handler.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from functions.shared.audit import AuditRecord, new_id, to_json
from functions.shared.clients import client
from functions.shared.observability import NAMESPACE, ignored_and_counted, logger, metrics
from functions.shared.pacing import Pace, Pacer
from functions.shared.refusal import Refused, cap, rejected
from functions.shared.runtime import Runtime, runtime

from . import engine
from .command import Command, parse_command
from .config import CleanupConfig, config
from .decide import Protection
from .engine import Deadline, Options, RunState, ScopeResult
from .kinds import KINDS, Kind
from .kinds.base import KindName
from .report import Report, summarize
from .state import MarkStore, RunStore

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

DUTY = "cleanup"
MARGIN_MS = 60_000  # stop starting actions this long before the timeout: audit, checkpoint and report need time
AUDIT_IDS_CHARS = 48_000  # ids per audit record, well below the audit's own limit of one JSON attribute


def run_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{new_id()[:8]}"


def id_chunks(lists: Mapping[str, Sequence[str]], budget: int = AUDIT_IDS_CHARS) -> Iterator[dict[str, list[str]]]:
    """The named id lists cut into pieces of at most `budget` characters of ids; at least one piece."""
    piece: dict[str, list[str]] = {name: [] for name in lists}
    size = 0
    for name, ids in lists.items():
        for id_ in ids:
            if size + len(id_) + 4 > budget and size:
                yield piece
                piece, size = {key: [] for key in lists}, 0
            piece[name].append(id_)
            size += len(id_) + 4
    yield piece


def outcome_of(portion: ScopeResult, dry_run: bool) -> str:
    if portion.aborted:
        return "aborted"
    if portion.failures and not portion.found:
        return "failed"
    if portion.pending:
        return "stopped"
    if portion.failures:
        return "partial"
    return "planned" if dry_run else "done"


def audit(portions: Sequence[ScopeResult], state: RunState, rt: Runtime, at: datetime) -> None:
    """One record per scope worked on in this invocation; its ids cut into pieces, each its own record."""
    for portion in portions:
        lists = {
            "acted": [item.id for item in portion.acted],
            "marked": [item.id for item in portion.marked],
            "failed": [failure.id for failure in portion.failures if failure.id],
        }
        pieces = list(id_chunks(lists))
        for number, piece in enumerate(pieces, start=1):
            rt.audit.record(
                AuditRecord(
                    duty=DUTY,
                    action=state.action,
                    subject=f"cleanup/{portion.scope.account}/{portion.scope.region}/{portion.scope.kind}",
                    outcome=outcome_of(portion, state.dry_run),
                    reason=portion.aborted or "; ".join(f.error for f in portion.failures if not f.id)[:500],
                    dry_run=state.dry_run,
                    at=at,
                    inputs={"run_id": state.run_id, "piece": f"{number}/{len(pieces)}", "found": portion.found},
                    after={
                        **piece,
                        "skipped": dict(portion.skipped),
                        "pending": len(portion.pending),
                        "monthly_usd": portion.monthly_usd,
                    },
                    correlation_id=state.run_id,
                )
            )


def measure(portions: Sequence[ScopeResult], dry_run: bool) -> None:
    totals: dict[str, int] = {"CleanupFailed": 0, "CleanupAborted": 0, "CleanupMarked": 0}
    by_kind: dict[KindName, list[ScopeResult]] = {}
    for portion in portions:
        by_kind.setdefault(portion.scope.kind, []).append(portion)
        totals["CleanupFailed"] += len(portion.failures)
        totals["CleanupAborted"] += 1 if portion.aborted else 0
        totals["CleanupMarked"] += 0 if dry_run else len(portion.marked)
    for name, count in totals.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
    if dry_run:
        return  # removals and savings count what happened, not what a plan would do
    for kind, results in by_kind.items():
        acted = sum(len(result.acted) for result in results)
        saving = sum(result.monthly_usd for result in results)
        for name, unit, value in (
            ("CleanupActed", MetricUnit.Count, float(acted)),
            ("CleanupMonthlySavingUSD", MetricUnit.NoUnit, saving),
        ):
            with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE) as metric:
                metric.add_dimension(name="kind", value=kind)


def carry(
    state: RunState,
    cfg: CleanupConfig,
    rt: Runtime,
    deadline: Deadline,
    kinds: Mapping[KindName, Kind] = KINDS,
) -> dict[str, Any]:
    """Work on the run until it is finished or the deadline nears; audit, save or notify, report; the answer."""
    now = rt.clock()
    options = Options(
        now=now,
        dry_run=state.dry_run,
        protect=Protection(rt.settings.protect_tag, rt.settings.protect_values),
        mark_tag=cfg.cleanup.mark_tag,
        grace_days=cfg.cleanup.grace_days,
        concurrency=cfg.cleanup.concurrency,
        marks=MarkStore(rt.settings.audit_table),
        pacer=Pacer(Pace(cfg.cleanup.pacing.per_second, cfg.cleanup.pacing.burst)),
        deadline=deadline,
    )
    portions = engine.run(state, kinds, cfg.cleanup.kinds, options)
    done_at = rt.clock()
    audit(portions, state, rt, done_at)
    measure(portions, state.dry_run)
    if not state.finished:
        RunStore(rt.settings.audit_table).save(state.run_id, state.to_json(), done_at)
    report = Report(state, done_at)
    addresses = report.write(cfg.bucket)
    if state.finished:
        rt.notifier.send(report.notice(addresses))
    answer = {**summarize(state), "report": addresses}
    logger.info("cleanup run", extra={k: answer[k] for k in ("status", "run_id", "dry_run", "total_monthly_usd")})
    return answer


def accepted(event: Any, cfg: CleanupConfig) -> Command | dict[str, Any]:
    """The payload's command, or the answer that refuses it: ignored for an AWS event (rules hand the function
    their own input, never the event), rejected for a payload that is not a valid command."""
    if isinstance(event, dict) and "source" in event:
        source = cap(event["source"], 80)
        reason = f"cleanup takes console payloads and its schedule rules' input, not events of {source}"
        return ignored_and_counted(reason, by="cleanup", metric="EventIgnored")
    try:
        return parse_command(event, cfg.cleanup, cfg.regions)
    except Refused as refused:
        logger.warning("cleanup payload rejected", extra={"problems": refused.problems})
        metrics.add_metric(name="CommandRejected", unit=MetricUnit.Count, value=1)
        return rejected(refused)


def handle(
    event: Any,
    rt: Runtime,
    cfg: CleanupConfig,
    *,
    account: str,
    remaining_ms: Callable[[], int],
    kinds: Mapping[KindName, Kind] = KINDS,
) -> dict[str, Any]:
    command = accepted(event, cfg)
    if not isinstance(command, Command):
        return command
    if not cfg.cleanup.enabled:
        return {"status": "disabled", "reason": "cleanup.enabled is false in the policy", "changed": False}
    now = rt.clock()
    pause = rt.switches.read().pause(DUTY, now)
    if pause is not None:
        return {"status": "paused", "switch": pause.name, "reason": pause.reason, "set_by": pause.set_by}
    if cfg.fanout is not None:
        return start_fanout(command, cfg.fanout, rt, now)
    return direct(command, rt, cfg, account=account, now=now, remaining_ms=remaining_ms, kinds=kinds)


def direct(
    command: Command,
    rt: Runtime,
    cfg: CleanupConfig,
    *,
    account: str,
    now: datetime,
    remaining_ms: Callable[[], int],
    kinds: Mapping[KindName, Kind],
) -> dict[str, Any]:
    """A run in this account: an unfinished run first, then the command's."""
    deadline = Deadline(remaining_ms, MARGIN_MS)
    unfinished = RunStore(rt.settings.audit_table).claim()
    resumed: dict[str, Any] | None = None
    if unfinished is not None:
        earlier = RunState.from_json(unfinished)
        earlier.invocations += 1
        resumed = carry(earlier, cfg, rt, deadline, kinds)
        if command.action == "resume" or resumed["status"] == "stopped":
            deferred = {} if command.action == "resume" else {"deferred": describe(command)}
            return {**resumed, **deferred}
    elif command.action == "resume":
        return {"status": "idle", "reason": "no unfinished cleanup run to resume", "changed": False}
    state = RunState.start(
        run_id(now),
        action="plan" if command.action == "plan" else "run",
        dry_run=rt.dry_run(command.dry_run),
        account=account,
        now=now,
        regions=command.regions,
        kinds=command.kinds,
    )
    logger.append_keys(run_id=state.run_id)
    answer = carry(state, cfg, rt, deadline, kinds)
    if resumed is not None:
        answer["resumed"] = {key: resumed[key] for key in ("run_id", "status", "report")}
    return answer


def start_fanout(command: Command, state_machine: str, rt: Runtime, now: datetime) -> dict[str, Any]:
    """With an organization, every run is an execution of the fan-out state machine, named by its run id."""
    if command.action == "resume":
        return rejected(Refused(["'resume' carries on a run in this account only; the organization fan-out splits and "
                                 "retries its scopes itself, so there is nothing to resume"]))  # fmt: skip
    dry_run = rt.dry_run(command.dry_run)
    name = run_id(now)
    started = client("stepfunctions").start_execution(
        stateMachineArn=state_machine,
        name=name,
        input=to_json(
            {"action": command.action, "kinds": command.kinds, "regions": command.regions, "dry_run": dry_run}
        ),
    )
    logger.info("cleanup fan-out started", extra={"run_id": name, "trigger": command.trigger})
    return {"status": "started", "execution_arn": started["executionArn"], "run_id": name, "dry_run": dry_run,
            "changed": not dry_run}  # fmt: skip


def describe(command: Command) -> str:
    """A request put off because an unfinished run came first."""
    return (
        to_json(
            {"action": command.action, "kinds": command.kinds, "regions": command.regions, "trigger": command.trigger}
        )
        + ": not started, an unfinished run came first and is not done; invoke again"
    )


def invoked(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    account = context.invoked_function_arn.split(":")[4]
    return handle(event, runtime(), config(), account=account, remaining_ms=context.get_remaining_time_in_millis)
