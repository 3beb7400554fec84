"""The scope step: one Map item (an account, a region, a kind) run with `engine.run_scope` in the member account.

Reads and marks act as the account's member role, removals as its member deleter, reached from the hub deleter (role
chaining: the member deleter trusts the hub deleter only); both through `clients.acting`, so the kinds are the ones
the direct path runs. The item paces its account-region at its share of the rate (plan.py). When the time runs
short, the scope answers "stopped" with its pending ids and the state machine invokes it again with that answer. A
role that cannot be assumed, or any failure of the account, is an answer naming the account and role, never an
error: the Map goes on. Only throttling before anything changed raises (DeckhandThrottled), for the state machine's
retry with backoff.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.shared.clients import Acting, acting, assume, client
from functions.shared.members import role_arn
from functions.shared.pacing import Key, Pace, Pacer
from functions.shared.runtime import Runtime

from ..decide import Protection
from ..declared import FANOUT_RUNS_PREFIX
from ..engine import Deadline, Options, RunState, ScopeResult, run_scope
from ..flow import DUTY, MARGIN_MS, audit, measure
from ..kinds import KINDS
from ..kinds.base import Kind, KindName, Scope
from ..kinds.common import deleter_role
from ..state import MarkStore
from .messages import Item, ScopeStep, Tally

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..config import CleanupConfig

# botocore's throttling codes (botocore/retries/standard.py, ThrottledRetryableChecker), as a failure's text names them.
THROTTLING = re.compile(
    r"\((Throttling|ThrottlingException|ThrottledException|RequestThrottledException|TooManyRequestsException|"
    r"RequestLimitExceeded|RequestThrottled|SlowDown|EC2ThrottledException)\)"
)

# What AWS answers a member session whose role was deleted or lost its permissions after it was assumed: a warm
# container keeps its assumed credentials until they expire, so the refusal comes at the first call, not at AssumeRole.
REFUSED = re.compile(r"\((AccessDenied|AccessDeniedException|UnauthorizedOperation|AuthFailure)\)")

# A state's data stops at 256 KB ("Quotas related to state throughput", Step Functions Developer Guide): a stopped
# scope's pending ids beyond this many characters wait in the cleanup bucket instead of riding in its answer.
PENDING_INLINE_CHARS = 100_000


def parked(tally: Tally, item: Item, bucket: str) -> Tally:
    """The tally as it can ride to the next invocation: its pending ids in S3 when they are too many."""
    body = json.dumps(tally.pending)
    if len(body) <= PENDING_INLINE_CHARS:
        return tally
    key = f"{FANOUT_RUNS_PREFIX}{item.run_id}/pending/{item.account}/{item.region}/{item.kind}.json"
    client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
    return tally.model_copy(update={"pending": [], "pending_key": key})


def pending_of(tally: Tally, bucket: str) -> list[str]:
    if tally.pending_key is None:
        return tally.pending
    body = client("s3").get_object(Bucket=bucket, Key=tally.pending_key)["Body"].read()
    return [str(id_) for id_ in json.loads(body)]


class DeckhandThrottled(RuntimeError):
    """AWS kept throttling the scope after botocore's retries, before the scope changed anything."""


def unreachable(item: Item, roles: Acting) -> str | None:
    """Why the item's account cannot be worked in: a role that cannot be assumed (the deleter only for a real run)."""
    checks: list[tuple[str, str, str | None]] = [("member role", roles.role, None)]
    if not item.dry_run:
        if not roles.deleter:
            return f"account {item.account}: no member deleter role is configured for a real run"
        checks.append(("member deleter", roles.deleter, deleter_role()))
    for what, role, via in checks:
        try:
            assume(role, via)  # the AssumeRole the scope's clients would make first; no probe call of its own
        except (ClientError, BotoCoreError) as error:
            # First the error, then the usual cause: no member stack there (StackSets skip the management account).
            return (
                f"account {item.account}: cannot assume its {what} {role}: {type(error).__name__}: {error} (is the "
                "member stack deployed there? the StackSet never deploys to the management account: deploy it by "
                "hand, or exclude the account)"
            )[:1000]
    return None


