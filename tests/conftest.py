"""Fixtures every test may use: a moto account, the audit table, and what the stack deploys."""

from collections.abc import Iterator

import pytest

from tests.support.aws import fake_aws, make_audit_table
from tests.support.deployed import Deployed, deploy


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from fake_aws(monkeypatch)


@pytest.fixture
def audit_table(aws: None) -> str:
    return make_audit_table()


@pytest.fixture
def deployed(aws: None) -> Deployed:
    return deploy()
