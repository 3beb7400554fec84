"""When EventBridge rules and EventBridge Scheduler schedules fire: `due(expression, timezone, start, end)`.

Pure: no AWS. Supports `rate(...)`, AWS 6-field `cron(...)` and one-time `at(...)`.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache, partial
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["EPOCH", "due", "validate"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_RATE_UNITS = {
    "minute": timedelta(minutes=1),
    "minutes": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "hours": timedelta(hours=1),
    "day": timedelta(days=1),
    "days": timedelta(days=1),
}
_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
_DAY_NAMES = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_YEARS = (1970, 2199)

# A day rule answers: which days of this (year, month) match?
DayRule = Callable[[int, int], frozenset[int]]


@dataclass(frozen=True)
class _Rate:
    period: timedelta


@dataclass(frozen=True)
class _Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    years: frozenset[int]
    days: DayRule


@dataclass(frozen=True)
class _At:
    local: datetime


_Parsed = _Rate | _Cron | _At


def validate(expression: str) -> None:
    """Raise ValueError naming the bad part if `expression` is not a valid rate/cron/at expression."""
    _parse(expression)


def due(
    expression: str,
    timezone: str | None,
    start: datetime,
    end: datetime,
    *,
    anchor: datetime = EPOCH,
) -> list[datetime]:
    """The UTC instants in (start, end] at which a rule or schedule with `expression` fires.

    `timezone` is an IANA zone (Scheduler's ScheduleExpressionTimezone); None means UTC, as for rules.
    Rates fire at `anchor + k * period` for k >= 0 (the anchor is the rule's creation or the schedule's
    StartDate); a day is 24 elapsed hours, as in Scheduler. `start`, `end` and `anchor` must be aware.
    """
    for name, value in (("start", start), ("end", end), ("anchor", anchor)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}")
    parsed = _parse(expression)
    zone = _zone(timezone)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return []
    if isinstance(parsed, _Rate):
        return _rate_due(parsed.period, anchor.astimezone(UTC), start, end)
    if isinstance(parsed, _At):
        instant = _to_utc(parsed.local, zone)
        return [instant] if instant is not None and start < instant <= end else []
    return _cron_due(parsed, zone, start, end)


def _rate_due(period: timedelta, anchor: datetime, start: datetime, end: datetime) -> list[datetime]:
    first = max(0, (start - anchor) // period + 1)
    last = (end - anchor) // period
    return [anchor + k * period for k in range(first, last + 1)]


def _cron_due(cron: _Cron, zone: tzinfo, start: datetime, end: datetime) -> list[datetime]:
    # Local dates can lie a day either side of the UTC window; the exact filter below trims them.
    first_day = start.astimezone(zone).date() - timedelta(days=1)
    last_day = end.astimezone(zone).date() + timedelta(days=1)
    fired: set[datetime] = set()
    for day in _matching_days(cron, first_day, last_day):
        midnight = datetime.combine(day, datetime.min.time())
        offset = _steady_offset(midnight, zone)
        for hour in cron.hours:
            for minute in cron.minutes:
                local = midnight.replace(hour=hour, minute=minute)
                instant = (local - offset).replace(tzinfo=UTC) if offset is not None else _to_utc(local, zone)
                if instant is not None and start < instant <= end:
                    fired.add(instant)
    return sorted(fired)


def _matching_days(cron: _Cron, first: date, last: date) -> Iterator[date]:
    for year in range(max(first.year, _YEARS[0]), min(last.year, _YEARS[1]) + 1):
        if year not in cron.years:
            continue
        for month in range(1, 13):
            if month not in cron.months or (year, month) < (first.year, first.month):
                continue
            if (year, month) > (last.year, last.month):
                return
            for day in sorted(cron.days(year, month)):
                candidate = date(year, month, day)
                if first <= candidate <= last:
                    yield candidate


def _steady_offset(midnight: datetime, zone: tzinfo) -> timedelta | None:
    """The day's UTC offset when it has no DST transition (fast path), else None."""
    today = midnight.replace(tzinfo=zone).utcoffset()
    tomorrow = (midnight + timedelta(days=1)).replace(tzinfo=zone).utcoffset()
    return today if today == tomorrow else None


def _to_utc(local: datetime, zone: tzinfo) -> datetime | None:
    # EventBridge Scheduler documents that a local time skipped by a spring-forward change does not
    # fire, and a local time repeated by a fall-back change fires only once: we fire at its first
    # occurrence (fold=0).
    instant = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != local:
        return None
    return instant


def _zone(name: str | None) -> tzinfo:
    if name is None or name in {"UTC", "Etc/UTC"}:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r}: expected an IANA name such as 'Europe/Paris'") from error


