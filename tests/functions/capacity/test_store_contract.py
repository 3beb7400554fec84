"""The contract of store.Store: the same assertions against the in-memory twin and StateStore on moto's
DynamoDB, so the twin the flow tests run on cannot drift from the table's conditional writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from functions.capacity.model import Levels, Override, Saved, Suspension
from functions.capacity.store import Conflict, StateStore, Store, Stored, conflict
from tests.functions.capacity.twins import MemoryStore
from tests.support.aws import make_audit_table

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
FULL = Stored(
    saved_before_zero=Saved(Levels(2, 9, 4), Suspension(dynamic_in=True)),
    last_changes=(NOW,),
    override=Override("apply", NOW, NOW.replace(hour=23), Levels(2, 9)),
    profile="day",
    alarm_baseline=Levels(1, 3),
)


@pytest.fixture(params=["twin", pytest.param("moto", marks=pytest.mark.aws)])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "twin":
        yield MemoryStore()
    else:
        request.getfixturevalue("aws")
        yield StateStore(make_audit_table())


def test_a_target_never_saved_loads_as_version_zero(store: Store) -> None:
    assert store.load("orders") == Stored()


def test_each_save_raises_the_version_by_one_and_loads_back_whole(store: Store) -> None:
    first = store.save("orders", FULL, expected_version=0)
    assert first.version == 1
    assert store.load("orders") == first

    second = store.save("orders", Stored(profile="night"), expected_version=1)
    assert second == Stored(version=2, profile="night")
    assert store.load("orders") == second
    assert store.load("web") == Stored()  # one item per target


@pytest.mark.parametrize(
    ("saved_before", "expected_version"),
    [
        (0, 1),  # a version that was never written
        (1, 0),  # "never saved", but another run saved first
        (2, 1),  # a stale version
    ],
)
def test_a_save_at_the_wrong_version_is_the_same_conflict_and_changes_nothing(
    store: Store, saved_before: int, expected_version: int
) -> None:
    for version in range(saved_before):
        store.save("orders", Stored(profile=f"p{version}"), expected_version=version)
    before = store.load("orders")

    with pytest.raises(Conflict) as raised:
        store.save("orders", FULL, expected_version=expected_version)

    assert str(raised.value) == str(conflict("orders", expected_version))
    assert store.load("orders") == before
