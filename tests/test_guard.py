"""Tests for redial.policy.guard."""

from __future__ import annotations

from redial.config import OutageGuard as GuardSettings
from redial.policy.guard import OutageGuard


class TestOutageGuard:
    """Tripping, throttling and ending per trunk."""

    def test_trips_on_more_than_n_drops_within_window(self) -> None:
        guard = OutageGuard(GuardSettings(drops=3, within=10, rate=6))
        assert [guard.record_drop("t", float(i)) for i in range(3)] == [None, None, None]
        change = guard.record_drop("t", 3.0)
        assert change is not None and change.tripped and change.drops == 4 and guard.tripped("t")
        assert not guard.tripped("other")

    def test_drops_outside_window_do_not_count(self) -> None:
        guard = OutageGuard(GuardSettings(drops=2, within=10, rate=6))
        for t in (0.0, 11.0, 22.0, 33.0):
            assert guard.record_drop("t", t) is None

    def test_spreads_redials_at_rate(self) -> None:
        guard = OutageGuard(GuardSettings(drops=1, within=60, rate=6))  # one every 10 s
        guard.record_drop("t", 0.0)
        guard.record_drop("t", 0.5)
        starts = []
        now = 1.0
        for _ in range(4):
            slot = guard.slot("t", now)
            starts.append(slot)
            guard.take("t", slot)
        assert starts == [1.0, 11.0, 21.0, 31.0]
        assert guard.slot("other", 5.0) == 5.0

    def test_ends_when_quiet_and_drained(self) -> None:
        guard = OutageGuard(GuardSettings(drops=1, within=10, rate=60))
        guard.record_drop("t", 0.0)
        guard.record_drop("t", 1.0)
        guard.take("t", 1.0)
        assert guard.refresh(5.0) == []
        (ended,) = guard.refresh(11.5)
        assert not ended.tripped and not guard.tripped("t")
        assert guard.next_change() is None

    def test_next_change_hint(self) -> None:
        guard = OutageGuard(GuardSettings(drops=1, within=10, rate=60))
        guard.record_drop("t", 0.0)
        guard.record_drop("t", 1.0)
        assert guard.next_change() == 10.0
