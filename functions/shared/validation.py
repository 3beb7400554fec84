"""Turn pydantic validation errors into messages that name the key path, the value and the rule."""

from typing import Any

from pydantic import ValidationError


def key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def describe(error: Any) -> str:
    path = key_path(tuple(error["loc"]))
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"{path}: unknown key; check its spelling and where it sits"
    if error["type"] == "missing":
        return f"{path}: required key is missing"
    if not error["loc"]:
        return message
    return f"{path}: got {error['input']!r}: {message}"


def describe_all(invalid: ValidationError) -> list[str]:
    return [describe(error) for error in invalid.errors()]
