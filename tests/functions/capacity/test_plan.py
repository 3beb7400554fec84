"""The capacity planner: examples of each trigger and guardrail, and the properties of the issue's "Done when"."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from functions.capacity.model import Change, Levels, Override, Saved, Suspension, TargetState, Trigger
from functions.capacity.plan import DEPLOYMENT, PRECEDENCE, active_precedence, lowers, plan, precedence
from functions.capacity.policy import Target

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ALL_SUSPENDED = Suspension.every(True)
suspensions = st.builds(Suspension, st.booleans(), st.booleans(), st.booleans())


def make_target(**keys: object) -> Target:
    base: dict[str, object] = {
        "name": "web",
        "kind": "ecs-service",
        "cluster": "main",
        "service": "web",
        "floor": 0,
        "ceiling": 40,
        "max_step": 4,
        "cooldown_minutes": 5,
        "alarms": {"scale_out": ["web-cpu-high"], "step": 2},
        "profiles": {"day": {"min": 4, "max": 20}, "night": {"min": 1, "max": 4}, "zero": {"min": 0, "max": 0}},
        "mute_at_zero": ["web-unhealthy"],
    }
    return Target.model_validate(base | keys)


TARGET = make_target()
DAY = TargetState(current=Levels(4, 20), owner="application-autoscaling", profile="day")


def test_precedence_is_manual_then_alarm_out_then_schedule_then_alarm_in() -> None:
    order = [Trigger("manual"), Trigger("alarm-out"), Trigger("schedule"), Trigger("alarm-in")]

    assert [precedence(t) for t in order] == sorted((precedence(t) for t in order), reverse=True)
    assert len({precedence(t) for t in order}) == 4
    assert precedence(Trigger("override-revert")) == precedence(Trigger("manual"))


def test_an_alarm_steps_out_by_its_step_and_ok_steps_back_toward_the_profile() -> None:
    out = plan(TARGET, DAY, Trigger("alarm-out", alarm="web-cpu-high"), NOW)
    assert (out.refused, out.after) == (None, Levels(6, 20))

    stepped = replace(DAY, current=out.after, last_changes=(NOW,))
    back = plan(TARGET, stepped, Trigger("alarm-in", alarm="web-cpu-high"), NOW + timedelta(minutes=10))
    assert (back.refused, back.after) == (None, Levels(4, 20))


def test_an_alarm_on_an_asg_raises_desired_and_max_with_it() -> None:
    state = TargetState(current=Levels(1, 3, 3), owner="asg")

    change = plan(TARGET, state, Trigger("alarm-out", alarm="web-cpu-high"), NOW)

    assert change.after == Levels(3, 5, 5)
    assert change.alarm_baseline == Levels(1, 3, 3)


def test_an_unknown_alarm_is_refused() -> None:
    change = plan(TARGET, DAY, Trigger("alarm-out", alarm="other"), NOW)
    assert change.refused == "alarm 'other' is not one of the target's scale_out alarms"


def test_a_schedule_moves_at_most_max_step_toward_its_profile() -> None:
    night = replace(DAY, current=Levels(1, 4), profile="night")

    change = plan(TARGET, night, Trigger("schedule", profile="day"), NOW)

    assert change.after == Levels(4, 8)
    assert change.partial
    assert "a step toward min 4, max 20" in change.reason


def test_zero_saves_the_live_capacity_and_the_restore_returns_it_exactly() -> None:
    live = TargetState(current=Levels(7, 13, 9), owner="asg", suspended=ALL_SUSPENDED)

    to_zero = plan(TARGET, live, Trigger("schedule", profile="zero"), NOW)
    assert to_zero.after == Levels(0, 0, 0)
    assert to_zero.save == Saved(Levels(7, 13, 9), suspended=ALL_SUSPENDED)
    assert to_zero.mute == ("web-unhealthy",)

    at_zero = TargetState(current=to_zero.after, owner="asg", saved_before_zero=to_zero.save)
    again = plan(TARGET, at_zero, Trigger("schedule", profile="zero"), NOW)
    assert again.save is None  # the saved state is never overwritten by zeros

    morning = plan(TARGET, at_zero, Trigger("schedule", profile="day"), NOW)
    assert (morning.after, morning.suspended_after, morning.restored) == (Levels(7, 13, 9), ALL_SUSPENDED, True)
    assert morning.unmute == ("web-unhealthy",)


def test_a_schedule_never_takes_a_target_in_alarm_down() -> None:
    in_alarm = replace(DAY, in_alarm=True)

    down = plan(TARGET, in_alarm, Trigger("schedule", profile="night"), NOW)
    assert down.refused == "the target is in ALARM; a schedule never takes it down"
    assert down.after == down.before

    ok = plan(TARGET, in_alarm, Trigger("alarm-in"), NOW)
    assert ok.refused is not None
    assert "still in ALARM" in ok.refused


def test_a_deployment_refuses_lowering_but_not_raising_nor_a_pause() -> None:
    deploying = replace(DAY, deployment_in_progress=True)

    lower = plan(TARGET, deploying, Trigger("manual", min=2), NOW)
    assert lower.refused == "a deployment or instance refresh is in progress; lowering capacity waits until it ends"
    assert plan(TARGET, deploying, Trigger("manual", min=6), NOW).after == Levels(6, 20)
    assert plan(TARGET, deploying, Trigger("alarm-out", alarm="web-cpu-high"), NOW).refused is None
    assert plan(TARGET, deploying, Trigger("manual", action="pause"), NOW).refused is None


def test_cooldown_and_flap_budget() -> None:
    recent = replace(DAY, last_changes=(NOW - timedelta(minutes=2),))
    cooling = plan(TARGET, recent, Trigger("alarm-out"), NOW)
    assert cooling.refused is not None
    assert cooling.refused.startswith("cooldown: 5 min since the last change")

    storm = replace(DAY, last_changes=tuple(NOW - timedelta(minutes=m) for m in (50, 40, 30, 20, 15, 10)))
    flapping = plan(TARGET, storm, Trigger("alarm-out"), NOW)
    assert flapping.refused == "flap budget spent: 6 changes in the last 60 min (at most 6)"
    old = replace(DAY, last_changes=tuple(NOW - timedelta(minutes=m) for m in (120, 110, 100, 90, 80, 70)))
    assert plan(TARGET, old, Trigger("alarm-out"), NOW).refused is None


def test_an_expiring_override_holds_off_schedules_and_its_revert_restores_the_level() -> None:
    until = NOW + timedelta(hours=14)
    applied = plan(TARGET, DAY, Trigger("manual", min=20, until=until), NOW)
    assert applied.after == Levels(8, 20)  # a step of 4 toward min 20
    assert applied.override == Override("apply", set_at=NOW, until=until, before=Levels(4, 20))

    held = replace(DAY, current=applied.after, override=applied.override)
    night = plan(TARGET, held, Trigger("schedule", profile="night"), NOW + timedelta(hours=1))
    assert night.refused is not None
    assert night.refused.startswith("a manual apply outranks this schedule until 2026-11-20T23:00:00")

    revert = plan(TARGET, held, Trigger("override-revert", override_set_at=NOW), until)
    assert (revert.after, revert.clear_override) == (Levels(4, 20), True)
    stale = plan(TARGET, held, Trigger("override-revert", override_set_at=NOW - timedelta(days=1)), until)
    assert stale.refused == "the override was already replaced or reverted"


def test_pause_and_resume() -> None:
    paused = plan(TARGET, DAY, Trigger("manual", action="pause"), NOW)
    assert paused.override is not None
    held = replace(DAY, override=paused.override)

    refused = plan(TARGET, held, Trigger("alarm-out"), NOW).refused
    assert refused == "a manual pause outranks this alarm-out until it is resumed"
    assert plan(TARGET, held, Trigger("manual", action="resume"), NOW).clear_override
    assert plan(TARGET, DAY, Trigger("manual", action="resume"), NOW).refused is not None


@pytest.mark.parametrize(
    ("trigger", "reason"),
    [
        (Trigger("manual"), "give a profile, or min, max or desired"),
        (Trigger("manual", profile="lunch"), "unknown profile 'lunch'; known: day, night, zero"),
        (Trigger("manual", min=5, max=3), "min 5 is above max 3"),
        (Trigger("schedule"), "a schedule trigger needs a profile"),
        (Trigger("manual", min=5, until=NOW), "until 2026-11-20T09:00:00+00:00 is already past"),
    ],
)
def test_bad_payloads_are_refused_with_a_reason(trigger: Trigger, reason: str) -> None:
    change = plan(TARGET, DAY, trigger, NOW)
    assert change.refused == reason
    assert change.after == change.before


def test_a_target_opted_in_by_tag_needs_the_tag() -> None:
    by_tag = make_target(opt_in="tag")
    assert plan(by_tag, DAY, Trigger("manual", min=5), NOW).refused == "the target opts in by tag and does not carry it"
    assert plan(by_tag, replace(DAY, tagged=True), Trigger("manual", min=5), NOW).refused is None


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan(TARGET, DAY, Trigger("alarm-out"), datetime(2026, 11, 20, 9, 0))


# Properties -----------------------------------------------------------------------------------------------


@st.composite
def targets(draw: st.DrawFn) -> Target:
    floor = draw(st.just(0) | st.integers(0, 10))  # often 0, so a zero profile exists
    ceiling = draw(st.integers(floor, floor + 60))
    profiles: dict[str, object] = {}
    for name in ("day", "night"):
        low = draw(st.integers(floor, ceiling))
        high = draw(st.integers(low, ceiling))
        profiles[name] = {"min": low, "max": high}
    if floor == 0:
        profiles["zero"] = {"min": 0, "max": 0}
    return make_target(
        floor=floor,
        ceiling=ceiling,
        max_step=draw(st.integers(1, 8)),
        cooldown_minutes=draw(st.integers(0, 30)),
        flap={"max_changes": draw(st.integers(1, 6)), "window_minutes": 60},
        alarms={"scale_out": ["web-cpu-high"], "step": draw(st.integers(1, 10))},
        profiles=profiles,
    )


@st.composite
def states(draw: st.DrawFn, target: Target) -> TargetState:
    low = draw(st.integers(target.floor, target.ceiling))
    high = draw(st.integers(low, target.ceiling))
    desired = draw(st.none() | st.integers(low, high))
    saved = draw(st.none() | st.builds(Saved, st.just(Levels(low, high, desired)), st.booleans()))
    until = draw(st.none() | st.integers(-120, 120).map(lambda m: NOW + timedelta(minutes=m)))
    override = draw(
        st.none()
        | st.builds(Override, st.sampled_from(["apply", "pause"]), st.just(NOW - timedelta(hours=1)), st.just(until))
    )
    return TargetState(
        current=Levels(low, high, desired),
        owner=draw(st.sampled_from(["application-autoscaling", "asg", "raw"])),
        suspended=draw(suspensions),
        in_alarm=draw(st.booleans()),
        deployment_in_progress=draw(st.booleans()),
        last_changes=tuple(NOW - timedelta(minutes=m) for m in draw(st.lists(st.integers(0, 90), max_size=6))),
        saved_before_zero=saved,
        override=override,
        profile=draw(st.sampled_from([None, "day", "night", "gone"])),
        alarm_baseline=draw(st.none() | st.just(Levels(low, high, desired))),
        tagged=draw(st.booleans()),
    )


def triggers() -> st.SearchStrategy[Trigger]:
    profiles = st.sampled_from(["day", "night", "zero", "lunch"])
    counts = st.none() | st.integers(0, 80)
    return st.one_of(
        st.builds(Trigger, st.just("schedule"), profile=profiles),
        st.builds(Trigger, st.just("alarm-out"), alarm=st.just("web-cpu-high")),
        st.builds(Trigger, st.just("alarm-in"), alarm=st.just("web-cpu-high")),
        st.builds(Trigger, st.just("manual"), action=st.sampled_from(["apply", "pause", "resume"]), profile=profiles),
        st.builds(Trigger, st.just("manual"), min=counts, max=counts, desired=counts),
        st.builds(Trigger, st.just("override-revert"), override_set_at=st.just(NOW - timedelta(hours=1))),
    )


cases = targets().flatmap(lambda t: st.tuples(st.just(t), states(t), triggers()))


def _within(target: Target, levels: Levels) -> bool:
    values = [levels.min, levels.max] + ([] if levels.desired is None else [levels.desired])
    return all(target.floor <= v <= target.ceiling for v in values) and levels.min <= levels.max


def _exact_landing(change: Change, target: Target) -> bool:
    """Zero, restore and revert land exactly: max_step does not apply to them."""
    to_zero = change.trigger.profile in target.zero_profiles
    return to_zero or change.restored or change.trigger.kind == "override-revert"


@given(cases)
def test_results_stay_within_the_hard_bounds(case: tuple[Target, TargetState, Trigger]) -> None:
    target, state, trigger = case
    change = plan(target, state, trigger, NOW)
    if change.refused is None:
        assert _within(target, change.after), change


@given(cases)
def test_a_refused_change_changes_nothing(case: tuple[Target, TargetState, Trigger]) -> None:
    target, state, trigger = case
    change = plan(target, state, trigger, NOW)
    if change.refused is not None:
        assert (change.after, change.suspended_after) == (change.before, change.suspended_before)
        assert not change.changes_anything
        assert (change.save, change.override, change.clear_override, change.mute) == (None, None, False, ())


@given(cases)
def test_at_most_one_step_per_trigger(case: tuple[Target, TargetState, Trigger]) -> None:
    target, state, trigger = case
    change = plan(target, state, trigger, NOW)
    if change.refused is None and not _exact_landing(change, target):
        step = target.max_step
        if trigger.kind in ("alarm-out", "alarm-in") and target.alarms is not None:
            step = min(step, target.alarms.step)
        before, after = change.before, change.after
        assert abs(after.min - before.min) <= step, change
        assert abs(after.max - before.max) <= step, change
        if before.desired is not None and after.desired is not None:
            assert abs(after.desired - before.desired) <= step, change


@given(cases)
def test_the_restore_after_zero_equals_the_saved_state(case: tuple[Target, TargetState, Trigger]) -> None:
    target, state, _ = case
    state = replace(state, override=None, in_alarm=False, deployment_in_progress=False, tagged=True, last_changes=())
    state = replace(state, saved_before_zero=None)
    to_zero = plan(target, state, Trigger("schedule", profile="zero"), NOW)
    if "zero" not in target.profiles:
        assert to_zero.refused is not None
        return
    assert to_zero.save == Saved(state.current, state.suspended)

    # Only a profile that is not itself a zero profile restores (one with max 0 is another way to zero).
    waking = [name for name, profile in target.profiles.items() if not profile.zero]
    assume(waking)
    at_zero = replace(state, current=to_zero.after, suspended=Suspension(), saved_before_zero=to_zero.save)
    restored = plan(target, at_zero, Trigger("schedule", profile=waking[0]), NOW + timedelta(hours=10))
    assert restored.after == state.current
    assert restored.suspended_after == state.suspended


@given(cases)
def test_precedence_is_respected(case: tuple[Target, TargetState, Trigger]) -> None:
    target, state, trigger = case
    change = plan(target, state, trigger, NOW)
    held = active_precedence(state, NOW)
    if precedence(trigger) < held and change.refused is None:
        # Only a schedule may act under an alarm, and only upward.
        assert trigger.kind == "schedule", change
        assert held == PRECEDENCE["alarm-out"], change
        assert change.after.min >= change.before.min, change
        assert change.after.max >= change.before.max, change
    if state.override is not None and state.override.active(NOW) and trigger.kind not in ("manual", "override-revert"):
        assert change.refused is not None


@given(cases)
def test_a_deployment_refuses_every_lowering_change_and_never_a_raising_one(
    case: tuple[Target, TargetState, Trigger],
) -> None:
    target, state, trigger = case
    idle = plan(target, replace(state, deployment_in_progress=False), trigger, NOW)
    busy = plan(target, replace(state, deployment_in_progress=True), trigger, NOW)
    if idle.refused is None and lowers(idle):
        assert busy.refused == DEPLOYMENT, busy
    else:
        assert busy == idle  # the deployment is not even looked at: the runtime may check it lazily
