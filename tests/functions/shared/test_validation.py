"""key_path and describe: pydantic error locations as the dotted paths an operator types."""

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from functions.shared.validation import describe, describe_all, key_path


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        pytest.param((), "(top level)", id="empty"),
        pytest.param(("version",), "version", id="one key"),
        pytest.param(("defaults", "log_retention_days"), "defaults.log_retention_days", id="nested key"),
        pytest.param(("regions", 1), "regions[1]", id="list index"),
        pytest.param(("notifications", "emails", 0), "notifications.emails[0]", id="index under nested key"),
        pytest.param(("a", 0, "b", 2, 3), "a[0].b[2][3]", id="mixed"),
        pytest.param((0,), "[0]", id="leading index"),
        pytest.param((0, "name"), "[0].name", id="key after leading index"),
    ],
)
def test_key_path(loc: tuple[int | str, ...], path: str) -> None:
    assert key_path(loc) == path


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    size: int


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    items: list[_Inner]


def _errors(data: object) -> ValidationError:
    with pytest.raises(ValidationError) as raised:
        _Outer.model_validate(data)
    return raised.value


def test_describe_names_path_value_and_rule() -> None:
    invalid = _errors({"items": [{"size": 1}, {"size": "2"}]})
    assert describe_all(invalid) == ["items[1].size: got '2': Input should be a valid integer"]


def test_describe_unknown_and_missing_keys() -> None:
    invalid = _errors({"items": [{"sise": 1}]})
    assert sorted(describe_all(invalid)) == [
        "items[0].sise: unknown key; check its spelling and where it sits",
        "items[0].size: required key is missing",
    ]


def test_describe_drops_the_value_error_prefix() -> None:
    error = {"type": "value_error", "loc": ("a",), "msg": "Value error, expected x", "input": 3}
    assert describe(error) == "a: got 3: expected x"


def test_describe_without_a_location_is_the_message_alone() -> None:
    error = {"type": "model_type", "loc": (), "msg": "Input should be a valid dictionary", "input": []}
    assert describe(error) == "Input should be a valid dictionary"