def failed_whole_on(portion: ScopeResult, codes: re.Pattern[str]) -> str | None:
    """The first error, when the scope failed whole on these codes before it marked or acted (nothing to undo)."""
    whole = [failure for failure in portion.failures if not failure.id]
    if whole and not portion.acted and not portion.marked and all(codes.search(f.error) for f in whole):
        return whole[0].error
    return None


def scope(
    step: ScopeStep,
    rt: Runtime,
    cfg: CleanupConfig,
    *,
    partition: str,
    remaining_ms: Callable[[], int],
    kinds: Mapping[KindName, Kind] = KINDS,
    reach: Callable[[Item, Acting], str | None] = unreachable,
    pacer: Callable[[Pace], Pacer] = Pacer,
) -> dict[str, Any]:
    """The item's scope, or the rest of it (a stopped scope's pending acts), in its account; the answer the Map keeps.
    `reach` says why the account cannot be worked in, `pacer` paces the item's share (both replaced in tests)."""
    item, earlier = step.item, step.tally or Tally()
    pending = pending_of(earlier, cfg.bucket) if step.tally else None
    organization = cfg.organization
    if organization is None:
        raise RuntimeError("the fan-out needs the policy's organization section (DECKHAND_ORGANIZATION); redeploy")
    where = Scope(item.account, item.region, item.kind)
    # The hub's own account, when it is a member, is reached through its member roles too (deploy the member stack
    # there): the fan-out's role holds no cleanup grant of its own.
    roles = Acting(
        role_arn(partition, item.account, organization.member_role),
        role_arn(partition, item.account, organization.deleter_role),
    )
    paced = pacer(Pace(item.pace.per_second, item.pace.burst))
    if step.tally is not None:
        # A continuation starts with its share of the bucket spent, its last call just sent: the invocation before it
        # may have done both.
        spent = paced.clock() + paced.pace.tolerance_s + 1 / paced.pace.rate
        paced.tokens.hold(Key(item.account, item.region), spent)
    options = Options(
        now=rt.clock(),
        dry_run=item.dry_run,
        protect=Protection(rt.settings.protect_tag, rt.settings.protect_values),
        mark_tag=cfg.cleanup.mark_tag,
        grace_days=cfg.cleanup.grace_days,
        concurrency=cfg.cleanup.concurrency,
        marks=MarkStore(rt.settings.audit_table),
        pacer=paced,
        deadline=Deadline(remaining_ms, MARGIN_MS),
    )
    rule = cfg.cleanup.kinds.rule(item.kind)
    reason = None
    portion = ScopeResult(where)
    pause = rt.switches.read().pause(DUTY, options.now)
    if pause is not None:  # a pause during a run stops the scopes not yet done, as it stops the direct path
        reason = f"cleanup is paused by {pause.name} ({pause.reason}, set by {pause.set_by}): not started"
    elif rule is None or not rule.enabled or item.kind not in kinds:
        reason = f"{item.kind} is not configured or enabled in the cleanup policy now"
    else:
        with acting(roles):
            reason = reach(item, roles)
            if reason is None:
                portion = run_scope(where, rule, kinds[item.kind], options, pending)
    if reason is not None:
        portion.failure("", "start", reason)
    elif (refusal := failed_whole_on(portion, REFUSED)) is not None:
        code = REFUSED.search(refusal).group(1)  # type: ignore[union-attr]  # failed_whole_on matched it
        # One reason for every scope of the account (the code, not each call's message): the report lists it once.
        reason = (
            f"account {item.account}: its member role {roles.role} was refused ({code}): deleted, or stripped of its "
            "permissions, since it was assumed"
        )
    elif (throttling := failed_whole_on(portion, THROTTLING)) is not None:
        raise DeckhandThrottled(f"{item.account}/{item.region}/{item.kind}: {throttling}"[:1000])
    run = RunState.start(
        item.run_id,
        action=item.action,
        dry_run=item.dry_run,
        account=item.account,
        now=options.now,
        regions=[item.region],
        kinds=[item.kind],
    )
    audit([portion], run, rt, rt.clock())
    measure([portion], item.dry_run)  # the dashboard's figures, as the direct path's
    tally = parked(earlier.plus(portion, reason), item, cfg.bucket)
    return {
        "step": "scope",
        "item": item.model_dump(),
        "status": tally.status(item.dry_run),
        "tally": tally.model_dump(),
    }
