"""Checks the policy tests of every section share."""

import pytest
import yaml

from stacks.policy import PolicyError, parse_policy


def assert_named_problem(text: str, key_path: str, bad_value: str, expected: str) -> None:
    """The policy `text` is refused with a problem that names `key_path`, the bad value and what was expected."""
    with pytest.raises(PolicyError) as raised:
        parse_policy(yaml.safe_load(text), "deckhand.yaml")

    lines = [p for p in raised.value.problems if p.startswith(f"{key_path}: ")]
    assert lines, f"no problem names {key_path!r}: {raised.value.problems}"
    assert any(bad_value in line and expected in line for line in lines), lines
