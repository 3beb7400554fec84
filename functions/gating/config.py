"""The policy's `gating` section as the stack hands it to every gating function: DECKHAND_GATING, compact JSON.

Parsed once per container (see functions/shared/sections.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache

from functions.shared.sections import parse_section

from .policy import Gating

# Set by the stack (stacks/gating.py), named once for both; the idempotency table is the gate's only.
GATING_VARIABLE = "DECKHAND_GATING"
IDEMPOTENCY_VARIABLE = "DECKHAND_IDEMPOTENCY_TABLE"


def parse_gating(raw: str) -> Gating:
    return parse_section(Gating, raw, variable=GATING_VARIABLE, name="gating")


def from_env(env: Mapping[str, str]) -> Gating:
    return parse_gating(env.get(GATING_VARIABLE, ""))


@cache
def gating() -> Gating:
    return from_env(os.environ)
