"""What the sandbox's commands print: progress lines, JSON, and a failure told in one message.

Whatever a function answers is printed: JSON of any depth is written without recursion, and a lone
UTF-16 surrogate (which JSON's `\\udXXX` escapes can carry, but UTF-8 cannot encode) is written escaped.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class SandboxError(RuntimeError):
    """A failure to report in one message, without a traceback."""


class InputRefused(SandboxError):
    """The command's input cannot be used (a file, an event, an option): the CLI exits 2 and says why."""


# Where `say` writes: stdout, or stderr when stdout carries --json. The stream is looked up at each line, never
# kept: a stream kept past its owner (a test's captured stdout) is closed by the time the next line comes.
_progress_on_stderr = [False]


def say(text: str = "") -> None:
    print(printable(text), file=sys.stderr if _progress_on_stderr[0] else sys.stdout, flush=True)


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
    print(json_text(value), flush=True)


_SURROGATE = re.compile("[\ud800-\udfff]")
_INDENT = "  "


def printable(text: str) -> str:
    """`text` with each lone surrogate as its JSON escape, so that any stream can encode it."""
    return _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def json_text(value: Any) -> str:
    """`json.dumps(value, indent=2, default=str, ensure_ascii=False)`, surrogates escaped, at any depth.

    json.dumps recurses once per level (a 900-deep answer exhausts the interpreter's stack): this walks
    the value with a stack of open containers instead.
    """
    parts: list[str] = []
    open_containers: list[tuple[Iterator[tuple[str | None, Any]], str]] = []  # their remaining entries, closer
    entry: tuple[str | None, Any] | None = (None, value)
    opened = False  # the last item written opened a container: the next entry is its first
    while entry is not None:
        key, item = entry
        depth = len(open_containers)
        if depth:
            parts.append(f"{'' if opened else ','}\n{_INDENT * depth}")
        if key is not None:
            parts.append(f"{key}: ")
        opened = isinstance(item, dict | list | tuple) and bool(item)
        if opened and isinstance(item, dict):
            parts.append("{")
            open_containers.append((((_key_text(k), v) for k, v in item.items()), "}"))
        elif opened:
            parts.append("[")
            open_containers.append((((None, v) for v in item), "]"))
        else:
            parts.append(_scalar_text(item))
        entry = None
        while open_containers and entry is None:
            entries, closer = open_containers[-1]
            entry = next(entries, None)
            if entry is None:
                open_containers.pop()
                parts.append(f"\n{_INDENT * len(open_containers)}{closer}")
    return "".join(parts)


def _key_text(key: Any) -> str:
    """A key as json.dumps writes it: a string, or the JSON text of a number, boolean or null made a string."""
    return _scalar_text(key if isinstance(key, str) else _scalar_text(key))


def _scalar_text(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list | tuple):
        return "[]"
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return printable(json.dumps(value if isinstance(value, str) else str(value), ensure_ascii=False))


@contextlib.contextmanager
def progress_on_stderr(on: bool) -> Iterator[None]:
    """Within: `say` writes to stderr when `on` (stdout carries --json), else to stdout."""
    before, _progress_on_stderr[0] = _progress_on_stderr[0], on
    try:
        yield
    finally:
        _progress_on_stderr[0] = before
