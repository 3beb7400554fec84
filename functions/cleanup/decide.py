"""The safety decision every kind shares: pure, from one found resource, what the kind thinks of it and a clock.

In order: the protect tag, another account's resource, in use, the kind's own exclusion, too young;
then mark first and act only once the mark's due date (UTC) has come. A mark that cannot be read is
written again, never trusted; so is a stale one, more than MARK_VALID_DAYS past its due date: the resource
may have been in use in between, and its owners deserve a fresh grace period. The blast-radius cap then
looks at a scope's decisions as a whole.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from .kinds.base import Candidate, Excluded, Judgement, KindRule, Resource

Verdict = Literal["act", "mark", "skip"]

PROTECTED = "protected"
FOREIGN = "foreign"
IN_USE = "in use"
NOT_JUDGED = "not judged by its kind"
TOO_YOUNG = "too young"
NOT_YET_DUE = "marked, not yet due"


@dataclass(frozen=True)
class Protection:
    """The policy's protect tag: any value protects, unless the policy names the values that do."""

    tag: str
    values: tuple[str, ...] = ()

    def protects(self, tags: Mapping[str, str]) -> bool:
        return self.tag in tags and (not self.values or tags[self.tag] in self.values)

    def describe(self, tags: Mapping[str, str]) -> str:
        return f"tagged {self.tag}={tags[self.tag]}" if self.values else f"tagged {self.tag}"


_MARK = re.compile(r"\d{4}-\d{2}-\d{2}")
MARK_VALID_DAYS = 30  # a mark is honoured this long after its due date (weekly runs may miss a few)


@dataclass(frozen=True)
class Decision:
    """What to do with one resource. `reason` is short and stable (it is counted); `detail` says more."""

    resource: Resource
    verdict: Verdict
    reason: str
    detail: str = ""
    candidate: Candidate | None = None  # the kind's planned action (act, mark)
    due: date | None = None  # the mark's due date (mark, and a skip until it comes)


def due_date(mark: str | None) -> date | None:
    """The due date a mark holds, or None when it holds none that can be trusted."""
    if mark is None or not _MARK.fullmatch(mark):
        return None
    try:
        return date.fromisoformat(mark)
    except ValueError:
        return None


def utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no UTC offset; a service timestamp always carries one")
    return moment.astimezone(UTC)


def decide(
    resource: Resource,
    judgement: Judgement | None,
    in_use: str | None,
    rule: KindRule,
    mark: str | None,
    *,
    now: datetime,
    protect: Protection,
    account: str,
    grace_days: int,
) -> Decision:
    """`in_use` says what uses the resource (None: nothing); `mark` is the raw mark (None: unmarked)."""
    now = utc(now)
    left_alone = reason_to_leave(resource, judgement, in_use, rule, now, protect=protect, account=account)
    if left_alone is not None or not isinstance(judgement, Candidate):
        reason, detail = left_alone or (NOT_JUDGED, "")
        return Decision(resource, "skip", reason, detail)
    today = now.date()
    due = due_date(mark)
    if due is None and mark is None:
        planned = today + timedelta(days=grace_days)
        if grace_days == 0:  # no grace period: nothing to wait for, so no mark to write
            return Decision(resource, "act", judgement.why, "no grace period", candidate=judgement, due=planned)
        return Decision(resource, "mark", judgement.why, f"due {planned}", candidate=judgement, due=planned)
    stale = due is not None and (today - due).days > MARK_VALID_DAYS
    if due is None or stale:  # a hand-written or stale mark: give at least a day's notice, even without grace
        planned = today + timedelta(days=max(grace_days, 1))
        problem = f"is stale (over {MARK_VALID_DAYS} days past due)" if stale else "is unreadable"
        detail = f"mark {mark!r} {problem}; marked again, due {planned}"
        return Decision(resource, "mark", judgement.why, detail, candidate=judgement, due=planned)
    if due > today:
        return Decision(resource, "skip", NOT_YET_DUE, f"due {due}", candidate=judgement, due=due)
    return Decision(resource, "act", judgement.why, f"due {due}", candidate=judgement, due=due)


def reason_to_leave(
    resource: Resource,
    judgement: Judgement | None,
    in_use: str | None,
    rule: KindRule,
    now: datetime,
    *,
    protect: Protection,
    account: str,
) -> tuple[str, str] | None:
    """The first reason, in the order of the checks, to leave the resource alone: (reason, detail)."""
    age = now - utc(resource.created)
    checks = (
        (protect.protects(resource.tags), PROTECTED, protect.describe(resource.tags)),
        (resource.owner is not None and resource.owner != account, FOREIGN, f"owned by account {resource.owner}"),
        (in_use is not None, IN_USE, in_use or ""),
        (judgement is None, NOT_JUDGED, ""),
        (isinstance(judgement, Excluded), judgement.why if isinstance(judgement, Excluded) else "", ""),
        (age < timedelta(days=rule.min_age_days), TOO_YOUNG, f"{age.days} days old, under {rule.min_age_days}"),
    )
    return next(((reason, detail) for hit, reason, detail in checks if hit), None)


@dataclass(frozen=True)
class Blast:
    """A scope's blast radius: how many it would act on, of how many found, against the rule's caps."""

    found: int
    acting: int
    max_count: int
    max_share: float

    @property
    def allowed(self) -> int:
        # The tolerance keeps 0.29 x 100 at 29, not 28.999...
        return min(self.max_count, math.floor(self.max_share * self.found + 1e-9))

    @property
    def exceeded(self) -> bool:
        return self.acting > self.allowed

    def describe(self) -> str:
        share = self.acting / self.found if self.found else 0.0
        return (
            f"would act on {self.acting} of {self.found} found ({share:.0%}), above the cap of {self.allowed} "
            f"(max_count {self.max_count}, max_share {self.max_share:.0%} of {self.found}); nothing was done"
        )


def blast_radius(decisions: Sequence[Decision], rule: KindRule, found: int) -> Blast:
    acting = sum(1 for decision in decisions if decision.verdict == "act")
    return Blast(found=found, acting=acting, max_count=rule.max_count, max_share=rule.max_share)
