"""boto3 clients of the sandbox's endpoint, with its dummy credentials."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import boto3.session

from . import REGION

DUMMY = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


@cache
def sandbox_session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=DUMMY["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=DUMMY["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )


@cache
def sandbox_client(service: str, endpoint: str) -> Any:
    return sandbox_session().client(service, endpoint_url=endpoint)  # type: ignore[call-overload]  # named at run time


def pages(method: Callable[..., Any], key: str, cursor: str = "NextToken", **request: Any) -> Iterator[Any]:
    """Every item of a paginated list call; `cursor` names the field that carries the next page's start."""
    while True:
        page = method(**request)
        yield from page.get(key, [])
        if not page.get(cursor):
            return
        request["ExclusiveStartKey" if cursor == "LastEvaluatedKey" else cursor] = page[cursor]
