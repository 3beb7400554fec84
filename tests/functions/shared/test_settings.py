"""Settings from the function's environment: typed, complete, and every problem named at once."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.shared.settings import Settings, SettingsError

COMPLETE = {
    "DECKHAND_NAME_PREFIX": "deckhand",
    "DECKHAND_AUDIT_TABLE": "deckhand-audit",
    "DECKHAND_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:deckhand-notifications",
    "DECKHAND_SWITCHES_PATH": "/deckhand/switches/",
    "DECKHAND_DRY_RUN": "TRUE",
    "DECKHAND_AUDIT_RETENTION_DAYS": "400",
    "DECKHAND_SWITCH_CACHE_SECONDS": "30",
    "DECKHAND_SWITCH_MAX_HOURS": "336",
    "DECKHAND_PROTECT_TAG": "deckhand:protect",
}


def test_a_complete_environment_parses_into_typed_settings() -> None:
    assert Settings.from_env(COMPLETE) == Settings(
        name_prefix="deckhand",
        audit_table="deckhand-audit",
        topic_arn="arn:aws:sns:us-east-1:123456789012:deckhand-notifications",
        switches_path="/deckhand/switches",  # the trailing slash is dropped
        default_dry_run=True,
        audit_retention_days=400,
        switch_cache_seconds=30,
        switch_max_hours=336,
        protect_tag="deckhand:protect",
    )


@pytest.mark.parametrize(("raw", "flag"), [("true", True), ("false", False), ("False", False), (" true ", True)])
def test_booleans_are_true_or_false_in_any_case(raw: str, flag: bool) -> None:
    assert Settings.from_env({**COMPLETE, "DECKHAND_DRY_RUN": raw}).default_dry_run is flag


def test_values_are_stripped() -> None:
    settings = Settings.from_env({**COMPLETE, "DECKHAND_AUDIT_TABLE": "  t  ", "DECKHAND_SWITCH_CACHE_SECONDS": " 0 "})
    assert settings.audit_table == "t"
    assert settings.switch_cache_seconds == 0


def test_every_missing_variable_is_named_in_one_error() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({})

    message = str(raised.value)
    assert message.startswith("Deckhand function settings are incomplete (set by the CDK stack;")
    for name in COMPLETE:
        assert f"{name} is not set" in message
    assert message.count("is not set") == len(COMPLETE)


@pytest.mark.parametrize("missing", sorted(COMPLETE))
def test_one_missing_or_blank_variable_is_named_alone(missing: str) -> None:
    for env in ({k: v for k, v in COMPLETE.items() if k != missing}, {**COMPLETE, missing: "   "}):
        with pytest.raises(SettingsError) as raised:
            Settings.from_env(env)
        message = str(raised.value)
        assert f"{missing} is not set" in message
        assert message.count("is not set") == 1


@pytest.mark.parametrize(
    "name", ["DECKHAND_AUDIT_RETENTION_DAYS", "DECKHAND_SWITCH_CACHE_SECONDS", "DECKHAND_SWITCH_MAX_HOURS"]
)
@pytest.mark.parametrize("raw", ["thirty", "-1", "1.5", "1e3", "²"])
def test_a_bad_number_is_named_with_its_value(name: str, raw: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**COMPLETE, name: raw})
    assert f"{name}={raw!r} is not a whole number" in str(raised.value)


@pytest.mark.parametrize("raw", ["yes", "1", "on", "tru"])
def test_a_bad_boolean_is_named_with_its_value(raw: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**COMPLETE, "DECKHAND_DRY_RUN": raw})
    assert f"DECKHAND_DRY_RUN={raw!r} is not true or false" in str(raised.value)


def test_missing_and_bad_values_are_reported_together() -> None:
    env = {**COMPLETE, "DECKHAND_DRY_RUN": "maybe", "DECKHAND_SWITCH_MAX_HOURS": "many"}
    del env["DECKHAND_TOPIC_ARN"]

    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)

    problems = str(raised.value).split(": ", 1)[1].split("; ")
    assert problems == [
        "DECKHAND_TOPIC_ARN is not set",
        "DECKHAND_DRY_RUN='maybe' is not true or false",
        "DECKHAND_SWITCH_MAX_HOURS='many' is not a whole number",
    ]


@given(st.dictionaries(st.sampled_from(sorted(COMPLETE)), st.text(max_size=6)))
def test_any_environment_gives_settings_or_a_settings_error(overrides: dict[str, str]) -> None:
    env = {**COMPLETE, **overrides}
    try:
        settings = Settings.from_env(env)
    except SettingsError as error:
        message = str(error)
    else:
        message = ""
        assert settings.audit_retention_days >= 0
        assert isinstance(settings.default_dry_run, bool)
    if message:
        assert any(name in message for name in overrides)
