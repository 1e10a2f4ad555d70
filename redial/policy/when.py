"""When a promise is due: ``90s``/``30m``/``2h`` from now, ``HH:MM`` today, or an ISO 8601 time. Pure."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from redial.exceptions import PromiseRefused

_DURATION = re.compile(r"^\s*(\d{1,7})\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
# A time a moment ago is still "now" (a clock apart, a slow typist).
_PAST_SLACK = 60.0


def duration_seconds(text: str) -> float:
    """``90s``, ``30m``, ``2h``, ``1d`` in seconds; a bare number is refused (seconds or minutes?)."""
    match = _DURATION.match(text)
    if match is None:
        raise PromiseRefused(f"'in' must be a duration with its unit, such as 90s, 30m or 2h, not {text[:40]!r}")
    return float(int(match.group(1)) * _UNITS[match.group(2)])


def at_time(text: str, now: float, timezone: str) -> float:
    """``HH:MM`` today in ``timezone``, or an ISO 8601 time (without an offset: in ``timezone``)."""
    zone = zoneinfo.ZoneInfo(timezone)
    clock = _CLOCK.match(text)
    if clock is not None:
        hour, minute = int(clock.group(1)), int(clock.group(2))
        if hour > 23 or minute > 59:
            raise PromiseRefused(f"'at' {text!r} is no time of day (HH:MM, 00:00 to 23:59)")
        today = dt.datetime.fromtimestamp(now, zone).date()
        when = dt.datetime.combine(today, dt.time(hour, minute), zone)
        if when.timestamp() < now - _PAST_SLACK:
            raise PromiseRefused(
                f"{text.strip()} today ({timezone}) has passed; give a date, such as {today + dt.timedelta(days=1)}T"
                f"{hour:02d}:{minute:02d}"
            )
        return when.timestamp()
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise PromiseRefused(f"'at' must be HH:MM or an ISO 8601 time (2026-12-03T14:30), not {text[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.timestamp()


def due_time(within: str, at: str, minutes: int | None, now: float, timezone: str, max_ahead_days: int) -> float:
    """The promised time from exactly one of ``within``, ``at`` and ``minutes``."""
    given = [name for name, value in (("in", within), ("at", at), ("minutes", minutes)) if value not in ("", None)]
    if len(given) != 1:
        raise PromiseRefused(
            "give exactly one of 'in' (30m) and 'at' (14:30)" + (f"; got {' and '.join(given)}" if given else "")
        )
    if within:
        due = now + duration_seconds(within)
    elif at:
        due = at_time(at, now, timezone)
    else:
        assert minutes is not None
        if not 0 <= minutes <= 100000:
            raise PromiseRefused(f"{minutes} minutes is out of range")
        due = now + minutes * 60.0
    if due < now - _PAST_SLACK:
        raise PromiseRefused("the time promised has passed")
    if due > now + max_ahead_days * 86400.0:
        raise PromiseRefused(f"the time promised is more than {max_ahead_days} days ahead (promise.max_ahead_days)")
    return max(due, now)
