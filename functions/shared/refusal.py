"""One refusal type and one answer shape for every function.

A console payload that cannot be acted on is *rejected*: `{"status": "rejected", "errors": [...],
"changed": false}`, each error naming the key path, the value and what was expected. An event that is
not Deckhand's to handle is *ignored*: `{"status": "ignored", "reason": ..., "changed": false}`. Either
way nothing is changed. Every string echoed back or stored is capped, so a 1 MB field cannot push an
answer, a log line or an audit item past a service limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from .validation import describe_all

ECHO_LIMIT = 300  # characters of any caller-supplied text echoed in an answer, a log line or an audit item
MAX_ERRORS = 20


def cap(value: object, limit: int = ECHO_LIMIT) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


class Refused(ValueError):
    """What a payload or event got wrong; `problems` are the operator-facing messages."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = [cap(problem) for problem in problems][:MAX_ERRORS] or ["the payload was refused"]
        super().__init__("; ".join(self.problems))

    @classmethod
    def from_validation(cls, invalid: ValidationError) -> Refused:
        return cls(describe_all(invalid))


def rejected(refused: Refused) -> dict[str, Any]:
    return {"status": "rejected", "errors": list(refused.problems), "changed": False}


def ignored(reason: str) -> dict[str, Any]:
    return {"status": "ignored", "reason": cap(reason), "changed": False}
