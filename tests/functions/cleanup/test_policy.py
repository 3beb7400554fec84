"""The policy's cleanup section: a good one loads and round-trips; every mistake names key path, value and rule."""

import pytest
import yaml

from functions.cleanup.policy import Cleanup
from functions.shared.settings import Settings, SettingsError
from stacks.policy import PolicyError, load_policy, parse_policy
from tests.support.policy import assert_named_problem

GOOD = """
version: 1
regions: [us-east-1, eu-west-1]
cleanup:
  enabled: true
  regions: [eu-west-1]
  grace_days: 3
  concurrency: 4
  schedules:
    - name: storage
      cron: cron(0 3 ? * MON *)
      kinds: [ebs-snapshot, ebs-volume]
    - name: code
      cron: cron(30 4 * * ? *)
      kinds: [lambda-version]
  kinds:
    ebs-snapshot: {min_age_days: 30, max_share: 0.5, max_count: 500}
    ebs-volume: {min_age_days: 14, final_snapshot: true}
    lambda-version: {keep_last: 5}
"""


def cleanup_text(body: str) -> str:
    """A policy whose cleanup section holds `body` (keys 2 spaces in) and cleans snapshots."""
    return f"version: 1\ncleanup:\n  kinds:\n    ebs-snapshot: {{}}\n{body}"


def test_a_good_cleanup_section_loads_with_its_defaults() -> None:
    cleanup = parse_policy(yaml.safe_load(GOOD), "deckhand.yaml").cleanup

    assert cleanup.enabled is True
    assert cleanup.regions == ["eu-west-1"]
    assert (cleanup.grace_days, cleanup.concurrency) == (3, 4)
    assert cleanup.mark_tag == "deckhand:cleanup-after"
    assert (cleanup.pacing.per_second, cleanup.pacing.burst) == (5.0, 50)  # EC2's mutating bucket
    assert cleanup.kinds.listed() == ("ebs-snapshot", "ebs-volume", "lambda-version")
    snapshots = cleanup.kinds.rule("ebs-snapshot")
    assert snapshots is not None
    assert (snapshots.min_age_days, snapshots.max_share, snapshots.max_count) == (30, 0.5, 500)
    assert cleanup.kinds.rule("ami") is None
    storage = cleanup.group("storage")
    assert storage is not None
    assert storage.kinds == ["ebs-snapshot", "ebs-volume"]
    assert cleanup.group("nope") is None


def test_a_bare_section_is_off_and_safe() -> None:
    cleanup = parse_policy({"version": 1}, "p.yaml").cleanup

    assert cleanup == Cleanup()
    assert cleanup.enabled is False
    assert cleanup.grace_days == 7
    assert cleanup.kinds.listed() == ()


def test_the_section_survives_the_json_round_trip_the_stack_makes() -> None:
    cleanup = parse_policy(yaml.safe_load(GOOD), "deckhand.yaml").cleanup

    assert Cleanup.model_validate_json(cleanup.model_dump_json(by_alias=True)) == cleanup


def test_the_example_policy_still_loads() -> None:
    cleanup = load_policy("deckhand.yaml").cleanup

    assert Cleanup.model_validate_json(cleanup.model_dump_json(by_alias=True)) == cleanup


# (id, section keys, key path, bad value as shown, expectation)
BAD: list[tuple[str, str, str, str, str]] = [
    (
        "schedule names a kind not configured",
        "  schedules:\n    - {name: storage, cron: 'cron(0 3 ? * MON *)', kinds: [ebs-snapshot, ami]}\n",
        "cleanup",
        "'storage'",
        "schedules[0] (storage) names ami, not configured under kinds (configured: ebs-snapshot)",
    ),
    (
        "schedule with a five-field cron",
        "  schedules:\n    - {name: storage, cron: 'cron(0 3 * * ?)', kinds: [ebs-snapshot]}\n",
        "cleanup.schedules[0].cron",
        "got 'cron(0 3 * * ?)'",
        "expected an EventBridge cron of six fields like 'cron(0 3 ? * MON *)'",
    ),
    (
        "schedule with an unknown kind",
        "  schedules:\n    - {name: storage, cron: 'cron(0 3 ? * MON *)', kinds: [ebs-snapshots]}\n",
        "cleanup.schedules[0].kinds[0]",
        "got 'ebs-snapshots'",
        "Input should be 'ebs-snapshot'",
    ),
    (
        "schedule without kinds",
        "  schedules:\n    - {name: storage, cron: 'cron(0 3 ? * MON *)', kinds: []}\n",
        "cleanup.schedules[0].kinds",
        "got []",
        "at least 1 item",
    ),
    (
        "schedule listing a kind twice",
        "  schedules:\n    - {name: storage, cron: 'cron(0 3 ? * MON *)', kinds: [ebs-snapshot, ebs-snapshot]}\n",
        "cleanup.schedules[0].kinds",
        "got ['ebs-snapshot', 'ebs-snapshot']",
        "'ebs-snapshot' is listed twice",
    ),
    (
        "two schedules with one name",
        "  schedules:\n    - {name: storage, cron: 'cron(0 3 ? * MON *)', kinds: [ebs-snapshot]}\n"
        "    - {name: storage, cron: 'cron(0 4 ? * MON *)', kinds: [ebs-snapshot]}\n",
        "cleanup",
        "'storage'",
        "schedules[1]: the name 'storage' is used twice",
    ),
    (
        "schedule name with capitals",
        "  schedules:\n    - {name: Storage, cron: 'cron(0 3 ? * MON *)', kinds: [ebs-snapshot]}\n",
        "cleanup.schedules[0].name",
        "got 'Storage'",
        "expected 1-40 lowercase letters",
    ),
    ("bad region", "  regions: [eu-west]\n", "cleanup.regions[0]", "got 'eu-west'", "expected an AWS region name"),
    (
        "region twice",
        "  regions: [eu-west-1, eu-west-1]\n",
        "cleanup.regions",
        "eu-west-1",
        "'eu-west-1' is listed twice",
    ),
    ("negative grace", "  grace_days: -1\n", "cleanup.grace_days", "got -1", "greater than or equal to 0"),
    ("grace as text", "  grace_days: seven\n", "cleanup.grace_days", "got 'seven'", "valid integer"),
    ("no concurrency", "  concurrency: 0\n", "cleanup.concurrency", "got 0", "greater than or equal to 1"),
    ("no pace", "  pacing: {per_second: 0}\n", "cleanup.pacing.per_second", "got 0", "greater than 0"),
    (
        "infinite pace",
        "  pacing: {per_second: .inf}\n",
        "cleanup.pacing.per_second",
        "got inf",
        "finite number",
    ),
    ("empty bucket", "  pacing: {burst: 0}\n", "cleanup.pacing.burst", "got 0", "greater than or equal to 1"),
    ("pacing typo", "  pacing: {rate: 5}\n", "cleanup.pacing.rate", "rate", "unknown key; check its spelling"),
    (
        "aws: mark tag",
        "  mark_tag: 'aws:cleanup'\n",
        "cleanup.mark_tag",
        "got 'aws:cleanup'",
        "not starting with 'aws:'",
    ),
    ("typo in a key", "  grace: 3\n", "cleanup.grace", "grace", "unknown key; check its spelling"),
]


