"""Every name the benches import from Deckhand exists: mypy does not read benchmarks/ (its call into the test
support is loosely typed), and a bench's imports sit inside the function that runs it, so nothing else would see
a name that moved (`decide` left functions.gating.observe and `make bench` broke at its gate figure)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
OURS = ("functions", "stacks", "sandbox", "benchmarks", "tests")


def imported_names() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(BENCHMARKS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith(OURS):
                found += [(path.name, node.module, alias.name) for alias in node.names]
    return found


@pytest.mark.parametrize(("bench", "module", "name"), imported_names())
def test_every_name_a_bench_imports_exists(bench: str, module: str, name: str) -> None:
    imported = importlib.import_module(module)
    assert hasattr(imported, name) or importlib.util.find_spec(f"{module}.{name}") is not None, (
        f"{bench}: {module} has no {name}"
    )
