"""Fixtures every test may use: a moto account, the audit table, and what the stack deploys."""

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.support.aws import fake_aws, make_audit_table
from tests.support.deployed import Deployed, deploy

# Shared machines stall at random: a per-example deadline only adds flaky failures. In CI the
# examples are derived from each test's name, so a red run can be replayed exactly.
settings.register_profile("deckhand", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "deckhand")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from fake_aws(monkeypatch)


@pytest.fixture
def audit_table(aws: None) -> str:
    return make_audit_table()


@pytest.fixture
def deployed(aws: None) -> Deployed:
    return deploy()
