"""EBS snapshots: never one behind an AMI (whatever the AMI's state) nor one AWS Backup manages."""

from __future__ import annotations

from functions.cleanup.kinds.base import KindRule


class Rule(KindRule):
    pass
