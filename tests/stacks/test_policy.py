"""The policy file: the example loads, and every mistake names the file, key path, bad value and expectation."""

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.shared.policy_base import LOG_RETENTION_DAYS
from stacks.policy import Policy, PolicyError, load_policy, parse_policy

EXAMPLE = Path(__file__).resolve().parents[2] / "deckhand.yaml"


def test_the_example_file_loads_with_its_commented_values() -> None:
    policy = load_policy(EXAMPLE)

    assert policy.version == 1
    assert policy.name_prefix == "deckhand"
    assert policy.regions == ["us-east-1"]
    assert policy.notifications.emails == ["ops@example.com"]
    assert policy.defaults.dry_run is True
    assert policy.defaults.protect_tag == "deckhand:protect"
    assert policy.defaults.log_level == "INFO"
    assert policy.defaults.log_retention_days == 30
    assert policy.defaults.audit_retention_days == 400
    assert policy.switches.cache_seconds == 30
    assert policy.switches.max_hours == 336
    assert policy.gating.enabled is True
    [gate] = policy.gating.gates
    assert (gate.pipeline, gate.stage) == ("web-app", "Deploy")
    assert gate.error_budget is not None
    assert gate.error_budget.mode == "shadow"
    assert policy.capacity.enabled is True
    assert policy.cleanup.enabled is True
    assert policy.cleanup.regions == []
    assert (policy.cleanup.grace_days, policy.cleanup.mark_tag) == (7, "deckhand:cleanup-after")
    assert [group.name for group in policy.cleanup.schedules] == ["storage", "compute", "housekeeping"]
    scheduled = sorted(kind for group in policy.cleanup.schedules for kind in group.kinds)
    assert scheduled == sorted(policy.cleanup.kinds.listed())  # every configured kind runs on some schedule
    snapshots = policy.cleanup.kinds.ebs_snapshot
    assert snapshots is not None
    assert (snapshots.min_age_days, snapshots.max_share, snapshots.max_count) == (30, 0.5, 500)


def test_a_minimal_file_takes_the_safe_defaults(tmp_path: Path) -> None:
    path = tmp_path / "minimal.yaml"
    path.write_text("version: 1\n")

    policy = load_policy(path)

    assert policy == Policy(version=1)
    assert policy.defaults.dry_run is True
    assert policy.regions == ["us-east-1"]
    assert policy.notifications.emails == []


def test_the_policy_is_frozen() -> None:
    policy = parse_policy({"version": 1}, "p.yaml")
    with pytest.raises(ValueError, match="frozen"):
        policy.name_prefix = "other"


