"""EventBridge pattern matching, as moto implements it."""

from __future__ import annotations

import pytest

from sandbox.gaps.events import event_matches
from tests.support.sandbox_server import sample_event

# --- pattern matching and routing --------------------------------------------------------------------------------


def test_event_matches_uses_eventbridge_semantics() -> None:
    sample = sample_event("codepipeline-stage-execution-state-change.json")
    assert event_matches({"source": ["aws.codepipeline"], "detail": {"stage": [{"prefix": "Pr"}]}}, sample)
    assert event_matches('{"detail": {"state": [{"anything-but": "FAILED"}]}}', sample)
    assert not event_matches({"detail": {"version": [{"numeric": [">", 1]}]}}, sample)
    with pytest.raises(ValueError, match="invalid event pattern"):
        event_matches({"source": "aws.codepipeline"}, sample)
