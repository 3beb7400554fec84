"""Typed settings read from the function's environment, failing fast with a clear message."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache


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
            name_prefix=text("DECKHAND_NAME_PREFIX"),
            audit_table=text("DECKHAND_AUDIT_TABLE"),
            topic_arn=text("DECKHAND_TOPIC_ARN"),
            switches_path=text("DECKHAND_SWITCHES_PATH").rstrip("/"),
            default_dry_run=flag("DECKHAND_DRY_RUN"),
            audit_retention_days=number("DECKHAND_AUDIT_RETENTION_DAYS"),
            switch_cache_seconds=number("DECKHAND_SWITCH_CACHE_SECONDS"),
            switch_max_hours=number("DECKHAND_SWITCH_MAX_HOURS"),
            protect_tag=text("DECKHAND_PROTECT_TAG"),
            protect_values=values("DECKHAND_PROTECT_VALUES"),
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
