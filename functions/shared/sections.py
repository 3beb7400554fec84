"""A duty's policy section as the stack hands it to that duty's functions: one variable of compact JSON.

A missing or invalid section is a deployment problem, reported as a SettingsError that names the
variable and each invalid key path.
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import ValidationError

from .policy_base import Section
from .settings import SettingsError
from .validation import describe_all

SectionT = TypeVar("SectionT", bound=Section)


def parse_section(model: type[SectionT], raw: str, *, variable: str, name: str) -> SectionT:
    if not raw.strip():
        raise SettingsError(f"{variable} is not set: the stack passes the policy's {name} section; redeploy")
    try:
        json.loads(raw)
    except ValueError as bad:
        raise SettingsError(f"{variable} is not JSON ({bad}); redeploy the stack") from None
    try:
        # JSON mode: dates and date-times arrive as ISO strings, which strict mode accepts only from JSON.
        return model.model_validate_json(raw)
    except ValidationError as invalid:
        problems = "; ".join(describe_all(invalid))
        raise SettingsError(f"{variable} is not a valid {name} section: {problems}") from None
