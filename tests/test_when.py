"""Tests for redial.policy.when: when a promise is due, from a duration, a time of day or an ISO 8601 time."""

from __future__ import annotations

import pytest

from redial.exceptions import PromiseRefused
from redial.policy.when import at_time, due_time, duration_seconds

# Friday 2027-01-15 08:00 UTC (09:00 in Berlin).
START = 1_800_000_000.0
# Sunday 2027-03-28 00:30 in Berlin (CET, +01:00); at 02:00 the clocks go forward to CEST (+02:00).
BEFORE_DST = 1_806_190_200.0


class TestDuration:
    """90s, 30m, 2h, 1d: always with the unit."""

    @pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), (" 2h ", 7200), ("1d", 86400)])
    def test_units(self, text: str, seconds: float) -> None:
        """Each unit, spaces around allowed."""
        assert duration_seconds(text) == seconds

    @pytest.mark.parametrize("text", ["", "45", "2w", "-5m", "1.5h", "soon", "12345678m"])
    def test_anything_else_refused(self, text: str) -> None:
        """No bare number (seconds or minutes?), other unit, sign, fraction, word or over-long number."""
        with pytest.raises(PromiseRefused, match="must be a duration with its unit, such as 90s, 30m or 2h"):
            duration_seconds(text)


class TestAtTime:
    """HH:MM today in the queue's time zone, or an ISO 8601 time."""

    def test_clock_today_in_the_time_zone(self) -> None:
        """14:30 in Berlin on a winter day is 13:30 UTC."""
        assert at_time("14:30", START, "Europe/Berlin") == START + 5.5 * 3600

    def test_clock_across_a_dst_change(self) -> None:
        """12:00 on the day the clocks go forward is 10:00 UTC (CEST), not 11:00 (midnight plus twelve hours)."""
        assert at_time("12:00", BEFORE_DST, "Europe/Berlin") == 1_806_228_000.0

    def test_past_clock_refused_with_a_hint(self) -> None:
        """08:00 in Berlin has passed at 09:00: refused, suggesting tomorrow's date at that time."""
        with pytest.raises(
            PromiseRefused, match=r"08:00 today \(Europe/Berlin\) has passed; give a date, such as 2027-01-16T08:00"
        ):
            at_time("08:00", START, "Europe/Berlin")

    def test_a_moment_ago_is_now(self) -> None:
        """A clock time within the last minute is accepted (a slow typist), not refused."""
        assert at_time("08:59", START, "Europe/Berlin") == START - 60

    @pytest.mark.parametrize("text", ["24:00", "12:60"])
    def test_no_time_of_day_refused(self, text: str) -> None:
        """Hours past 23 or minutes past 59 are no time of day."""
        with pytest.raises(PromiseRefused, match="is no time of day"):
            at_time(text, START, "UTC")

    def test_iso_with_offset(self) -> None:
        """An offset given is used as it is, whatever the queue's zone."""
        assert at_time("2027-01-15T14:30+00:00", START, "Europe/Berlin") == 1_800_023_400.0

    def test_iso_without_offset_is_in_the_time_zone(self) -> None:
        """Without an offset, the queue's zone: 15:30 in Berlin is 14:30 UTC."""
        assert at_time("2027-01-15T15:30", START, "Europe/Berlin") == 1_800_023_400.0

    def test_garbage_refused(self) -> None:
        """Neither HH:MM nor ISO 8601: refused, showing both forms."""
        with pytest.raises(PromiseRefused, match="must be HH:MM or an ISO 8601 time"):
            at_time("tomorrow", START, "UTC")


class TestDueTime:
    """Exactly one of in, at and minutes; never in the past, never too far ahead."""

    @pytest.mark.parametrize(
        ("within", "at", "minutes", "got"),
        [("", "", None, ""), ("30m", "14:30", None, "; got in and at"), ("30m", "", 5, "; got in and minutes")],
    )
    def test_exactly_one(self, within: str, at: str, minutes: int | None, got: str) -> None:
        """None or two of them is refused, naming those given."""
        with pytest.raises(PromiseRefused) as caught:
            due_time(within, at, minutes, START, "UTC", 30)
        assert str(caught.value) == "give exactly one of 'in' (30m) and 'at' (14:30)" + got

    @pytest.mark.parametrize(
        ("within", "at", "minutes", "due"),
        [("30m", "", None, START + 1800), ("", "14:30", None, 1_800_023_400.0), ("", "", 10, START + 600)],
    )
    def test_each_form(self, within: str, at: str, minutes: int | None, due: float) -> None:
        """A duration, a time of day, or the phone's keyed minutes."""
        assert due_time(within, at, minutes, START, "UTC", 30) == due

    def test_zero_minutes_is_now(self) -> None:
        """0 minutes (the phone's "now") is a choice, not nothing given."""
        assert due_time("", "", 0, START, "UTC", 30) == START

    def test_minutes_out_of_range(self) -> None:
        """Negative or absurd minutes are refused."""
        with pytest.raises(PromiseRefused, match="out of range"):
            due_time("", "", -1, START, "UTC", 30)

    def test_past_iso_refused(self) -> None:
        """An ISO time more than a minute ago has passed."""
        with pytest.raises(PromiseRefused, match="the time promised has passed"):
            due_time("", "2027-01-15T07:58:59+00:00", None, START, "UTC", 30)

    def test_a_moment_ago_is_due_now(self) -> None:
        """Within the minute of slack the promise is due now, never in the past."""
        assert due_time("", "2027-01-15T07:59:30+00:00", None, START, "UTC", 30) == START

    def test_max_ahead_days(self) -> None:
        """Exactly max_ahead_days ahead is fine; a second more is refused, naming the setting."""
        assert due_time("2d", "", None, START, "UTC", 2) == START + 2 * 86400
        with pytest.raises(PromiseRefused, match=r"more than 2 days ahead \(promise.max_ahead_days\)"):
            due_time("172801s", "", None, START, "UTC", 2)
