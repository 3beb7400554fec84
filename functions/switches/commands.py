"""Pure logic of the switches function: parse an operator's command and plan the new switch state."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError, model_validator

from functions.shared.clock import parse_instant
from functions.shared.refusal import Refused, cap
from functions.shared.switches import SWITCH_NAMES, SwitchBoard, SwitchState

SwitchName = Literal["freeze", "pause-all", "pause-gating", "pause-capacity", "pause-cleanup"]
assert set(SwitchName.__args__) == set(SWITCH_NAMES)  # type: ignore[attr-defined]

_DURATION = re.compile(r"^([0-9]{1,9})([mhd])$")  # ASCII digits only: int() would also take '٣'
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class SwitchCommand(BaseModel):
    """The console payload, e.g. {"action": "set", "switch": "freeze", "reason": "...", "for": "2h"}."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    action: Literal["show", "set", "clear", "sweep"]
    switch: SwitchName | None = None
    reason: Annotated[StrictStr, Field(min_length=3, max_length=256)] | None = None
    expires_at: Annotated[StrictStr, Field(max_length=64)] | None = None
    duration: Annotated[StrictStr, Field(max_length=16)] | None = Field(default=None, alias="for")
    actor: Annotated[StrictStr, Field(min_length=1, max_length=64)] = "console"
    # Strict: "false", "no", "off" and 0 are refused, never read as a real run.
    dry_run: StrictBool | None = None

    @model_validator(mode="after")
    def _complete(self) -> SwitchCommand:
        if self.action in ("show", "sweep"):
            extra = [k for k in ("switch", "reason", "expires_at", "duration") if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"'{self.action}' takes no {', '.join(extra)}")
            return self
        if self.switch is None:
            raise ValueError(f"'{self.action}' needs 'switch', one of {', '.join(SWITCH_NAMES)}")
        if self.action == "set":
            if self.reason is None:
                raise ValueError("'set' needs a 'reason' that says why, for the audit trail and the notice")
            if (self.expires_at is None) == (self.duration is None):
                raise ValueError(
                    "'set' needs exactly one of 'expires_at' (ISO time with offset) or 'for' (like 90m, 2h, 3d)"
                )
        elif self.expires_at is not None or self.duration is not None:
            raise ValueError("'clear' takes no 'expires_at' or 'for'")
        return self


def parse_command(payload: Any) -> SwitchCommand:
    if not isinstance(payload, dict):
        raise Refused([f'expected a JSON object like {{"action": "show"}}, got {type(payload).__name__}'])
    try:
        return SwitchCommand.model_validate(payload)
    except ValidationError as invalid:
        raise Refused.from_validation(invalid) from None


def expiry(command: SwitchCommand, now: datetime, max_hours: int) -> datetime:
    too_far = f"is more than the policy's switches.max_hours={max_hours} away"
    if command.duration is not None:
        match = _DURATION.match(command.duration)
        if not match:
            raise Refused([f"for: got {cap(command.duration)!r}: expected minutes, hours or days like 90m, 2h, 3d"])
        requested = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        if requested > timedelta(hours=max_hours):  # checked before adding: now + 999999999d overflows
            raise Refused([f"for: got {command.duration!r}: {too_far}"])
        until = now + requested
    else:
        assert command.expires_at is not None
        try:
            until = parse_instant(command.expires_at)
        except (ValueError, OverflowError) as bad:  # year 1 at +14:00 is before datetime.min in UTC
            raise Refused([f"expires_at: got {command.expires_at!r}: {bad}"]) from None
    if until <= now:
        raise Refused([f"expiry {until.isoformat()} is not in the future (now {now.isoformat()})"])
    if until > now + timedelta(hours=max_hours):
        raise Refused([f"expiry {until.isoformat()} {too_far}"])
    return until


@dataclass(frozen=True)
class SwitchChange:
    before: SwitchState
    after: SwitchState

    @property
    def changed(self) -> bool:
        """Setting what is already set, or clearing what is already off, changes nothing."""
        if self.after.on != self.before.on:
            return True
        return self.after.on and (self.after.reason, self.after.expires_at) != (
            self.before.reason,
            self.before.expires_at,
        )


def expired(board: SwitchBoard, now: datetime) -> list[SwitchChange]:
    """Switches still stored as on whose expiry has passed: the sweep turns them off and says so."""
    return [
        SwitchChange(
            before=state,
            after=SwitchState(
                name=state.name,
                on=False,
                reason=f"expired at {state.expires_at.isoformat()}",
                set_by="deckhand",
                set_at=now,
            ),
        )
        for state in board.states.values()
        if state.on and state.expires_at is not None and not state.active(now)
    ]


def plan(command: SwitchCommand, current: SwitchState, now: datetime, max_hours: int) -> SwitchChange:
    if command.switch != current.name:
        raise ValueError(f"plan for switch {command.switch!r} was given the state of {current.name!r}")
    if command.action == "set":
        after = SwitchState(
            name=current.name,
            on=True,
            reason=command.reason or "",
            expires_at=expiry(command, now, max_hours),
            set_by=command.actor,
            set_at=now,
        )
    else:
        after = SwitchState(name=current.name, on=False, reason=command.reason or "", set_by=command.actor, set_at=now)
    return SwitchChange(before=current, after=after)
