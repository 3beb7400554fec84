"""The Deckhand stack: the shared core plus one construct per duty."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack, Tags
from constructs import Construct

from . import capacity, cleanup, cleanup_fanout, gating
from .capacity import Capacity
from .cleanup import Cleanup
from .cleanup_fanout import CleanupFanout
from .core import Core
from .gating import Gating
from .member import MemberStackSet
from .policy import Policy
from .switches import Switches


def service_environment(policy: Policy, service: str, *, partition: str, account: str, region: str) -> dict[str, str]:
    """What one function reads besides the shared settings, with the physical names the stack gives them."""
    prefix = policy.name_prefix
    if service in gating.SERVICES:
        return gating.gating_environment(policy, service)
    if service == capacity.SERVICE:
        role = capacity.scheduler_role_arn(prefix, partition=partition, account=account)
        return capacity.capacity_environment(policy, role)
    if service in (cleanup.SERVICE, cleanup_fanout.SERVICE):
        bucket = cleanup.report_bucket_name(prefix, account, region)
        deleter = cleanup.deleter_role_arn(prefix, partition=partition, account=account)
        if service == cleanup_fanout.SERVICE:
            return cleanup_fanout.fanout_environment(policy, bucket, deleter)
        environment = cleanup.cleanup_environment(policy, bucket, deleter)
        if policy.organization:
            machine = cleanup_fanout.state_machine_arn(prefix, partition=partition, account=account, region=region)
            environment |= cleanup_fanout.starter_environment(policy, machine)
        return environment
    return {}


class DeckhandStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, policy: Policy, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        Tags.of(self).add("deckhand:managed-by", policy.name_prefix)
        self.core = Core(self, "Core", policy=policy)
        self.switches = Switches(self, "Switches", core=self.core)
        self.gating = Gating(self, "Gating", core=self.core) if policy.gating.enabled else None
        self.capacity = Capacity(self, "Capacity", core=self.core) if policy.capacity.enabled else None
        self.cleanup = Cleanup(self, "Cleanup", core=self.core) if policy.cleanup.enabled else None
        self.cleanup_fanout = (
            CleanupFanout(self, "CleanupFanout", cleanup=self.cleanup) if self.cleanup and policy.organization else None
        )
        self.members = (
            MemberStackSet(
                self,
                "Members",
                policy=policy,
                cleanup_role=self.cleanup_fanout.role if self.cleanup_fanout else None,
                deleter_role=self.cleanup.deleter if self.cleanup else None,
                capacity_role=self.capacity.function.role if self.capacity else None,
                gate_role=self.gating.gate.role if self.gating else None,
                watchdog_role=self.gating.watchdog.role if self.gating else None,
            )
            if policy.organization
            else None
        )
