"""Unattached EBS volumes, with an optional final snapshot before deleting one."""

from __future__ import annotations

from functions.cleanup.kinds.base import KindRule
from functions.cleanup.kinds.common import Days


class Rule(KindRule):
    min_age_days: Days = 14
    final_snapshot: bool = True  # snapshot the volume (tagged) before deleting it
