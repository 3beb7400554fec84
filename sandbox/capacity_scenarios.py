"""What `make demo` rehearses of the capacity duty, on the estate's web service and workers group.

deckhand.yaml scales web (ECS, registered with Application Auto Scaling: its bounds move, never its
desired count) with the web-cpu-high alarm and day/weekend/night profiles in Paris time, and workers (an
Auto Scaling group) with workers-backlog-high. The example policy is in dry run and has a 3-minute
cooldown: the scenarios first show the dry run, then act with the function redeployed as `dry_run: false`
and no cooldown would leave it, since the demo cannot wait minutes between an ALARM and its OK.
Scheduled instants come from the machine's clock: a profile schedule is moved (as a redeploy of the
policy with another `at` would move it) to the next minute after the last tick, then `tick` fires it.
With IAM enforced, every schedule reaches the function the way Scheduler delivers it: assuming the
scheduler role (trusted for the schedule group's ARN), then invoking as that role.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from functions.capacity.config import CAPACITY_VARIABLE
from functions.capacity.policy import Target
from stacks.capacity import schedule_group_name, schedule_name
from stacks.policy import load_policy

from .cdk import default_policy
from .demo import Demo, Scenario, status_of
from .deployed import Fired, resolve_function, wiring
from .estate import ASG, CLUSTER, SERVICE
from .iam import deliveries
from .process import read_state
from .rehearsal import redeployed, set_alarm

CAPACITY = "capacity"
WEB, WORKERS = "web", "workers"
WEB_ALARM, WORKERS_ALARM = "web-cpu-high", "workers-backlog-high"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def target(name: str) -> Target:
    found = load_policy(default_policy()).capacity.target(name)
    if found is None:
        raise LookupError(f"the demo's policy {default_policy()} has no capacity target {name!r}")
    return found


def web_bounds(demo: Demo) -> tuple[int, int]:
    found = demo.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=[f"service/{CLUSTER}/{SERVICE}"]
    )["ScalableTargets"]
    return int(found[0]["MinCapacity"]), int(found[0]["MaxCapacity"])


def web_desired(demo: Demo) -> int:
    [service] = demo.client("ecs").describe_services(cluster=CLUSTER, services=[SERVICE])["services"]
    return int(service["desiredCount"])


def group_bounds(demo: Demo) -> tuple[int, int]:
    [group] = demo.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[ASG])["AutoScalingGroups"]
    return int(group["MinSize"]), int(group["MaxSize"])


def actions_enabled(demo: Demo, alarm: str) -> bool:
    [found] = demo.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    return bool(found["ActionsEnabled"])


def group() -> str:
    return schedule_group_name(load_policy(default_policy()).name_prefix)


def capacity_schedules(demo: Demo) -> dict[str, dict[str, Any]]:
    scheduler = demo.client("scheduler")
    listed = scheduler.list_schedules(GroupName=group())["Schedules"]
    return {s["Name"]: scheduler.get_schedule(Name=s["Name"], GroupName=group()) for s in listed}


def through_the_scheduler_role(demo: Demo, schedule: dict[str, Any]) -> tuple[str, str]:
    """How Scheduler delivers `schedule`, authorized as AWS would: it assumes the schedule's role, presenting
    the group's ARN as aws:SourceArn, then invokes the function as that role. (decision, that aws:SourceArn)"""
    delivery = wiring(demo.endpoint).schedule_to_function(schedule)
    [refusal] = deliveries.ask(demo.endpoint, [delivery], phase="delivery")
    assumed = delivery.checks[0]
    return ("authorized" if refusal is None else refusal.line()), assumed.context.get("aws:SourceArn", "")


def group_arn(demo: Demo) -> str:
    return str(demo.client("scheduler").get_schedule_group(Name=group())["Arn"])


def answers(fired: list[Fired]) -> list[tuple[str, Any]]:
    return [(f.invocation.function_name, status_of(f.invocation)) for f in fired]


def first_change(response: Any) -> dict[str, Any]:
    changes = response.get("changes", []) if isinstance(response, dict) else []
    return dict(changes[0]) if changes else {}


def next_minute(demo: Demo, after: timedelta = timedelta()) -> datetime:
    """A whole minute after both now and the last tick (time only moves forward), plus `after`."""
    last = read_state(demo.paths) or {}
    base = max(datetime.now(UTC), datetime.fromisoformat(last["last_tick"]) if last.get("last_tick") else EPOCH)
    return (base + after).replace(second=0, microsecond=0) + timedelta(minutes=1)


@contextlib.contextmanager
def acting(demo: Demo) -> Iterator[None]:
    """The capacity function as a redeploy of the policy with `dry_run: false` and no cooldown would leave it."""
    fn = demo.functions.get(resolve_function(CAPACITY, demo.endpoint))
    section = json.loads(fn.environment[CAPACITY_VARIABLE])
    for each in section["targets"]:
        each["cooldown_minutes"] = 0
    with redeployed(demo, (CAPACITY,), DECKHAND_DRY_RUN="false", **{CAPACITY_VARIABLE: json.dumps(section)}):
        yield


