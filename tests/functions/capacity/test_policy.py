"""The policy's capacity section: a good one loads; every mistake names key path, value and rule."""

from datetime import date, time

import pytest
import yaml

from functions.capacity.config import parse_capacity
from stacks.policy import PolicyError, load_policy, parse_policy
from tests.support.policy import assert_named_problem

GOOD = """
version: 1
capacity:
  enabled: true
  targets:
    - name: web
      kind: ecs-service
      cluster: main
      service: web
      floor: 0
      ceiling: 40
      max_step: 4
      alarms:
        scale_out: [web-cpu-high]
        step: 2
      profiles:
        day: {min: 4, max: 20}
        night: {min: 1, max: 4}
        zero: {min: 0, max: 0}
      schedules:
        - {profile: day, at: "08:00", days: [MON, TUE, WED, THU, FRI], timezone: Europe/Paris,
           except_dates: [2026-12-25]}
        - {profile: zero, cron: "cron(0 22 ? * * *)", timezone: Europe/Paris}
      mute_at_zero: [web-unhealthy]
    - name: orders-table
      kind: scalable-target
      namespace: dynamodb
      dimension: dynamodb:table:ReadCapacityUnits
      resource_id: table/orders
      floor: 5
      ceiling: 500
      opt_in: tag
    - name: workers
      kind: asg
      group: workers
      floor: 1
      ceiling: 10
      profiles:
        weekend: {min: 1, max: 2, desired: 1}
"""


def target_text(body: str) -> str:
    """A policy with one ECS target; `body` holds the target's other keys, 6 spaces in."""
    head = "version: 1\ncapacity:\n  targets:\n    - name: web\n      kind: ecs-service\n"
    return f"{head}      cluster: main\n      service: web\n      floor: 0\n      ceiling: 10\n{body}"


def test_a_good_capacity_section_loads_with_its_defaults() -> None:
    policy = parse_policy(yaml.safe_load(GOOD), "deckhand.yaml")

    web = policy.capacity.target("web")
    assert web is not None
    assert policy.capacity.target("nope") is None
    assert policy.capacity.opt_in_tag == "deckhand:capacity"
    assert web.cooldown_minutes == 5
    assert (web.flap.max_changes, web.flap.window_minutes) == (6, 60)
    assert web.schedules[0].at == time(8, 0)
    assert web.schedules[0].except_dates == [date(2026, 12, 25)]
    assert web.schedules[1].days == ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
    assert web.zero_profiles == frozenset({"zero"})
    assert policy.capacity.targets[1].opt_in == "tag"


def test_the_section_survives_the_json_round_trip() -> None:
    capacity = parse_policy(yaml.safe_load(GOOD), "deckhand.yaml").capacity

    assert type(capacity).model_validate_json(capacity.model_dump_json()) == capacity


def test_the_example_policy_loads_and_its_capacity_section_survives_the_trip_to_the_function() -> None:
    policy = load_policy("deckhand.yaml")

    # The stack hands the section over as DECKHAND_CAPACITY (model_dump_json); the function reads it back.
    assert parse_capacity(policy.capacity.model_dump_json()) == policy.capacity


