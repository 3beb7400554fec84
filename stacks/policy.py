"""The policy file: one YAML document that says what Deckhand gates, scales and cleans.

It is validated when the CDK app synthesizes, so a mistake fails `cdk synth`/`cdk deploy`
with the file, the key path, the bad value and what was expected. The whole model lives with the stacks
(and the sandbox) that read the file; each duty's functions get only their section, as settings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from functions.capacity.policy import Capacity
from functions.cleanup.policy import Cleanup
from functions.gating.policy import Gating
from functions.shared.organization import Organization
from functions.shared.policy_base import (
    LogRetentionDays,
    Placed,
    Region,
    Section,
    TagKey,
    listed_once,
    matching,
)
from functions.shared.validation import describe_all

_EMAIL = r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"
_PREFIX = re.compile(r"^[a-z][a-z0-9-]{1,19}$")


Email = Annotated[str, matching(_EMAIL, "an email address like ops@example.com")]


class Notifications(Section):
    emails: Annotated[list[Email], AfterValidator(listed_once)] = Field(default_factory=list)


TagValue = Annotated[str, Field(max_length=256)]


class Defaults(Section):
    dry_run: bool = True
    # `protect_tag: KEY` protects whatever carries the tag; `protect_tag: {key: KEY, values: [...]}` only what
    # carries it with one of the values (keep=true, not keep=false). The form with values is held as protect_values.
    protect_tag: TagKey = "deckhand:protect"
    protect_values: Annotated[list[TagValue], Field(min_length=1), AfterValidator(listed_once)] | None = None
    log_level: Annotated[str, Field(pattern=r"^(DEBUG|INFO|WARN|ERROR)$")] = "INFO"
    log_retention_days: LogRetentionDays = 30
    audit_retention_days: Annotated[int, Field(ge=1, le=3650)] = 400

    @model_validator(mode="before")
    @classmethod
    def _protect_tag_with_values(cls, given: Any) -> Any:
        if not isinstance(given, dict) or not isinstance(given.get("protect_tag"), dict):
            return given
        form = given["protect_tag"]
        if sorted(form) != ["key", "values"]:
            raise ValueError(f"protect_tag: expected a tag key, or {{key: KEY, values: [VALUE, ...]}}; got {form!r}")
        return {**given, "protect_tag": form["key"], "protect_values": form["values"]}


class Switches(Section):
    cache_seconds: Annotated[int, Field(ge=0, le=300)] = 30
    max_hours: Annotated[int, Field(ge=1, le=24 * 90)] = 24 * 14


class Policy(Section):
    version: int = Field(ge=1, le=1)
    name_prefix: str = "deckhand"
    regions: Annotated[list[Region], AfterValidator(listed_once)] = Field(
        default_factory=lambda: ["us-east-1"], min_length=1
    )
    notifications: Notifications = Field(default_factory=Notifications)
    defaults: Defaults = Field(default_factory=Defaults)
    switches: Switches = Field(default_factory=Switches)
    gating: Gating = Field(default_factory=Gating)
    capacity: Capacity = Field(default_factory=Capacity)
    cleanup: Cleanup = Field(default_factory=Cleanup)
    organization: Organization | None = None  # absent: one account, the one the stack is deployed to

    @field_validator("name_prefix")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        if not _PREFIX.fullmatch(prefix):
            raise ValueError("expected 2-20 lowercase letters, digits or '-', starting with a letter")
        return prefix

    def placements(self) -> list[tuple[tuple[str | int, ...], Placed]]:
        """Every selection that may name a member account and region, with its location in the policy."""
        placed: list[tuple[tuple[str | int, ...], Placed]] = [
            (("capacity", "targets", index), target) for index, target in enumerate(self.capacity.targets)
        ]
        for index, gate in enumerate(self.gating.gates):
            checks = (("alarms", gate.alarms), ("watchdog", gate.watchdog))
            placed += [(("gating", "gates", index, key), check) for key, check in checks if check]
        return placed

    @model_validator(mode="after")
    def _placed_in_the_organization(self) -> Policy:
        """Each account and region a selection names must be the organization's: one error per key, at its path."""
        problems = [
            InitErrorDetails(
                type=PydanticCustomError("misplaced", "expected {expected}", {"expected": expected}),
                loc=(*location, key),
                input=value,
            )
            for location, placed in self.placements()
            for key, value, expected in self._misplaced(placed)
        ]
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    def _misplaced(self, placed: Placed) -> list[tuple[str, str, str]]:
        if self.organization is not None:
            return self.organization.misplaced(placed)
        return [
            (key, value, f"no {key} without an organization section (one account is the default)")
            for key, value in (("account", placed.account), ("region", placed.region))
            if value is not None
        ]


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key written twice instead of silently keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is written twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file, key path and expectation."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid policy file {source}:\n{lines}")


def parse_policy(document: Any, source: str) -> Policy:
    if not isinstance(document, dict):
        raise PolicyError(source, [f"(top level): got {type(document).__name__}: expected a mapping of keys"])
    try:
        return Policy.model_validate(document)
    except ValidationError as invalid:
        raise PolicyError(source, describe_all(invalid)) from None


def load_policy(path: str | Path) -> Policy:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as missing:
        raise PolicyError(source, [f"cannot read the file: {missing.strerror}"]) from None
    except UnicodeDecodeError as undecodable:
        problem = f"cannot read the file: not UTF-8 text ({undecodable.reason} at byte {undecodable.start})"
        raise PolicyError(source, [problem]) from None
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as bad_yaml:
        mark = getattr(bad_yaml, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(bad_yaml, "problem", None) or str(bad_yaml)
        raise PolicyError(source, [f"{where}not valid YAML: {problem}"]) from None
    except (ValueError, RecursionError) as bad_value:  # e.g. a date like 2026-02-30, or nesting too deep
        raise PolicyError(source, [f"not valid YAML: {bad_value}"]) from None
    return parse_policy(document, source)
