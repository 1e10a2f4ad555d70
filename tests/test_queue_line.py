"""Tests for redial.core.queue_line: who waits in each queue, and since when."""

from __future__ import annotations

import pytest

from redial.ami import events as ev
from redial.core.queue_line import LEFT_KEPT, QueueLine
from tests.builders import joined, left, ref


def line_of(*joins: tuple[str, float, str]) -> QueueLine:
    """A line where each (uniqueid, time, queue) joined in that order."""
    line = QueueLine()
    for uid, at, queue in joins:
        line.joined(joined(uid, queue=queue), at, "+12025550123")
    return line


def completed(talk_time: int | None, queue: str = "support") -> ev.AgentCompleted:
    return ev.AgentCompleted(ref("1.1", "1.1", "PJSIP/trunk-1"), queue, "PJSIP/agent1", "agent", talk_time)


def waiting(uid: str, wait: int, number: str = "2025550123", queue: str = "support") -> ev.QueueWaiting:
    return ev.QueueWaiting(uniqueid=uid, queue=queue, caller_number=number, wait=wait, position=1)


class TestJoinAndLeave:
    """Callers enter and leave each queue's line."""

    def test_join_order_is_kept_by_time(self) -> None:
        """Each caller has the time they joined; those who left are no longer counted."""
        line = line_of(("1.1", 100.0, "support"), ("2.1", 110.0, "support"), ("3.1", 120.0, "support"))
        assert line.waiting("support") == 3
        assert [line.place_of(uid, 130.0).joined_at for uid in ("1.1", "2.1", "3.1")] == [100.0, 110.0, 120.0]
        line.left(left("2.1"), 125.0)
        assert line.waiting("support") == 2
        assert line.ahead_of("support", 121.0) == 2

    def test_ahead_of_counts_only_earlier_joiners_of_that_queue(self) -> None:
        """Callers who joined later, at the same instant, or in another queue are not ahead."""
        line = line_of(("1.1", 100.0, "support"), ("2.1", 110.0, "sales"), ("3.1", 120.0, "support"))
        assert line.ahead_of("support", 100.0) == 0
        assert line.ahead_of("support", 110.0) == 1
        assert line.ahead_of("support", 120.5) == 2
        assert line.ahead_of("sales", 200.0) == 1
        assert line.ahead_of("billing", 200.0) == 0

    def test_leave_of_an_unknown_caller_changes_nothing(self) -> None:
        """A QueueCallerLeave for a caller never seen joining neither counts nor bumps the version."""
        line = line_of(("1.1", 100.0, "support"))
        version = line.version
        line.left(left("9.9"), 120.0)
        line.left(left("1.1", queue="sales"), 120.0)
        assert (line.waiting("support"), line.version) == (1, version)
        assert line.place_of("9.9", 120.0) is None

    def test_every_change_bumps_the_version(self) -> None:
        """A join, a leave and a reset each move the version callbacks are planned again on."""
        line = QueueLine()
        versions = [line.version]
        line.joined(joined("1.1"), 100.0, "+12025550123")
        versions.append(line.version)
        line.left(left("1.1"), 110.0)
        versions.append(line.version)
        line.reset((), 120.0, {})
        versions.append(line.version)
        assert versions == sorted(set(versions))


class TestRejoin:
    """A caller sent back to the queue after the offer key keeps their place."""

    def test_rejoin_of_the_same_queue_keeps_the_old_time(self) -> None:
        """Left at 150 by the key, back at 160: still joined at 100, ahead of a caller from 120."""
        line = line_of(("1.1", 100.0, "support"), ("2.1", 120.0, "support"))
        line.left(left("1.1"), 150.0)
        line.joined(joined("1.1"), 160.0, "+12025550123")
        place = line.place_of("1.1", 170.0)
        assert place is not None and place.joined_at == 100.0 and place.left_at is None
        assert line.ahead_of("support", 120.0) == 1

    def test_rejoin_of_another_queue_starts_anew(self) -> None:
        """A caller who left support and joins sales waits in sales from the time they joined it."""
        line = line_of(("1.1", 100.0, "support"))
        line.left(left("1.1"), 150.0)
        line.joined(joined("1.1", queue="sales"), 160.0, "+12025550123")
        place = line.place_of("1.1", 170.0)
        assert place is not None and (place.queue, place.joined_at) == ("sales", 160.0)

    def test_a_new_caller_joins_now(self) -> None:
        """A uniqueid never seen before joins at the time of its event."""
        line = QueueLine()
        line.joined(joined("4.1"), 300.0, "+12025550123")
        place = line.place_of("4.1", 301.0)
        assert place is not None and place.joined_at == 300.0 and place.number_key == "+12025550123"


