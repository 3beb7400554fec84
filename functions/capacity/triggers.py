"""Pure: what the capacity function was asked to do, from the four shapes of event it receives.

1. EventBridge `CloudWatch Alarm State Change` of an alarm some target scales out on: ALARM steps out, OK in; only
   the targets the policy places in the event's account and region (a member's event, forwarded to the hub's bus,
   keeps its own `account` and `region`) concern it;
2. a per-profile schedule's input {"trigger": "schedule", "target", "profile", "schedule": <index>};
3. a one-time revert schedule's input {"trigger": "override-revert", "target", "override_set_at", "dry_run"};
4. a console payload {"action": "apply" | "pause" | "resume" | "status", "target", ...}.

Each shape is a typed model. An EventBridge event that is not a readable alarm state change of one of the
targets' alarms is not ours: `Ignored`. A schedule's input or a console payload that does not fit its model,
or names an unknown target, profile or schedule, is `Refused` with every problem; nothing acts on either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from functions.shared.clock import parse_cloudwatch_time, parse_instant
from functions.shared.events import EventBridgeEvent
from functions.shared.members import Home
from functions.shared.refusal import Refused, cap
from functions.shared.validation import describe_all

from .model import Trigger
from .policy import Capacity, Target

MAX_UNTIL = timedelta(days=7)  # an override or pause longer than a week is a policy change, not an override
_LOCAL_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d) (\S+)$")

Count = Annotated[StrictInt, Field(ge=0, le=100_000)]
# Longer than any name the policy accepts, short enough to echo: a longer one is refused before any lookup.
NameText = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Instant = Annotated[StrictStr, Field(min_length=1, max_length=64)]


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


# --- the models ----------------------------------------------------------------------------------------


class AlarmState(BaseModel):
    value: Annotated[StrictStr, Field(max_length=64)]
    timestamp: Instant | None = None


class MuteDetail(BaseModel):
    """A mute rule's window, as CloudWatch puts it on the state change event of a muted alarm."""

    mutedByArn: Annotated[StrictStr, Field(max_length=2048)] | None = None
    muteWindowStart: Instant | None = None
    muteWindowEnd: Instant | None = None


class AlarmChange(BaseModel):
    """`detail` of a CloudWatch Alarm State Change event (CloudWatch user guide, "Alarm events and EventBridge")."""

    alarmName: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    state: AlarmState
    muteDetail: MuteDetail | None = None


class AlarmChangeEvent(EventBridgeEvent):
    source: Literal["aws.cloudwatch"]
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    detail: AlarmChange


class Fired(BaseModel):
    """A profile schedule's input, as the stack writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trigger: Literal["schedule"]
    target: NameText
    profile: NameText
    schedule: Annotated[StrictInt, Field(ge=0, le=10_000)]


class Expired(BaseModel):
    """A revert schedule's input, as `scheduler.revert_schedule` writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trigger: Literal["override-revert"]
    target: NameText
    override_set_at: Instant
    dry_run: StrictBool | None = None


SCHEDULED: dict[object, type[Fired] | type[Expired]] = {"schedule": Fired, "override-revert": Expired}


class Command(BaseModel):
    """A console payload, e.g. {"action": "apply", "target": "web", "profile": "day", "until": "23:00 Europe/Paris"}."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["apply", "pause", "resume", "status"]
    target: NameText | None = None
    profile: NameText | None = None
    min: Count | None = None
    max: Count | None = None
    desired: Count | None = None
    until: Instant | None = None
    reason: Annotated[StrictStr, Field(min_length=1, max_length=256)] | None = None
    actor: Annotated[StrictStr, Field(min_length=1, max_length=64)] = "console"
    # Strict: "false", "no", "off" and 0 are refused, never read as a real run.
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


def parse(event: Any, policy: Capacity, now: datetime, home: Home) -> Request | StatusRequest | Ignored:
    """The request an event makes to the function at `home`; raises `Refused` for a schedule's input or a console
    payload that is wrong."""
    if not isinstance(event, dict):
        raise Refused([f'expected a JSON object like {{"action": "status"}}, got {type(event).__name__}'])
    if "source" in event or "detail-type" in event:  # console payloads and schedule inputs carry neither
        try:
            alarm = AlarmChangeEvent.model_validate(event)
        except ValidationError as invalid:
            return Ignored(f"not a CloudWatch alarm state change: {'; '.join(describe_all(invalid)[:3])}")
        return alarm_request(alarm, policy, home)
    if "trigger" in event:
        model = SCHEDULED.get(event["trigger"]) if isinstance(event["trigger"], str) else None
        if model is None:
            raise Refused([f"trigger: got {cap(repr(event['trigger']))}: expected 'schedule' or 'override-revert'"])
        try:
            return scheduled_request(model.model_validate(event), policy)
        except ValidationError as invalid:
            raise Refused.from_validation(invalid) from None
    if "action" in event:
        return console_request(event, policy, now)
    raise Refused(
        [
            "not a capacity event: expected a CloudWatch alarm state change, a schedule's "
            '{"trigger": ...} or a console {"action": "apply" | "pause" | "resume" | "status", ...}'
        ]
    )


# --- alarms -------------------------------------------------------------------------------------------


def placed_at(target: Target, home: Home) -> tuple[str, str]:
    """The account and region of the target: those it names, else the function's own."""
    return target.account or home.account, target.region or home.region


