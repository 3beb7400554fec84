"""EventBridge: moto's pattern matcher, for the sandbox's router."""

from __future__ import annotations

import json

from moto.events.models import EventPattern

from sandbox.gaps.common import JSON


def event_matches(pattern: JSON | str, event: JSON) -> bool:
    """EventBridge pattern matching, as moto implements it; raises ValueError on an invalid pattern."""
    raw = pattern if isinstance(pattern, str) else json.dumps(pattern)
    try:
        return bool(EventPattern.load(raw).matches_event(event))  # type: ignore[arg-type]
    except Exception as error:
        if type(error).__name__ == "InvalidEventPatternException":
            raise ValueError(f"invalid event pattern: {raw}") from error
        raise
