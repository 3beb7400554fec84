"""Fixtures every test may use: a moto account, the audit table, and what the stack deploys; the `aws` tier."""

import os
from collections.abc import Iterator
from types import ModuleType

import pytest
from hypothesis import settings

from tests.support.aws import fake_aws, make_audit_table
from tests.support.deployed import Deployed, deploy

# Fixture modules every test may use (pytest reads pytest_plugins in this top-level conftest only).
pytest_plugins = ["tests.support.gating", "tests.functions.capacity.world"]

# Shared machines stall at random: a per-example deadline only adds flaky failures. In CI the
# examples are derived from each test's name, so a red run can be replayed exactly. Each property's own
# max_examples is its strength in CI, weighed against what one example costs; `--hypothesis-profile=quick`
# (make quick) caps every property at QUICK_EXAMPLES for the quick loop.
QUICK_EXAMPLES = 10
settings.register_profile("deckhand", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.register_profile("quick", deadline=None, max_examples=QUICK_EXAMPLES)
settings.load_profile("ci" if os.environ.get("CI") else "deckhand")


# What stands AWS in for a test: a moto account in this process, a sandbox server (moto behind the gap fillers), the
# CDK (a synth through jsii and Node) or the IAM simulator (Node). A test using any of them, through its fixtures or
# from its module's imports, is in the `aws` tier; the others are the quick loop, `pytest -m "not aws"`.
AWS_FIXTURES = frozenset({"aws", "endpoint", "gaps_endpoint", "synthesized", "simulator"})
AWS_PACKAGES = ("moto", "aws_cdk", "sandbox.iam.simulator", "benchmarks.server")
# A contract test's fixture is parametrized over the implementations it holds to one contract, and reaches the
# AWS stand-in with request.getfixturevalue, which collection cannot see: its parameter names the stand-in.
AWS_PARAMETERS = frozenset({"moto", "sandbox"})


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    quick = config.getoption("hypothesis_profile") == "quick"
    for item in items:
        if (
            item.get_closest_marker("sandbox")
            or AWS_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            or _imports_aws(getattr(item, "module", None))
            or AWS_PARAMETERS.intersection(map(str, getattr(getattr(item, "callspec", None), "params", {}).values()))
        ):
            item.add_marker(pytest.mark.aws)
        # make test spreads the tests over processes by these groups (pytest-xdist's loadgroup): a module's tests
        # share its module-scoped servers in one process, and the tests of the session's one synth share it too.
        uses_synth = "synthesized" in getattr(item, "fixturenames", ())
        item.add_marker(pytest.mark.xdist_group("cdk-synth" if uses_synth else item.nodeid.partition("::")[0]))
        if quick:
            _cap_examples(getattr(item, "obj", None))


def _cap_examples(test: object) -> None:
    own = getattr(test, "_hypothesis_internal_use_settings", None)  # where @settings and @given leave a test's settings
    if isinstance(own, settings) and own.max_examples > QUICK_EXAMPLES:
        test._hypothesis_internal_use_settings = settings(own, max_examples=QUICK_EXAMPLES)  # type: ignore[attr-defined]


def _imports_aws(module: ModuleType | None) -> bool:
    for value in vars(module).values() if module else ():
        origin = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
        if isinstance(origin, str) and any(origin == name or origin.startswith(f"{name}.") for name in AWS_PACKAGES):
            return True
    return False


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from fake_aws(monkeypatch)


@pytest.fixture
def audit_table(aws: None) -> str:
    return make_audit_table()


@pytest.fixture
def deployed(aws: None) -> Deployed:
    return deploy()
