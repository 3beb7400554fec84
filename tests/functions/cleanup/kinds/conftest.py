"""Every kind test that reaches (moto's) AWS fails when the kind calls an IAM action it does not declare."""

from collections.abc import Iterator

import pytest

from .support import iam_actions, undeclared


@pytest.fixture(autouse=True)
def _calls_stay_within_the_kinds_permissions(request: pytest.FixtureRequest) -> Iterator[None]:
    kind = getattr(request.module, "KIND", None)
    if kind is None or "aws" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("aws")  # moto first: it resets the clients the recorder makes afresh
    with iam_actions() as made:
        yield
    missing = undeclared(kind, made)
    assert not missing, f"{kind.name} calls {sorted(missing)}: declare them in its permissions (the stack grants those)"
