"""The contract of watchdog.slots.Slots: the same assertions against the in-memory twin and TableSlots on moto's
DynamoDB (conditional puts on the audit table)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from functions.gating.watchdog.slots import Slots, TableSlots
from tests.functions.gating.twins import MemorySlots
from tests.support.aws import make_audit_table

NOW = datetime(2026, 11, 21, 12, 10, tzinfo=UTC)


@pytest.fixture(params=["twin", pytest.param("moto", marks=pytest.mark.aws)])
def slots(request: pytest.FixtureRequest) -> Iterator[Slots]:
    if request.param == "twin":
        yield MemorySlots()
    else:
        request.getfixturevalue("aws")
        yield TableSlots(make_audit_table())


def test_a_stage_has_limit_slots_an_hour_and_a_slot_given_back_is_claimed_again(slots: Slots) -> None:
    first = slots.claim("web-app", "Deploy", NOW, 2)
    second = slots.claim("web-app", "Deploy", NOW + timedelta(minutes=5), 2)
    assert first is not None
    assert second is not None
    assert (first.key, first.sort, second.sort) == (
        "watchdog-lock/web-app/Deploy",
        "2026-11-21T12#0",
        "2026-11-21T12#1",
    )
    assert slots.claim("web-app", "Deploy", NOW, 2) is None
    assert slots.claim("web-app", "Build", NOW, 2) is not None  # another stage's budget
    assert slots.claim("web-app", "Deploy", NOW + timedelta(hours=1), 2) is not None  # the next hour's

    slots.give_back(first)
    again = slots.claim("web-app", "Deploy", NOW, 2)
    assert again == first
