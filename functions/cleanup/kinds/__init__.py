"""Every cleanup kind, by name, and the policy's `kinds` mapping: one optional rule per kind.

Each kind's module registers its kind when imported; the import line below is the one place a new kind is
named, and its place there is the kind's turn in a run. The YAML keys are the kind names (`ebs-snapshot`);
the fields use `_` and carry the name as alias, so `model_dump(by_alias=True)` gives the YAML back. A kind
left out (None) is not cleaned.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, model_validator

from functions.shared.policy_base import Section

from .base import KINDS, Kind, KindName, KindRule

# isort: off
# Importing a kind's module registers it: the order here is the order a run works through the kinds.
from . import snapshots, volumes, images, ecr, log_groups, lambda_versions, addresses, stacks, instances  # noqa: F401
# isort: on

__all__ = ["KINDS", "Kind", "KindName", "KindRule", "KindRules"]


def _field(name: str) -> str:
    return name.replace("-", "_")


class KindRules(Section):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    # One optional field per registered kind, validated by the kind's own rule model.
    __annotations__ = {_field(kind.name): kind.rule | None for kind in KINDS.values()}
    locals().update({_field(kind.name): Field(default=None, alias=kind.name) for kind in KINDS.values()})

    @model_validator(mode="before")
    @classmethod
    def _known_kinds(cls, given: Any) -> Any:
        if isinstance(given, dict):
            known = set(KINDS) | {_field(name) for name in KINDS}
            unknown = sorted(str(key) for key in given if key not in known)
            if unknown:
                raise ValueError(f"unknown kind {', '.join(unknown)}: expected some of {', '.join(KINDS)}")
        return given

    def rule(self, name: KindName) -> KindRule | None:
        """The rule of the kind `name`, or None when the policy does not clean it."""
        found: KindRule | None = getattr(self, _field(name))
        return found

    def listed(self) -> tuple[KindName, ...]:
        """The kinds the policy cleans, in the order of a run."""
        return tuple(name for name in KINDS if self.rule(name) is not None)
