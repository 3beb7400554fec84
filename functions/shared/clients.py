"""boto3 clients created lazily, once per container, with adaptive retries.

Every AWS call in Deckhand goes through `client()`, so retries, timeouts and the endpoint
(AWS_ENDPOINT_URL, honoured by botocore) are set in one place.
"""

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

RETRIES = Config(
    retries={"mode": "adaptive", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=20,
    user_agent_appid="deckhand",
)


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@cache
def client(service: str, region: str | None = None) -> Any:
    """One client per service and region; region None is the function's own."""
    return _session().client(service, region_name=region, config=RETRIES)


def reset() -> None:
    """Forget cached clients, e.g. after a test moved the endpoint or credentials."""
    client.cache_clear()
    _session.cache_clear()
