"""The policy's gating section: a good one loads with its defaults; every mistake names key path, value and rule."""

from datetime import date, datetime, time, timedelta, timezone

import pytest
import yaml

from stacks.policy import PolicyError, parse_policy
from tests.support.policy import assert_named_problem

GOOD = """
version: 1
gating:
  enabled: true
  gates:
    - pipeline: web-app
      stage: Deploy
      alarms:
        prefixes: [web-app-]
      window:
        timezone: Europe/Paris
        allow:
          - days: [MON, TUE, WED, THU, FRI]
            start: "09:00"
            end: "17:00"
          - days: [FRI]
            start: "22:00"
            end: "02:00"
        deny:
          - name: Christmas
            start: 2026-12-24
            end: 2026-12-26
          - name: Launch
            start: 2026-12-01T18:00:00+01:00
            end: 2026-12-02T09:00:00+01:00
      bake:
        after_stage: Build
        minutes: 30
        min_count: 100
        count_metric: {namespace: AWS/ApplicationELB, name: RequestCount}
      error_budget:
        objective_percent: 99.9
        errors: {namespace: AWS/ApplicationELB, name: HTTPCode_Target_5XX_Count}
        requests: {namespace: AWS/ApplicationELB, name: RequestCount}
"""


def gate_text(body: str) -> str:
    """A policy with one gate for web-app/Deploy; `body` holds the gate's other keys, 6 spaces in."""
    return f"version: 1\ngating:\n  gates:\n    - pipeline: web-app\n      stage: Deploy\n{body}"


def test_a_good_gating_section_loads_with_its_defaults() -> None:
    policy = parse_policy(yaml.safe_load(GOOD), "deckhand.yaml")

    gate = policy.gating.gate("web-app", "Deploy")
    assert gate is not None
    assert policy.gating.gate("web-app", "Build") is None
    assert gate.timeout_minutes == 60
    assert gate.alarms is not None
    assert gate.alarms.insufficient_data == "wait"
    assert gate.window is not None
    assert gate.window.allow[1].start == time(22, 0)
    assert gate.window.deny[0].end == date(2026, 12, 26)
    assert gate.window.deny[1].start == datetime(2026, 12, 1, 18, 0, tzinfo=timezone(timedelta(hours=1)))
    assert gate.freeze.mode == "enforce"
    assert gate.error_budget is not None
    assert [(w.long_minutes, w.short_minutes, w.burn_rate) for w in gate.error_budget.windows] == [
        (60, 5, 14.4),
        (360, 30, 6.0),
    ]
    assert gate.exemption.rollbacks is True
    assert gate.exemption.waive == ["alarms", "bake", "error_budget", "window"]
    assert gate.approvals == []  # every approval stays with humans unless the policy lists it


