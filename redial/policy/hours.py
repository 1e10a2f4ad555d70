"""Business hours: whether a redial may ring a customer now, and when it next may. Pure.

Spans are local wall-clock times in the configured zone. Being open depends on the
wall clock only, so on a fall-back day a repeated local time (02:30 twice) is open or
closed both times alike, and on a spring-forward day a span that starts in the skipped
hour opens at the first instant that exists after it.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from dataclasses import dataclass
from typing import Final

from redial.config import BusinessHours

ALWAYS_OPEN: Final = "always_open"
OPEN: Final = "open"
CLOSED_HOLIDAY: Final = "closed_holiday"
CLOSED_DAY: Final = "closed_day"
CLOSED_HOURS: Final = "closed_hours"

_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Offsets are sampled this often (seconds) to find the zone's transitions; a zone changing
# its offset twice within one sample would hide both, which no real zone does.
_SAMPLE = 3600


@dataclass(frozen=True, slots=True)
class OpenCheck:
    open: bool
    # Stable code for statistics: always_open, open, closed_holiday, closed_day, closed_hours.
    reason: str
    detail: str


def is_open(when: float, hours: BusinessHours) -> OpenCheck:
    """Whether the epoch instant ``when`` falls within ``hours``, and why."""
    local = dt.datetime.fromtimestamp(when, zoneinfo.ZoneInfo(hours.timezone))
    day = _DAY_NAMES[local.weekday()]
    where = f"{day} {local:%Y-%m-%d %H:%M} {hours.timezone}"
    if hours.weekly is None:
        return OpenCheck(True, ALWAYS_OPEN, f"{where} is open: no business hours are set")
    if local.date() in hours.holidays:
        return OpenCheck(False, CLOSED_HOLIDAY, f"{where} is a holiday")
    spans = hours.weekly[local.weekday()]
    if not spans:
        return OpenCheck(False, CLOSED_DAY, f"{where} is outside business hours (closed on {day}s)")
    minute = local.hour * 60 + local.minute
    for start, end in spans:
        if start <= minute < end:
            return OpenCheck(True, OPEN, f"{where} is within business hours ({_span(start, end)})")
    shown = ", ".join(_span(start, end) for start, end in spans)
    return OpenCheck(False, CLOSED_HOURS, f"{where} is outside business hours ({shown})")


def next_open(when: float, hours: BusinessHours, horizon_days: int = 14) -> float | None:
    """The first instant at or after ``when`` that is open; None if none is within ``horizon_days`` days."""
    if is_open(when, hours).open:
        return when
    if hours.weekly is None or not any(hours.weekly):
        return None
    zone = zoneinfo.ZoneInfo(hours.timezone)
    limit = when + horizon_days * 86400
    # An open stretch begins where the wall clock reaches a span's start (either
    # occurrence of a repeated time), or where a transition makes it jump into a span.
    candidates = set(_transitions(when, limit, zone))
    day = dt.datetime.fromtimestamp(when, zone).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(limit, zone).date() + dt.timedelta(days=1)
    while day <= last:
        if day not in hours.holidays:
            midnight = dt.datetime.combine(day, dt.time(), zone)
            for start, _ in hours.weekly[day.weekday()]:
                wall = midnight + dt.timedelta(minutes=start)
                candidates.update(wall.replace(fold=fold).timestamp() for fold in (0, 1))
        day += dt.timedelta(days=1)
    for instant in sorted(c for c in candidates if when <= c <= limit):
        if is_open(instant, hours).open:
            return instant
    return None


def _transitions(start: float, stop: float, zone: zoneinfo.ZoneInfo) -> list[float]:
    """The instants in about [start, stop] at which ``zone`` changes its UTC offset."""
    found: list[float] = []
    low = math.floor(start)
    low_offset = _offset(low, zone)
    end = math.ceil(stop)
    while low < end:
        high = min(low + _SAMPLE, end)
        high_offset = _offset(high, zone)
        if high_offset != low_offset:
            a, b = low, high  # the offset at a is the old one, at b the new one
            while b - a > 1:
                middle = (a + b) // 2
                if _offset(middle, zone) == low_offset:
                    a = middle
                else:
                    b = middle
            found.append(float(b))
        low, low_offset = high, high_offset
    return found


def _offset(instant: int, zone: zoneinfo.ZoneInfo) -> dt.timedelta | None:
    return dt.datetime.fromtimestamp(instant, zone).utcoffset()


def _span(start: int, end: int) -> str:
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


__all__ = [
    "ALWAYS_OPEN",
    "CLOSED_DAY",
    "CLOSED_HOLIDAY",
    "CLOSED_HOURS",
    "OPEN",
    "OpenCheck",
    "is_open",
    "next_open",
]