# (id, YAML text, key path, bad value as shown, expectation): the problem line for the key path must
# show the bad value and the expectation.
BAD_POLICIES: list[tuple[str, str, str, str, str]] = [
    (
        "unknown top-level key",
        "version: 1\nregion: [us-east-1]\n",
        "region",
        "region",
        "unknown key; check its spelling",
    ),
    (
        "unknown nested key (typo)",
        "version: 1\ndefaults:\n  dry_rn: false\n",
        "defaults.dry_rn",
        "dry_rn",
        "unknown key; check its spelling",
    ),
    (
        "missing version",
        "name_prefix: deckhand\n",
        "version",
        "version",
        "required key is missing",
    ),
    (
        "version 2",
        "version: 2\n",
        "version",
        "got 2",
        "less than or equal to 1",
    ),
    (
        "string for an int (strict)",
        "version: 1\ndefaults:\n  log_retention_days: '30'\n",
        "defaults.log_retention_days",
        "got '30'",
        "valid integer",
    ),
    (
        "string for a bool (strict)",
        "version: 1\ndefaults:\n  dry_run: 'false'\n",
        "defaults.dry_run",
        "got 'false'",
        "valid boolean",
    ),
    (
        "string version (strict)",
        "version: '1'\n",
        "version",
        "got '1'",
        "valid integer",
    ),
    (
        "bad email",
        "version: 1\nnotifications:\n  emails: [ops@example.com, ops-at-example.com]\n",
        "notifications.emails[1]",
        "got 'ops-at-example.com'",
        "expected an email address like ops@example.com",
    ),
    (
        "email with a trailing newline",
        'version: 1\nnotifications:\n  emails: ["ops@example.com\\n"]\n',
        "notifications.emails[0]",
        "got 'ops@example.com\\n'",
        "expected an email address",
    ),
    (
        "duplicate email",
        "version: 1\nnotifications:\n  emails: [ops@example.com, dev@example.com, ops@example.com]\n",
        "notifications.emails",
        "'ops@example.com' is listed twice, at [0] and [2]",
        "list each once",
    ),
    (
        "bad region",
        "version: 1\nregions: [us-east-1, us-moon-1a]\n",
        "regions[1]",
        "got 'us-moon-1a'",
        "expected an AWS region name like eu-west-1",
    ),
    (
        "duplicate region",
        "version: 1\nregions: [eu-west-1, us-east-1, eu-west-1]\n",
        "regions",
        "'eu-west-1' is listed twice, at [0] and [2]",
        "list each once",
    ),
    (
        "empty regions list",
        "version: 1\nregions: []\n",
        "regions",
        "got []",
        "at least 1 item",
    ),
    (
        "regions as a string",
        "version: 1\nregions: us-east-1\n",
        "regions",
        "got 'us-east-1'",
        "valid list",
    ),
    (
        "uppercase name_prefix",
        "version: 1\nname_prefix: Deckhand\n",
        "name_prefix",
        "got 'Deckhand'",
        "expected 2-20 lowercase letters",
    ),
    (
        "too long name_prefix",
        "version: 1\nname_prefix: deckhand-for-the-platform-team\n",
        "name_prefix",
        "got 'deckhand-for-the-platform-team'",
        "expected 2-20 lowercase letters",
    ),
    (
        "name_prefix with a trailing newline",
        'version: 1\nname_prefix: "deckhand\\n"\n',
        "name_prefix",
        "got 'deckhand\\n'",
        "expected 2-20 lowercase letters",
    ),
    (
        "log_retention_days not a CloudWatch value",
        "version: 1\ndefaults:\n  log_retention_days: 31\n",
        "defaults.log_retention_days",
        "got 31",
        "expected one of the CloudWatch Logs retention values (1, 3, 5, 7, 14, 30",
    ),
    (
        "audit_retention_days zero",
        "version: 1\ndefaults:\n  audit_retention_days: 0\n",
        "defaults.audit_retention_days",
        "got 0",
        "greater than or equal to 1",
    ),
    (
        "audit_retention_days above ten years",
        "version: 1\ndefaults:\n  audit_retention_days: 3651\n",
        "defaults.audit_retention_days",
        "got 3651",
        "less than or equal to 3650",
    ),
    (
        "protect_tag starting with aws:",
        "version: 1\ndefaults:\n  protect_tag: 'aws:protect'\n",
        "defaults.protect_tag",
        "got 'aws:protect'",
        "not starting with 'aws:'",
    ),
    (
        "protect_tag with a bad character",
        "version: 1\ndefaults:\n  protect_tag: 'keep!'\n",
        "defaults.protect_tag",
        "got 'keep!'",
        "expected a tag key of 1-128",
    ),
    (
        "log_level not allowed",
        "version: 1\ndefaults:\n  log_level: TRACE\n",
        "defaults.log_level",
        "got 'TRACE'",
        "DEBUG|INFO|WARN|ERROR",
    ),
    (
        "switch cache above five minutes",
        "version: 1\nswitches:\n  cache_seconds: 301\n",
        "switches.cache_seconds",
        "got 301",
        "less than or equal to 300",
    ),
    (
        "section written as a list",
        "version: 1\nnotifications: [ops@example.com]\n",
        "notifications",
        "got ['ops@example.com']",
        "valid dictionary",
    ),
    (
        "unknown key inside a duty",
        "version: 1\ncleanup:\n  enable: true\n",
        "cleanup.enable",
        "enable",
        "unknown key",
    ),
]