class TestReset:
    """A login's QueueStatus list replaces the line."""

    def test_join_time_is_now_minus_wait(self) -> None:
        """QueueEntry's Wait gives the join time; the number goes through the key table."""
        line = line_of(("7.1", 10.0, "support"))
        line.reset(
            (waiting("1.1", 42), waiting("2.1", 5, number="5551234", queue="sales")),
            1000.0,
            {"2025550123": "+12025550123"},
        )
        first, second = line.place_of("1.1", 1000.0), line.place_of("2.1", 1000.0)
        assert first is not None and (first.joined_at, first.number_key) == (958.0, "+12025550123")
        assert second is not None and (second.queue, second.joined_at, second.number_key) == ("sales", 995.0, "")
        assert line.place_of("7.1", 1000.0) is None  # not in the PBX's list: gone
        assert line.ahead_of("support", 990.0) == 1 and line.waiting("support") == 1


class TestPlaceOf:
    """The caller who pressed the offer key is found a while after they left."""

    def test_found_while_waiting(self) -> None:
        """A caller still in the line is found with no left time."""
        line = line_of(("1.1", 100.0, "support"))
        place = line.place_of("1.1", 100.0 + 10 * LEFT_KEPT)
        assert place is not None and place.left_at is None

    def test_found_within_left_kept_and_not_after(self) -> None:
        """Left at 200 from position 3: found up to LEFT_KEPT later, then not."""
        line = line_of(("1.1", 100.0, "support"))
        line.left(left("1.1", position=3), 200.0)
        place = line.place_of("1.1", 200.0 + LEFT_KEPT)
        assert place is not None
        assert (place.queue, place.joined_at, place.position, place.left_at) == ("support", 100.0, 3, 200.0)
        assert line.place_of("1.1", 200.0 + LEFT_KEPT + 0.5) is None

    def test_forget_old_drops_only_the_old(self) -> None:
        """forget_old removes callers who left more than LEFT_KEPT ago and keeps the others."""
        line = line_of(("1.1", 100.0, "support"), ("2.1", 110.0, "support"))
        line.left(left("1.1"), 200.0)
        line.left(left("2.1"), 500.0)
        line.forget_old(200.0 + LEFT_KEPT + 1)
        assert line.place_of("2.1", 500.0 + LEFT_KEPT) is not None
        assert line.place_of("1.1", 200.0) is None  # gone, even asked at a time it was still kept


class TestEstimate:
    """Seconds until a caller reaches an agent."""

    def test_zero_when_a_free_agent_is_there_for_them(self) -> None:
        """Two free agents take the first two callers at once."""
        line = QueueLine()
        assert line.estimate("support", ahead=0, free=1, staffed=1, default_handle=240.0) == 0.0
        assert line.estimate("support", ahead=1, free=2, staffed=3, default_handle=240.0) == 0.0

    @pytest.mark.parametrize(
        ("ahead", "free", "staffed", "rounds"),
        [(0, 0, 1, 1), (1, 1, 1, 1), (3, 0, 2, 2), (4, 0, 2, 3), (5, 1, 2, 3), (2, 0, 0, 3)],
    )
    def test_rounds_of_handle_time(self, ahead: int, free: int, staffed: int, rounds: int) -> None:
        """Beyond the free agents, every staffed agent takes one caller per handle time (at least one agent)."""
        line = QueueLine()
        assert line.estimate("support", ahead, free, staffed, default_handle=240.0) == rounds * 240.0

    def test_uses_the_queues_own_handle_time(self) -> None:
        """Once calls of the queue were seen, their average replaces the default."""
        line = QueueLine()
        line.handled(completed(100))
        assert line.estimate("support", 1, 0, 1, default_handle=240.0) == 200.0
        assert line.estimate("sales", 1, 0, 1, default_handle=240.0) == 480.0


class TestHandleTime:
    """The average talk time of each queue, from AgentComplete."""

    def test_first_call_then_moving_average(self) -> None:
        """The first call sets it; each next one moves it a fifth of the way."""
        line = QueueLine()
        assert line.handle_time("support", 240.0) == 240.0
        line.handled(completed(100))
        assert line.handle_time("support", 240.0) == 100.0
        line.handled(completed(200))
        assert line.handle_time("support", 240.0) == pytest.approx(120.0)
        assert line.handle_time("sales", 240.0) == 240.0

    def test_unknown_or_zero_talk_time_is_ignored(self) -> None:
        """A call with no talk time (None, 0) does not pull the average to zero."""
        line = QueueLine()
        line.handled(completed(90))
        line.handled(completed(None))
        line.handled(completed(0))
        assert line.handle_time("support", 240.0) == 90.0
