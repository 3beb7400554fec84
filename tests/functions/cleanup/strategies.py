"""Hypothesis strategies for cleanup: random resources, rules, marks and instants, shared by the cleanup tests."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from functions.cleanup.kinds.base import Candidate, Excluded, Judgement, KindRule, Resource

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "999999999999"
PROTECT_TAG = "deckhand:protect"
MARK_TAG = "deckhand:cleanup-after"

offsets = st.builds(lambda quarters: timezone(timedelta(minutes=15 * quarters)), st.integers(-12 * 4, 14 * 4))
instants = st.builds(
    lambda minutes, zone: (datetime(2026, 6, 1, tzinfo=UTC) + timedelta(minutes=minutes)).astimezone(zone),
    st.integers(-400 * 24 * 60, 400 * 24 * 60),
    offsets,
)
rules = st.builds(
    KindRule,
    min_age_days=st.sampled_from([0, 7, 30, 90, 120]),
    max_share=st.sampled_from([0.1, 0.29, 0.5, 0.75, 1.0]),
    max_count=st.integers(1, 60),
)
# A mark: none, a good date around now (past or future), or something unreadable.
MALFORMED_MARKS = [
    "",
    "soon",
    "2026-02-30",
    "2026-1-5",
    "2026-13-01",
    " 2026-01-05",
    "2026-01-05T00:00:00Z",
    "05/01/2026",
]


def mark_values(now: datetime) -> st.SearchStrategy[str | None]:
    return st.one_of(
        st.none(),
        (st.integers(-2, 2) | st.integers(-40, 30)).map(
            lambda days: (now.astimezone(UTC).date() + timedelta(days=days)).isoformat()
        ),
        st.sampled_from(MALFORMED_MARKS),
    )


@st.composite
def resources(draw: st.DrawFn, now: datetime, index: int = 0) -> Resource:
    tags = draw(st.dictionaries(st.sampled_from(["Name", "Protect", "team"]), st.sampled_from(["", "yes"])))
    if draw(st.sampled_from([False, False, False, False, True])):  # hypothesis favours the first values
        tags[PROTECT_TAG] = draw(st.sampled_from(["", "yes", "false"]))  # any value protects
    days = draw(st.sampled_from([365, 200, 121, 90, 60, 30, 7, 1, 0, -2]))
    age = timedelta(days=days, minutes=draw(st.integers(-24 * 60, 24 * 60)))
    return Resource(
        kind="ebs-snapshot",
        id=f"snap-{index:05d}",
        region="us-east-1",
        created=(now - age).astimezone(draw(offsets)),
        tags=tags,
        owner=draw(st.sampled_from([None, ACCOUNT, ACCOUNT, ACCOUNT, OTHER_ACCOUNT])),
        name=f"snapshot {index}",
    )


# Weighted toward resources that qualify, so the rare unsafe combinations are reached often.
candidates = st.builds(Candidate, action=st.just("delete"), monthly_usd=st.floats(0, 50), why=st.just("old"))
judgements: st.SearchStrategy[Judgement | None] = st.one_of(
    candidates,
    candidates,
    candidates,
    st.none(),
    st.builds(Excluded, why=st.sampled_from(["attached", "within the last 3"])),
)
in_uses: st.SearchStrategy[str | None] = st.sampled_from([None, None, None, None, "image ami-1"])


@dataclass(frozen=True)
class Estate:
    """A random scope: resources (marks as tags when taggable), the kind's judgements, what uses them, marks."""

    resources: list[Resource]
    judgements: dict[str, Judgement]
    users: dict[str, str]
    marks: dict[str, str]  # the mark store's content when the kind is not taggable


@st.composite
def estates(draw: st.DrawFn, now: datetime, taggable: bool, max_size: int = 40) -> Estate:
    found: list[Resource] = []
    judged: dict[str, Judgement] = {}
    users: dict[str, str] = {}
    marks: dict[str, str] = {}
    for index in range(draw(st.integers(0, max_size))):
        resource = draw(resources(now, index))
        judgement = draw(judgements)
        if judgement is not None:
            judged[resource.id] = judgement
        user = draw(in_uses)
        if user is not None:
            users[resource.id] = user
        mark = draw(mark_values(now))
        if mark is not None and taggable:
            resource = replace(resource, tags={**resource.tags, MARK_TAG: mark})
        elif mark is not None:
            marks[resource.id] = mark
        found.append(resource)
    return Estate(found, judged, users, marks)