@pytest.mark.parametrize(
    ("body", "key_path", "bad_value", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD],
)
def test_a_bad_cleanup_section_names_key_path_value_and_expectation(
    body: str, key_path: str, bad_value: str, expected: str
) -> None:
    assert_named_problem(cleanup_text(body), key_path, bad_value, expected)


@pytest.mark.parametrize(
    ("kinds", "key_path", "expected"),
    [
        pytest.param({"ebs-snapshots": {}}, "cleanup.kinds", "unknown kind ebs-snapshots", id="unknown kind"),
        pytest.param(
            {"ebs-snapshot": {"max_share": 1.5}},
            "cleanup.kinds.ebs-snapshot.max_share",
            "less than or equal to 1",
            id="share",
        ),
        pytest.param(
            {"ebs-snapshot": {"max_count": 0}},
            "cleanup.kinds.ebs-snapshot.max_count",
            "greater than or equal to 1",
            id="count",
        ),
        pytest.param(
            {"ebs-snapshot": {"min_age": 3}}, "cleanup.kinds.ebs-snapshot.min_age", "unknown key", id="rule typo"
        ),
    ],
)
def test_a_bad_kind_rule_is_refused_with_its_path(kinds: dict[str, object], key_path: str, expected: str) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy({"version": 1, "cleanup": {"kinds": kinds}}, "deckhand.yaml")

    lines = [p for p in raised.value.problems if p.startswith(f"{key_path}: ")]
    assert any(expected in line for line in lines), raised.value.problems


# --- the protect tag, plain or with the values that protect ------------------------------------------------


def test_the_protect_tag_may_name_the_values_that_protect() -> None:
    document = {"version": 1, "defaults": {"protect_tag": {"key": "keep", "values": ["true"]}}}

    defaults = parse_policy(document, "deckhand.yaml").defaults

    assert (defaults.protect_tag, defaults.protect_values) == ("keep", ["true"])


def test_the_plain_protect_tag_protects_any_value() -> None:
    defaults = parse_policy({"version": 1, "defaults": {"protect_tag": "keep"}}, "deckhand.yaml").defaults

    assert (defaults.protect_tag, defaults.protect_values) == ("keep", None)


@pytest.mark.parametrize(
    "form",
    [
        {"key": "keep"},
        {"key": "keep", "values": []},
        {"key": "keep", "values": ["true"], "extra": 1},
        {"values": ["x"]},
    ],
)
def test_a_malformed_protect_tag_is_refused_naming_it(form: dict[str, object]) -> None:
    with pytest.raises(PolicyError, match=r"defaults"):
        parse_policy({"version": 1, "defaults": {"protect_tag": form}}, "deckhand.yaml")


def test_the_function_settings_carry_the_protecting_values() -> None:
    env = {
        "DECKHAND_NAME_PREFIX": "deckhand",
        "DECKHAND_AUDIT_TABLE": "audit",
        "DECKHAND_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
        "DECKHAND_SWITCHES_PATH": "/deckhand/switches",
        "DECKHAND_DRY_RUN": "true",
        "DECKHAND_AUDIT_RETENTION_DAYS": "400",
        "DECKHAND_SWITCH_CACHE_SECONDS": "30",
        "DECKHAND_SWITCH_MAX_HOURS": "336",
        "DECKHAND_PROTECT_TAG": "keep",
    }

    assert Settings.from_env(env).protect_values == ()
    assert Settings.from_env({**env, "DECKHAND_PROTECT_VALUES": '["true"]'}).protect_values == ("true",)
    with pytest.raises(SettingsError, match="DECKHAND_PROTECT_VALUES"):
        Settings.from_env({**env, "DECKHAND_PROTECT_VALUES": "true"})
