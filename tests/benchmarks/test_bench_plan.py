from collections import Counter
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from benchmarks.plan import MIN_AGE_DAYS, PAGE_SIZE, SnapshotSpec, lower_bound, plan


def spec(**changes: object) -> SnapshotSpec:
    base: dict[str, object] = {
        "index": 0,
        "age_days": MIN_AGE_DAYS + 10.5,
        "foreign": False,
        "protected": False,
        "behind_image": False,
        "mark": "due",
        "mark_offset_days": -3,
    }
    return SnapshotSpec(**{**base, **changes})  # type: ignore[arg-type]


def test_only_own_unprotected_free_old_and_due_snapshots_qualify() -> None:
    assert spec().qualifies
    assert not spec(foreign=True).qualifies
    assert not spec(protected=True).qualifies
    assert not spec(behind_image=True).qualifies
    assert not spec(age_days=MIN_AGE_DAYS - 0.5).qualifies
    assert not spec(mark="pending", mark_offset_days=3).qualifies
    assert not spec(mark="none").qualifies


def test_mark_values_are_due_dates_relative_to_today() -> None:
    today = date(2026, 11, 21)
    assert spec().mark_value(today) == "2026-11-18"
    assert spec(mark="pending", mark_offset_days=4).mark_value(today) == "2026-11-25"
    assert spec(mark="none").mark_value(today) is None


def test_the_plan_is_the_same_for_a_seed_and_mixes_every_case() -> None:
    first, again = plan(2000, 6), plan(2000, 6)
    assert first == again
    assert plan(2000, 7) != first
    assert Counter(s.mark for s in first).keys() == {"due", "pending", "none"}
    assert any(s.foreign for s in first)
    assert any(s.protected for s in first)
    assert any(s.behind_image for s in first)
    assert not any(s.foreign and s.behind_image for s in first)
    assert all(abs(s.age_days - MIN_AGE_DAYS) >= 0.5 for s in first)
    assert 0.4 < sum(s.qualifies for s in first) / len(first) < 0.7


@given(st.integers(min_value=1, max_value=5000), st.integers(min_value=0, max_value=100))
def test_the_lower_bound_is_full_pages_and_one_delete_per_qualifying_snapshot(count: int, seed: int) -> None:
    specs = plan(count, seed)
    bound = lower_bound(specs)
    own = sum(not s.foreign for s in specs)
    assert (bound.snapshot_pages - 1) * PAGE_SIZE < max(own, 1) <= bound.snapshot_pages * PAGE_SIZE
    assert bound.deletes == sum(s.qualifies for s in specs)
    assert bound.total == bound.snapshot_pages + bound.image_pages + bound.deletes
