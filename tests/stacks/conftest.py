"""One synth of the whole app per test session, with the example policy and cdk-nag on; and the hub's and member
stack's templates of a module's `organization` policy fixture, once per module."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from stacks.app import build
from stacks.deckhand_stack import DeckhandStack
from stacks.policy import Policy
from tests.support.template import hub_and_member


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DeckhandStack, Path]]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = App(outdir=str(outdir))
    stack = build(app)
    app.synth()  # raises when cdk-nag reports a finding nobody acknowledged
    return stack, outdir


@pytest.fixture(scope="session")
def stack(synthesized: tuple[DeckhandStack, Path]) -> DeckhandStack:
    return synthesized[0]


@pytest.fixture(scope="session")
def template(stack: DeckhandStack) -> Template:
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def hub_and_member_templates(
    organization: Policy, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Template, Template]:
    return hub_and_member(organization, str(tmp_path_factory.mktemp("cdk.out")))


@pytest.fixture(scope="module")
def hub(hub_and_member_templates: tuple[Template, Template]) -> Template:
    return hub_and_member_templates[0]


@pytest.fixture(scope="module")
def member(hub_and_member_templates: tuple[Template, Template]) -> Template:
    return hub_and_member_templates[1]
