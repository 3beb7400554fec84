"""Every event sample is JSON and has its expected outcome in the demo's `event_samples` scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.scenarios import EVENTS, SAMPLE_OUTCOMES, SCENARIOS, event_samples, sample_files

FILES = sorted(p.relative_to(EVENTS).as_posix() for p in [*EVENTS.glob("*.json"), *EVENTS.glob("variants/*.json")])


def test_the_scenario_sees_every_sample_file() -> None:
    assert sample_files() == FILES
    assert any(name.startswith("variants/") for name in FILES)


@pytest.mark.parametrize("name", FILES)
def test_each_sample_is_json_with_an_expected_outcome(name: str) -> None:
    event = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    assert isinstance(event, dict), f"{name} holds no JSON object"
    assert name in SAMPLE_OUTCOMES, f"add {name!r} to sandbox/scenarios.py SAMPLE_OUTCOMES with its expected outcome"
    expected = SAMPLE_OUTCOMES[name]
    if "detail-type" not in event:
        assert expected.to is not None, f"{name} is no EventBridge event: name the function it is delivered to"
        assert not expected.routes, f"{name} is no EventBridge event: no rule routes it"
    assert expected.routes or expected.to, f"{name} reaches no function: say which one ignores it"
    assert expected.status, f"{name}: say what the function answers"


def test_the_expectation_table_names_no_missing_file() -> None:
    assert sorted(set(SAMPLE_OUTCOMES) - set(FILES)) == []


def test_the_scenario_runs_last() -> None:
    assert SCENARIOS[-1] is event_samples


def test_the_shared_samples_are_all_copied_here() -> None:
    shared = Path("../shared/events")
    if not shared.is_dir():
        pytest.skip("../shared/events is not beside this checkout")
    for path in shared.glob("*.json"):
        copy = EVENTS / path.name
        assert copy.is_file(), f"{path.name} is missing from {EVENTS}"
        assert json.loads(copy.read_text(encoding="utf-8")) == json.loads(path.read_text(encoding="utf-8"))
