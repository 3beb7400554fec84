"""The read-only `status` action: per target its live levels and owner, and what Deckhand remembers of it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from functions.shared.members import NotInOrganization

from . import scheduler, targets
from .flow import Deps, levels_of
from .policy import Target

RECENT = 10


def describe(target: Target, deps: Deps, now: datetime) -> dict[str, Any]:
    stored = deps.store.load(target.name)
    held = stored.override
    shown: dict[str, Any] = {
        "target": target.name,
        "kind": target.kind,
        "bounds": {"floor": target.floor, "ceiling": target.ceiling, "max_step": target.max_step},
        "profile": stored.profile,
        "saved_before_zero": None
        if stored.saved_before_zero is None
        else levels_of(stored.saved_before_zero.levels, stored.saved_before_zero.suspended),
        "override": None
        if held is None
        else {
            "action": held.action,
            "set_at": held.set_at.isoformat(),
            "until": held.until.isoformat() if held.until else None,
            "before": levels_of(held.before),
            "active": held.active(now),
            "revert_schedule": scheduler.revert_name(target.name, held.set_at)
            if held.action == "apply" and held.until
            else None,
        },
        "alarm_baseline": levels_of(stored.alarm_baseline),
        "recent_changes": [t.isoformat() for t in stored.last_changes[-RECENT:]],
    }
    try:
        live = deps.reach(target).read(target)
    except (targets.UnknownTarget, ClientError, NotInOrganization) as error:
        return {**shown, "error": str(error)}
    return {**shown, "owner": live.owner, "live": levels_of(live.levels, live.suspended), "busy": live.busy}
