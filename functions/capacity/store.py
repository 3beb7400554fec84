"""Each target's saved state, one item in the audit table, written with optimistic concurrency.

The item is pk `capacity/<target>`, sk `state`: the levels saved before zero, when Deckhand last
changed the target (for the cooldown and the flap budget), the active override, the profile in effect
and the pre-alarm baseline, with a version number that every write checks and raises by one. It has
no `duty` (so the audit index never lists it) and no `expires_at` (so it never expires).

The flow sees the table through the `Store` interface: `StateStore` is DynamoDB's (the handler's), the
tests have an in-memory twin that answers the same misuse with the same `Conflict`.

`commit` orders the work: apply the change, then save. A failed apply raises and saves nothing, so
the stored state stays as it was; a failed save after a successful apply is reported in the result,
and the next run reads the live levels, which are the truth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

from functions.shared.clients import client

from . import targets
from .declared import PARTITION
from .model import Call, Change, Levels, Override, Owner, Saved, Suspension, TargetState
from .policy import Capacity

SORT_KEY = "state"
# Changes older than the longest cooldown or flap window (a day) no longer matter.
KEEP_CHANGES_FOR = timedelta(days=1)
MAX_CHANGES_KEPT = 200


class Conflict(RuntimeError):
    """Another run saved the target's state first: reload, replan and try again."""


def conflict(target_id: str, expected_version: int) -> Conflict:
    """What a save raises when the item is no longer at `expected_version`, whichever store keeps it."""
    return Conflict(
        f"capacity target {target_id!r}: its saved state changed since version {expected_version}; "
        "reload and plan again"
    )


@dataclass(frozen=True)
class Stored:
    version: int = 0  # 0: never saved
    saved_before_zero: Saved | None = None
    last_changes: tuple[datetime, ...] = ()
    override: Override | None = None
    profile: str | None = None
    alarm_baseline: Levels | None = None


# --- pure conversions ---------------------------------------------------------------------------------


def key(target_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"{PARTITION}{target_id}"}, "sk": {"S": SORT_KEY}}


def _levels(levels: Levels | None) -> dict[str, Any] | None:
    return None if levels is None else {"min": levels.min, "max": levels.max, "desired": levels.desired}


def _from_levels(raw: Any) -> Levels | None:
    return None if raw is None else Levels(int(raw["min"]), int(raw["max"]), raw.get("desired"))


def _instant(raw: Any) -> datetime | None:
    return None if raw is None else datetime.fromisoformat(raw)


def _suspension(raw: Any) -> Suspension:
    # Items saved before the flags were kept one by one hold a single boolean: it stood for all three.
    return Suspension.every(raw) if isinstance(raw, bool) else Suspension(**raw)