# (id, target keys, key path, bad value as shown, expectation)
BAD_TARGETS: list[tuple[str, str, str, str, str]] = [
    (
        "profile above the ceiling",
        "      profiles:\n        day: {min: 2, max: 12}\n",
        "capacity.targets[0]",
        "'ceiling': 10",
        "profile 'day' (2..12) is outside the hard bounds floor 0..ceiling 10",
    ),
    (
        "profile min above max",
        "      profiles:\n        day: {min: 5, max: 3}\n",
        "capacity.targets[0].profiles.day",
        "'min': 5",
        "min 5 is above max 3",
    ),
    (
        "desired outside the profile",
        "      profiles:\n        day: {min: 1, max: 3, desired: 4}\n",
        "capacity.targets[0].profiles.day",
        "'desired': 4",
        "desired 4 is outside min..max (1..3)",
    ),
    (
        "schedule names an unknown profile",
        "      profiles:\n        day: {min: 1, max: 3}\n      schedules:\n        - {profile: nigth, at: '22:00'}\n",
        "capacity.targets[0]",
        "'nigth'",
        "schedules[0] uses unknown profile 'nigth'; known: day",
    ),
    (
        "bad time zone",
        "      profiles:\n        day: {min: 1, max: 3}\n"
        "      schedules:\n        - {profile: day, at: '08:00', timezone: Europe/Pariss}\n",
        "capacity.targets[0].schedules[0].timezone",
        "got 'Europe/Pariss'",
        "expected an IANA time zone like Europe/Paris",
    ),
    (
        "unquoted 8:00 read as a number",
        "      profiles:\n        day: {min: 1, max: 3}\n      schedules:\n        - {profile: day, at: 8:00}\n",
        "capacity.targets[0].schedules[0].at",
        "got 480",
        "write times in quotes, like '17:00'",
    ),
    (
        "both at and cron",
        "      profiles:\n        day: {min: 1, max: 3}\n"
        "      schedules:\n        - {profile: day, at: '08:00', cron: 'cron(0 8 * * ? *)'}\n",
        "capacity.targets[0].schedules[0]",
        "'cron': 'cron(0 8 * * ? *)'",
        "give exactly one of at (a time like '08:00') or cron",
    ),
    (
        "a cron with five fields",
        "      profiles:\n        day: {min: 1, max: 3}\n"
        "      schedules:\n        - {profile: day, cron: 'cron(0 8 * * ?)'}\n",
        "capacity.targets[0].schedules[0].cron",
        "got 'cron(0 8 * * ?)'",
        "expected an EventBridge cron of six fields",
    ),
    (
        "holiday without a year",
        "      profiles:\n        day: {min: 1, max: 3}\n"
        "      schedules:\n        - {profile: day, at: '08:00', except_dates: ['12-25']}\n",
        "capacity.targets[0].schedules[0].except_dates[0]",
        "got '12-25'",
        "expected a date with its year, like 2026-12-25",
    ),
    (
        "max_step of zero",
        "      max_step: 0\n",
        "capacity.targets[0].max_step",
        "got 0",
        "greater than or equal to 1",
    ),
    (
        "alarm triggers without alarms",
        "      alarms:\n        scale_out: []\n        step: 2\n",
        "capacity.targets[0].alarms.scale_out",
        "got []",
        "at least 1 item",
    ),
    (
        "typo in a key",
        "      cooldown: 5\n",
        "capacity.targets[0].cooldown",
        "cooldown",
        "unknown key; check its spelling",
    ),
    (
        "flap budget of zero changes",
        "      flap: {max_changes: 0, window_minutes: 60}\n",
        "capacity.targets[0].flap.max_changes",
        "got 0",
        "greater than or equal to 1",
    ),
]


@pytest.mark.parametrize(
    ("body", "key_path", "bad_value", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_TARGETS],
)
def test_a_bad_target_names_key_path_value_and_expectation(
    body: str, key_path: str, bad_value: str, expected: str
) -> None:
    assert_named_problem(target_text(body), key_path, bad_value, expected)


def web(**keys: object) -> dict[str, object]:
    return {"name": "web", "kind": "ecs-service", "cluster": "main", "service": "web", "floor": 0, "ceiling": 10} | keys


@pytest.mark.parametrize(
    ("target", "key_path", "bad_value", "expected"),
    [
        pytest.param(
            web(floor=5, ceiling=2), "capacity.targets[0]", "'floor': 5", "floor 5 is above ceiling 2", id="floor"
        ),
        pytest.param(
            web(kind="ecs"), "capacity.targets[0].kind", "got 'ecs'", "Input should be 'ecs-service'", id="kind"
        ),
        pytest.param(
            web(kind="asg"), "capacity.targets[0]", "'kind': 'asg'", "kind asg needs group; missing group", id="asg"
        ),
        pytest.param(
            web(
                kind="scalable-target",
                cluster=None,
                service=None,
                namespace="ecs",
                resource_id="service/a/b",
                dimension="dynamodb:table:ReadCapacityUnits",
            ),
            "capacity.targets[0]",
            "'namespace': 'ecs'",
            "dimension 'dynamodb:table:ReadCapacityUnits' is not in namespace 'ecs'",
            id="dimension-namespace",
        ),
        pytest.param(
            web(name="Web App"), "capacity.targets[0].name", "got 'Web App'", "expected 1-40 lowercase", id="name"
        ),
    ],
)
def test_a_bad_target_built_as_data_is_refused(
    target: dict[str, object], key_path: str, bad_value: str, expected: str
) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy({"version": 1, "capacity": {"targets": [target]}}, "deckhand.yaml")

    lines = [p for p in raised.value.problems if p.startswith(f"{key_path}: ")]
    assert lines, f"no problem names {key_path!r}: {raised.value.problems}"
    assert any(bad_value in line and expected in line for line in lines), lines


def test_a_target_listed_twice_is_refused() -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy({"version": 1, "capacity": {"targets": [web(), web(ceiling=5)]}}, "deckhand.yaml")

    (problem,) = raised.value.problems
    assert problem.startswith("capacity: got {'targets': [")
    assert "target 'web' is listed twice; give each target its own name" in problem


def test_there_are_many_distinct_bad_targets() -> None:
    assert len({case[1] for case in BAD_TARGETS}) >= 8