@lru_cache(maxsize=512)
def _parse(expression: str) -> _Parsed:
    text = expression.strip()
    match = re.fullmatch(r"(rate|cron|at)\((.*)\)", text, flags=re.IGNORECASE | re.DOTALL)
    if match is None:
        raise ValueError(f"bad schedule expression {expression!r}: expected rate(...), cron(...) or at(...)")
    kind, body = match.group(1).lower(), match.group(2).strip()
    if kind == "rate":
        return _parse_rate(body, expression)
    if kind == "at":
        return _parse_at(body, expression)
    return _parse_cron(body, expression)


def _parse_rate(body: str, expression: str) -> _Rate:
    match = re.fullmatch(r"(\d+)\s+([a-z]+)", body, flags=re.IGNORECASE)
    if match is None:
        raise ValueError(f"bad rate expression {expression!r}: expected rate(<positive number> <unit>)")
    value, unit = int(match.group(1)), match.group(2).lower()
    if unit not in _RATE_UNITS:
        raise ValueError(f"bad rate unit {unit!r} in {expression!r}: expected minute(s), hour(s) or day(s)")
    if value <= 0:
        raise ValueError(f"bad rate value {value} in {expression!r}: expected a positive number")
    return _Rate(_RATE_UNITS[unit] * value)


def _parse_at(body: str, expression: str) -> _At:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", body) is None:
        raise ValueError(f"bad at expression {expression!r}: expected at(yyyy-mm-ddThh:mm:ss)")
    try:
        return _At(datetime.fromisoformat(body))
    except ValueError as error:
        raise ValueError(f"bad date-time {body!r} in {expression!r}: {error}") from error


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]
    cyclic: bool = True


_MINUTES = _Field("minutes", 0, 59, {})
_HOURS = _Field("hours", 0, 23, {})
_DAY_OF_MONTH = _Field("day-of-month", 1, 31, {}, cyclic=False)
_MONTH = _Field("month", 1, 12, _MONTH_NAMES)
_DAY_OF_WEEK = _Field("day-of-week", 1, 7, _DAY_NAMES)
_YEAR = _Field("year", *_YEARS, {}, cyclic=False)


def _parse_cron(body: str, expression: str) -> _Cron:
    fields = body.split()
    if len(fields) != 6:
        raise ValueError(
            f"bad cron expression {expression!r}: expected 6 fields "
            f"(minutes hours day-of-month month day-of-week year), got {len(fields)}"
        )
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ValueError(
            f"bad cron expression {expression!r}: exactly one of day-of-month ({dom!r}) "
            f"and day-of-week ({dow!r}) must be '?'"
        )
    days = _day_of_week_rule(dow, expression) if dom == "?" else _day_of_month_rule(dom, expression)
    return _Cron(
        minutes=tuple(sorted(_values(minute, _MINUTES, expression))),
        hours=tuple(sorted(_values(hour, _HOURS, expression))),
        months=frozenset(_values(month, _MONTH, expression)),
        years=frozenset(_values(year, _YEAR, expression)),
        days=days,
    )


def _values(text: str, field: _Field, expression: str) -> set[int]:
    result: set[int] = set()
    for part in text.split(","):
        result |= _part_values(part, field, expression)
    return result


def _part_values(part: str, field: _Field, expression: str) -> set[int]:
    def bad(reason: str) -> ValueError:
        return ValueError(f"bad cron {field.name} field part {part!r} in {expression!r}: {reason}")

    def number(token: str) -> int:
        value = field.names.get(token.upper())
        if value is None:
            if not token.isdigit():
                names = f" or {next(iter(field.names))}-{next(reversed(field.names))}" if field.names else ""
                raise bad(f"{token!r} is not a number {field.low}-{field.high}{names}")
            value = int(token)
        if not field.low <= value <= field.high:
            raise bad(f"{value} is out of range {field.low}-{field.high}")
        return value

    base, _, step_text = part.partition("/")
    step = 1
    if step_text:
        if not step_text.isdigit() or int(step_text) == 0:
            raise bad(f"step {step_text!r} must be a positive number")
        step = int(step_text)
    if base == "*":
        first, last = field.low, field.high
    elif "-" in base:
        first_text, _, last_text = base.partition("-")
        first, last = number(first_text), number(last_text)
    else:
        first = number(base)
        last = field.high if step_text else first
    if first <= last:
        return set(range(first, last + 1, step))
    if not field.cyclic:
        raise bad(f"range {first}-{last} runs backwards")
    # A wrapping range such as FRI-MON or 22-2.
    span = [*range(first, field.high + 1), *range(field.low, last + 1)]
    return set(span[::step])


