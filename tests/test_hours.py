"""Tests for redial.policy.hours."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redial.config import BusinessHours
from redial.policy.hours import OpenCheck, is_open, next_open

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
HOUR = 3600

Spans = tuple[tuple[int, int], ...]
CLOSED: Spans = ()
NINE_TO_FIVE: Spans = ((9 * 60, 17 * 60),)
EIGHT_TO_FIVE: Spans = ((8 * 60, 17 * 60),)
ALL_DAY: Spans = ((0, 1440),)


def at(
    zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, fold: int = 0
) -> float:
    """The epoch instant of a local wall-clock time, computed by datetime itself."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(zone), fold=fold).timestamp()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC).timestamp()


def hours(
    *,
    weekdays: Spans = CLOSED,
    sat: Spans = CLOSED,
    sun: Spans = CLOSED,
    zone: str = BERLIN,
    holidays: tuple[dt.date, ...] = (),
) -> BusinessHours:
    """Monday to Friday alike, Saturday and Sunday each their own."""
    return BusinessHours(timezone=zone, weekly=(weekdays,) * 5 + (sat, sun), holidays=frozenset(holidays))


def check(when: float, business: BusinessHours) -> tuple[bool, str]:
    result = is_open(when, business)
    return result.open, result.reason


# 2026-11-23 is a Monday.
OFFICE = hours(weekdays=NINE_TO_FIVE, sat=((9 * 60, 13 * 60),))


class TestIsOpen:
    """Open and closed within one ordinary week, with the reason."""

    def test_always_open(self) -> None:
        result = is_open(at(BERLIN, 2026, 11, 22, 3, 0), BusinessHours(timezone=BERLIN))
        assert result == OpenCheck(
            True, "always_open", "Sunday 2026-11-22 03:00 Europe/Berlin is open: no business hours are set"
        )

    def test_inside_span(self) -> None:
        result = is_open(at(BERLIN, 2026, 11, 23, 11, 30), OFFICE)
        assert result == OpenCheck(
            True, "open", "Monday 2026-11-23 11:30 Europe/Berlin is within business hours (09:00-17:00)"
        )

    def test_outside_span(self) -> None:
        result = is_open(at(BERLIN, 2026, 11, 21, 22, 15), OFFICE)
        assert result == OpenCheck(
            False, "closed_hours", "Saturday 2026-11-21 22:15 Europe/Berlin is outside business hours (09:00-13:00)"
        )
        assert check(at(BERLIN, 2026, 11, 23, 7, 0), OFFICE) == (False, "closed_hours")

    def test_start_minute_is_open(self) -> None:
        assert check(at(BERLIN, 2026, 11, 23, 9, 0), OFFICE) == (True, "open")
        assert check(at(BERLIN, 2026, 11, 23, 8, 59, 59), OFFICE) == (False, "closed_hours")

    def test_end_minute_is_closed(self) -> None:
        assert check(at(BERLIN, 2026, 11, 23, 16, 59, 59), OFFICE) == (True, "open")
        assert check(at(BERLIN, 2026, 11, 23, 17, 0), OFFICE) == (False, "closed_hours")

    def test_lunch_break(self) -> None:
        lunch = hours(weekdays=((8 * 60, 12 * 60), (13 * 60, 17 * 60)))
        assert check(at(BERLIN, 2026, 11, 23, 11, 59), lunch) == (True, "open")
        result = is_open(at(BERLIN, 2026, 11, 23, 12, 30), lunch)
        assert (result.open, result.reason) == (False, "closed_hours")
        assert result.detail.endswith("(08:00-12:00, 13:00-17:00)")
        assert check(at(BERLIN, 2026, 11, 23, 13, 0), lunch) == (True, "open")

    def test_closed_weekday(self) -> None:
        result = is_open(at(BERLIN, 2026, 11, 22, 10, 0), OFFICE)
        assert result == OpenCheck(
            False, "closed_day", "Sunday 2026-11-22 10:00 Europe/Berlin is outside business hours (closed on Sundays)"
        )

    def test_local_weekday_not_utc(self) -> None:
        # 23:30 UTC on Sunday is already Monday 08:30 in Tokyo.
        tokyo = hours(weekdays=((8 * 60, 9 * 60),), zone="Asia/Tokyo")
        assert check(utc(2026, 11, 22, 23, 30), tokyo) == (True, "open")

    @pytest.mark.parametrize(
        ("start", "end", "shown"), [(0, 1440, "00:00-24:00"), (9 * 60 + 5, 17 * 60 + 30, "09:05-17:30")]
    )
    def test_detail_shows_spans(self, start: int, end: int, shown: str) -> None:
        business = hours(weekdays=((start, end),))
        assert f"({shown})" in is_open(at(BERLIN, 2026, 11, 23, 12, 0), business).detail


