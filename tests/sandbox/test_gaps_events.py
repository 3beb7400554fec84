"""EventBridge pattern matching, as moto implements it, and what a target receives of an event."""

from __future__ import annotations

import pytest

from sandbox.gaps.events import event_matches, json_path, render_template, target_payload
from tests.support.sandbox_server import sample_event

# --- pattern matching and routing --------------------------------------------------------------------------------


def test_event_matches_uses_eventbridge_semantics() -> None:
    sample = sample_event("codepipeline-stage-execution-state-change.json")
    assert event_matches({"source": ["aws.codepipeline"], "detail": {"stage": [{"prefix": "Pr"}]}}, sample)
    assert event_matches('{"detail": {"state": [{"anything-but": "FAILED"}]}}', sample)
    assert not event_matches({"detail": {"version": [{"numeric": [">", 1]}]}}, sample)
    with pytest.raises(ValueError, match="invalid event pattern"):
        event_matches({"source": "aws.codepipeline"}, sample)


def test_json_path_reads_keys_indexes_and_quoted_keys() -> None:
    document = {"detail": {"a-b": [{"x": 1}, {"x": 2}]}}
    assert json_path(document, "$") is document
    assert json_path(document, "$.detail['a-b'][1].x") == 2
    assert json_path(document, "$.detail.missing.x") is None
    assert json_path(document, "$.detail['a-b'][5]") is None
    with pytest.raises(ValueError, match="JSONPath"):
        json_path(document, "detail")


def test_a_plain_text_template_is_delivered_as_text() -> None:
    assert render_template("Alarm <name> is <state>", {"name": "cpu", "state": "ALARM"}) == "Alarm cpu is ALARM"
    assert render_template('"Alarm <name> fired"', {"name": "cpu"}) == "Alarm cpu fired"


def test_a_transformer_placeholder_for_a_missing_path_becomes_null() -> None:
    target = {"InputTransformer": {"InputPathsMap": {"v": "$.detail.nope"}, "InputTemplate": '{"v": <v>}'}}
    assert target_payload(target, {"detail": {}}) == {"v": None}


def test_the_predefined_event_variables_are_as_the_user_guide_defines_them() -> None:
    # "aws.events.event: the original event payload as JSON (without the detail field)"; aws.events.event.json the
    # whole event; aws.events.event.ingestion-time when EventBridge received it (Amazon EventBridge input
    # transformation, "Predefined variables").
    event = {"id": "1", "source": "s", "time": "2020-01-01T00:00:00Z", "detail": {"n": 1}}
    template = '{"e": <aws.events.event>, "j": <aws.events.event.json>, "t": "<aws.events.event.ingestion-time>"}'
    target = {"InputTransformer": {"InputTemplate": template}}
    payload = target_payload(target, event, ingestion_time="2026-12-06T19:00:00Z")
    assert payload == {
        "e": {"id": "1", "source": "s", "time": "2020-01-01T00:00:00Z"},
        "j": event,
        "t": "2026-12-06T19:00:00Z",
    }
