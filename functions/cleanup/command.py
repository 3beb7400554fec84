"""The cleanup function's payloads: a console plan or run, a schedule group's rule, or a resume; checked in full."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from functions.shared.refusal import Refused, cap

from .kinds.base import KindName
from .policy import Cleanup

Action = Literal["plan", "run", "resume"]


class Payload(BaseModel):
    """{"action": "plan"|"run"|"resume", "kinds"?, "regions"?, "dry_run"?} or {"trigger": "schedule", "group"}."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    action: Action | None = None
    trigger: Literal["schedule"] | None = None
    group: str | None = None
    kinds: list[KindName] | None = None
    regions: list[str] | None = None
    dry_run: bool | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> Payload:
        if self.trigger is not None:
            extra = [key for key in ("action", "kinds", "regions", "dry_run") if getattr(self, key) is not None]
            if self.group is None:
                raise ValueError("a schedule payload needs 'group', the name of a cleanup.schedules group")
            if extra:
                raise ValueError(f"a schedule payload takes only 'trigger' and 'group'; remove {', '.join(extra)}")
            return self
        if self.action is None:
            raise ValueError('needs "action": "plan", "run" or "resume" (or "trigger": "schedule" with "group")')
        if self.group is not None:
            raise ValueError('\'group\' goes with "trigger": "schedule" only')
        if self.action == "resume" and (self.kinds or self.regions or self.dry_run is not None):
            raise ValueError("'resume' takes no kinds, regions or dry_run: it carries on the unfinished run as it was")
        if self.action == "run" and not self.kinds:
            raise ValueError("'run' needs 'kinds', the kinds to clean, e.g. [\"ebs-snapshot\"]")
        if self.action == "plan" and self.dry_run is False:
            raise ValueError('\'plan\' is always a dry run; use "action": "run" with "dry_run": false to act')
        return self


@dataclass(frozen=True)
class Command:
    """What to do, resolved against the policy: a new run's action, kinds, regions and dry-run choice."""

    action: Action
    kinds: tuple[KindName, ...] = ()
    regions: tuple[str, ...] = ()
    dry_run: bool | None = None  # None: the policy's default
    trigger: str = "console"


def parse_command(payload: Any, cleanup: Cleanup, regions: tuple[str, ...]) -> Command:
    """The payload as a command, or Refused naming every problem (each capped, so none echoes a huge value)."""
    if not isinstance(payload, dict):
        raise Refused([f'expected a JSON object like {{"action": "plan"}}, got {type(payload).__name__}'])
    try:
        parsed = Payload.model_validate(payload)
    except ValidationError as invalid:
        raise Refused.from_validation(invalid) from None
    configured = tuple(kind for kind in cleanup.kinds.listed() if (rule := cleanup.kinds.rule(kind)) and rule.enabled)
    if parsed.trigger is not None:
        group = cleanup.group(parsed.group or "")
        if group is None:
            known = ", ".join(group.name for group in cleanup.schedules) or "none"
            raise Refused([f"group: got {cap(parsed.group, 80)!r}: not a cleanup.schedules group (known: {known})"])
        kinds = tuple(kind for kind in group.kinds if kind in configured)
        return Command("run", kinds=kinds, regions=regions, trigger=f"schedule {group.name}")
    assert parsed.action is not None
    problems = [
        f"kinds: {kind!r} is not configured and enabled under cleanup.kinds ({', '.join(configured) or 'none'} are)"
        for kind in parsed.kinds or ()
        if kind not in configured
    ]
    problems += [
        f"regions: {cap(region, 80)!r} is not one of the cleanup regions ({', '.join(regions)})"
        for region in parsed.regions or ()
        if region not in regions
    ]
    if problems:
        raise Refused(problems)
    return Command(
        parsed.action,
        kinds=tuple(dict.fromkeys(parsed.kinds or configured)),
        regions=tuple(dict.fromkeys(parsed.regions or regions)),
        dry_run=True if parsed.action == "plan" else parsed.dry_run,
    )
