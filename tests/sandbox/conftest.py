"""The sandbox server (moto wrapped by the gap fillers) in this process, and boto3 clients of it."""

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from sandbox import REGION
from tests.support.gating import serve


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """`gaps.make_app()` served on a free port, one server per test module, with no AWS settings from the shell.

    One per module because each server keeps its own gap-filler state (pipeline executions, jobs, approvals,
    provisioned concurrency). moto's backends are process-wide whatever the server: a module that must not see
    another module's resources works in a region of its own (see `region`).
    """
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MOTO_ACCOUNT_ID"):
            env.delenv(name, raising=False)
        yield from serve()


@pytest.fixture(scope="module")
def region() -> str:
    """The region `client` works in; a module overrides this fixture to keep to a region of its own."""
    return REGION


@pytest.fixture(scope="module")
def client(endpoint: str, region: str) -> Callable[[str], Any]:
    """`client("s3")`: a boto3 client of the sandbox server with dummy credentials, one per service and module."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)
    made: dict[str, Any] = {}

    def make(service: str) -> Any:
        if service not in made:
            made[service] = session.client(service, endpoint_url=endpoint)
        return made[service]

    return make
