"""Elastic IP addresses associated with nothing."""

from __future__ import annotations

from functions.cleanup.kinds.base import KindRule
from functions.cleanup.kinds.common import Days


class Rule(KindRule):
    min_age_days: Days = 7
