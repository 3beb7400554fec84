"""What the planner sees and what it plans: plain data, so the plan is pure and testable without AWS."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Owner = Literal["application-autoscaling", "asg", "raw"]  # who owns the capacity: never fight it
TriggerKind = Literal["manual", "alarm-out", "alarm-in", "schedule", "override-revert"]
ManualAction = Literal["apply", "pause", "resume"]
Service = Literal["application-autoscaling", "autoscaling", "cloudwatch", "ecs", "lambda", "scheduler"]

MUTATING_PREFIXES = ("register_", "update_", "put_", "delete_", "suspend_", "resume_", "deregister_", "set_")


@dataclass(frozen=True)
class Call:
    """One planned AWS call: the plan says it, an adapter makes it, the answer and the audit show it."""

    service: Service
    method: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def mutating(self) -> bool:
        return self.method.startswith(MUTATING_PREFIXES)


@dataclass(frozen=True)
class Levels:
    """A target's bounds and, where it applies (ASGs, raw capacity), its desired count."""

    min: int
    max: int
    desired: int | None = None


@dataclass(frozen=True)
class Suspension:
    """Which scaling a target's owner has suspended, flag by flag as Application Auto Scaling's SuspendedState
    says it. An Auto Scaling group shows its AlarmNotification process as both dynamic flags and its
    ScheduledActions process as the scheduled one."""

    dynamic_in: bool = False
    dynamic_out: bool = False
    scheduled: bool = False

    @classmethod
    def every(cls, suspended: bool) -> Suspension:
        return cls(suspended, suspended, suspended)

    def shown(self) -> dict[str, bool]:
        return {"dynamic_in": self.dynamic_in, "dynamic_out": self.dynamic_out, "scheduled": self.scheduled}


NOT_SUSPENDED = Suspension()


@dataclass(frozen=True)
class Saved:
    """The live capacity saved when a target goes to zero, restored exactly."""

    levels: Levels
    suspended: Suspension


@dataclass(frozen=True)
class Override:
    """A manual apply with an expiry, or a pause; it outranks every automatic trigger while active."""

    action: Literal["apply", "pause"]
    set_at: datetime
    until: datetime | None = None  # None: until resumed (pause only)
    before: Levels | None = None  # what the revert goes back to (apply only)

    def active(self, now: datetime) -> bool:
        return self.until is None or now < self.until


@dataclass(frozen=True)
class TargetState:
    current: Levels
    owner: Owner
    suspended: Suspension = NOT_SUSPENDED
    in_alarm: bool = False  # any of its scale-out alarms is in ALARM
    deployment_in_progress: bool = False  # an ECS deployment or ASG instance refresh
    last_changes: tuple[datetime, ...] = ()  # when Deckhand changed it, for cooldown and flap budget
    saved_before_zero: Saved | None = None
    override: Override | None = None
    profile: str | None = None  # the profile last applied, what an OK steps back toward
    alarm_baseline: Levels | None = None  # the levels before the first step out, if no profile is known
    tagged: bool = False  # carries the opt-in tag


@dataclass(frozen=True)
class Trigger:
    kind: TriggerKind
    action: ManualAction = "apply"  # manual only
    profile: str | None = None  # schedule, or manual apply of a profile
    min: int | None = None  # manual apply of bounds; unset ones keep their value
    max: int | None = None
    desired: int | None = None
    until: datetime | None = None  # manual: the override expires then (reverted by a one-time schedule)
    alarm: str | None = None  # alarm-out / alarm-in: the alarm that changed state
    override_set_at: datetime | None = None  # override-revert: which override it reverts


@dataclass(frozen=True)
class Change:
    """The plan for one trigger. Refused: nothing changes (after == before) and `refused` says why."""

    target: str
    before: Levels
    after: Levels
    reason: str
    refused: str | None
    trigger: Trigger
    precedence: int
    suspended_before: Suspension = NOT_SUSPENDED
    suspended_after: Suspension = NOT_SUSPENDED
    save: Saved | None = None  # store it: the target goes to zero
    restored: bool = False  # after is the saved state; forget it
    mute: tuple[str, ...] = ()
    unmute: tuple[str, ...] = ()
    override: Override | None = None  # store it as the active override
    clear_override: bool = False
    profile: str | None = None  # store it as the profile in effect
    alarm_baseline: Levels | None = None  # store it (first step out)
    partial: bool = False  # max_step stopped short of the goal

    @property
    def changes_anything(self) -> bool:
        return self.refused is None and (self.after != self.before or self.suspended_after != self.suspended_before)
