"""The throttled figure's limit: the shortest wall EC2's buckets allow the bound's calls."""

import pytest

from benchmarks.cleanup import limit_s
from benchmarks.plan import Bound
from benchmarks.server import Limits

LIMITS = Limits(mutating=(50, 100), describe=(100, 20))


@pytest.mark.parametrize(
    ("bound", "expected_s"),
    [
        (Bound(snapshot_pages=10, image_pages=1, deletes=5050), 50.0),  # the capacity at once, then 100 a second
        (Bound(snapshot_pages=10, image_pages=1, deletes=30), 0.0),  # within both buckets' capacity
        (Bound(snapshot_pages=299, image_pages=1, deletes=50), 10.0),  # the describe bucket is the slower one
    ],
)
def test_the_limit_is_the_slower_buckets_calls_beyond_its_capacity_at_its_refill(
    bound: Bound, expected_s: float
) -> None:
    assert limit_s(bound, LIMITS) == pytest.approx(expected_s)
