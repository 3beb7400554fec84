"""DECKHAND_GATING: the stack's compact JSON of the gating section, parsed once per container."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from functions.gating import config
from functions.gating.config import GATING_VARIABLE, from_env, parse_gating
from functions.gating.policy import Gating
from functions.shared.settings import SettingsError
from stacks.policy import load_policy

PARIS = timezone(timedelta(hours=1))
SECTION = Gating.model_validate(
    {
        "enabled": True,
        "gates": [
            {
                "pipeline": "web-app",
                "stage": "Deploy",
                "alarms": {"names": ["web-app-5xx"], "tags": {"deckhand:gate": "web-app"}},
                "window": {
                    "timezone": "Europe/Paris",
                    "allow": [{"days": ["MON", "TUE"], "start": "09:30", "end": "17:00"}],
                    "deny": [
                        {"name": "Christmas", "start": date(2026, 12, 24), "end": date(2026, 12, 26)},
                        {
                            "name": "Launch",
                            "start": datetime(2026, 11, 30, 18, tzinfo=PARIS),
                            "end": datetime(2026, 12, 1, 8, tzinfo=PARIS),
                        },
                    ],
                },
                "bake": {"after_stage": "Staging", "minutes": 30},
                "error_budget": {
                    "objective_percent": 99.9,
                    "errors": {"namespace": "AWS/ApplicationELB", "name": "HTTPCode_Target_5XX_Count"},
                    "requests": {"namespace": "AWS/ApplicationELB", "name": "RequestCount"},
                },
                "watchdog": {"alarms": ["web-app-5xx"], "action": "stop"},
            }
        ],
    }
)


def test_what_the_stack_dumps_is_read_back_unchanged() -> None:
    assert parse_gating(SECTION.model_dump_json()) == SECTION


def test_an_empty_section_is_fine() -> None:
    assert parse_gating(Gating().model_dump_json()) == Gating()


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", f"{GATING_VARIABLE} is not set"),
        ("  ", f"{GATING_VARIABLE} is not set"),
        ("{gates:", f"{GATING_VARIABLE} is not JSON"),
        ('{"gates": [{"pipeline": "web-app"}]}', "gates[0].stage: required key is missing"),
        ('{"gates": [], "extra": 1}', "extra: unknown key"),
        ('{"gates": [{"pipeline": "p", "stage": "s", "timeout_minutes": 0}]}', "gates[0].timeout_minutes"),
    ],
)
def test_a_missing_or_invalid_section_is_a_settings_error(raw: str, says: str) -> None:
    with pytest.raises(SettingsError) as raised:
        parse_gating(raw)
    assert says in str(raised.value)


def test_read_once_per_container(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(GATING_VARIABLE, SECTION.model_dump_json())
    config.gating.cache_clear()
    try:
        first = config.gating()
        monkeypatch.setenv(GATING_VARIABLE, "")
        assert config.gating() is first
    finally:
        config.gating.cache_clear()
    assert from_env({GATING_VARIABLE: SECTION.model_dump_json()}).gates[0].pipeline == "web-app"


def test_the_gating_section_survives_the_round_trip_to_the_functions() -> None:
    policy = load_policy("deckhand.yaml")
    assert policy.gating.gates, "the example policy gates a stage"
    assert parse_gating(policy.gating.model_dump_json()) == policy.gating