@pytest.mark.parametrize(
    ("text", "key_path", "bad_value", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_POLICIES],
)
def test_a_bad_policy_names_file_key_path_value_and_expectation(
    tmp_path: Path, text: str, key_path: str, bad_value: str, expected: str
) -> None:
    path = tmp_path / "deckhand.yaml"
    path.write_text(text)

    with pytest.raises(PolicyError) as raised:
        load_policy(path)

    message = str(raised.value)
    assert message.startswith(f"invalid policy file {path}:\n")
    assert raised.value.source == str(path)
    lines = [p for p in raised.value.problems if p.startswith(f"{key_path}: ")]
    assert lines, f"no problem names {key_path!r}: {raised.value.problems}"
    assert any(bad_value in line and expected in line for line in lines), lines
    assert f"  - {lines[0]}" in message


def test_there_are_at_least_twelve_distinct_bad_policies() -> None:
    assert len({case[1] for case in BAD_POLICIES}) >= 12


def test_every_problem_is_reported_at_once() -> None:
    document = {
        "version": 1,
        "regions": ["us-east-1", "nowhere"],
        "defaults": {"log_level": "LOUD", "audit_retention_days": 0},
        "colour": "blue",
    }

    with pytest.raises(PolicyError) as raised:
        parse_policy(document, "many.yaml")

    paths = sorted(problem.split(":", 1)[0] for problem in raised.value.problems)
    assert paths == ["colour", "defaults.audit_retention_days", "defaults.log_level", "regions[1]"]


def test_a_yaml_syntax_error_gives_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\nregions:\n  - us-east-1\n  bad: [unclosed\n")

    with pytest.raises(PolicyError) as raised:
        load_policy(path)

    message = str(raised.value)
    assert str(path) in message
    assert re.search(r"line 4, column \d+: not valid YAML: ", message), message


def test_a_yaml_tab_indent_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "tabs.yaml"
    path.write_text("version: 1\ndefaults:\n\tdry_run: false\n")

    with pytest.raises(PolicyError, match=r"line 3, column 1: not valid YAML") as raised:
        load_policy(path)
    assert str(path) in str(raised.value)


def test_an_impossible_date_is_a_policy_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "date.yaml"
    path.write_text("version: 1\nname_prefix: 2026-02-30\n")

    with pytest.raises(PolicyError, match="not valid YAML: day is out of range for month") as raised:
        load_policy(path)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize(
    ("text", "got"),
    [
        pytest.param("- version: 1\n", "got list", id="list"),
        pytest.param("just words\n", "got str", id="scalar"),
        pytest.param("", "got NoneType", id="empty file"),
        pytest.param("# only a comment\n", "got NoneType", id="only comments"),
    ],
)
def test_a_top_level_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str, got: str) -> None:
    path = tmp_path / "top.yaml"
    path.write_text(text)

    with pytest.raises(PolicyError) as raised:
        load_policy(path)

    assert raised.value.problems == [f"(top level): {got}: expected a mapping of keys"]
    assert str(path) in str(raised.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "deckhand.yaml"

    with pytest.raises(PolicyError) as raised:
        load_policy(path)

    assert raised.value.problems == ["cannot read the file: No such file or directory"]
    assert str(raised.value).startswith(f"invalid policy file {path}:")


def test_a_directory_is_not_a_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the file: Is a directory"):
        load_policy(tmp_path)


def test_a_file_that_is_not_utf8_is_a_policy_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("version: 1\nname_prefix: déckhand\n".encode("latin-1"))

    with pytest.raises(PolicyError, match=r"cannot read the file: not UTF-8 text \(.* at byte 25\)") as raised:
        load_policy(path)
    assert str(path) in str(raised.value)


def test_a_policy_error_is_a_value_error_with_its_parts() -> None:
    error = PolicyError("a.yaml", ["x: one", "y: two"])
    assert isinstance(error, ValueError)
    assert str(error) == "invalid policy file a.yaml:\n  - x: one\n  - y: two"


# Property tests -------------------------------------------------------------------------------

REAL_REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-2", "ap-southeast-5", "us-gov-west-1", "cn-north-1"]
SAFE_TEXT = st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="@")