@contextlib.contextmanager
def moved(demo: Demo, name: str, at: datetime) -> Iterator[None]:
    """For the block, the deployed schedule `name` at `at`'s local time, as a redeploy with that `at` would leave it."""
    scheduler = demo.client("scheduler")
    deployed = capacity_schedules(demo)[name]
    keep = ("Name", "GroupName", "Description", "ScheduleExpressionTimezone", "FlexibleTimeWindow", "Target", "State")
    fields = {key: deployed[key] for key in keep if deployed.get(key) is not None}
    local = at.astimezone(ZoneInfo(fields["ScheduleExpressionTimezone"]))
    expression = deployed["ScheduleExpression"].split()
    expression[:2] = [f"cron({local.minute}", str(local.hour)]
    scheduler.update_schedule(**fields, ScheduleExpression=" ".join(expression))
    try:
        yield
    finally:
        scheduler.update_schedule(**fields, ScheduleExpression=deployed["ScheduleExpression"])


def capacity_console(demo: Demo) -> None:
    """An operator reads web's status, rehearses an override and an alarm in dry run; bad payloads change nothing"""
    before = web_bounds(demo)
    status = demo.invoke(CAPACITY, {"action": "status", "target": WEB})
    demo.step("status of web from the console", "ok", status_of(status))
    described = (status.response or {}).get("targets", [{}])[0] if status.ok else {}
    demo.step("it reads web's live bounds from Application Auto Scaling", True, str(before[0]) in json.dumps(described))
    rehearsal = {"action": "apply", "target": WEB, "min": 4, "until": "23:00 Europe/Paris", "reason": "Demo: rehearse"}
    planned = demo.invoke(CAPACITY, rehearsal)
    demo.step("an override without dry_run false only plans", "planned", status_of(planned))
    demo.step(
        "it plans RegisterScalableTarget (and the revert's schedule), no raw desired count",
        ["application-autoscaling.register_scalable_target", "scheduler.create_schedule"],
        sorted(c["call"] for c in first_change(planned.response).get("calls", [])),
    )
    fired = set_alarm(demo, WEB_ALARM, "ALARM", "Demo: CPU above 80 %")
    demo.step(
        "web-cpu-high in ALARM reaches the capacity function, which plans",
        [(f"deckhand-{CAPACITY}", "planned")],
        answers(fired),
    )
    set_alarm(demo, WEB_ALARM, "OK", "Demo: CPU back to normal")
    demo.step(
        "the dry runs left web's bounds and schedules as they were",
        (before, 3),
        (web_bounds(demo), len(capacity_schedules(demo))),
    )
    bad = demo.invoke(CAPACITY, {"action": "apply", "target": WEB, "min": "lots", "dry_run": False})
    demo.step("a bad payload is rejected", "rejected", status_of(bad))
    unknown = demo.invoke(CAPACITY, {"action": "apply", "target": "api", "profile": "day", "dry_run": False})
    demo.step(
        "an unknown target is rejected, naming it",
        ["rejected", True],
        [status_of(unknown), "'api'" in json.dumps((unknown.response or {}).get("errors"))],
    )
    demo.step("and changed nothing", before, web_bounds(demo))


def capacity_alarms(demo: Demo) -> None:
    """web-cpu-high in ALARM scales web out by moving its bounds; OK scales it back"""
    before, desired = web_bounds(demo), web_desired(demo)
    triggers = target(WEB).alarms
    step = triggers.step if triggers else 0
    with acting(demo):
        fired = set_alarm(demo, WEB_ALARM, "ALARM", "Demo: CPU above 80 %")
        demo.step(
            "the deployed rule routes the ALARM to the capacity function",
            [(f"deckhand-{CAPACITY}", "changed")],
            answers(fired),
        )
        demo.step(
            f"web's minimum steps out by {step}", (before[0] + step, max(before[1], before[0] + step)), web_bounds(demo)
        )
        demo.step("its desired count is left to Application Auto Scaling", desired, web_desired(demo))
        fired = set_alarm(demo, WEB_ALARM, "OK", "Demo: CPU back to normal")
        demo.step("the OK is routed too", [(f"deckhand-{CAPACITY}", "changed")], answers(fired))
        demo.step("web is back to its bounds before the alarm", before, web_bounds(demo))


