"""The cleanup function's own settings: the policy's section (DECKHAND_CLEANUP, JSON), the report bucket, the regions.

Parsed once per container. Anything missing or invalid is a deployment problem, reported as a SettingsError
that names the variable and each invalid key path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from functions.shared.organization import Organization
from functions.shared.sections import parse_section
from functions.shared.settings import SettingsError

from .policy import Cleanup

# Set by the stack (stacks/cleanup.py), named once for both.
CLEANUP_VARIABLE = "DECKHAND_CLEANUP"
BUCKET_VARIABLE = "DECKHAND_CLEANUP_BUCKET"
REGIONS_VARIABLE = "DECKHAND_REGIONS"
# With an organization: the policy's section (JSON), and on the cleanup function the fan-out state machine's ARN.
ORGANIZATION_VARIABLE = "DECKHAND_ORGANIZATION"
FANOUT_VARIABLE = "DECKHAND_CLEANUP_FANOUT"


@dataclass(frozen=True)
class CleanupConfig:
    cleanup: Cleanup
    bucket: str
    regions: tuple[
        str, ...
    ]  # where this duty cleans: the organization's regions, else the section's, else the policy's
    organization: Organization | None = None
    fanout: str | None = None  # the state machine every run starts, with an organization

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CleanupConfig:
        cleanup = parse_section(Cleanup, env.get(CLEANUP_VARIABLE, ""), variable=CLEANUP_VARIABLE, name="cleanup")
        bucket = env.get(BUCKET_VARIABLE, "").strip()
        policy_regions = tuple(region.strip() for region in env.get(REGIONS_VARIABLE, "").split(",") if region.strip())
        organization = None
        if env.get(ORGANIZATION_VARIABLE):
            organization = parse_section(
                Organization, env[ORGANIZATION_VARIABLE], variable=ORGANIZATION_VARIABLE, name="organization"
            )
        regions = tuple(organization.regions) if organization else tuple(cleanup.regions) or policy_regions
        problems = [f"{BUCKET_VARIABLE} is not set"] if not bucket else []
        if not regions:
            problems.append(f"{REGIONS_VARIABLE} is not set and the cleanup section lists no regions")
        if problems:
            raise SettingsError("Deckhand cleanup settings are incomplete (redeploy the stack): " + "; ".join(problems))
        fanout = env.get(FANOUT_VARIABLE, "").strip() or None
        return cls(cleanup=cleanup, bucket=bucket, regions=regions, organization=organization, fanout=fanout)


@cache
def config() -> CleanupConfig:
    return CleanupConfig.from_env(os.environ)
