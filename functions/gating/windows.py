"""Deployment windows: allow windows in an IANA zone, deny calendars, and when the gate opens next.

Pure calendar arithmetic. Windows are laid out on local dates and turned into UTC intervals, so a
DST change moves the instants, never the local hours. A wall time inside a DST gap resolves with the
offset before the change (02:30 on a spring-forward night becomes 03:30, PEP 495 fold=0); a wall time
inside an overlap takes its first occurrence. A window whose end lands before its start that night
is empty, never negative.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .policy import AllowWindow, DenyPeriod, WindowCheck

HORIZON_DAYS = 400
_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")

Interval = tuple[datetime, datetime]  # [start, end) in UTC


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware instant, got {instant.isoformat()}")


def _at(day: date, clock: time, zone: ZoneInfo, *, fold: int = 0) -> datetime:
    return datetime.combine(day, clock, tzinfo=zone).replace(fold=fold).astimezone(UTC)


def _local_date(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def _window_on(window: AllowWindow, day: date, zone: ZoneInfo) -> Interval | None:
    """The window opening on local `day`, if it opens that weekday; it may end the next day."""
    if _WEEKDAYS[day.weekday()] not in window.days:
        return None
    end_day = day if window.end > window.start else day + timedelta(days=1)
    start, end = _at(day, window.start, zone), _at(end_day, window.end, zone)
    return (start, end) if end > start else None


def _intervals_on(check: WindowCheck, day: date, zone: ZoneInfo) -> list[Interval]:
    found = (_window_on(window, day, zone) for window in check.allow)
    return sorted(interval for interval in found if interval is not None)


def _day_after(day: date, zone: ZoneInfo) -> datetime:
    """The instant from which the local date stays after `day` (the later of midnight's two readings)."""
    following = day + timedelta(days=1)
    return max(_at(following, time(0), zone, fold=0), _at(following, time(0), zone, fold=1))


def deny_covers(period: DenyPeriod, instant: datetime, zone: ZoneInfo) -> bool:
    """Dates deny whole local days, both ends included; date-times deny [start, end)."""
    if isinstance(period.start, datetime) and isinstance(period.end, datetime):
        return period.start <= instant < period.end
    return period.start <= _local_date(instant, zone) <= period.end


def deny_ends(period: DenyPeriod, zone: ZoneInfo) -> datetime:
    if isinstance(period.end, datetime):
        return period.end.astimezone(UTC)
    return _day_after(period.end, zone)


def denied_by(check: WindowCheck, instant: datetime) -> DenyPeriod | None:
    _require_aware(instant)
    zone = ZoneInfo(check.timezone)
    return next((period for period in check.deny if deny_covers(period, instant, zone)), None)


def in_allow_window(check: WindowCheck, instant: datetime) -> bool:
    """Inside an allow window (deny periods aside); no allow windows means always."""
    _require_aware(instant)
    if not check.allow:
        return True
    zone = ZoneInfo(check.timezone)
    today = _local_date(instant, zone)
    for offset in (-1, 0, 1):
        for start, end in _intervals_on(check, today + timedelta(days=offset), zone):
            if start <= instant < end:
                return True
    return False


def is_open(check: WindowCheck, instant: datetime) -> bool:
    return in_allow_window(check, instant) and denied_by(check, instant) is None


def _allow_intervals(check: WindowCheck, now: datetime, zone: ZoneInfo) -> Iterator[Interval]:
    """Allow intervals in start order that end after `now`, up to the search horizon."""
    if not check.allow:
        yield now, now + timedelta(days=HORIZON_DAYS)
        return
    first = _local_date(now, zone) - timedelta(days=1)
    for offset in range(HORIZON_DAYS + 2):
        for start, end in _intervals_on(check, first + timedelta(days=offset), zone):
            if end > now:
                yield start, end


def _past_denials(check: WindowCheck, instant: datetime, zone: ZoneInfo) -> datetime:
    """The first instant at or after `instant` that no deny period covers."""
    while True:
        covering = [deny_ends(period, zone) for period in check.deny if deny_covers(period, instant, zone)]
        if not covering:
            return instant
        # A covering period always ends later; the minute floor only guards the loop.
        instant = max(*covering, instant + timedelta(minutes=1))


def next_open(check: WindowCheck, now: datetime) -> datetime | None:
    """The first instant >= now inside an allow window and outside every deny period, in UTC.

    None when there is none within HORIZON_DAYS.
    """
    _require_aware(now)
    now = now.astimezone(UTC)
    zone = ZoneInfo(check.timezone)
    for start, end in _allow_intervals(check, now, zone):
        candidate = _past_denials(check, max(start, now), zone)
        if candidate < end:
            return candidate
    return None


def local_label(instant: datetime, zone_name: str) -> str:
    """E.g. 'Mon 2026-11-23 09:00 Europe/Paris'."""
    return f"{instant.astimezone(ZoneInfo(zone_name)):%a %Y-%m-%d %H:%M} {zone_name}"


def describe_period(period: DenyPeriod) -> str:
    if isinstance(period.start, datetime) and isinstance(period.end, datetime):
        return f"{period.name!r} ({period.start.isoformat()} to {period.end.isoformat()})"
    if period.start == period.end:
        return f"{period.name!r} ({period.start.isoformat()})"
    return f"{period.name!r} ({period.start.isoformat()} to {period.end.isoformat()})"