class TestHolidays:
    """Holidays are local dates, not UTC dates."""

    def test_holiday_closes_a_working_day(self) -> None:
        business = hours(weekdays=NINE_TO_FIVE, holidays=(dt.date(2026, 12, 25),))
        result = is_open(at(BERLIN, 2026, 12, 25, 10, 0), business)
        assert result == OpenCheck(False, "closed_holiday", "Friday 2026-12-25 10:00 Europe/Berlin is a holiday")

    def test_berlin_holiday_begins_before_utc(self) -> None:
        business = hours(weekdays=ALL_DAY, sat=ALL_DAY, holidays=(dt.date(2026, 12, 25),))
        # 23:30 UTC on the 24th is 00:30 on the 25th in Berlin: the holiday.
        assert check(utc(2026, 12, 24, 23, 30), business) == (False, "closed_holiday")
        # 23:30 UTC on the 25th is 00:30 on the 26th in Berlin: over.
        assert check(utc(2026, 12, 25, 23, 30), business) == (True, "open")

    def test_new_york_holiday_ends_after_utc(self) -> None:
        business = hours(weekdays=ALL_DAY, sat=ALL_DAY, zone=NEW_YORK, holidays=(dt.date(2026, 7, 4),))
        # 02:00 UTC on the 5th is 22:00 on the 4th in New York: still the holiday.
        assert check(utc(2026, 7, 5, 2, 0), business) == (False, "closed_holiday")
        # 02:00 UTC on the 4th is 22:00 on the 3rd in New York: not yet.
        assert check(utc(2026, 7, 4, 2, 0), business) == (True, "open")

    def test_next_open_skips_holiday(self) -> None:
        business = hours(weekdays=NINE_TO_FIVE, holidays=(dt.date(2026, 12, 24), dt.date(2026, 12, 25)))
        assert next_open(at(BERLIN, 2026, 12, 23, 18, 0), business) == at(BERLIN, 2026, 12, 28, 9, 0)


class TestBerlinDst:
    """Europe/Berlin: 2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00."""

    def test_wall_clock_boundaries_on_spring_forward(self) -> None:
        business = hours(sun=((8 * 60, 12 * 60),))
        assert check(at(BERLIN, 2026, 3, 29, 7, 59), business) == (False, "closed_hours")
        assert check(at(BERLIN, 2026, 3, 29, 8, 0), business) == (True, "open")
        assert at(BERLIN, 2026, 3, 29, 8, 0) == utc(2026, 3, 29, 6, 0)
        assert check(at(BERLIN, 2026, 3, 29, 12, 0), business) == (False, "closed_hours")

    def test_span_in_skipped_hour_opens_at_first_existing_instant(self) -> None:
        business = hours(sun=((2 * 60 + 30, 4 * 60),))
        change = utc(2026, 3, 29, 1, 0)  # 03:00 CEST, the first instant after 01:59:59 CET
        assert check(change - 1, business) == (False, "closed_hours")
        assert check(change, business) == (True, "open")
        assert next_open(at(BERLIN, 2026, 3, 29, 1, 30), business) == change

    def test_span_wholly_in_skipped_hour_never_opens(self) -> None:
        business = hours(sun=((2 * 60, 3 * 60),))
        assert next_open(at(BERLIN, 2026, 3, 29, 0, 0), business, horizon_days=1) is None

    def test_next_open_across_spring_forward(self) -> None:
        saturday = at(BERLIN, 2026, 3, 28, 20, 0)
        opens = next_open(saturday, hours(weekdays=EIGHT_TO_FIVE))
        assert opens == at(BERLIN, 2026, 3, 30, 8, 0) == utc(2026, 3, 30, 6, 0)
        assert opens - saturday == 35 * HOUR

    def test_repeated_hour_counts_twice(self) -> None:
        business = hours(sun=((2 * 60 + 30, 2 * 60 + 45),))
        first, second = at(BERLIN, 2026, 10, 25, 2, 30, fold=0), at(BERLIN, 2026, 10, 25, 2, 30, fold=1)
        assert second - first == HOUR
        assert check(first, business) == (True, "open")
        assert check(second, business) == (True, "open")
        # Closed at 02:50 CEST, the span comes round again at 02:30 CET.
        assert next_open(at(BERLIN, 2026, 10, 25, 2, 50, fold=0), business) == second

    def test_fall_back_reopens_at_the_change(self) -> None:
        business = hours(sun=((60, 2 * 60 + 40),))
        # 02:50 CEST is closed; at 03:00 CEST the clock turns back to 02:00 CET, inside the span.
        opens = next_open(at(BERLIN, 2026, 10, 25, 2, 50, fold=0), business)
        assert opens == at(BERLIN, 2026, 10, 25, 2, 0, fold=1) == utc(2026, 10, 25, 1, 0)

    def test_next_open_across_fall_back(self) -> None:
        saturday = at(BERLIN, 2026, 10, 24, 20, 0)
        opens = next_open(saturday, hours(weekdays=EIGHT_TO_FIVE))
        assert opens == at(BERLIN, 2026, 10, 26, 8, 0) == utc(2026, 10, 26, 7, 0)
        assert opens - saturday == 37 * HOUR


