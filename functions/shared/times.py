"""The time types every duty's policy section shares: weekdays, times of day, IANA time zones."""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

Weekday = Literal["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _clock_time(value: Any) -> time:
    if isinstance(value, int):
        raise ValueError("write times in quotes, like '17:00' (YAML reads 17:00 unquoted as a number)")
    if not isinstance(value, str) or not _CLOCK.fullmatch(value):
        raise ValueError("expected a time of day like '09:30' (24-hour, quoted)")
    return time(int(value[:2]), int(value[3:]))


def _zone(zone: str) -> str:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone like Europe/Paris") from None
    return zone


TimeZone = Annotated[str, AfterValidator(_zone)]

# Dumped as written ("09:30"), so the section survives the JSON round trip to the functions.
ClockTime = Annotated[
    time, BeforeValidator(_clock_time), PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str)
]
