"""The policy's `organization` section, and the member `account`/`region` capacity targets and gate alarm
selections may name (issue 13, item 1)."""

import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks.policy import Policy, PolicyError, parse_policy
from tests.support.policy import assert_named_problem

ORGANIZATION = """
organization:
  id: o-a1b2c3d4e5
  accounts: [111111111111, ou-ab12-cd34ef56]
  exclude: [999999999999]
  regions: [eu-west-1, us-east-1]
"""
TARGET = "{name: web, kind: asg, group: web-asg, floor: 1, ceiling: 10%s}"
GATE = "{pipeline: app, stage: Prod, alarms: {names: [errors]%s}, watchdog: {alarms: [errors]%s}}"


def policy(organization: str = "", target: str = "", alarms: str = "", watchdog: str = "") -> str:
    return (
        f"version: 1\n{organization}\n"
        f"capacity: {{enabled: true, targets: [{TARGET % target}]}}\n"
        f"gating: {{enabled: true, gates: [{GATE % (alarms, watchdog)}]}}\n"
    )


def parsed(text: str) -> Policy:
    return parse_policy(yaml.safe_load(text), "deckhand.yaml")


def test_without_the_section_there_is_no_organization_and_the_settings_json_is_unchanged() -> None:
    loaded = parsed(policy())

    assert loaded.organization is None
    # Unset placements are left out of the JSON the stack hands the functions, as before the keys existed.
    assert "account" not in json.loads(loaded.capacity.model_dump_json())["targets"][0]
    gate = json.loads(loaded.gating.model_dump_json())["gates"][0]
    assert "region" not in gate["alarms"]
    assert "account" not in gate["watchdog"]


def test_an_organization_section_is_read_with_its_role_defaults() -> None:
    organization = parsed(policy(ORGANIZATION)).organization

    assert organization is not None
    assert organization.id == "o-a1b2c3d4e5"
    assert organization.accounts == ["111111111111", "ou-ab12-cd34ef56"]
    assert organization.exclude == ["999999999999"]
    assert organization.regions == ["eu-west-1", "us-east-1"]
    assert (organization.member_role, organization.deleter_role) == ("deckhand-member", "deckhand-member-deleter")
    assert organization.resolved_at_run_time


def test_selections_may_name_a_member_account_and_region_of_the_organization() -> None:
    loaded = parsed(
        policy(
            ORGANIZATION,
            target=", account: '111111111111', region: eu-west-1",
            alarms=", account: '222222222222'",  # under the organizational unit, resolved at run time
            watchdog=", region: us-east-1",
        )
    )

    assert (loaded.capacity.targets[0].account, loaded.capacity.targets[0].region) == ("111111111111", "eu-west-1")
    gate = loaded.gating.gates[0]
    assert gate.alarms is not None
    assert gate.alarms.account == "222222222222"
    assert gate.watchdog is not None
    assert gate.watchdog.region == "us-east-1"
    assert json.loads(loaded.capacity.model_dump_json())["targets"][0]["account"] == "111111111111"


@pytest.mark.parametrize(
    ("text", "key_path", "bad_value", "expected"),
    [
        (policy(ORGANIZATION.replace("o-a1b2c3d4e5", "o-short")), "organization.id", "'o-short'", "o-a1b2c3d4e5"),
        (policy(ORGANIZATION.replace("ou-ab12-cd34ef56", "ou-x")), "organization.accounts[1]", "'ou-x'", "unit id"),
        (policy(ORGANIZATION.replace("[999999999999]", "[ou-ab12-cd34ef56]")), "organization.exclude[0]", "ou-", "12"),
        (policy(ORGANIZATION.replace("eu-west-1,", "europe,")), "organization.regions[0]", "'europe'", "region"),
        (policy(ORGANIZATION.replace("[111111111111,", "[1111,")), "organization.accounts[0]", "1111", "account id"),
        (
            policy(ORGANIZATION.replace("[999999999999]", "[111111111111]")),
            "organization",
            "111111111111",
            "listed in both accounts and exclude",
        ),
        (
            policy(ORGANIZATION + "  member_role: ops\n  deleter_role: ops\n"),
            "organization",
            "ops",
            "the deleter is its own role",
        ),
        (policy(ORGANIZATION + "  member_role: 'a b'\n"), "organization.member_role", "'a b'", "IAM role name"),
        (
            policy(target=", account: '111111111111'"),
            "capacity.targets[0].account",
            "'111111111111'",
            "no account without an organization section",
        ),
        (
            policy(alarms=", region: eu-west-1"),
            "gating.gates[0].alarms.region",
            "'eu-west-1'",
            "no region without an organization section",
        ),
        (
            policy(ORGANIZATION, watchdog=", account: '999999999999'"),
            "gating.gates[0].watchdog.account",
            "'999999999999'",
            "an account that organization.exclude does not exclude",
        ),
        (
            policy(ORGANIZATION, target=", region: ap-south-1"),
            "capacity.targets[0].region",
            "'ap-south-1'",
            "one of organization.regions (eu-west-1, us-east-1)",
        ),
        (
            policy(ORGANIZATION.replace(", ou-ab12-cd34ef56", ""), alarms=", account: '222222222222'"),
            "gating.gates[0].alarms.account",
            "'222222222222'",
            "one of organization.accounts (111111111111)",
        ),
        (policy(target=", account: '1234'"), "capacity.targets[0].account", "'1234'", "12-digit"),
    ],
)
def test_a_bad_organization_or_placement_names_key_path_value_and_expectation(
    text: str, key_path: str, bad_value: str, expected: str
) -> None:
    assert_named_problem(text, key_path, bad_value, expected)


