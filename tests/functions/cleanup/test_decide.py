"""decide: each reason in the contract's order, mark then act after the grace period, and the safety properties."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.cleanup.decide import (
    FOREIGN,
    IN_USE,
    MARK_VALID_DAYS,
    NOT_JUDGED,
    NOT_YET_DUE,
    PROTECTED,
    TOO_YOUNG,
    Decision,
    Protection,
    blast_radius,
    decide,
    due_date,
)
from functions.cleanup.kinds.base import Candidate, Excluded, Judgement, KindRule, Resource

from .strategies import (
    ACCOUNT,
    OTHER_ACCOUNT,
    PROTECT_TAG,
    in_uses,
    instants,
    judgements,
    mark_values,
    resources,
    rules,
)

NOW = datetime(2026, 6, 10, 23, 30, tzinfo=UTC)
OLD = Resource(kind="ebs-snapshot", id="snap-1", region="us-east-1", created=NOW - timedelta(days=90), owner=ACCOUNT)
DELETE = Candidate(action="delete", monthly_usd=2.5, why="not used for 90 days")
RULE = KindRule(min_age_days=30)


def decision(
    resource: Resource = OLD,
    judgement: Judgement | None = DELETE,
    in_use: str | None = None,
    *,
    mark: str | None = "2026-06-10",
    now: datetime = NOW,
    grace_days: int = 7,
) -> Decision:
    return decide(
        resource,
        judgement,
        in_use,
        RULE,
        mark,
        now=now,
        protect=Protection(PROTECT_TAG),
        account=ACCOUNT,
        grace_days=grace_days,
    )


def with_(**fields: object) -> Resource:
    return Resource(**{**OLD.__dict__, **fields})  # type: ignore[arg-type]


def test_a_marked_old_unused_resource_whose_due_date_has_come_is_acted_on() -> None:
    acted = decision()

    assert (acted.verdict, acted.reason, acted.detail) == ("act", "not used for 90 days", "due 2026-06-10")
    assert acted.candidate == DELETE


@pytest.mark.parametrize(
    ("resource", "judgement", "in_use", "reason", "detail"),
    [
        pytest.param(with_(tags={PROTECT_TAG: ""}), DELETE, "image ami-1", PROTECTED, f"tagged {PROTECT_TAG}", id="p"),
        pytest.param(with_(owner=OTHER_ACCOUNT), DELETE, "image ami-1", FOREIGN, "owned by account 9999", id="foreign"),
        pytest.param(OLD, Excluded("attached"), "image ami-1", IN_USE, "image ami-1", id="in use"),
        pytest.param(OLD, Excluded("attached"), None, "attached", "", id="excluded"),
        pytest.param(with_(created=NOW - timedelta(days=29, hours=23)), DELETE, None, TOO_YOUNG, "29 days", id="young"),
        pytest.param(OLD, None, None, NOT_JUDGED, "", id="not judged"),
    ],
)
def test_each_reason_to_leave_a_resource_alone_comes_in_the_contracts_order(
    resource: Resource, judgement: Judgement | None, in_use: str | None, reason: str, detail: str
) -> None:
    skipped = decision(resource, judgement, in_use)

    assert (skipped.verdict, skipped.reason) == ("skip", reason)
    assert skipped.detail.startswith(detail)


@pytest.mark.parametrize(("value", "verdict"), [("true", "skip"), ("false", "act"), ("True", "act"), ("", "act")])
def test_a_protect_tag_with_values_protects_only_those_values(value: str, verdict: str) -> None:
    keep = Protection("keep", ("true",))

    result = decide(
        with_(tags={"keep": value}),
        DELETE,
        None,
        RULE,
        "2026-06-10",
        now=NOW,
        protect=keep,
        account=ACCOUNT,
        grace_days=7,
    )

    assert result.verdict == verdict
    if verdict == "skip":
        assert (result.reason, result.detail) == (PROTECTED, "tagged keep=true")


def test_a_plain_protect_tag_protects_whatever_its_value() -> None:
    assert decision(with_(tags={PROTECT_TAG: "false"})).reason == PROTECTED


def test_an_unmarked_resource_is_marked_due_after_the_grace_period_in_utc() -> None:
    in_paris = NOW.astimezone(datetime.fromisoformat("2026-06-11T01:30:00+02:00").tzinfo)  # already the 11th there

    marked = decision(mark=None, now=in_paris)

    assert (marked.verdict, marked.detail, marked.due) == ("mark", "due 2026-06-17", due_date("2026-06-17"))


def test_a_mark_not_yet_due_is_skipped_with_its_date() -> None:
    waiting = decision(mark="2026-06-11")

    assert (waiting.verdict, waiting.reason, waiting.detail) == ("skip", NOT_YET_DUE, "due 2026-06-11")


@pytest.mark.parametrize("mark", ["soon", "2026-02-30", "2026-6-1", ""])
def test_an_unreadable_mark_is_written_again_never_trusted(mark: str) -> None:
    remarked = decision(mark=mark, grace_days=0)

    assert remarked.verdict == "mark"
    assert remarked.detail == f"mark {mark!r} is unreadable; marked again, due 2026-06-11"


def test_a_mark_long_past_due_is_stale_and_written_again_with_a_fresh_grace_period() -> None:
    honoured = decision(mark=(NOW.date() - timedelta(days=MARK_VALID_DAYS)).isoformat())
    stale_mark = (NOW.date() - timedelta(days=MARK_VALID_DAYS + 1)).isoformat()
    remarked = decision(mark=stale_mark)

    assert honoured.verdict == "act"
    assert (remarked.verdict, remarked.due) == ("mark", due_date("2026-06-17"))
    assert remarked.detail == f"mark {stale_mark!r} is stale (over 30 days past due); marked again, due 2026-06-17"


def test_without_a_grace_period_an_unmarked_resource_is_acted_on_at_once() -> None:
    assert decision(mark=None, grace_days=0).verdict == "act"


def test_a_creation_time_without_offset_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        decision(with_(created=datetime(2026, 1, 1)))


@settings(max_examples=1000)
@given(data=st.data(), now=instants, rule=rules, grace=st.integers(0, 3) | st.integers(0, 30))
def test_nothing_protected_foreign_in_use_young_or_not_yet_due_is_ever_acted_on(
    data: st.DataObject, now: datetime, rule: KindRule, grace: int
) -> None:
    resource = data.draw(resources(now))
    judgement = data.draw(judgements)
    in_use = data.draw(in_uses)
    mark = data.draw(mark_values(now))

    result = decide(
        resource,
        judgement,
        in_use,
        rule,
        mark,
        now=now,
        protect=Protection(PROTECT_TAG),
        account=ACCOUNT,
        grace_days=grace,
    )

    today = now.astimezone(UTC).date()
    due = due_date(mark)
    qualifies = (
        PROTECT_TAG not in resource.tags
        and resource.owner in (None, ACCOUNT)
        and in_use is None
        and isinstance(judgement, Candidate)
        and now - resource.created >= timedelta(days=rule.min_age_days)
    )
    if result.verdict == "act":
        assert qualifies
        assert mark is None or due is not None, "a malformed mark was acted on"
        assert (due is not None and today - timedelta(days=MARK_VALID_DAYS) <= due <= today) or (
            mark is None and grace == 0
        )
        assert result.candidate == judgement
    elif result.verdict == "mark":
        assert qualifies
        assert due is None or (today - due).days > MARK_VALID_DAYS
        assert result.due == today + timedelta(days=max(grace, 1))
    else:
        assert not qualifies or (due is not None and due > today)


@given(
    found=st.integers(0, 200),
    acting=st.integers(0, 200),
    rule=rules,
)
def test_the_blast_radius_is_exceeded_exactly_above_the_share_or_the_count(
    found: int, acting: int, rule: KindRule
) -> None:
    acting = min(acting, found)
    decisions = [Decision(OLD, "act", "old")] * acting + [Decision(OLD, "mark", "old")] * (found - acting)

    blast = blast_radius(decisions, rule, found)

    assert blast.acting == acting
    assert blast.exceeded == (acting > rule.max_count or acting > round(rule.max_share * found, 9))
    if blast.exceeded:
        assert f"would act on {acting} of {found} found" in blast.describe()
