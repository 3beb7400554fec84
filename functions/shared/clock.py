"""Time as an injectable dependency: pure code takes `now`, handlers take a `Clock`."""

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant that must carry its offset, so no one guesses a time zone."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; write it like 2026-12-01T18:00:00+01:00 or ...Z")
    return moment.astimezone(UTC)


def parse_cloudwatch_time(text: str) -> datetime:
    """CloudWatch writes 2026-01-01T10:00:00.000+0000; ISO parsing wants +00:00."""
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    return parse_instant(text)