def test_every_misplaced_key_is_its_own_problem() -> None:
    with pytest.raises(PolicyError) as raised:
        parsed(policy(target=", account: '111111111111', region: eu-west-1", watchdog=", region: eu-west-1"))

    assert [problem.split(":")[0] for problem in raised.value.problems] == [
        "capacity.targets[0].account",
        "capacity.targets[0].region",
        "gating.gates[0].watchdog.region",
    ]


ACCOUNTS = st.from_regex(r"[0-9]{12}", fullmatch=True)
UNITS = st.from_regex(r"ou-[0-9a-z]{4,6}-[a-z0-9]{8,10}", fullmatch=True) | st.from_regex(
    r"r-[0-9a-z]{4}", fullmatch=True
)
REGIONS = st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"])
JUNK = st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.lists(st.text(max_size=14), max_size=3)


def maybe_junk(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return valid | JUNK


organizations = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe_junk(st.from_regex(r"o-[a-z0-9]{10,12}", fullmatch=True)),
        "accounts": maybe_junk(st.lists(ACCOUNTS | UNITS, max_size=3)),
        "exclude": maybe_junk(st.lists(ACCOUNTS, max_size=2)),
        "regions": maybe_junk(st.lists(REGIONS, max_size=3)),
        "member_role": maybe_junk(st.from_regex(r"[A-Za-z0-9_+=,.@-]{1,64}", fullmatch=True)),
        "deleter_role": maybe_junk(st.sampled_from(["deckhand-member", "deleter"])),
        "extra": JUNK,
    },
)
placements = st.fixed_dictionaries({}, optional={"account": maybe_junk(ACCOUNTS), "region": maybe_junk(REGIONS)})


@given(st.none() | organizations | JUNK, placements, placements)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_any_organization_and_placement_give_a_policy_or_problems_naming_key_value_and_expectation(
    organization: Any, target: dict[str, Any], alarms: dict[str, Any]
) -> None:
    document: dict[str, Any] = {
        "version": 1,
        "capacity": {"targets": [{"name": "web", "kind": "asg", "group": "g", "floor": 0, "ceiling": 1, **target}]},
        "gating": {"gates": [{"pipeline": "app", "stage": "Prod", "alarms": {"names": ["errors"], **alarms}}]},
    }
    if organization is not None:
        document["organization"] = organization
    try:
        loaded = parse_policy(document, "generated.yaml")
    except PolicyError as refused:
        problems = refused.problems
    else:
        problems = []
    for problem in problems:
        path = problem.split(":")[0]
        assert path.startswith(("organization", "capacity.targets[0]", "gating.gates[0].alarms")), problem
        assert "unknown key" in problem or "required key" in problem or f"{path}: got " in problem, problem
    if problems:
        return
    # Accepted: every placement is covered by the organization, exactly as the section says.
    placed = [loaded.capacity.targets[0], loaded.gating.gates[0].alarms]
    for selection in placed:
        assert selection is not None
        if loaded.organization is None:
            assert selection.account is None
            assert selection.region is None
            continue
        assert selection.account not in loaded.organization.exclude
        assert selection.region in (None, *loaded.organization.regions)
        assert selection.account in (None, *loaded.organization.accounts) or loaded.organization.resolved_at_run_time
