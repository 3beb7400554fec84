"""The gate's answers, pure: what CodePipeline is told for each verdict, always within its limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from functions.gating.answer import (
    Progress,
    approval_summary,
    failure_message,
    output_variables,
    pause_text,
    paused_answer,
    plan,
    success_summary,
    wait_summary,
)
from functions.gating.model import CheckResult, Decision, Verdict
from functions.gating.pipeline import (
    MAX_APPROVAL_SUMMARY,
    MAX_CONTINUATION_TOKEN,
    MAX_EXECUTION_SUMMARY,
    MAX_FAILURE_MESSAGE,
    MAX_OUTPUT_VALUE,
    MAX_STOP_REASON,
    clip,
)
from functions.gating.policy import CHECKS, Gate
from functions.gating.watchdog.plan import AlarmChange, stop_reason
from functions.shared.switches import SwitchState

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
GATE = Gate.model_validate({"pipeline": "web-app", "stage": "Deploy", "bake": {"after_stage": "Build", "minutes": 10}})
NAMES = st.from_regex(r"[A-Za-z0-9.@\-_]{1,100}", fullmatch=True)
TEXT = st.text(max_size=7000)
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))

checks = st.builds(
    CheckResult,
    check=st.sampled_from(CHECKS),
    mode=st.sampled_from(["enforce", "shadow", "off"]),
    outcome=st.sampled_from(["pass", "block", "wait"]),
    reason=TEXT,
    exempted=st.booleans(),
    next_open=st.none() | instants,
)
decisions = st.builds(
    Decision,
    id=st.from_regex(r"[0-9a-f]{32}", fullmatch=True),
    pipeline=NAMES,
    stage=NAMES,
    verdict=st.sampled_from(["proceed", "block", "wait"]),
    checks=st.lists(checks, max_size=8).map(tuple),
    decided_at=st.just(NOW),
    exemption=st.text(max_size=3000),
)


def decision(*results: CheckResult, verdict: Verdict = "wait") -> Decision:
    return Decision(id="d" * 32, pipeline="web-app", stage="Deploy", verdict=verdict, checks=results, decided_at=NOW)


ALARM = CheckResult("alarms", "enforce", "wait", "web-app-5xx in ALARM: 5xx above 10")


@given(decisions, st.integers(1, 10**12), instants)
def test_every_text_fits_its_codepipeline_limit(made: Decision, attempt: int, first_seen: datetime) -> None:
    progress = Progress(first_seen, attempt)
    assert 1 <= len(failure_message(made, GATE)) <= MAX_FAILURE_MESSAGE
    assert 1 <= len(failure_message(made, GATE, waited=timedelta(hours=30))) <= MAX_FAILURE_MESSAGE
    assert 1 <= len(success_summary(made)) <= MAX_EXECUTION_SUMMARY
    assert 1 <= len(wait_summary(made, progress, first_seen + timedelta(hours=1))) <= MAX_EXECUTION_SUMMARY
    assert 1 <= len(progress.token()) <= MAX_CONTINUATION_TOKEN
    assert 1 <= len(approval_summary(made)) <= MAX_APPROVAL_SUMMARY
    assert all(1 <= len(value) <= MAX_OUTPUT_VALUE for value in output_variables(made).values())
    answer = plan(made, GATE, progress, NOW)
    limit = MAX_FAILURE_MESSAGE if answer.kind == "failure" else MAX_EXECUTION_SUMMARY
    assert 1 <= len(answer.text) <= limit


@given(st.text(max_size=3000), st.text(max_size=200), NAMES, NAMES)
def test_pause_and_stop_texts_fit(reason: str, who: str, pipeline: str, stage: str) -> None:
    pause = SwitchState(name="pause-gating", on=True, reason=reason, set_by=who, expires_at=NOW)
    answer = paused_answer(pause, f"{pipeline}/{stage}", "r" * 32)
    assert len(answer.text) <= MAX_EXECUTION_SUMMARY
    assert all(len(value) <= MAX_OUTPUT_VALUE for value in answer.output_variables.values())
    alarm = AlarmChange(name=reason[:255] or "a", state="ALARM", reason=reason, at=NOW, region="us-east-1")
    gate = Gate.model_validate({"pipeline": pipeline, "stage": stage, "watchdog": {"alarms": ["a"]}})
    assert len(clip(stop_reason(alarm, gate), MAX_STOP_REASON)) <= MAX_STOP_REASON


def test_proceed_succeeds_with_the_three_output_variables() -> None:
    made = decision(CheckResult("alarms", "enforce", "pass", "1 alarm OK"), verdict="proceed")
    answer = plan(made, GATE, Progress(NOW), NOW)
    assert (answer.kind, answer.outcome, answer.token) == ("success", "proceed", None)
    assert answer.output_variables == {"decision": "proceed", "reasons": "all checks passed", "decision_id": made.id}


def test_wait_continues_with_a_token_until_the_timeout_then_fails() -> None:
    made = decision(ALARM)
    first = plan(made, GATE, Progress(NOW), NOW)
    assert (first.kind, first.output_variables, first.percent) == ("continue", {}, 0)
    token = json.loads(first.token or "")
    assert token == {"v": 1, "first_seen": NOW.isoformat(), "attempt": 2}
    progress = Progress.parse(first.token, NOW + timedelta(minutes=30))
    assert plan(made, GATE, progress, NOW + timedelta(minutes=30)).percent == 50
    late = plan(made, GATE, progress, NOW + timedelta(minutes=60))
    assert (late.kind, late.outcome) == ("failure", "timed-out")
    assert "web-app-5xx in ALARM" in late.text
    assert "still not clear after 60 min (timeout_minutes=60)" in late.text


def test_a_block_fails_at_once_and_names_the_next_step_of_each_blocking_check() -> None:
    made = decision(
        CheckResult("freeze", "enforce", "block", "frozen by alice until 2026-11-22 18:00 UTC: quarter"),
        CheckResult("window", "enforce", "block", "in deny period Christmas", next_open=NOW + timedelta(days=3)),
        CheckResult("bake", "shadow", "wait", "Build succeeded 2 min ago"),
        verdict="block",
    )
    answer = plan(made, GATE, Progress(NOW), NOW)
    assert (answer.kind, answer.outcome) == ("failure", "block")
    assert '"switch": "freeze"' in answer.text
    assert "open at 2026-11-24 12:00 UTC" in answer.text
    assert "bake (shadow, would have blocked)" in answer.text
    assert "let Build bake" not in answer.text  # shadow checks do not ask for anything


def test_a_token_we_cannot_read_restarts_the_clock() -> None:
    for token in (None, "", "token_ID", '{"first_seen": "yesterday"}', "[]", '{"attempt": 3}'):
        assert Progress.parse(token, NOW) == Progress(NOW)
    future = json.dumps({"first_seen": (NOW + timedelta(hours=1)).isoformat(), "attempt": 4})
    assert Progress.parse(future, NOW) == Progress(NOW, 4)


def test_a_token_at_the_edges_of_time_restarts_the_clock_instead_of_overflowing() -> None:
    """A job event's token is the invoker's word: year 1 at +14:00, an infinite attempt, must not raise."""
    for token in (
        '{"first_seen": "0001-01-01T00:00:00+14:00", "attempt": 2}',
        '{"first_seen": "2026-01-01T00:00:00+00:00", "attempt": Infinity}',
    ):
        assert Progress.parse(token, NOW) == Progress(NOW)
    many = json.dumps({"first_seen": NOW.isoformat(), "attempt": 10**30})
    assert Progress.parse(many, NOW).attempt == 100_000


def test_the_pause_text_says_who_until_when_and_why() -> None:
    pause = SwitchState(name="pause-all", on=True, reason="incident 42", set_by="bob", expires_at=NOW)
    assert pause_text(pause, "web-app/Deploy") == (
        "Deckhand gating is PAUSED (pause-all) by bob until 2026-11-21 12:00 UTC: incident 42. "
        "web-app/Deploy was NOT checked and is let through."
    )
