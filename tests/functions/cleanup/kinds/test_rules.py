"""KindRules: the policy's `kinds` mapping, keyed by kind names, one rule class per kind, with clear errors."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from pydantic import ValidationError

from functions.cleanup.kinds import KIND_NAMES, KINDS, KindRules
from functions.shared.validation import describe_all


def problems(document: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as invalid:
        KindRules.model_validate(document)
    return describe_all(invalid.value)


def test_every_kind_is_written_and_has_its_own_field() -> None:
    assert set(KINDS) == set(KIND_NAMES)
    for name, kind in KINDS.items():
        field = KindRules.model_fields[name.replace("-", "_")]
        assert field.alias == name
        assert kind.rule in get_args(field.annotation)


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