def _day_of_month_rule(text: str, expression: str) -> DayRule:
    plain: set[int] = set()
    specials: list[Callable[[int, int], int | None]] = []
    for part in text.split(","):
        upper = part.upper()
        if upper == "L":
            specials.append(_last_day)
        elif upper == "LW":
            specials.append(_last_weekday)
        elif match := re.fullmatch(r"L-(\d+)", upper):
            if int(match.group(1)) > 30:
                raise ValueError(f"bad cron day-of-month part {part!r} in {expression!r}: offset must be 0-30")
            specials.append(partial(_days_before_last, int(match.group(1))))
        elif match := re.fullmatch(r"(\d+)W", upper):
            if not 1 <= int(match.group(1)) <= 31:
                raise ValueError(f"bad cron day-of-month part {part!r} in {expression!r}: day must be 1-31")
            specials.append(partial(_nearest_weekday, int(match.group(1))))
        else:
            plain |= _part_values(part, _DAY_OF_MONTH, expression)

    def days(year: int, month: int) -> frozenset[int]:
        length = calendar.monthrange(year, month)[1]
        found = {d for d in plain if d <= length}
        found |= {d for rule in specials if (d := rule(year, month)) is not None}
        return frozenset(found)

    return days


def _day_of_week_rule(text: str, expression: str) -> DayRule:
    weekdays: set[int] = set()
    specials: list[Callable[[int, int], int | None]] = []
    for part in text.split(","):
        upper = part.upper()
        if match := re.fullmatch(r"(\w+)#(\d+)", upper):
            nth = int(match.group(2))
            if not 1 <= nth <= 5:
                raise ValueError(f"bad cron day-of-week part {part!r} in {expression!r}: occurrence must be 1-5")
            specials.append(partial(_nth_weekday, _weekday(match.group(1), part, expression), nth))
        elif upper == "L":
            weekdays.add(_DAY_NAMES["SAT"])
        elif match := re.fullmatch(r"(\w+)L", upper):
            specials.append(partial(_nth_weekday, _weekday(match.group(1), part, expression), -1))
        else:
            weekdays |= _part_values(part, _DAY_OF_WEEK, expression)

    def days(year: int, month: int) -> frozenset[int]:
        length = calendar.monthrange(year, month)[1]
        found = {d for d in range(1, length + 1) if _aws_weekday(year, month, d) in weekdays}
        found |= {d for rule in specials if (d := rule(year, month)) is not None}
        return frozenset(found)

    return days


def _weekday(token: str, part: str, expression: str) -> int:
    if token in _DAY_NAMES:
        return _DAY_NAMES[token]
    if token.isdigit() and 1 <= int(token) <= 7:
        return int(token)
    raise ValueError(f"bad cron day-of-week part {part!r} in {expression!r}: {token!r} is not 1-7 or SUN-SAT")


def _aws_weekday(year: int, month: int, day: int) -> int:
    """AWS numbering: 1=SUN .. 7=SAT (Python: Monday=0 .. Sunday=6)."""
    return (date(year, month, day).weekday() + 1) % 7 + 1


def _nth_weekday(weekday: int, nth: int, year: int, month: int) -> int | None:
    length = calendar.monthrange(year, month)[1]
    matches = [d for d in range(1, length + 1) if _aws_weekday(year, month, d) == weekday]
    if nth == -1:
        return matches[-1]
    return matches[nth - 1] if nth <= len(matches) else None


def _nearest_weekday(target: int, year: int, month: int) -> int | None:
    length = calendar.monthrange(year, month)[1]
    if target > length:
        return None
    weekday = _aws_weekday(year, month, target)
    if weekday == 7:  # Saturday: the Friday before, or Monday when that would leave the month
        return target - 1 if target > 1 else target + 2
    if weekday == 1:  # Sunday: the Monday after, or Friday when that would leave the month
        return target + 1 if target < length else target - 2
    return target


def _last_weekday(year: int, month: int) -> int:
    day = calendar.monthrange(year, month)[1]
    while _aws_weekday(year, month, day) in {1, 7}:
        day -= 1
    return day


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _days_before_last(back: int, year: int, month: int) -> int | None:
    day = calendar.monthrange(year, month)[1] - back
    return day if day >= 1 else None