def to_json(stored: Stored) -> str:
    saved = stored.saved_before_zero
    override = stored.override
    body = {
        "saved_before_zero": None
        if saved is None
        else {"levels": _levels(saved.levels), "suspended": saved.suspended.shown()},
        "last_changes": [t.isoformat() for t in stored.last_changes],
        "override": None
        if override is None
        else {
            "action": override.action,
            "set_at": override.set_at.isoformat(),
            "until": None if override.until is None else override.until.isoformat(),
            "before": _levels(override.before),
        },
        "profile": stored.profile,
        "alarm_baseline": _levels(stored.alarm_baseline),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def from_json(text: str, version: int) -> Stored:
    body = json.loads(text)
    saved, override = body.get("saved_before_zero"), body.get("override")
    return Stored(
        version=version,
        saved_before_zero=None
        if saved is None
        else Saved(_from_levels(saved["levels"]) or Levels(0, 0), _suspension(saved["suspended"])),
        last_changes=tuple(datetime.fromisoformat(t) for t in body.get("last_changes", [])),
        override=None
        if override is None
        else Override(
            action=override["action"],
            set_at=datetime.fromisoformat(override["set_at"]),
            until=_instant(override.get("until")),
            before=_from_levels(override.get("before")),
        ),
        profile=body.get("profile"),
        alarm_baseline=_from_levels(body.get("alarm_baseline")),
    )


def after(stored: Stored, change: Change, now: datetime) -> Stored:
    """What to store once `change` is applied; a refused change stores nothing new."""
    if change.refused is not None:
        return stored
    saved = change.save if change.save is not None else (None if change.restored else stored.saved_before_zero)
    override = None if change.clear_override else (change.override or stored.override)
    changes = stored.last_changes + ((now,) if change.changes_anything else ())
    changes = tuple(t for t in changes if now - t < KEEP_CHANGES_FOR)[-MAX_CHANGES_KEPT:]
    baseline = change.alarm_baseline or (None if change.profile is not None else stored.alarm_baseline)
    return replace(
        stored,
        saved_before_zero=saved,
        last_changes=changes,
        override=override,
        profile=change.profile or stored.profile,
        alarm_baseline=baseline,
    )


def state(live: targets.Live, stored: Stored, *, in_alarm: bool = False, tagged: bool = False) -> TargetState:
    """What the planner sees: the live levels and the stored memory of the target."""
    return TargetState(
        current=live.levels,
        owner=live.owner,
        suspended=live.suspended,
        in_alarm=in_alarm,
        deployment_in_progress=live.deployment_in_progress,
        last_changes=stored.last_changes,
        saved_before_zero=stored.saved_before_zero,
        override=stored.override,
        profile=stored.profile,
        alarm_baseline=stored.alarm_baseline,
        tagged=tagged,
    )


# --- the interface the flow uses, and DynamoDB's ------------------------------------------------------


class Store(Protocol):
    def load(self, target_id: str) -> Stored: ...

    def save(self, target_id: str, stored: Stored, expected_version: int) -> Stored: ...


class StateStore:
    """The state items in a DynamoDB table (the audit table)."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def load(self, target_id: str) -> Stored:
        item = client("dynamodb").get_item(TableName=self.table_name, Key=key(target_id), ConsistentRead=True)
        found = item.get("Item")
        if not found:
            return Stored()
        return from_json(found["state"]["S"], int(found["version"]["N"]))

    def save(self, target_id: str, stored: Stored, expected_version: int) -> Stored:
        """Write `stored` if the item is still at `expected_version` (0: not yet written); returns it versioned."""
        version = expected_version + 1
        item = key(target_id) | {"version": {"N": str(version)}, "state": {"S": to_json(stored)}}
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if expected_version == 0
            else {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
            }
        )
        dynamodb = client("dynamodb")
        try:
            dynamodb.put_item(TableName=self.table_name, Item=item, **condition)
        except dynamodb.exceptions.ConditionalCheckFailedException:
            raise conflict(target_id, expected_version) from None
        return replace(stored, version=version)


@dataclass(frozen=True)
class Committed:
    calls: list[Call]
    stored: Stored  # what is stored now
    unsaved: str | None = None  # the change was applied but its state not saved: why
    conflict: bool = False  # unsaved because another run saved first: reload and plan again

    @property
    def saved(self) -> bool:
        return self.unsaved is None


def commit(
    change: Change,
    policy: Capacity,
    owner: Owner,
    stored: Stored,
    *,
    store: Store,
    through: targets.Targets,
    now: datetime,
    dry_run: bool,
) -> Committed:
    """Apply through `through`, then save to `store`. A failed apply raises `targets.ApplyFailed` and saves nothing."""
    if change.refused is not None:
        targets.find(policy, change.target)
        return Committed([], stored)
    made = targets.apply(change, policy, owner, dry_run=dry_run, through=through)
    if dry_run:
        return Committed(made, stored)
    updated = after(stored, change, now)
    try:
        return Committed(made, store.save(change.target, updated, stored.version))
    except (ClientError, Conflict) as error:
        return Committed(
            made,
            stored,
            unsaved=f"applied, but the saved state was not written ({error}); the next run reconciles "
            "from the live levels",
            conflict=isinstance(error, Conflict),
        )