# (id, gate keys, key path, bad value as shown, expectation)
BAD_GATES: list[tuple[str, str, str, str, str]] = [
    (
        "bad time zone",
        "      window:\n        timezone: Europe/Pariss\n",
        "gating.gates[0].window.timezone",
        "got 'Europe/Pariss'",
        "expected an IANA time zone like Europe/Paris",
    ),
    (
        "unquoted 17:00 read as a number",
        "      window:\n        allow:\n          - {days: [MON], start: '09:00', end: 17:00}\n",
        "gating.gates[0].window.allow[0].end",
        "got 1020",
        "write times in quotes, like '17:00'",
    ),
    (
        "time of day out of range",
        "      window:\n        allow:\n          - {days: [MON], start: '24:00', end: '08:00'}\n",
        "gating.gates[0].window.allow[0].start",
        "got '24:00'",
        "expected a time of day like '09:30'",
    ),
    (
        "start equals end",
        "      window:\n        allow:\n          - {days: [MON], start: '09:00', end: '09:00'}\n",
        "gating.gates[0].window.allow[0]",
        "'start': '09:00'",
        "start and end are equal: the window would be empty",
    ),
    (
        "unknown weekday",
        "      window:\n        allow:\n          - {days: [MONDAY], start: '09:00', end: '17:00'}\n",
        "gating.gates[0].window.allow[0].days[0]",
        "got 'MONDAY'",
        "Input should be 'MON'",
    ),
    (
        "deny end before start",
        "      window:\n        deny:\n          - {name: Christmas, start: 2026-12-26, end: 2026-12-24}\n",
        "gating.gates[0].window.deny[0]",
        "datetime.date(2026, 12, 24)",
        "end is before start",
    ),
    (
        "deny date-time without an offset",
        "      window:\n        deny:\n"
        "          - {name: Launch, start: 2026-12-01T18:00:00, end: 2026-12-02T09:00:00}\n",
        "gating.gates[0].window.deny[0]",
        "datetime.datetime(2026, 12, 1, 18, 0)",
        "date-times need an offset, like 2026-12-24T18:00:00+01:00",
    ),
    (
        "deny mixing a date and a date-time",
        "      window:\n        deny:\n          - {name: Launch, start: 2026-12-01, end: 2026-12-02T09:00:00+01:00}\n",
        "gating.gates[0].window.deny[0]",
        "'name': 'Launch'",
        "start and end must both be dates or both be date-times",
    ),
    (
        "alarms selecting nothing",
        "      alarms:\n        insufficient_data: block\n",
        "gating.gates[0].alarms",
        "got {'insufficient_data': 'block'}",
        "select alarms by at least one of names, prefixes or tags",
    ),
    (
        "bad insufficient_data",
        "      alarms:\n        names: [web-5xx]\n        insufficient_data: ignore\n",
        "gating.gates[0].alarms.insufficient_data",
        "got 'ignore'",
        "Input should be 'block', 'wait' or 'pass'",
    ),
    (
        "burn window with short not shorter than long",
        "      error_budget:\n        objective_percent: 99.9\n"
        "        errors: {namespace: AWS/ApplicationELB, name: HTTPCode_Target_5XX_Count}\n"
        "        requests: {namespace: AWS/ApplicationELB, name: RequestCount}\n"
        "        windows:\n          - {long_minutes: 60, short_minutes: 60, burn_rate: 14.4}\n",
        "gating.gates[0].error_budget.windows[0]",
        "'short_minutes': 60",
        "short_minutes must be shorter than long_minutes",
    ),
    (
        "objective of 100 percent",
        "      error_budget:\n        objective_percent: 100\n"
        "        errors: {namespace: AWS/ApplicationELB, name: HTTPCode_Target_5XX_Count}\n"
        "        requests: {namespace: AWS/ApplicationELB, name: RequestCount}\n",
        "gating.gates[0].error_budget.objective_percent",
        "got 100",
        "less than 100",
    ),
    (
        "min_count without count_metric",
        "      bake:\n        after_stage: Build\n        minutes: 30\n        min_count: 100\n",
        "gating.gates[0].bake",
        "'min_count': 100",
        "min_count and count_metric go together",
    ),
    (
        "bake longer than a day",
        "      bake:\n        after_stage: Build\n        minutes: 1441\n",
        "gating.gates[0].bake.minutes",
        "got 1441",
        "less than or equal to 1440",
    ),
    (
        "unknown check in waive",
        "      exemption:\n        waive: [alarms, freze]\n",
        "gating.gates[0].exemption.waive[1]",
        "got 'freze'",
        "Input should be 'alarms', 'window', 'freeze', 'bake' or 'error_budget'",
    ),
    (
        "unknown mode",
        "      freeze:\n        mode: warn\n",
        "gating.gates[0].freeze.mode",
        "got 'warn'",
        "Input should be 'enforce', 'shadow' or 'off'",
    ),
    (
        "typo in a check name",
        "      alarm:\n        names: [web-5xx]\n",
        "gating.gates[0].alarm",
        "alarm",
        "unknown key; check its spelling",
    ),
    (
        "timeout of zero",
        "      timeout_minutes: 0\n",
        "gating.gates[0].timeout_minutes",
        "got 0",
        "greater than or equal to 1",
    ),
    (
        "approvals without names",
        "      approvals: true\n",
        "gating.gates[0].approvals",
        "got True",
        'name the manual approval actions that stand before this stage, as ["STAGE/ACTION", ...]',
    ),
    (
        "an approval that is no STAGE/ACTION",
        "      approvals: [Approve]\n",
        "gating.gates[0].approvals",
        "got ['Approve']",
        "'Approve': expected STAGE/ACTION, two CodePipeline names",
    ),
]


@pytest.mark.parametrize(
    ("body", "key_path", "bad_value", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_GATES],
)
def test_a_bad_gate_names_key_path_value_and_expectation(
    body: str, key_path: str, bad_value: str, expected: str
) -> None:
    assert_named_problem(gate_text(body), key_path, bad_value, expected)


@pytest.mark.parametrize(
    ("pipeline", "key_path", "bad_value"),
    [
        ("my pipeline", "gating.gates[0].pipeline", "got 'my pipeline'"),
        ("x" * 101, "gating.gates[0].pipeline", "got 'xxxx"),
    ],
)
def test_a_bad_pipeline_name_is_refused(pipeline: str, key_path: str, bad_value: str) -> None:
    document = {"version": 1, "gating": {"gates": [{"pipeline": pipeline, "stage": "Deploy"}]}}

    with pytest.raises(PolicyError) as raised:
        parse_policy(document, "deckhand.yaml")

    (problem,) = raised.value.problems
    assert problem.startswith(f"{key_path}: {bad_value}")
    assert "expected a CodePipeline name: 1-100 letters, digits or . @ - _" in problem


def test_a_stage_gated_twice_is_refused() -> None:
    gate = {"pipeline": "web-app", "stage": "Deploy"}
    document = {"version": 1, "gating": {"gates": [gate, gate | {"timeout_minutes": 30}]}}

    with pytest.raises(PolicyError) as raised:
        parse_policy(document, "deckhand.yaml")

    (problem,) = raised.value.problems
    assert problem.startswith("gating: got {'gates': [")
    assert "pipeline 'web-app' stage 'Deploy' is gated twice; merge the gates" in problem


def test_there_are_many_distinct_bad_gates() -> None:
    assert len({case[1] for case in BAD_GATES}) >= 12
