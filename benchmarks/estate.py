"""Seed the planned estate into the in-process moto, and read what is left of it.

The bench runs moto in its own process, so it seeds through moto's backends: ten thousand snapshots in a
second or two rather than minutes of API calls, with ages set on moto's objects by the sandbox's backdating.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.ec2.models import ec2_backends

from benchmarks.plan import SNAPSHOTS_PER_VOLUME, SnapshotSpec
from sandbox import ACCOUNT, REGION
from sandbox.gaps.control import backdate

FOREIGN_ACCOUNT = "210987654321"
PROTECT_TAG = "deckhand:protect"
MARK_TAG = "deckhand:cleanup-after"


def register_image_from(ec2: Any, snapshot: Any) -> Any:
    """An AMI whose root device is `snapshot`, as RegisterImage with a block device mapping makes it.

    moto's RegisterImage ignores the mapping and snapshots a fresh volume instead; point the AMI at ours.
    """
    image = ec2.register_image(name=f"bench-{snapshot.id}", description="registered from a benchmark snapshot")
    del ec2.snapshots[image.ebs_snapshot.id]
    image.ebs_snapshot = snapshot
    snapshot.from_ami = image.id  # moto then refuses DeleteSnapshot with InvalidSnapshot.InUse, as EC2 does
    return image


def seed(specs: Sequence[SnapshotSpec], now: datetime) -> dict[int, str]:
    """Create every planned snapshot (with volumes, shares and AMIs); returns plan index -> snapshot id."""
    today = now.astimezone(UTC).date()
    ids: dict[int, str] = {}
    volume: dict[str, str] = {}
    made: Counter[str] = Counter()
    for spec in specs:
        account = FOREIGN_ACCOUNT if spec.foreign else ACCOUNT
        ec2 = ec2_backends[account][REGION]
        if made[account] % SNAPSHOTS_PER_VOLUME == 0:
            volume[account] = ec2.create_volume(size=8 + spec.index % 100, zone_name=f"{REGION}a").id
        made[account] += 1
        snapshot = ec2.create_snapshot(volume[account], f"bench snapshot {spec.index}")
        tags = {"Name": f"bench-{spec.index}"}
        if spec.protected:
            tags[PROTECT_TAG] = "bench"
        mark = spec.mark_value(today)
        if mark is not None:
            tags[MARK_TAG] = mark
        ec2.create_tags([snapshot.id], tags)
        backdate("ec2", "snapshot", snapshot.id, now - timedelta(days=spec.age_days), account=account, region=REGION)
        if spec.foreign:
            ec2.add_create_volume_permission(snapshot.id, user_ids=[ACCOUNT], groups=[])
        if spec.behind_image:
            register_image_from(ec2, snapshot)
        ids[spec.index] = snapshot.id
    return ids


def remaining_snapshots() -> set[str]:
    """Ids of every snapshot still held, in both accounts."""
    return {sid for account in (ACCOUNT, FOREIGN_ACCOUNT) for sid in ec2_backends[account][REGION].snapshots}
