"""The capacity planner: pure, from a target's policy, its observed state and one trigger, at a given instant.

Precedence: manual (and the revert of a manual override) > alarm scale-out > schedule > alarm scale-in.
A lower-precedence trigger never overrides a still-active higher one: an active manual override or pause
refuses every automatic trigger; while the target is in ALARM, a schedule may not take it down and an
OK may not step it in.

Guardrails, in this order: opt-in, precedence, cooldown (alarm triggers), flap budget (alarm and schedule
triggers); then every result is clamped to the hard bounds and moves each of min, max and desired by at
most `max_step`, except going to a zero profile, restoring from zero and reverting an override, which land
exactly. Last, a deployment or instance refresh refuses a change that lowers min, max or desired: raising
during a deployment is what the native scalers do too (scale-out continues, scale-in waits).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from .model import Change, Levels, Override, Saved, TargetState, Trigger
from .policy import Target

PRECEDENCE = {"manual": 4, "override-revert": 4, "alarm-out": 3, "schedule": 2, "alarm-in": 1}
_AUTOMATIC = ("alarm-out", "alarm-in", "schedule")
FLAP = "flap budget spent"
WAITS = "lowering capacity waits until it ends"
DEPLOYMENT = f"a deployment or instance refresh is in progress; {WAITS}"


def precedence(trigger: Trigger) -> int:
    return PRECEDENCE[trigger.kind]


def active_precedence(state: TargetState, now: datetime) -> int:
    """The precedence of what still holds the target: a manual override, an alarm, or nothing (0)."""
    if state.override is not None and state.override.active(now):
        return PRECEDENCE["manual"]
    if state.in_alarm:
        return PRECEDENCE["alarm-out"]
    return 0


def plan(target: Target, state: TargetState, trigger: Trigger, now: datetime) -> Change:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now.isoformat()}")
    refusal = _guard(target, state, trigger, now)
    if refusal:
        return refused(target, state, trigger, refusal)
    change = _planned(target, state, trigger, now)
    if change.refused is None and state.deployment_in_progress and lowers(change):
        return refused(target, state, trigger, DEPLOYMENT)
    return change


def _planned(target: Target, state: TargetState, trigger: Trigger, now: datetime) -> Change:
    if trigger.kind == "manual":
        return _manual(target, state, trigger, now)
    if trigger.kind == "override-revert":
        return _revert(target, state, trigger)
    if trigger.kind == "alarm-out":
        return _alarm_out(target, state, trigger)
    if trigger.kind == "alarm-in":
        return _alarm_in(target, state, trigger)
    return _schedule(target, state, trigger)


def lowers(change: Change) -> bool:
    """The change lowers min, max or desired: what waits for a deployment or instance refresh to end."""
    return _lowers(change.before, change.after)


def refused(target: Target, state: TargetState, trigger: Trigger, reason: str) -> Change:
    return Change(
        target=target.name,
        before=state.current,
        after=state.current,
        reason=f"refused: {reason}",
        refused=reason,
        trigger=trigger,
        precedence=precedence(trigger),
        suspended_before=state.suspended,
        suspended_after=state.suspended,
    )


def _change(target: Target, state: TargetState, trigger: Trigger, after: Levels, reason: str, **more: Any) -> Change:
    return Change(
        target=target.name,
        before=state.current,
        after=after,
        reason=reason,
        refused=None,
        trigger=trigger,
        precedence=precedence(trigger),
        suspended_before=state.suspended,
        suspended_after=more.pop("suspended_after", state.suspended),
        **more,
    )


def _guard(target: Target, state: TargetState, trigger: Trigger, now: datetime) -> str | None:
    if target.opt_in == "tag" and not state.tagged:
        return "the target opts in by tag and does not carry it"
    if trigger.kind in _AUTOMATIC and state.override is not None and state.override.active(now):
        until = state.override.until.isoformat() if state.override.until else "it is resumed"
        return f"a manual {state.override.action} outranks this {trigger.kind} until {until}"
    if trigger.kind == "alarm-in" and state.in_alarm:
        return "a scale-out alarm is still in ALARM; an OK does not step in over it"
    return _pace(target, state, trigger, now)


def _pace(target: Target, state: TargetState, trigger: Trigger, now: datetime) -> str | None:
    """Cooldown for alarm triggers, and the flap budget for every automatic trigger."""
    if trigger.kind in ("alarm-out", "alarm-in"):
        cooling = _cooldown_left(target, state, now)
        if cooling is not None:
            return f"cooldown: {target.cooldown_minutes} min since the last change at {cooling.isoformat()}"
    if trigger.kind in _AUTOMATIC:
        window = timedelta(minutes=target.flap.window_minutes)
        recent = [t for t in state.last_changes if now - window < t <= now]
        if len(recent) >= target.flap.max_changes:
            return (
                f"{FLAP}: {len(recent)} changes in the last {target.flap.window_minutes} min "
                f"(at most {target.flap.max_changes})"
            )
    return None


def _cooldown_left(target: Target, state: TargetState, now: datetime) -> datetime | None:
    past = [t for t in state.last_changes if t <= now]
    if not past or target.cooldown_minutes == 0:
        return None
    last = max(past)
    return last if now - last < timedelta(minutes=target.cooldown_minutes) else None


def clamp(target: Target, levels: Levels) -> Levels:
    def bound(value: int) -> int:
        return max(target.floor, min(target.ceiling, value))

    low, high = bound(levels.min), bound(levels.max)
    desired = None if levels.desired is None else max(low, min(high, bound(levels.desired)))
    return Levels(low, high, desired)


def step_toward(before: Levels, goal: Levels, step: int) -> Levels:
    """Move each value toward the goal by at most `step`; min <= desired <= max holds if it held before."""

    def toward(value: int, aim: int) -> int:
        return max(value - step, min(value + step, aim))

    low, high = toward(before.min, goal.min), toward(before.max, goal.max)
    if before.desired is None:
        return Levels(low, high, None)
    aim = goal.desired if goal.desired is not None else before.desired
    return Levels(low, high, max(low, min(high, toward(before.desired, aim))))


def _stepped(target: Target, state: TargetState, goal: Levels, step: int) -> tuple[Levels, bool]:
    after = clamp(target, step_toward(state.current, goal, step))
    return after, after != clamp(target, goal)


def _manual(target: Target, state: TargetState, trigger: Trigger, now: datetime) -> Change:
    if trigger.until is not None and trigger.until <= now:
        return refused(target, state, trigger, f"until {trigger.until.isoformat()} is already past")
    if trigger.action == "pause":
        pause = Override("pause", set_at=now, until=trigger.until)
        return _change(target, state, trigger, state.current, "paused: automatic triggers are refused", override=pause)
    if trigger.action == "resume":
        if state.override is None:
            return refused(target, state, trigger, "nothing to resume: no manual override or pause")
        return _change(target, state, trigger, state.current, "resumed: automatic triggers apply", clear_override=True)
    if trigger.profile is not None:
        change = _to_profile(target, state, trigger, trigger.profile)
    elif (trigger.min, trigger.max, trigger.desired) != (None, None, None):
        change = _to_bounds(target, state, trigger)
    else:
        return refused(target, state, trigger, "give a profile, or min, max or desired")
    if change.refused is None and trigger.until is not None:
        held = Override("apply", set_at=now, until=trigger.until, before=state.current)
        change = replace(change, override=held, reason=f"{change.reason}, until {trigger.until.isoformat()}")
    return change


def _to_bounds(target: Target, state: TargetState, trigger: Trigger) -> Change:
    now = state.current
    low = trigger.min if trigger.min is not None else now.min
    high = trigger.max if trigger.max is not None else now.max
    if low > high:
        if trigger.min is not None and trigger.max is not None:
            return refused(target, state, trigger, f"min {low} is above max {high}")
        low, high = (low, low) if trigger.min is not None else (high, high)
    desired = trigger.desired if trigger.desired is not None else now.desired
    goal = Levels(low, high, desired if desired is None else max(low, min(high, desired)))
    after, partial = _stepped(target, state, goal, target.max_step)
    return _change(target, state, trigger, after, f"manual bounds {_show(goal)}", partial=partial)


def _to_profile(target: Target, state: TargetState, trigger: Trigger, name: str) -> Change:
    profile = target.profiles.get(name)
    if profile is None:
        known = ", ".join(sorted(target.profiles)) or "none"
        return refused(target, state, trigger, f"unknown profile {name!r}; known: {known}")
    before = state.current
    if profile.zero:
        after = clamp(target, Levels(0, 0, None if before.desired is None else 0))
        save = Saved(before, state.suspended) if state.saved_before_zero is None else None
        reason = f"profile {name}: to zero, saving {_show(before)}"
        mute = tuple(target.mute_at_zero)
        return _change(target, state, trigger, after, reason, save=save, mute=mute, profile=name)
    saved = state.saved_before_zero
    if saved is not None:
        after = clamp(target, saved.levels)
        reason = f"profile {name}: restore the saved {_show(saved.levels)}"
        if after != saved.levels:
            reason += f", clamped to the hard bounds: {_show(after)}"
        unmute = tuple(target.mute_at_zero)
        return _change(
            target,
            state,
            trigger,
            after,
            reason,
            suspended_after=saved.suspended,
            restored=True,
            unmute=unmute,
            profile=name,
        )
    goal = Levels(profile.min, profile.max, profile.desired)
    after, partial = _stepped(target, state, goal, target.max_step)
    reason = f"profile {name}: {_show(after)}" + (f" (a step toward {_show(goal)})" if partial else "")
    return _change(target, state, trigger, after, reason, partial=partial, profile=name)


def _schedule(target: Target, state: TargetState, trigger: Trigger) -> Change:
    if trigger.profile is None:
        return refused(target, state, trigger, "a schedule trigger needs a profile")
    change = _to_profile(target, state, trigger, trigger.profile)
    if change.refused is None and state.in_alarm and _lowers(change.before, change.after):
        return refused(target, state, trigger, "the target is in ALARM; a schedule never takes it down")
    return change


def _alarm_out(target: Target, state: TargetState, trigger: Trigger) -> Change:
    if target.alarms is None:
        return refused(target, state, trigger, "the target has no alarm triggers")
    if trigger.alarm is not None and trigger.alarm not in target.alarms.scale_out:
        return refused(target, state, trigger, f"alarm {trigger.alarm!r} is not one of the target's scale_out alarms")
    step = min(target.alarms.step, target.max_step)
    now = state.current
    desired = None if now.desired is None else now.desired + step
    goal = Levels(now.min + step, max(now.max, now.min + step, desired or 0), desired)
    after, _ = _stepped(target, state, goal, step)
    baseline = now if state.profile is None and state.alarm_baseline is None else None
    reason = f"alarm {trigger.alarm or '?'} in ALARM: step out by {step} to {_show(after)}"
    return _change(target, state, trigger, after, reason, alarm_baseline=baseline)


def _alarm_in(target: Target, state: TargetState, trigger: Trigger) -> Change:
    if target.alarms is None or not target.alarms.scale_in_on_ok:
        return refused(target, state, trigger, "the target does not step in on OK")
    profile = target.profiles.get(state.profile) if state.profile is not None else None
    if profile is not None:
        level, label = Levels(profile.min, profile.max, profile.desired), f"profile {state.profile}"
    elif state.alarm_baseline is not None:
        level, label = state.alarm_baseline, "the level before the alarm"
    else:
        return refused(target, state, trigger, "no profile or pre-alarm level to step back toward")
    now = state.current
    desired = None if now.desired is None or level.desired is None else min(now.desired, level.desired)
    goal = Levels(min(now.min, level.min), min(now.max, level.max), desired)
    step = min(target.alarms.step, target.max_step)
    after, _ = _stepped(target, state, goal, step)
    reason = f"alarm {trigger.alarm or '?'} OK: step in toward {label}, to {_show(after)}"
    return _change(target, state, trigger, after, reason)


def _revert(target: Target, state: TargetState, trigger: Trigger) -> Change:
    held = state.override
    if held is None or held.action != "apply" or held.before is None or held.set_at != trigger.override_set_at:
        return refused(target, state, trigger, "the override was already replaced or reverted")
    after = clamp(target, held.before)
    reason = f"override expired: back to {_show(after)}"
    return _change(target, state, trigger, after, reason, clear_override=True)


def _lowers(before: Levels, after: Levels) -> bool:
    lower_desired = before.desired is not None and after.desired is not None and after.desired < before.desired
    return after.min < before.min or after.max < before.max or lower_desired


def _show(levels: Levels) -> str:
    desired = "" if levels.desired is None else f", desired {levels.desired}"
    return f"min {levels.min}, max {levels.max}{desired}"