class TestNewYorkDst:
    """America/New_York: 2026-03-08 02:00 -> 03:00, 2026-11-01 02:00 -> 01:00."""

    def test_wall_clock_boundaries_on_spring_forward(self) -> None:
        business = hours(sun=((2 * 60 + 30, 5 * 60),), zone=NEW_YORK)
        change = utc(2026, 3, 8, 7, 0)  # 03:00 EDT
        assert check(at(NEW_YORK, 2026, 3, 8, 1, 59), business) == (False, "closed_hours")
        assert check(change, business) == (True, "open")
        assert check(at(NEW_YORK, 2026, 3, 8, 5, 0), business) == (False, "closed_hours")
        assert next_open(at(NEW_YORK, 2026, 3, 8, 1, 0), business) == change

    def test_next_open_across_spring_forward(self) -> None:
        saturday = at(NEW_YORK, 2026, 3, 7, 20, 0)
        opens = next_open(saturday, hours(weekdays=EIGHT_TO_FIVE, zone=NEW_YORK))
        assert opens == at(NEW_YORK, 2026, 3, 9, 8, 0) == utc(2026, 3, 9, 12, 0)
        assert opens - saturday == 35 * HOUR

    def test_wall_clock_boundaries_on_fall_back(self) -> None:
        business = hours(sun=((60 + 30, 2 * 60),), zone=NEW_YORK)
        assert check(at(NEW_YORK, 2026, 11, 1, 1, 29), business) == (False, "closed_hours")
        assert check(at(NEW_YORK, 2026, 11, 1, 1, 30, fold=0), business) == (True, "open")
        assert check(at(NEW_YORK, 2026, 11, 1, 1, 30, fold=1), business) == (True, "open")
        assert check(utc(2026, 11, 1, 7, 0), business) == (False, "closed_hours")  # 02:00 EST
        assert next_open(at(NEW_YORK, 2026, 11, 1, 1, 10, fold=1), business) == utc(2026, 11, 1, 6, 30)

    def test_next_open_across_fall_back(self) -> None:
        saturday = at(NEW_YORK, 2026, 10, 31, 20, 0)
        opens = next_open(saturday, hours(weekdays=EIGHT_TO_FIVE, zone=NEW_YORK))
        assert opens == at(NEW_YORK, 2026, 11, 2, 8, 0) == utc(2026, 11, 2, 13, 0)
        assert opens - saturday == 37 * HOUR


