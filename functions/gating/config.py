"""The policy's `gating` section as the stack hands it to every gating function: DECKHAND_GATING, compact JSON.

Parsed once per container (see functions/shared/sections.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache

from functions.shared.sections import parse_section

from .policy import Gating

ENV = "DECKHAND_GATING"


def parse_gating(raw: str) -> Gating:
    return parse_section(Gating, raw, variable=ENV, name="gating")


def from_env(env: Mapping[str, str]) -> Gating:
    return parse_gating(env.get(ENV, ""))


@cache
def gating() -> Gating:
    return from_env(os.environ)
