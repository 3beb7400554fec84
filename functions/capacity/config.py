"""What the stack hands the capacity function besides the shared settings, parsed once per container.

DECKHAND_CAPACITY is the policy's `capacity` section as compact JSON; DECKHAND_CAPACITY_SCHEDULE_GROUP and
DECKHAND_CAPACITY_SCHEDULER_ROLE_ARN say where one-time revert schedules go and which role runs them.
A missing or invalid value is a deployment problem, reported as a SettingsError naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from functions.shared.sections import parse_section
from functions.shared.settings import SettingsError

from .policy import Capacity

# Set by the stack (stacks/capacity.py), named once for both.
CAPACITY_VARIABLE = "DECKHAND_CAPACITY"
SCHEDULE_GROUP_VARIABLE = "DECKHAND_CAPACITY_SCHEDULE_GROUP"
SCHEDULER_ROLE_VARIABLE = "DECKHAND_CAPACITY_SCHEDULER_ROLE_ARN"


@dataclass(frozen=True)
class CapacityConfig:
    policy: Capacity
    schedule_group: str  # where the function creates one-time revert schedules
    scheduler_role_arn: str  # the role EventBridge Scheduler assumes to invoke the function


def parse_capacity(raw: str) -> Capacity:
    return parse_section(Capacity, raw, variable=CAPACITY_VARIABLE, name="capacity")


def from_env(env: Mapping[str, str]) -> CapacityConfig:
    policy = parse_capacity(env.get(CAPACITY_VARIABLE, ""))
    missing = [name for name in (SCHEDULE_GROUP_VARIABLE, SCHEDULER_ROLE_VARIABLE) if not env.get(name, "").strip()]
    if missing:
        raise SettingsError(f"{', '.join(missing)} not set: the capacity stack sets them; redeploy")
    return CapacityConfig(policy, env[SCHEDULE_GROUP_VARIABLE].strip(), env[SCHEDULER_ROLE_VARIABLE].strip())


@cache
def capacity() -> CapacityConfig:
    return from_env(os.environ)
