from collections.abc import Iterator

import pytest

from tests.support.deployed import Deployed, deploy


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    yield from deploy(monkeypatch)
