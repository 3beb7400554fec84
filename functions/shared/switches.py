"""Runtime switches an operator flips from the console, kept in SSM Parameter Store.

Each switch is one String parameter under the switches path holding a small JSON document. This module is their
names, their document and how they combine, with no AWS in it (the stack imports it); switch_parameters.py reads
and writes the parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr

from .clock import parse_instant
from .refusal import cap

DUTIES = ("gating", "capacity", "cleanup")  # each has a section in the policy file
FREEZE = "freeze"
PAUSE_ALL = "pause-all"
SWITCH_NAMES = (FREEZE, PAUSE_ALL, *(f"pause-{duty}" for duty in DUTIES))


class StoredSwitch(BaseModel):
    """A switch parameter's JSON as `SwitchState.document()` writes it; a hand edit may leave out all but `on`."""

    model_config = ConfigDict(frozen=True)

    on: StrictBool  # strict: a hand-written "false" is unreadable (so on), never read as true or false by chance
    reason: StrictStr | None = None
    expires_at: StrictStr | None = None
    set_by: StrictStr | None = None
    set_at: StrictStr | None = None
    change_id: StrictStr | None = None


@dataclass(frozen=True)
class SwitchState:
    name: str
    on: bool = False
    reason: str = ""
    expires_at: datetime | None = None
    set_by: str = ""
    set_at: datetime | None = None
    change_id: str = ""  # the audit record of the switches function's change; absent after a hand edit
    unreadable: bool = False

    def active(self, now: datetime) -> bool:
        return self.on and (self.expires_at is None or now < self.expires_at)

    def document(self) -> dict[str, Any]:
        """The JSON stored in the parameter (and shown to operators)."""
        data = asdict(self)
        del data["name"], data["unreadable"]
        for key in ("expires_at", "set_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data

    @classmethod
    def from_document(cls, name: str, raw: str) -> SwitchState:
        """Parse a stored switch. One that cannot be read counts as on: automation stops, not acts."""
        try:
            stored = StoredSwitch.model_validate_json(raw)
            return cls(
                name=name,
                on=stored.on,
                reason=stored.reason or "",
                expires_at=parse_instant(stored.expires_at) if stored.expires_at else None,
                set_by=stored.set_by or "",
                set_at=parse_instant(stored.set_at) if stored.set_at else None,
                change_id=stored.change_id or "",
            )
        except (ValueError, OverflowError) as unreadable:  # pydantic's ValidationError is a ValueError
            return cls(
                name=name,
                on=True,
                reason=f"switch parameter is unreadable ({cap(str(unreadable))}); fix or clear it",
                unreadable=True,
            )


@dataclass(frozen=True)
class SwitchBoard:
    states: Mapping[str, SwitchState]

    def get(self, name: str) -> SwitchState:
        return self.states.get(name) or SwitchState(name=name)

    def freeze(self, now: datetime) -> SwitchState | None:
        state = self.get(FREEZE)
        return state if state.active(now) else None

    def pause(self, duty: str, now: datetime) -> SwitchState | None:
        """The switch that pauses this duty now: the global pause first, then the duty's own."""
        for name in (PAUSE_ALL, f"pause-{duty}"):
            state = self.get(name)
            if state.active(now):
                return state
        return None


def parameter_name(path: str, name: str) -> str:
    return f"{path}/{name}"
