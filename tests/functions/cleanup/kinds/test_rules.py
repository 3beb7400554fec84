"""The kinds register themselves; KindRules, the policy's `kinds` mapping, has one field per registered kind, keyed by
its name and validated by its own rule class, with clear errors; each kind's IAM statements cover its writes."""

from __future__ import annotations

import pkgutil
from importlib import import_module
from typing import Any, get_args

import pytest
from pydantic import TypeAdapter, ValidationError

from functions.cleanup import kinds
from functions.cleanup.kinds import KINDS, KindName, KindRules
from functions.cleanup.kinds.base import Guard, register
from functions.shared.validation import describe_all


def problems(document: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as invalid:
        KindRules.model_validate(document)
    return describe_all(invalid.value)


def test_every_kind_module_registers_its_kind_which_gets_its_own_field() -> None:
    modules = [import_module(f"{kinds.__name__}.{module.name}") for module in pkgutil.iter_modules(kinds.__path__)]
    defined = [module.KIND for module in modules if hasattr(module, "KIND")]
    assert sorted(KINDS.values(), key=id) == sorted(defined, key=id)
    assert len(KINDS) == 9
    for name, kind in KINDS.items():
        assert kind.name == name
        field = KindRules.model_fields[name.replace("-", "_")]
        assert field.alias == name
        assert kind.rule in get_args(field.annotation)


def test_a_kind_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="two kinds are named 'ami'"):
        register(KINDS["ami"])


@pytest.mark.parametrize("name", list(KINDS))
def test_each_kind_scopes_every_write_it_declares_and_names_nothing_it_does_not(name: str) -> None:
    kind = KINDS[name]
    statements = kind.statements(kind.rule())
    named = {action for statement in statements for action in statement.actions}
    assert named <= kind.permissions.actions, sorted(named - kind.permissions.actions)
    assert kind.permissions.writes <= named, sorted(kind.permissions.writes - named)
    for statement in statements:
        if set(statement.actions) & kind.permissions.writes:
            assert "*" not in statement.resources, statement
    removals = [s for s in statements if s.deleter]
    assert removals, "a kind removes or changes something, as the deleter role"
    assert all(s.guard is not Guard.ONLY_THE_MARK for s in removals)  # the deleter writes no mark


def test_a_name_no_kind_registered_is_refused_as_a_literal_of_the_names_would_be() -> None:
    with pytest.raises(ValidationError) as invalid:
        TypeAdapter(list[KindName]).validate_python(["ebs-snapshot", "ebs-snapshots"])
    [error] = invalid.value.errors()
    assert (error["type"], error["loc"]) == ("literal_error", (1,))
    assert (
        error["msg"]
        == "Input should be " + ", ".join(repr(name) for name in list(KINDS)[:-1]) + " or 'stopped-instance'"
    )
    assert TypeAdapter(list[KindName]).validate_python(list(KINDS)) == list(KINDS)


def test_yaml_keys_are_kind_names_and_the_dump_round_trips() -> None:
    rules = KindRules.model_validate(
        {
            "ebs-snapshot": {"min_age_days": 30, "max_share": 0.5, "max_count": 500},
            "ebs-volume": {"min_age_days": 14, "final_snapshot": True},
            "ecr-image": {"keep_last": 5, "untagged_older_than_days": 7, "repositories": ["web", "team/api"]},
            "log-group": {"retention_days": 90},
            "stopped-instance": {"stopped_for_days": 30},
        }
    )

    assert rules.listed() == ("ebs-snapshot", "ebs-volume", "ecr-image", "log-group", "stopped-instance")
    assert rules.rule("ami") is None
    volume = rules.rule("ebs-volume")
    assert volume is not None
    assert volume.min_age_days == 14
    assert KindRules.model_validate_json(rules.model_dump_json(by_alias=True)) == rules
    assert KindRules(ebs_snapshot=KINDS["ebs-snapshot"].rule()).listed() == ("ebs-snapshot",)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"ebs-snapshots": {}}, "unknown kind ebs-snapshots: expected some of ebs-snapshot, ebs-volume"),
        ({"ebs-volume": {"final_snapshots": True}}, "ebs-volume.final_snapshots: unknown key"),
        ({"log-group": {"retention_days": 31}}, "log-group.retention_days: got 31: expected one of the CloudWatch"),
        ({"ecr-image": {"keep_last": "3"}}, "ecr-image.keep_last: got '3': Input should be a valid integer"),
        ({"ecr-image": {"repositories": ["Web!"]}}, "repositories[0]: got 'Web!': expected an ECR repository name"),
        ({"ebs-volume": {"min_age_days": -1}}, "ebs-volume.min_age_days: got -1"),
        ({"stopped-instance": {"ttl_tag": None}}, "set ttl_tag, stopped_for_days or both"),
        ({"cfn-stack": {"ttl_tag": "aws:ttl"}}, "cfn-stack.ttl_tag: got 'aws:ttl': expected a tag key"),
        ({"ebs-snapshot": {"max_share": 0}}, "ebs-snapshot.max_share: got 0"),
        ({"cfn-stack": {"name_prefixes": ["pr_1"]}}, "cfn-stack.name_prefixes[0]: got 'pr_1': expected the start of"),
    ],
)
def test_a_bad_rule_names_the_key_and_what_was_expected(document: dict[str, Any], expected: str) -> None:
    assert any(expected in problem for problem in problems(document)), problems(document)
