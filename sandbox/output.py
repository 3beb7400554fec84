"""What the sandbox's commands print: progress lines, JSON, and a failure told in one message."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO


class SandboxError(RuntimeError):
    """A failure to report in one message, without a traceback."""


_progress: list[TextIO] = []  # where `say` writes: stdout, or stderr when stdout carries --json


def say(text: str = "") -> None:
    print(text, file=_progress[-1] if _progress else sys.stdout, flush=True)


@contextlib.contextmanager
def step(title: str, timings: dict[str, float] | None = None, key: str = "") -> Iterator[None]:
    """Print what starts, then how long it took: a slow step is visible while it runs."""
    say(f"→ {title}")
    started = time.monotonic()
    yield
    took = time.monotonic() - started
    if timings is not None:
        timings[key or title] = round(took, 1)
    say(f"  done in {took:.1f} s")


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join("  | " + line for line in text.splitlines()[-lines:])


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str, ensure_ascii=False), flush=True)


def progress_to(stream: TextIO) -> None:
    """Where `say` writes from now on: stdout, or stderr when stdout carries --json."""
    _progress[:] = [stream]
