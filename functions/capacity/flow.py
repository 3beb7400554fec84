"""One trigger for one target: from the saved state and the live levels to an audited, notified outcome.

load the saved state -> read the live target -> plan (pure) -> create the revert schedule of an expiring
override -> commit (apply, then save) -> mute or unmute alarms -> delete a superseded revert schedule ->
audit -> notify -> metrics.

AWS calls on the way are made only when they matter: the opt-in tags for a target that opts in by tag,
the states of its other alarms for a schedule or an OK (where "in ALARM" changes the plan), and the
deployment check only for a change that lowers capacity. One alarm-driven scale-out of a registered
ECS service costs GetItem, DescribeScalableTargets, RegisterScalableTarget and PutItem.

Consistency under faults: nothing mutates before the plan; the revert schedule is created before the
apply, so an override never lands without its revert (if creating it fails, nothing changes); a failed
apply saves nothing and deletes that schedule; a failed save after a good apply is reported for
reconciliation (the live levels are the truth the next run starts from); a save that lost a race reloads
and plans once more. Muting and deleting a superseded schedule come after the save: their failures are
reported, never undo the change.

A target the policy places in a member account or region is read and changed there, through the capacity member
role (`Deps.reach`); its revert schedule stays in the hub's group and invokes this function, which reverts through
the role as it applied: one path, and no schedule, role or invoke permission needed in the member. An alarm event
about such a target is a member's word forwarded to the hub's bus: DescribeAlarms in that account must show the
alarm in the state the event claims before anything moves.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from botocore.exceptions import ClientError

from functions.shared.audit import AuditRecord, new_id
from functions.shared.members import Home, NotInOrganization, Place
from functions.shared.runtime import Runtime

from . import alarms, scheduler, store, targets
from .config import CapacityConfig
from .model import Call, Change, Levels, Override, Suspension, Trigger
from .plan import DEPLOYMENT, WAITS, lowers, plan, refused
from .policy import Target
from .store import Conflict, Store, Stored
from .targets import ApplyFailed, Live, Targets, UnknownTarget
from .triggers import Request

DUTY = "capacity"
Status = Literal["changed", "planned", "unchanged", "refused", "skipped", "paused", "failed", "rejected"]


@dataclass(frozen=True)
class Deps:
    rt: Runtime
    config: CapacityConfig
    function_arn: str  # this function: the revert schedule's target, and where a Lambda target's name lives
    targets: Targets  # the live targets, their alarms and schedules: AWS's in the handler, a twin in tests
    store: Store  # the saved states
    correlation_id: str = ""

    @property
    def home(self) -> Home:
        return Home.of(self.function_arn)

    def place(self, target: Target) -> Place:
        """Where the target lives; raises NotInOrganization for a member account without the member role."""
        return self.home.place(target.account, target.region)

    def reach(self, target: Target) -> Targets:
        """The targets as seen where `target` lives: the function's own, or a member's through the role."""
        return self.targets if not self.away(target) else self.targets.at(self.place(target))

    def said_where(self, target: Target) -> str:
        """Where a failure happened, for a target that lives elsewhere: its account, region and role."""
        if not self.away(target):
            return ""
        place = self.place(target)
        return f" (in account {place.account} region {place.region}, through {place.role or 'its own role'})"

    def away(self, target: Target) -> bool:
        """The target lives in another account or region than the function."""
        return target.placed and self.place(target) != self.home.here


@dataclass(frozen=True)
class Outcome:
    target: str
    status: Status
    trigger: Trigger
    reason: str
    dry_run: bool
    before: Levels | None = None
    after: Levels | None = None
    suspended: tuple[Suspension, Suspension] | None = None  # before, after
    refused: str | None = None
    calls: tuple[Call, ...] = ()  # made, or in dry-run planned
    warnings: tuple[str, ...] = ()  # the change stands, but something beside it failed: act on it
    errors: tuple[str, ...] = ()
    audit_id: str = field(default_factory=new_id)

    def answer(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "status": self.status,
            "trigger": trigger_of(self.trigger),
            "before": levels_of(self.before, self.suspended[0] if self.suspended else None),
            "after": levels_of(self.after, self.suspended[1] if self.suspended else None),
            "reason": self.reason,
            "refused": self.refused,
            "dry_run": self.dry_run,
            "calls": [call_of(c) for c in self.calls],
            "warnings": list(self.warnings),
            "errors": list(self.errors),
            "audit_id": self.audit_id,
        }


def levels_of(levels: Levels | None, suspended: Suspension | None = None) -> dict[str, Any] | None:
    if levels is None:
        return None
    shown: dict[str, Any] = {"min": levels.min, "max": levels.max, "desired": levels.desired}
    return shown if suspended is None else {**shown, "suspended": suspended.shown()}


def trigger_of(trigger: Trigger) -> dict[str, Any]:
    shown: dict[str, Any] = {"kind": trigger.kind}
    if trigger.kind == "manual":
        shown["action"] = trigger.action
    for name in ("profile", "min", "max", "desired", "alarm"):
        if getattr(trigger, name) is not None:
            shown[name] = getattr(trigger, name)
    for name in ("until", "override_set_at"):
        moment = getattr(trigger, name)
        if moment is not None:
            shown[name] = moment.isoformat()
    return shown


def call_of(call: Call) -> dict[str, Any]:
    return {"call": f"{call.service}.{call.method}", "params": dict(call.params)}


# --- deciding -----------------------------------------------------------------------------------------


def decide(
    target: Target, trigger: Trigger, live: Live, stored: Stored, *, now: datetime, deps: Deps, there: Targets
) -> Change:
    """The plan, with the reads it needs (where the target lives: `there`) and no others."""
    tagged = target.opt_in == "tag" and deps.config.policy.opt_in_tag in there.tags(target, live, deps.function_arn)
    firing: list[str] = []
    if trigger.kind in ("schedule", "alarm-in") and target.alarms is not None:
        firing = [name for name in there.in_alarm(target) if name != trigger.alarm]
    state = store.state(live, stored, in_alarm=trigger.kind == "alarm-out" or bool(firing), tagged=tagged)
    change = plan(target, state, trigger, now)
    busy = live.busy
    if not state.deployment_in_progress and change.refused is None and lowers(change):
        busy = there.check_deployment(target, live)
        if busy is not None:
            state = replace(state, deployment_in_progress=True)
            change = plan(target, state, trigger, now)
    if change.refused == DEPLOYMENT and busy:
        change = refused(target, state, trigger, f"{busy}; {WAITS}")
    return change


def acts(change: Change) -> bool:
    """The change moves the target or sets or clears an override: what an operator calls a change."""
    return change.refused is None and (change.changes_anything or change.override is not None or change.clear_override)


def revert_call(change: Change, deps: Deps, *, dry_run: bool) -> Call | None:
    held = change.override
    if change.refused is not None or held is None or held.action != "apply" or held.until is None:
        return None
    return scheduler.revert_schedule(
        change.target,
        held,
        group=deps.config.schedule_group,
        function_arn=deps.function_arn,
        role_arn=deps.config.scheduler_role_arn,
        dry_run=dry_run,
    )


def mute_calls(change: Change) -> list[Call]:
    if change.refused is not None:
        return []
    return alarms.actions(change.mute, enabled=False) + alarms.actions(change.unmute, enabled=True)


def superseded(before: Override | None, now_held: Override | None, trigger: Trigger) -> Override | None:
    """An override with a revert schedule that is no longer in force (a revert's own schedule deletes itself)."""
    if before is None or before.action != "apply" or before.until is None or before == now_held:
        return None
    return None if trigger.kind == "override-revert" else before


# --- acting -------------------------------------------------------------------------------------------


def outcome_of(change: Change, status: Status, dry_run: bool, **more: Any) -> Outcome:
    return Outcome(
        target=change.target,
        status=status,
        trigger=change.trigger,
        reason=change.reason,
        dry_run=dry_run,
        before=change.before,
        after=change.after,
        suspended=(change.suspended_before, change.suspended_after),
        refused=change.refused,
        **more,
    )


def unconfirmed(trigger: Trigger, place: Place, there: Targets) -> str | None:
    """Why a member's alarm event is not believed: DescribeAlarms there shows the alarm in another state, or none."""
    if trigger.alarm is None or trigger.kind not in ("alarm-out", "alarm-in"):
        return None
    claimed = "ALARM" if trigger.kind == "alarm-out" else "OK"
    state = there.alarm_state(trigger.alarm)
    if state == claimed:
        return None
    shown = "does not exist" if state is None else f"is {state}"
    return (
        f"the event says alarm {trigger.alarm} of account {place.account} region {place.region} is {claimed}, "
        f"but DescribeAlarms there says it {shown}; nothing was changed"
    )


def act(target: Target, request: Request, deps: Deps, *, dry_run: bool) -> Outcome:
    try:
        there = deps.reach(target)
        if deps.away(target):
            doubt = unconfirmed(request.trigger, deps.place(target), there)
            if doubt is not None:
                return Outcome(target.name, "skipped", request.trigger, doubt, dry_run)
        return attempt(target, request, deps, there, dry_run=dry_run, again=True)
    except NotInOrganization as unreachable:
        why = f"{unreachable}; nothing was changed"
        return Outcome(target.name, "failed", request.trigger, why, dry_run, errors=(why,))
    except UnknownTarget as missing:
        return Outcome(target.name, "rejected", request.trigger, str(missing), dry_run, errors=(str(missing),))
    except ApplyFailed as failed:
        made = ", ".join(f"{c.service}.{c.method}" for c in failed.made) or "none"
        why = f"{failed}{deps.said_where(target)}; calls that succeeded before it: {made}; nothing was saved"
        return Outcome(target.name, "failed", request.trigger, why, dry_run, calls=tuple(failed.made), errors=(why,))
    except ClientError as error:
        why = f"{error}{deps.said_where(target)}; nothing was changed"
        return Outcome(target.name, "failed", request.trigger, why, dry_run, errors=(why,))


def attempt(target: Target, request: Request, deps: Deps, there: Targets, *, dry_run: bool, again: bool) -> Outcome:
    now = deps.rt.clock()
    stored = deps.store.load(target.name)
    live = there.read(target)
    change = decide(target, request.trigger, live, stored, now=now, deps=deps, there=there)
    revert = revert_call(change, deps, dry_run=dry_run)
    side = mute_calls(change)
    worth_saving = change.refused is None and store.after(stored, change, now) != stored
    if change.refused is not None:
        return outcome_of(change, "refused", dry_run)
    if dry_run or not (acts(change) or worth_saving):
        planned = targets.calls(change, target, live.owner) + ([revert] if revert else []) + side
        return outcome_of(change, "planned" if acts(change) else "unchanged", dry_run, calls=tuple(planned))
    if revert is not None:
        deps.targets.make(revert)  # before the apply: if it fails, nothing has changed
    try:
        committed = store.commit(
            change,
            deps.config.policy,
            live.owner,
            stored,
            store=deps.store,
            through=there,
            now=now,
            dry_run=False,
        )
    except ApplyFailed:
        if revert is not None:
            _forget(revert, deps)
        raise
    if committed.conflict and again:
        if revert is not None:
            _forget(revert, deps)  # the new plan schedules its own
        return after_race(change, committed.calls, target, request, deps, there=there, now=now)
    warnings = [committed.unsaved] if committed.unsaved else []
    made = [*committed.calls, *([revert] if revert else [])]
    for call in side:
        try:
            there.make(call)
            made.append(call)
        except ClientError as error:
            warnings.append(f"{call.service}.{call.method} {call.params.get('AlarmNames')} failed: {error}")
    stale = superseded(stored.override, committed.stored.override, change.trigger) if committed.saved else None
    if stale is not None:
        name = scheduler.revert_name(target.name, stale.set_at)
        try:
            scheduler.delete(name, deps.config.schedule_group, deps.targets)
        except ClientError as error:
            warnings.append(
                f"the revert schedule {name} of the replaced override was not deleted ({error}); it is "
                "refused when it runs, delete it at leisure"
            )
    status: Status = "changed" if acts(change) else "unchanged"
    return outcome_of(change, status, dry_run, calls=tuple(made), warnings=tuple(warnings))


def after_race(
    change: Change, made: list[Call], target: Target, request: Request, deps: Deps, *, there: Targets, now: datetime
) -> Outcome:
    """Another run saved the target's state between our load and our save, after our apply: reload and plan
    again from the live levels (which include our apply). When the new plan has nothing more to do, the
    change already made is remembered on top of the other run's state (its time counts in the flap budget)."""
    again = attempt(target, request, deps, there, dry_run=False, again=False)
    if again.status in ("changed", "failed", "rejected"):
        return replace(again, calls=(*made, *again.calls))
    note = f"another run saved the state of {target.name} first; planned again: {again.reason}"
    fresh = deps.store.load(target.name)
    try:
        deps.store.save(target.name, store.after(fresh, replace(change, override=None), now), fresh.version)
    except (ClientError, Conflict) as error:
        note += f"; the change made was not remembered ({error}), the next run reconciles from the live levels"
    return outcome_of(change, "changed", False, calls=tuple(made), warnings=(note,))


def _forget(revert: Call, deps: Deps) -> None:
    """Delete a revert schedule whose override did not land; one left behind is refused when it runs."""
    with contextlib.suppress(ClientError):
        scheduler.delete(str(revert.params["Name"]), deps.config.schedule_group, deps.targets)


# --- bookkeeping ---------------------------------------------------------------------------------------


def audit(outcome: Outcome, request: Request, deps: Deps) -> None:
    trigger = outcome.trigger
    deps.rt.audit.record(
        AuditRecord(
            duty=DUTY,
            action=trigger.action if trigger.kind == "manual" else trigger.kind,
            subject=f"capacity/{outcome.target}",
            outcome=outcome.status,
            reason=outcome.reason,
            dry_run=outcome.dry_run,
            at=deps.rt.clock(),
            inputs={
                "trigger": trigger_of(trigger),
                "source": request.source,
                "note": request.note,
                "refused": outcome.refused,
                "calls": [call_of(c) for c in outcome.calls],
                "warnings": list(outcome.warnings),
                "errors": list(outcome.errors),
            },
            before=outcome.answer()["before"],
            after=outcome.answer()["after"],
            actor=request.actor,
            correlation_id=deps.correlation_id,
            id=outcome.audit_id,
        )
    )
