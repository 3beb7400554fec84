"""Pure: what the capacity function was asked to do, from the four shapes of event it receives.

1. EventBridge `CloudWatch Alarm State Change` of an alarm some target scales out on: ALARM steps out, OK in;
2. a per-profile schedule's input {"trigger": "schedule", "target", "profile", "schedule": <index>};
3. a one-time revert schedule's input {"trigger": "override-revert", "target", "override_set_at", "dry_run"};
4. a console payload {"action": "apply" | "pause" | "resume" | "status", "target", ...}.

Anything else, or a payload naming an unknown target, profile or schedule, is a PayloadError listing
every problem; nothing acts on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.data_classes.cloud_watch_alarm_event import CloudWatchAlarmData
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, model_validator

from functions.gating.observe import parse_cloudwatch_time
from functions.shared.clock import parse_instant
from functions.shared.validation import describe_all

from .model import Trigger
from .policy import Capacity, Target

ALARM_EVENT = "CloudWatch Alarm State Change"
MAX_UNTIL = timedelta(days=7)  # an override or pause longer than a week is a policy change, not an override
_LOCAL_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d) (\S+)$")

Count = Annotated[StrictInt, Field(ge=0, le=100_000)]


class PayloadError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Request:
    """One trigger for the targets it concerns."""

    targets: tuple[str, ...]
    trigger: Trigger
    source: str  # what asked, said in the audit record and the notice
    actor: str = "deckhand"
    note: str = ""  # the operator's reason
    dry_run: bool | None = None  # the payload's explicit choice; None: the policy's default
    schedule: int | None = None  # the index of the schedule that fired


@dataclass(frozen=True)
class StatusRequest:
    target: str | None


@dataclass(frozen=True)
class Ignored:
    reason: str


class Command(BaseModel):
    """A console payload, e.g. {"action": "apply", "target": "web", "profile": "day", "until": "23:00 Europe/Paris"}."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["apply", "pause", "resume", "status"]
    target: str | None = None
    profile: str | None = None
    min: Count | None = None
    max: Count | None = None
    desired: Count | None = None
    until: str | None = None
    reason: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    actor: Annotated[str, Field(min_length=1, max_length=64)] = "console"
    dry_run: StrictBool | None = None

    @model_validator(mode="after")
    def _complete(self) -> Command:
        bounds = [name for name in ("min", "max", "desired") if getattr(self, name) is not None]
        if self.action != "status" and self.target is None:
            raise ValueError(f"'{self.action}' needs 'target'")
        if self.action == "apply":
            if self.profile is None and not bounds:
                raise ValueError("'apply' needs a 'profile', or one or more of 'min', 'max', 'desired'")
            if self.profile is not None and bounds:
                raise ValueError(f"'apply' takes a 'profile' or bounds, not both (got profile and {', '.join(bounds)})")
            return self
        extra = (["profile"] if self.profile is not None else []) + bounds
        if extra:
            raise ValueError(f"'{self.action}' takes no {', '.join(extra)}")
        if self.until is not None and self.action != "pause":
            raise ValueError(f"'{self.action}' takes no 'until'")
        return self


def parse(event: Any, policy: Capacity, now: datetime) -> Request | StatusRequest | Ignored:
    if not isinstance(event, dict):
        raise PayloadError([f'expected a JSON object like {{"action": "status"}}, got {type(event).__name__}'])
    if event.get("detail-type") == ALARM_EVENT:
        return alarm_request(EventBridgeEvent(event), policy)
    if "trigger" in event:
        return scheduled_request(event, policy)
    if "action" in event:
        return console_request(event, policy, now)
    raise PayloadError(
        [
            "not a capacity event: expected a CloudWatch alarm state change, a schedule's "
            '{"trigger": ...} or a console {"action": "apply" | "pause" | "resume" | "status", ...}'
        ]
    )


# --- alarms -------------------------------------------------------------------------------------------


def scaled_by(policy: Capacity, alarm: str) -> tuple[str, ...]:
    return tuple(t.name for t in policy.targets if t.alarms is not None and alarm in t.alarms.scale_out)


def _muted(raw: dict[str, Any], at: datetime) -> str | None:
    mute = raw.get("muteDetail")
    if not isinstance(mute, dict) or not mute.get("muteWindowEnd"):
        return None
    ends = parse_cloudwatch_time(str(mute["muteWindowEnd"]))
    starts = parse_cloudwatch_time(str(mute["muteWindowStart"])) if mute.get("muteWindowStart") else None
    if (starts is None or starts <= at) and at < ends:
        return f"muted by {mute.get('mutedByArn') or 'a mute rule'} until {ends.isoformat()}"
    return None


def alarm_request(event: EventBridgeEvent, policy: Capacity) -> Request | Ignored:
    data = CloudWatchAlarmData(event.detail)
    name, state = data.alarm_name, str(data.state.get("value", ""))
    names = scaled_by(policy, name)
    if not names:
        return Ignored(f"no capacity target scales on alarm {name}")
    if state not in ("ALARM", "OK"):
        return Ignored(f"alarm {name} went to {state}: only ALARM and OK move capacity")
    stamp = data.state.get("timestamp")
    at = parse_cloudwatch_time(str(stamp)) if stamp else parse_instant(event.time)
    muted = _muted(event.detail, at)
    if muted:
        return Ignored(f"alarm {name} is {muted}")
    kind: Literal["alarm-out", "alarm-in"] = "alarm-out" if state == "ALARM" else "alarm-in"
    return Request(names, Trigger(kind, alarm=name), source=f"alarm {name} {state}")