class TestNextOpen:
    """The first open instant at or after a time."""

    def test_open_now_returns_when_itself(self) -> None:
        when = at(BERLIN, 2026, 11, 23, 10, 0) + 0.25
        assert next_open(when, OFFICE) == when
        assert next_open(when, BusinessHours(timezone=BERLIN)) == when

    def test_later_the_same_day(self) -> None:
        lunch = hours(weekdays=((8 * 60, 12 * 60), (13 * 60, 17 * 60)))
        assert next_open(at(BERLIN, 2026, 11, 23, 12, 0, 30) + 0.5, lunch) == at(BERLIN, 2026, 11, 23, 13, 0)

    def test_next_day_from_after_hours(self) -> None:
        assert next_open(at(BERLIN, 2026, 11, 23, 17, 0), OFFICE) == at(BERLIN, 2026, 11, 24, 9, 0)

    def test_all_closed_is_none(self) -> None:
        assert next_open(at(BERLIN, 2026, 11, 23, 10, 0), hours()) is None

    def test_beyond_horizon_is_none(self) -> None:
        monday_only = BusinessHours(timezone=BERLIN, weekly=(NINE_TO_FIVE,) + (CLOSED,) * 6)
        tuesday = at(BERLIN, 2026, 11, 24, 10, 0)
        assert next_open(tuesday, monday_only, horizon_days=5) is None
        assert next_open(tuesday, monday_only, horizon_days=7) == at(BERLIN, 2026, 11, 30, 9, 0)

    def test_holidays_filling_horizon_is_none(self) -> None:
        days = tuple(dt.date(2026, 12, d) for d in range(1, 31))
        business = hours(weekdays=ALL_DAY, sat=ALL_DAY, sun=ALL_DAY, holidays=days)
        assert next_open(at(BERLIN, 2026, 12, 2, 10, 0), business) is None


class TestMidnight:
    """A span ending at 24:00 joins the next day's span from 00:00."""

    NIGHTS = BusinessHours(
        timezone=BERLIN,
        weekly=(CLOSED,) * 4 + (((22 * 60, 1440),), ((0, 2 * 60),), ((23 * 60, 1440),)),
    )

    def test_open_across_midnight(self) -> None:
        assert check(at(BERLIN, 2026, 11, 27, 23, 59, 59), self.NIGHTS) == (True, "open")  # Friday
        assert check(at(BERLIN, 2026, 11, 28, 0, 0), self.NIGHTS) == (True, "open")
        assert check(at(BERLIN, 2026, 11, 28, 2, 0), self.NIGHTS) == (False, "closed_hours")

    def test_next_open_inside_joined_stretch_is_now(self) -> None:
        when = at(BERLIN, 2026, 11, 28, 0, 0)
        assert next_open(when, self.NIGHTS) == when

    def test_sunday_to_monday_wraps_the_week(self) -> None:
        business = BusinessHours(timezone=BERLIN, weekly=(((0, 60),),) + (CLOSED,) * 5 + (((23 * 60, 1440),),))
        assert check(at(BERLIN, 2026, 11, 29, 23, 59, 59), business) == (True, "open")
        assert check(at(BERLIN, 2026, 11, 30, 0, 0), business) == (True, "open")
        assert next_open(at(BERLIN, 2026, 11, 29, 22, 0), business) == at(BERLIN, 2026, 11, 29, 23, 0)


@st.composite
def day_spans(draw: st.DrawFn) -> Spans:
    points = sorted(draw(st.lists(st.integers(0, 1440), unique=True, max_size=6)))
    return tuple(zip(points[0::2], points[1::2], strict=False))


ZONES = [BERLIN, NEW_YORK, "UTC", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago"]
START = utc(2025, 1, 1)
END = utc(2028, 1, 1)


class TestProperty:
    """next_open finds the first open instant, for any week and zone."""

    @given(
        when=st.floats(START, END),
        weekly=st.tuples(*[day_spans()] * 7),
        zone=st.sampled_from(ZONES),
        holidays=st.frozensets(st.dates(dt.date(2025, 1, 1), dt.date(2028, 1, 31)), max_size=20),
        probes=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=5),
    )
    def test_first_open_instant(
        self,
        when: float,
        weekly: tuple[Spans, ...],
        zone: str,
        holidays: frozenset[dt.date],
        probes: list[float],
    ) -> None:
        business = BusinessHours(timezone=zone, weekly=weekly, holidays=holidays)
        found = next_open(when, business, horizon_days=10)
        if found is None:
            stop = when + 10 * 86400
        else:
            assert found >= when
            assert is_open(found, business).open
            assert found == when or not is_open(found - 60, business).open
            stop = found
        for probe in probes:
            instant = when + probe * (stop - when)
            if instant < stop:
                assert not is_open(instant, business).open, instant