emails = st.builds(
    "{}@{}.{}".format,
    st.text(SAFE_TEXT, min_size=1, max_size=12),
    st.text(SAFE_TEXT, min_size=1, max_size=12),
    st.text(st.characters(min_codepoint=ord("a"), max_codepoint=ord("z")), min_size=2, max_size=6),
)
regions = st.sampled_from(REAL_REGIONS) | st.from_regex(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]{1,10}-[0-9]", fullmatch=True)
protect_tags = st.from_regex(r"[\w.:/=+@ -]{1,128}", fullmatch=True, alphabet=st.characters(codec="utf-8")).filter(
    lambda key: not key.startswith("aws:")
)


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


valid_documents = st.fixed_dictionaries(
    {"version": st.just(1)},
    optional={
        "name_prefix": st.from_regex(r"[a-z][a-z0-9-]{1,19}", fullmatch=True),
        "regions": st.lists(regions, min_size=1, max_size=5, unique=True),
        "notifications": optional(emails=st.lists(emails, max_size=4, unique=True)),
        "defaults": optional(
            dry_run=st.booleans(),
            protect_tag=protect_tags,
            log_level=st.sampled_from(["DEBUG", "INFO", "WARN", "ERROR"]),
            log_retention_days=st.sampled_from(LOG_RETENTION_DAYS),
            audit_retention_days=st.integers(1, 3650),
        ),
        "switches": optional(cache_seconds=st.integers(0, 300), max_hours=st.integers(1, 24 * 90)),
        "gating": optional(enabled=st.booleans()),
        "capacity": optional(enabled=st.booleans()),
        "cleanup": optional(enabled=st.booleans()),
    },
)


@given(valid_documents)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_any_valid_policy_round_trips_through_yaml(document: dict[str, Any]) -> None:
    policy = parse_policy(yaml.safe_load(yaml.safe_dump(document)), "generated.yaml")

    for section, value in document.items():
        if isinstance(value, dict):
            for key, field_value in value.items():
                assert getattr(getattr(policy, section), key) == field_value
        else:
            assert getattr(policy, section) == value

    again = parse_policy(yaml.safe_load(yaml.safe_dump(policy.model_dump())), "dumped.yaml")
    assert again == policy


def outcome(parse: Callable[..., Policy], *args: Any) -> Policy | PolicyError:
    """The policy, or the PolicyError; any other exception fails the test."""
    try:
        return parse(*args)
    except PolicyError as error:
        return error


KEYS = st.sampled_from(
    [
        "version",
        "name_prefix",
        "regions",
        "notifications",
        "emails",
        "defaults",
        "dry_run",
        "protect_tag",
        "log_level",
        "log_retention_days",
        "audit_retention_days",
        "switches",
        "cache_seconds",
        "max_hours",
        "gating",
        "capacity",
        "cleanup",
        "enabled",
    ]
) | st.text(max_size=8)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.dates()
JUNK = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5))


@given(st.dictionaries(KEYS | st.integers(), JUNK, max_size=8))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_junk_dicts_give_a_policy_or_a_policy_error_only(document: dict[Any, Any]) -> None:
    result = outcome(parse_policy, document, "junk.yaml")
    if isinstance(result, PolicyError):
        assert result.problems
        assert str(result).startswith("invalid policy file junk.yaml:\n  - ")
    else:
        assert isinstance(result, Policy)
        assert document.get("version") == 1


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_any_file_content_gives_a_policy_or_a_policy_error_only(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "any.yaml"
    path.write_bytes(content)
    result = outcome(load_policy, path)
    if isinstance(result, PolicyError):
        assert str(path) in str(result)
    else:
        assert isinstance(result, Policy)


def test_a_key_written_twice_is_refused_not_silently_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("version: 1\nname_prefix: ops\nname_prefix: prod\n")
    with pytest.raises(PolicyError) as error:
        load_policy(path)
    message = str(error.value)
    assert str(path) in message
    assert "'name_prefix' is written twice" in message
    assert "line 3" in message


def test_every_duty_a_switch_can_pause_has_a_policy_section() -> None:
    from functions.shared.switches import DUTIES

    for duty in DUTIES:
        assert duty in Policy.model_fields
        assert getattr(Policy(version=1), duty).enabled is False
