"""The policy's `gating` section as the stack hands it to every gating function: DECKHAND_GATING, compact JSON.

Parsed once per container. A missing or invalid section is a deployment problem, reported as a
SettingsError that names the variable and each invalid key path.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache

from pydantic import ValidationError

from functions.shared.settings import SettingsError
from functions.shared.validation import describe_all

from .policy import Gating

ENV = "DECKHAND_GATING"


def parse_gating(raw: str) -> Gating:
    if not raw.strip():
        raise SettingsError(f"{ENV} is not set: the stack passes the policy's gating section; redeploy")
    try:
        json.loads(raw)
    except ValueError as bad:
        raise SettingsError(f"{ENV} is not JSON ({bad}); redeploy the stack") from None
    try:
        # JSON mode: dates and date-times arrive as ISO strings, which strict mode accepts only from JSON.
        return Gating.model_validate_json(raw)
    except ValidationError as invalid:
        problems = "; ".join(describe_all(invalid))
        raise SettingsError(f"{ENV} is not a valid gating section: {problems}") from None


def from_env(env: Mapping[str, str]) -> Gating:
    return parse_gating(env.get(ENV, ""))


@cache
def gating() -> Gating:
    return from_env(os.environ)
