"""The benchmark's estate as plain data: what each seeded snapshot is, and which ones a correct cleanup removes.

Pure and deterministic from a seed, so both runs of one bench (Deckhand, then Cloud Custodian) see the same
estate, and the expected set never comes from the code under test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

MIN_AGE_DAYS = 30
PROTECTED_SHARE = 0.08
BEHIND_IMAGE_SHARE = 0.05
FOREIGN_SHARE = 0.05
DUE_SHARE = 0.75  # marked, due date passed
PENDING_SHARE = 0.10  # marked, due date still ahead; the rest carry no mark
SNAPSHOTS_PER_VOLUME = 10

Mark = Literal["due", "pending", "none"]


@dataclass(frozen=True)
class SnapshotSpec:
    index: int
    age_days: float  # never within half a day of MIN_AGE_DAYS, so no run sits on the boundary
    foreign: bool  # owned by another account, shared with ours
    protected: bool
    behind_image: bool  # an AMI is registered from it
    mark: Mark
    mark_offset_days: int  # due date = today + offset (negative when due)

    @property
    def qualifies(self) -> bool:
        """What a correct cleanup removes: ours, unprotected, not behind an AMI, old enough, marked and due."""
        return (
            not self.foreign
            and not self.protected
            and not self.behind_image
            and self.age_days >= MIN_AGE_DAYS
            and self.mark == "due"
        )

    def mark_value(self, today: date) -> str | None:
        if self.mark == "none":
            return None
        return (today + timedelta(days=self.mark_offset_days)).isoformat()


def plan(count: int, seed: int) -> list[SnapshotSpec]:
    rng = random.Random(seed)  # noqa: S311 (a reproducible estate, not a secret)
    specs = []
    for index in range(count):
        roll = rng.random()
        mark: Mark = "due" if roll < DUE_SHARE else "pending" if roll < DUE_SHARE + PENDING_SHARE else "none"
        foreign = rng.random() < FOREIGN_SHARE
        specs.append(
            SnapshotSpec(
                index=index,
                age_days=rng.randrange(365) + 0.5,
                foreign=foreign,
                protected=rng.random() < PROTECTED_SHARE,
                behind_image=rng.random() < BEHIND_IMAGE_SHARE and not foreign,  # AMIs of our own
                mark=mark,
                mark_offset_days=-rng.randint(1, 30) if mark == "due" else rng.randint(1, 30),
            )
        )
    return specs


@dataclass(frozen=True)
class Bound:
    """The fewest API calls a cleanup of the planned estate can make: full list pages, one delete each."""

    snapshot_pages: int
    image_pages: int
    deletes: int

    @property
    def total(self) -> int:
        return self.snapshot_pages + self.image_pages + self.deletes


PAGE_SIZE = 1000  # the largest MaxResults of DescribeSnapshots and DescribeImages


def lower_bound(specs: list[SnapshotSpec]) -> Bound:
    own = sum(not spec.foreign for spec in specs)
    images = sum(spec.behind_image for spec in specs)
    return Bound(
        snapshot_pages=max(1, -(-own // PAGE_SIZE)),
        image_pages=max(1, -(-images // PAGE_SIZE)),
        deletes=sum(spec.qualifies for spec in specs),
    )
