"""AMIs no instance, launch template, Auto Scaling group or launch configuration uses, with their snapshots."""

from __future__ import annotations

from functions.cleanup.kinds.base import KindRule


class Rule(KindRule):
    pass
