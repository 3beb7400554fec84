"""BatchWriteItem until DynamoDB has processed every request, retrying what it leaves unprocessed.

DynamoDB may process only part of a batch and return the rest in `UnprocessedItems` (with HTTP 200, so
botocore's retries never see it). Its developer guide asks callers to retry those "using an exponential
backoff algorithm" (BatchWriteItem, API reference); the delay here is "full jitter" (a random wait up to
the exponential bound), so many writers retrying together spread out. The retries are bounded: a batch
still unprocessed after the last attempt raises, instead of looping for as long as the throttling lasts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from .clients import client

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import WriteRequestOutputTypeDef, WriteRequestUnionTypeDef

BATCH = 25  # BatchWriteItem's limit of requests per call
ATTEMPTS = 8
FIRST_DELAY_SECONDS = 0.05
MAX_DELAY_SECONDS = 5.0


class Unprocessed(RuntimeError):
    """DynamoDB still left requests unprocessed after the last attempt; nothing says which were lost first."""

    def __init__(self, table: str, left: int) -> None:
        super().__init__(f"{left} write request(s) to {table} still unprocessed after {ATTEMPTS} attempts")
        self.left = left


def backoff(attempt: int, draw: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): up to 0.05 s, 0.1 s, 0.2 s ..., at most 5 s."""
    return draw() * min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * (1 << (attempt - 1)))


def batch_write(
    table: str,
    requests: Sequence[WriteRequestUnionTypeDef],
    *,
    sleep: Callable[[float], None] = time.sleep,
    draw: Callable[[], float] = random.random,
) -> None:
    """Write or delete in batches of 25; raises Unprocessed when DynamoDB keeps refusing part of one."""
    dynamodb = client("dynamodb")
    for start in range(0, len(requests), BATCH):
        pending: Mapping[str, Sequence[WriteRequestUnionTypeDef | WriteRequestOutputTypeDef]] = {
            table: requests[start : start + BATCH]
        }
        for attempt in range(ATTEMPTS):
            if attempt:
                sleep(backoff(attempt, draw))
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
        else:
            raise Unprocessed(table, sum(len(writes) for writes in pending.values()))
