"""The aws tier holds every test that uses an AWS stand-in, however it reaches it; the quick loop's cap."""

from types import ModuleType, SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.tiers import cap_examples, in_aws_tier


def item(fixtures: tuple[str, ...] = (), module: ModuleType | None = None, **params: str) -> Any:
    return SimpleNamespace(
        fixturenames=list(fixtures),
        module=module,
        callspec=SimpleNamespace(params=params),
        get_closest_marker=lambda name: None,
    )


def module_holding(origin: str) -> ModuleType:
    def imported() -> None: ...

    imported.__module__ = origin
    module = ModuleType("test_something")
    module.imported = imported  # type: ignore[attr-defined]
    return module


def test_a_test_whose_fixtures_reach_moto_a_server_the_cdk_or_the_simulator_is_aws() -> None:
    for closure in [("deployed", "aws"), ("client", "endpoint"), ("sandbox", "gaps_endpoint"), ("synthesized",)]:
        assert in_aws_tier(item(closure)), closure
    assert in_aws_tier(item(("simulator",)))
    assert not in_aws_tier(item(("tmp_path", "monkeypatch")))


def test_a_module_importing_moto_the_cdk_the_simulator_or_the_bench_server_is_aws() -> None:
    for origin in ["moto", "moto.core.models", "aws_cdk.assertions", "sandbox.iam.simulator", "benchmarks.server"]:
        assert in_aws_tier(item(module=module_holding(origin))), origin
    for origin in ["motor", "functions.gating.decide", "sandbox.iam.model", "benchmarks.plan"]:
        assert not in_aws_tier(item(module=module_holding(origin))), origin


def test_a_contract_tests_moto_or_sandbox_parameter_is_aws_and_its_twin_is_not() -> None:
    assert in_aws_tier(item(account="moto"))
    assert in_aws_tier(item(estate="sandbox"))
    assert not in_aws_tier(item(account="twin"))


def test_a_sandbox_marked_test_is_aws() -> None:
    marked = item()
    marked.get_closest_marker = lambda name: name == "sandbox" or None
    assert in_aws_tier(marked)


def test_the_quick_cap_lowers_a_propertys_examples_and_keeps_the_rest_of_its_settings() -> None:
    runs: list[int] = []

    @settings(max_examples=500, derandomize=True)
    @given(st.integers())
    def strong(number: int) -> None:
        runs.append(number)

    cap_examples(strong, 7)
    strong()
    assert 0 < len(runs) <= 7
    assert strong._hypothesis_internal_use_settings.derandomize  # type: ignore[attr-defined]


def test_the_cap_leaves_a_property_already_below_it() -> None:
    @settings(max_examples=3)
    @given(st.integers())
    def light(number: int) -> None: ...

    cap_examples(light, 7)
    assert light._hypothesis_internal_use_settings.max_examples == 3  # type: ignore[attr-defined]