# --- schedules ----------------------------------------------------------------------------------------


def _target(policy: Capacity, name: Any, problems: list[str]) -> Target | None:
    if not isinstance(name, str) or not name:
        problems.append("target: required, the name of a capacity target")
        return None
    target = policy.target(name)
    if target is None:
        known = ", ".join(sorted(t.name for t in policy.targets)) or "none"
        problems.append(f"target: unknown capacity target {name!r}; known: {known}")
    return target


def scheduled_request(event: dict[str, Any], policy: Capacity) -> Request:
    problems: list[str] = []
    kind = event.get("trigger")
    target = _target(policy, event.get("target"), problems)
    if kind == "schedule":
        index, profile = event.get("schedule"), event.get("profile")
        if target is not None:
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(target.schedules):
                problems.append(f"schedule: got {index!r}: expected 0..{len(target.schedules) - 1} for {target.name!r}")
            elif target.schedules[index].profile != profile:
                problems.append(
                    f"profile: got {profile!r}: schedules[{index}] of {target.name!r} applies "
                    f"{target.schedules[index].profile!r}; redeploy the stack"
                )
        if problems or target is None or not isinstance(index, int):
            raise PayloadError(problems)
        trigger = Trigger("schedule", profile=str(profile))
        return Request((target.name,), trigger, source=f"schedule {index} ({profile})", schedule=index)
    if kind == "override-revert":
        set_at = _instant(event.get("override_set_at"), "override_set_at", problems)
        dry_run = event.get("dry_run")
        if dry_run is not None and not isinstance(dry_run, bool):
            problems.append(f"dry_run: got {dry_run!r}: expected true or false")
        if problems or target is None or set_at is None:
            raise PayloadError(problems)
        trigger = Trigger("override-revert", override_set_at=set_at)
        return Request((target.name,), trigger, source="override expiry", dry_run=dry_run)
    raise PayloadError([*problems, f"trigger: got {kind!r}: expected 'schedule' or 'override-revert'"])


def _instant(value: Any, key: str, problems: list[str]) -> datetime | None:
    if not isinstance(value, str):
        problems.append(f"{key}: got {value!r}: expected an ISO instant with its offset")
        return None
    try:
        return parse_instant(value)
    except ValueError as bad:
        problems.append(f"{key}: got {value!r}: {bad}")
        return None


def excluded(target: Target, index: int, now: datetime) -> date | None:
    """The date, in the schedule's zone, when it is one of the schedule's except_dates."""
    schedule = target.schedules[index]
    today = now.astimezone(ZoneInfo(schedule.timezone)).date()
    return today if today in schedule.except_dates else None


# --- console ------------------------------------------------------------------------------------------


def until_of(text: str, now: datetime) -> datetime:
    """An ISO instant with its offset, or "HH:MM Area/City": the next such local time after now."""
    local = _LOCAL_TIME.fullmatch(text.strip())
    if local is None:
        try:
            until = parse_instant(text)
        except ValueError:
            raise ValueError(
                "expected an ISO instant with its offset (2026-11-20T23:00:00+01:00) or a local time "
                "and zone like '23:00 Europe/Paris'"
            ) from None
    else:
        try:
            zone = ZoneInfo(local.group(3))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{local.group(3)!r} is not an IANA time zone like Europe/Paris") from None
        day = now.astimezone(zone).date()
        at = time(int(local.group(1)), int(local.group(2)))
        until = datetime.combine(day, at, tzinfo=zone)
        if until <= now:
            until = datetime.combine(day + timedelta(days=1), at, tzinfo=zone)
    if until <= now:
        raise ValueError(f"{until.isoformat()} is already past (now {now.isoformat()})")
    if until > now + MAX_UNTIL:
        raise ValueError(f"{until.isoformat()} is more than {MAX_UNTIL.days} days away; change the policy instead")
    return until


def console_request(event: dict[str, Any], policy: Capacity, now: datetime) -> Request | StatusRequest:
    try:
        command = Command.model_validate(event)
    except ValidationError as invalid:
        raise PayloadError(describe_all(invalid)) from None
    problems: list[str] = []
    target = _target(policy, command.target, problems) if command.target is not None else None
    if target is not None and command.profile is not None and command.profile not in target.profiles:
        known = ", ".join(sorted(target.profiles)) or "none"
        problems.append(f"profile: unknown profile {command.profile!r} of {target.name!r}; known: {known}")
    until = None
    if command.until is not None:
        try:
            until = until_of(command.until, now)
        except ValueError as bad:
            problems.append(f"until: got {command.until!r}: {bad}")
    if problems:
        raise PayloadError(problems)
    if command.action == "status":
        return StatusRequest(command.target)
    assert target is not None
    trigger = Trigger(
        "manual",
        action=command.action,
        profile=command.profile,
        min=command.min,
        max=command.max,
        desired=command.desired,
        until=until,
    )
    return Request(
        (target.name,),
        trigger,
        source=f"{command.action} by {command.actor}",
        actor=command.actor,
        note=command.reason or "",
        dry_run=command.dry_run,
    )