def capacity_night_and_morning(demo: Demo) -> None:
    """The night schedule takes web to zero and mutes its alarm; the morning restores exactly what was live"""
    web = target(WEB)
    muted = web.mute_at_zero[0]
    night = next(i for i, s in enumerate(web.schedules) if web.profiles[s.profile].zero)
    with acting(demo):
        live = {"action": "apply", "target": WEB, "min": 3, "max": 12, "reason": "Demo: odd bounds", "dry_run": False}
        demo.step("an operator sets web to 3..12 by hand", "changed", status_of(demo.invoke(CAPACITY, live)))
        at = next_minute(demo)
        zone = ZoneInfo(web.schedules[night].timezone)
        with moved(demo, schedule_name(web, night), at):
            demo.step(
                "Scheduler may assume deckhand-capacity-scheduler for its group, then invoke the function",
                ("authorized", group_arn(demo)),
                through_the_scheduler_role(demo, capacity_schedules(demo)[schedule_name(web, night)]),
            )
            fired = demo.tick(at + timedelta(seconds=30))
        mine = [f for f in fired if f.invocation.function_name == f"deckhand-{CAPACITY}"]
        demo.step(
            f"tick fires the deployed night schedule at {at.astimezone(zone):%H:%M} {zone.key}",
            [f"schedule {group()}/{schedule_name(web, night)}"],
            [f.source for f in mine],
        )
        demo.step(
            "the night profile takes web to zero",
            ("changed", (0, 0)),
            (status_of(mine[0].invocation) if mine else None, web_bounds(demo)),
        )
        demo.step(f"and mutes {muted}", False, actions_enabled(demo, muted))
        morning_at = next_minute(demo)
        weekday = morning_at.astimezone(zone).strftime("%a").upper()
        morning = next(i for i, s in enumerate(web.schedules) if not web.profiles[s.profile].zero and weekday in s.days)
        with moved(demo, schedule_name(web, morning), morning_at):
            fired = demo.tick(morning_at + timedelta(seconds=30))
        mine = [f for f in fired if f.invocation.function_name == f"deckhand-{CAPACITY}"]
        profile = web.schedules[morning].profile
        demo.step(f"the {profile} schedule fires next", [(f"deckhand-{CAPACITY}", "changed")], answers(mine))
        demo.step("and restores exactly the saved 3..12, not the profile's bounds", (3, 12), web_bounds(demo))
        demo.step(f"{muted} is unmuted", True, actions_enabled(demo, muted))


def capacity_override(demo: Demo) -> None:
    """An expiring override from the console is reverted by its one-time schedule, which then deletes itself"""
    before = web_bounds(demo)
    deployed = set(capacity_schedules(demo))
    with acting(demo):
        until = next_minute(demo, timedelta(minutes=1))
        override = {
            "action": "apply",
            "target": WEB,
            "min": 6,
            "until": until.isoformat(),
            "reason": "Demo: launch",
            "dry_run": False,
        }
        demo.step(
            "min 6 until a minute from now, from the console", "changed", status_of(demo.invoke(CAPACITY, override))
        )
        demo.step("web's minimum is 6", (6, before[1]), web_bounds(demo))
        added = {name: s for name, s in capacity_schedules(demo).items() if name not in deployed}
        demo.step(
            "a one-time schedule will revert it",
            [(f"at({until:%Y-%m-%dT%H:%M:%S})", "DELETE")],
            [(s["ScheduleExpression"], s.get("ActionAfterCompletion")) for s in added.values()],
        )
        demo.step(
            "the revert's schedule runs as the same scheduler role, through the same group trust",
            [("authorized", group_arn(demo))],
            [through_the_scheduler_role(demo, s) for s in added.values()],
        )
        fired = demo.tick(until + timedelta(seconds=30))
        demo.step(
            "tick runs the revert",
            [(f"deckhand-{CAPACITY}", "changed")],
            answers([f for f in fired if f.source.endswith(tuple(added))]),
        )
        demo.step("web is back to its bounds before the override", before, web_bounds(demo))
        demo.step("the one-time schedule deleted itself", deployed, set(capacity_schedules(demo)))


def capacity_flap_storm(demo: Demo) -> None:
    """A flapping workers-backlog-high is stopped by the workers' flap budget"""
    budget = target(WORKERS).flap
    before = group_bounds(demo)
    statuses: list[Any] = []
    last: dict[str, Any] = {}
    with acting(demo):
        for flap in range(budget.max_changes // 2 + 2):  # each flap is two changes: ALARM, then OK
            for state in ("ALARM", "OK"):
                fired = set_alarm(demo, WORKERS_ALARM, state, f"Demo: flap {flap}")
                statuses += [status_of(f.invocation) for f in fired]
                last = first_change(fired[-1].invocation.response) if fired else {}
    changed = statuses.count("changed")
    demo.step(
        f"{len(statuses)} alarm changes: the first {budget.max_changes} act, the rest are refused",
        (["changed"] * budget.max_changes, ["refused"] * (len(statuses) - budget.max_changes)),
        (statuses[:changed], statuses[changed:]),
    )
    demo.step("the refusal says why", True, "flap budget" in str(last.get("refused")))
    demo.step("the group ends where it started", before, group_bounds(demo))


SCENARIOS: list[Scenario] = [
    capacity_console,
    capacity_alarms,
    capacity_night_and_morning,
    capacity_override,
    capacity_flap_storm,
]