def scaled_by(policy: Capacity, alarm: str, home: Home, account: str, region: str) -> tuple[str, ...]:
    """The targets that scale on `alarm` of `account` and `region`: a same-named alarm elsewhere is not theirs."""
    return tuple(
        t.name
        for t in policy.targets
        if t.alarms is not None and alarm in t.alarms.scale_out and placed_at(t, home) == (account, region)
    )


def _muted(mute: MuteDetail | None, at: datetime) -> str | None:
    """Why the alarm is muted at `at`, or None; raises ValueError on a window CloudWatch would not write."""
    if mute is None or mute.muteWindowEnd is None:
        return None
    ends = parse_cloudwatch_time(mute.muteWindowEnd)
    starts = parse_cloudwatch_time(mute.muteWindowStart) if mute.muteWindowStart else None
    if (starts is None or starts <= at) and at < ends:
        return f"muted by {cap(mute.mutedByArn or 'a mute rule')} until {ends.isoformat()}"
    return None


def alarm_request(event: AlarmChangeEvent, policy: Capacity, home: Home) -> Request | Ignored:
    name, state = event.detail.alarmName, event.detail.state.value
    names = scaled_by(policy, name, home, event.account, event.region)
    if not names:
        where = f"account {cap(event.account)} region {cap(event.region)}"
        return Ignored(f"no capacity target scales on alarm {name} of {where}")
    if state not in ("ALARM", "OK"):
        return Ignored(f"alarm {name} went to {state}: only ALARM and OK move capacity")
    stamp = event.detail.state.timestamp
    try:
        at = parse_cloudwatch_time(stamp) if stamp else event.time
        muted = _muted(event.detail.muteDetail, at)
    except (ValueError, OverflowError) as bad:  # a time no CloudWatch event carries
        return Ignored(f"alarm {name}: unreadable time in the event: {bad}")
    if muted:
        return Ignored(f"alarm {name} is {muted}")
    kind: Literal["alarm-out", "alarm-in"] = "alarm-out" if state == "ALARM" else "alarm-in"
    return Request(names, Trigger(kind, alarm=name), source=f"alarm {name} {state}")


# --- schedules ----------------------------------------------------------------------------------------


def _target(policy: Capacity, name: str, problems: list[str]) -> Target | None:
    target = policy.target(name)
    if target is None:
        known = ", ".join(sorted(t.name for t in policy.targets)) or "none"
        problems.append(f"target: unknown capacity target {name!r}; known: {known}")
    return target


def scheduled_request(payload: Fired | Expired, policy: Capacity) -> Request:
    problems: list[str] = []
    target = _target(policy, payload.target, problems)
    if target is None:
        raise Refused(problems)
    if isinstance(payload, Fired):
        index, profile = payload.schedule, payload.profile
        if index >= len(target.schedules):
            raise Refused([f"schedule: got {index!r}: expected 0..{len(target.schedules) - 1} for {target.name!r}"])
        if target.schedules[index].profile != profile:
            raise Refused(
                [
                    f"profile: got {profile!r}: schedules[{index}] of {target.name!r} applies "
                    f"{target.schedules[index].profile!r}; redeploy the stack"
                ]
            )
        trigger = Trigger("schedule", profile=profile)
        return Request((target.name,), trigger, source=f"schedule {index} ({profile})", schedule=index)
    set_at = _instant(payload.override_set_at, "override_set_at", problems)
    if set_at is None:
        raise Refused(problems)
    trigger = Trigger("override-revert", override_set_at=set_at)
    return Request((target.name,), trigger, source="override expiry", dry_run=payload.dry_run)


def _instant(value: str, key: str, problems: list[str]) -> datetime | None:
    try:
        return parse_instant(value)
    except (ValueError, OverflowError) as bad:  # year 1 at +14:00 is before datetime.min in UTC
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
        except (ValueError, OverflowError):
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
    try:
        past = until <= now
    except OverflowError:  # year 1 at +14:00, or 9999-12-31 at -14:00, is outside datetime's range in UTC
        raise ValueError(f"{until.isoformat()} is outside the calendar once in UTC") from None
    if past:
        raise ValueError(f"{until.isoformat()} is already past (now {now.isoformat()})")
    if until > now + MAX_UNTIL:
        raise ValueError(f"{until.isoformat()} is more than {MAX_UNTIL.days} days away; change the policy instead")
    return until


def console_request(event: dict[str, Any], policy: Capacity, now: datetime) -> Request | StatusRequest:
    try:
        command = Command.model_validate(event)
    except ValidationError as invalid:
        raise Refused.from_validation(invalid) from None
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
        raise Refused(problems)
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
