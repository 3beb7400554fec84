"""Typed settings read from the function's environment, failing fast with a clear message."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

# The variables the stack sets on every function (stacks/core.py), named once for both.
NAME_PREFIX_VARIABLE = "DECKHAND_NAME_PREFIX"
AUDIT_TABLE_VARIABLE = "DECKHAND_AUDIT_TABLE"
TOPIC_ARN_VARIABLE = "DECKHAND_TOPIC_ARN"
SWITCHES_PATH_VARIABLE = "DECKHAND_SWITCHES_PATH"
DRY_RUN_VARIABLE = "DECKHAND_DRY_RUN"
AUDIT_RETENTION_DAYS_VARIABLE = "DECKHAND_AUDIT_RETENTION_DAYS"
SWITCH_CACHE_SECONDS_VARIABLE = "DECKHAND_SWITCH_CACHE_SECONDS"
SWITCH_MAX_HOURS_VARIABLE = "DECKHAND_SWITCH_MAX_HOURS"
PROTECT_TAG_VARIABLE = "DECKHAND_PROTECT_TAG"
PROTECT_VALUES_VARIABLE = "DECKHAND_PROTECT_VALUES"


class SettingsError(RuntimeError):
    pass


@dataclass(frozen=True)
class Settings:
    name_prefix: str
    audit_table: str
    topic_arn: str
    switches_path: str
    default_dry_run: bool
    audit_retention_days: int
    switch_cache_seconds: int
    switch_max_hours: int
    protect_tag: str
    protect_values: tuple[str, ...] = ()  # empty: the tag protects whatever its value

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        problems: list[str] = []

        def text(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                problems.append(f"{name} is not set")
            return value

        def number(name: str) -> int:
            raw = text(name)
            if raw and not (raw.isascii() and raw.isdigit()):  # int() refuses '²', which isdigit() accepts
                problems.append(f"{name}={raw!r} is not a whole number")
                return 0
            return int(raw or 0)

        def flag(name: str) -> bool:
            raw = text(name).lower()
            if raw and raw not in ("true", "false"):
                problems.append(f"{name}={raw!r} is not true or false")
            return raw == "true"

        def values(name: str) -> tuple[str, ...]:
            raw = env.get(name, "").strip()
            try:
                listed = json.loads(raw) if raw else []
            except ValueError:
                listed = None
            if not isinstance(listed, list) or not all(isinstance(value, str) for value in listed):
                problems.append(f"{name}={raw!r} is not a JSON list of strings")
                return ()
            return tuple(listed)

        settings = cls(
            name_prefix=text(NAME_PREFIX_VARIABLE),
            audit_table=text(AUDIT_TABLE_VARIABLE),
            topic_arn=text(TOPIC_ARN_VARIABLE),
            switches_path=text(SWITCHES_PATH_VARIABLE).rstrip("/"),
            default_dry_run=flag(DRY_RUN_VARIABLE),
            audit_retention_days=number(AUDIT_RETENTION_DAYS_VARIABLE),
            switch_cache_seconds=number(SWITCH_CACHE_SECONDS_VARIABLE),
            switch_max_hours=number(SWITCH_MAX_HOURS_VARIABLE),
            protect_tag=text(PROTECT_TAG_VARIABLE),
            protect_values=values(PROTECT_VALUES_VARIABLE),
        )
        if problems:
            raise SettingsError(
                "Deckhand function settings are incomplete (set by the CDK stack; redeploy "
                "or fix the environment): " + "; ".join(problems)
            )
        return settings


@cache
def settings() -> Settings:
    return Settings.from_env(os.environ)
