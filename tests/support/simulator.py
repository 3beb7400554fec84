"""`simulator`: AWS's policy evaluator (sandbox.iam.simulator) for the tests that ask for it, one Node process a test
session (an xdist worker) instead of one a module."""

from collections.abc import Iterator

import pytest

from sandbox.iam.simulator import Simulator


@pytest.fixture(scope="session")
def simulator() -> Iterator[Simulator]:
    simulator = Simulator()
    yield simulator
    simulator.close()
