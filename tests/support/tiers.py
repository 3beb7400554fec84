"""The test tiers, decided at collection (tests/conftest.py): which tests need an AWS stand-in, and the quick
loop's cap on hypothesis examples."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from hypothesis import settings

# What stands AWS in for a test: a moto account in this process, a sandbox server (moto behind the gap fillers), the
# CDK (a synth through jsii and Node) or the IAM simulator (Node). A test using any of them, through its fixtures or
# from its module's imports, is in the `aws` tier; the others are the quick loop, `pytest -m "not aws"`.
AWS_FIXTURES = frozenset({"aws", "endpoint", "gaps_endpoint", "synthesized", "simulator"})
AWS_PACKAGES = ("moto", "aws_cdk", "sandbox.iam.simulator", "benchmarks.server")
# A contract test's fixture is parametrized over the implementations it holds to one contract, and reaches the
# AWS stand-in with request.getfixturevalue, which collection cannot see: its parameter names the stand-in.
AWS_PARAMETERS = frozenset({"moto", "sandbox"})


def in_aws_tier(item: Any) -> bool:
    """`item`: a collected pytest item (its markers, fixture closure, module and parameters)."""
    return bool(
        item.get_closest_marker("sandbox")
        or AWS_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        or _imports_aws(getattr(item, "module", None))
        or AWS_PARAMETERS.intersection(map(str, getattr(getattr(item, "callspec", None), "params", {}).values()))
    )


def _imports_aws(module: ModuleType | None) -> bool:
    for value in vars(module).values() if module else ():
        origin = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
        if isinstance(origin, str) and any(origin == name or origin.startswith(f"{name}.") for name in AWS_PACKAGES):
            return True
    return False


def cap_examples(test: object, most: int) -> None:
    """At most `most` examples for a hypothesis test, whatever its own settings say."""
    own = getattr(test, "_hypothesis_internal_use_settings", None)  # where @settings and @given leave a test's settings
    if isinstance(own, settings) and own.max_examples > most:
        test._hypothesis_internal_use_settings = settings(own, max_examples=most)  # type: ignore[attr-defined]
