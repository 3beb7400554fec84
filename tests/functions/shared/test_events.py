"""The event models on Deckhand's EventBridge envelope validate as they did on Powertools' EventBridgeModel,
without loading Powertools' parser."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError, create_model

from benchmarks.coldstart import HANDLERS
from functions.capacity.triggers import AlarmChangeEvent
from functions.gating.approver.plan import ActionStateChange
from functions.gating.pipeline_notices.notice import ExecutionStateChange
from functions.gating.watchdog.plan import AlarmStateChangeEvent
from functions.shared.events import EventBridgeEvent
from functions.switches.events import ParameterChangeEvent

EVENTS_DIR = Path(__file__).parents[2] / "events"
SAMPLES = [
    sample
    for path in sorted([*EVENTS_DIR.glob("*.json"), *EVENTS_DIR.glob("variants/*.json")])
    if "detail-type" in (sample := json.loads(path.read_text()))
]
ENVELOPE_KEYS = ["version", "id", "source", "account", "time", "region", "resources", "detail-type", "detail"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
TYPED: list[type[EventBridgeEvent]] = [
    ActionStateChange,
    ExecutionStateChange,
    AlarmStateChangeEvent,
    AlarmChangeEvent,
    ParameterChangeEvent,
]
EDGE_VALUES = st.sampled_from(["", "2026-12-06T18:00:00Z", "2026-13-40T99:00:00Z", "1765044000", 1765044000, [], {}])


def on_powertools(model: type[EventBridgeEvent]) -> type[BaseModel]:
    """The same event model with the fields it declares itself, on Powertools' envelope as before."""
    own = inspect.get_annotations(model)
    fields: Any = {name: (field.annotation, field) for name, field in model.model_fields.items() if name in own}
    return create_model(model.__name__, __base__=EventBridgeModel, **fields)


def outcome(model: type[BaseModel], event: Any) -> Any:
    """What a model makes of an event: its fields, or where and why it refused it."""
    try:
        return model.model_validate(event).model_dump()
    except ValidationError as invalid:
        return [(error["loc"], error["type"]) for error in invalid.errors()]


@pytest.mark.parametrize("model", TYPED, ids=lambda model: model.__name__)
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample["detail-type"])
def test_every_sample_event_reads_the_same(model: type[EventBridgeEvent], sample: dict[str, Any]) -> None:
    assert outcome(model, sample) == outcome(on_powertools(model), sample)


def test_each_model_reads_its_own_sample() -> None:
    """The comparison above is not all refusals: each model accepts some sample."""
    assert all(any(isinstance(outcome(model, sample), dict) for sample in SAMPLES) for model in TYPED)


@given(
    model=st.sampled_from(TYPED),
    sample=st.sampled_from(SAMPLES),
    key=st.sampled_from([*ENVELOPE_KEYS, "replay-name"]),
    value=st.none() | JSON_VALUES | EDGE_VALUES,
    drop=st.booleans(),
)
def test_a_changed_or_missing_envelope_key_is_accepted_or_refused_the_same(
    model: type[EventBridgeEvent], sample: dict[str, Any], key: str, value: Any, drop: bool
) -> None:
    event = {k: v for k, v in sample.items() if k != key}
    if not drop:
        event[key] = value
    assert outcome(model, event) == outcome(on_powertools(model), event)


@pytest.mark.parametrize("handler", list(HANDLERS))
def test_no_cold_path_loads_the_powertools_parser(handler: str) -> None:
    """About 3 ms of a cold start went to the parser package for one base class."""
    parser = "aws_lambda_powertools.utilities.parser"
    code = f"import sys; import {handler}, {HANDLERS[handler]}; print({parser!r} in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "False"
