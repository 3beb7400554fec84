"""BatchWriteItem with the unprocessed part retried after a jittered exponential wait, a bounded number of times."""

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from functions.shared.batch import ATTEMPTS, MAX_DELAY_SECONDS, Unprocessed, backoff, batch_write
from functions.shared.clients import client


def put(n: int) -> dict[str, Any]:
    return {"PutRequest": {"Item": {"pk": {"S": "cleanup-mark/x"}, "sk": {"S": f"id-{n}"}}}}


def test_every_request_is_written_in_batches_of_25(audit_table: str) -> None:
    batch_write(audit_table, [put(n) for n in range(60)])
    assert boto3.client("dynamodb").scan(TableName=audit_table)["Count"] == 60


@pytest.mark.usefixtures("aws")
def test_what_dynamodb_leaves_unprocessed_is_sent_again_after_a_wait() -> None:
    waits: list[float] = []
    with Stubber(client("dynamodb")) as stub:
        stub.add_response(
            "batch_write_item",
            {"UnprocessedItems": {"t": [put(2)]}},
            {"RequestItems": {"t": [put(1), put(2), put(3)]}},
        )
        stub.add_response("batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": {"t": [put(2)]}})
        batch_write("t", [put(1), put(2), put(3)], sleep=waits.append, draw=lambda: 1.0)
        stub.assert_no_pending_responses()
    assert waits == [0.05]


@pytest.mark.usefixtures("aws")
def test_a_batch_dynamodb_keeps_refusing_raises_after_the_last_attempt() -> None:
    waits: list[float] = []
    with Stubber(client("dynamodb")) as stub:
        for _ in range(ATTEMPTS):
            stub.add_response("batch_write_item", {"UnprocessedItems": {"t": [put(1)]}})
        with pytest.raises(Unprocessed, match="1 write request"):
            batch_write("t", [put(1), put(2)], sleep=waits.append, draw=lambda: 1.0)
        stub.assert_no_pending_responses()
    assert waits == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2]


@given(attempt=st.integers(min_value=1, max_value=ATTEMPTS), draw=st.floats(min_value=0, max_value=1))
def test_a_wait_is_a_random_share_of_an_exponential_bound(attempt: int, draw: float) -> None:
    bound = min(MAX_DELAY_SECONDS, 0.05 * 2 ** (attempt - 1))
    assert 0 <= backoff(attempt, lambda: draw) <= bound
    assert backoff(attempt, lambda: 1.0) == pytest.approx(bound)
