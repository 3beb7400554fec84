"""Every cleanup kind, by name, and the policy's `kinds` mapping: one optional rule per kind.

The YAML keys are the kind names (`ebs-snapshot`); the fields use `_` and carry the name as alias,
so `model_dump(by_alias=True)` gives the YAML back. A kind left out (None) is not cleaned.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import ConfigDict, Field, model_validator

from functions.shared.policy_base import Section

from . import addresses, ecr, images, instances, lambda_versions, log_groups, snapshots, stacks, volumes
from .base import Kind, KindName, KindRule

__all__ = ["KINDS", "Kind", "KindName", "KindRule", "KindRules"]

KIND_NAMES: tuple[KindName, ...] = get_args(KindName)

_ALL: tuple[Kind, ...] = (
    snapshots.KIND,
    volumes.KIND,
    images.KIND,
    addresses.KIND,
    instances.KIND,
    stacks.KIND,
    ecr.KIND,
    log_groups.KIND,
    lambda_versions.KIND,
)
KINDS: dict[KindName, Kind] = {kind.name: kind for kind in _ALL}


class KindRules(Section):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    ebs_snapshot: snapshots.Rule | None = Field(default=None, alias="ebs-snapshot")
    ebs_volume: volumes.Rule | None = Field(default=None, alias="ebs-volume")
    ami: images.Rule | None = Field(default=None, alias="ami")
    ecr_image: ecr.Rule | None = Field(default=None, alias="ecr-image")
    log_group: log_groups.Rule | None = Field(default=None, alias="log-group")
    lambda_version: lambda_versions.Rule | None = Field(default=None, alias="lambda-version")
    elastic_ip: addresses.Rule | None = Field(default=None, alias="elastic-ip")
    cfn_stack: stacks.Rule | None = Field(default=None, alias="cfn-stack")
    stopped_instance: instances.Rule | None = Field(default=None, alias="stopped-instance")

    @model_validator(mode="before")
    @classmethod
    def _known_kinds(cls, given: Any) -> Any:
        if isinstance(given, dict):
            known = set(KIND_NAMES) | {name.replace("-", "_") for name in KIND_NAMES}
            unknown = sorted(str(key) for key in given if key not in known)
            if unknown:
                raise ValueError(f"unknown kind {', '.join(unknown)}: expected some of {', '.join(KIND_NAMES)}")
        return given

    def rule(self, name: KindName) -> KindRule | None:
        """The rule of the kind `name`, or None when the policy does not clean it."""
        found: KindRule | None = getattr(self, name.replace("-", "_"))
        return found

    def listed(self) -> tuple[KindName, ...]:
        """The kinds the policy cleans, in the order of KindName."""
        return tuple(name for name in KIND_NAMES if self.rule(name) is not None)
