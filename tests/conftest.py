"""Fixtures every test may use: a moto account, the audit table, and what the stack deploys; the `aws` tier."""

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.support.aws import fake_aws, make_audit_table
from tests.support.deployed import Deployed, deploy
from tests.support.tiers import cap_examples, in_aws_tier

# Fixture modules every test may use (pytest reads pytest_plugins in this top-level conftest only).
pytest_plugins = ["tests.support.gating", "tests.support.simulator", "tests.functions.capacity.world"]

# Shared machines stall at random: a per-example deadline only adds flaky failures. In CI the
# examples are derived from each test's name, so a red run can be replayed exactly. Each property's own
# max_examples is its strength in CI, weighed against what one example costs; `--hypothesis-profile=quick`
# (make quick) caps every property at QUICK_EXAMPLES for the quick loop.
QUICK_EXAMPLES = 10
settings.register_profile("deckhand", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.register_profile("quick", deadline=None, max_examples=QUICK_EXAMPLES)
settings.load_profile("ci" if os.environ.get("CI") else "deckhand")


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    quick = config.getoption("hypothesis_profile") == "quick"
    for item in items:
        if in_aws_tier(item):
            item.add_marker(pytest.mark.aws)
        # make test spreads the tests over processes by these groups (pytest-xdist's loadgroup): a module's tests
        # share its module-scoped servers in one process, and the tests of the session's one synth share it too.
        uses_synth = "synthesized" in getattr(item, "fixturenames", ())
        item.add_marker(pytest.mark.xdist_group("cdk-synth" if uses_synth else item.nodeid.partition("::")[0]))
        if quick:
            cap_examples(getattr(item, "obj", None), QUICK_EXAMPLES)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from fake_aws(monkeypatch)


@pytest.fixture
def audit_table(aws: None) -> str:
    return make_audit_table()


@pytest.fixture
def deployed(aws: None) -> Deployed:
    return deploy()
