"""boto3 clients created lazily, once per container, with adaptive retries.

Every AWS call in Deckhand goes through `client()`, so retries, timeouts and the endpoint
(AWS_ENDPOINT_URL, honoured by botocore) are set in one place. A role (another account's) gives
clients with that role's credentials, refreshed before they expire: what a fan-out over accounts needs.
"""

from functools import cache
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

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
def _assumed(role: str) -> boto3.session.Session:
    """A session with the role's credentials, assumed from the function's own and renewed by botocore."""
    source = _session()._session
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=source.create_client,
        source_credentials=source.get_credentials(),
        role_arn=role,
        extra_args={"RoleSessionName": "deckhand"},
    )
    assumed = botocore.session.Session()
    assumed._credentials = DeferredRefreshableCredentials(method="assume-role", refresh_using=fetcher.fetch_credentials)
    return boto3.session.Session(botocore_session=assumed)


@cache
def client(service: str, region: str | None = None, role: str | None = None) -> Any:
    """One client per service, region and role; region None is the function's own, role None its own account."""
    session = _session() if role is None else _assumed(role)
    return session.client(service, region_name=region, config=RETRIES)


def reset() -> None:
    """Forget cached clients, e.g. after a test moved the endpoint or credentials."""
    client.cache_clear()
    _assumed.cache_clear()
    _session.cache_clear()
