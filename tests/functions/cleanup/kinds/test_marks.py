"""A kind whose resources the service cannot tag says so: it is not taggable, and its mark refuses, naming the engine
that keeps its marks in the state table instead."""

from __future__ import annotations

import pytest

from functions.cleanup.kinds import KINDS

from .support import scope

UNTAGGABLE = sorted(name for name, kind in KINDS.items() if not kind.taggable)


def test_ecr_images_lambda_versions_and_stacks_are_the_untaggable_kinds() -> None:
    assert UNTAGGABLE == ["cfn-stack", "ecr-image", "lambda-version"]


@pytest.mark.parametrize("name", UNTAGGABLE)
def test_an_untaggable_kinds_mark_refuses(name: str) -> None:
    with pytest.raises(NotImplementedError, match=f"engine keeps {name} marks"):
        KINDS[name].mark(scope(name), [], "deckhand:cleanup-after", "2026-06-08")
