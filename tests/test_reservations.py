"""Tests for redial.core.reservations: the one owner of every QueuePause."""

from __future__ import annotations

from redial.core.commands import ForgetReservation, Unpause
from redial.core.reservations import Reservations
from redial.exceptions import AmiNotConnected, AmiRefused


def _manager(own_pause: frozenset[str] = frozenset()) -> Reservations:
    return Reservations(lambda interface, now: interface in own_pause, lambda: "redial")


class TestRelease:
    """Release unpauses, except over the agent's own pause."""

    def test_release_unpauses(self) -> None:
        assert _manager().release(1, "PJSIP/a", 0.0) == [Unpause(1, "PJSIP/a", "redial")]

    def test_agents_own_pause_is_only_forgotten(self) -> None:
        assert _manager(frozenset({"PJSIP/a"})).release(1, "PJSIP/a", 0.0) == [ForgetReservation(1, "PJSIP/a")]

    def test_unpaused_is_forgotten_in_the_store(self) -> None:
        assert _manager().unpaused(Unpause(1, "PJSIP/a", "redial")) == [ForgetReservation(1, "PJSIP/a")]

    def test_refused_unpause_has_nothing_left_to_undo(self) -> None:
        """Asterisk said no (the member left the queue): forgotten, not retried."""
        failed = _manager().unpause_failed(Unpause(1, "PJSIP/a", "redial"), AmiRefused("no member"))
        assert failed == [ForgetReservation(1, "PJSIP/a")]


class TestAcrossLogins:
    """What the link being down, or a restart, leaves behind is settled at the next login."""

    def test_unpause_not_sent_goes_out_at_the_next_login(self) -> None:
        manager = _manager()
        assert manager.unpause_failed(Unpause(1, "PJSIP/a", "redial"), AmiNotConnected("down")) == []
        assert manager.link_up(frozenset(), 1.0) == [Unpause(1, "PJSIP/a", "redial")]
        assert manager.link_up(frozenset(), 2.0) == []

    def test_stored_reservation_with_its_call_up_is_held(self) -> None:
        """A connected redial a previous run left: the agent stays reserved until its channel hangs up."""
        manager = _manager()
        manager.resume([(1, "PJSIP/a", "redial-1-1-x")])
        assert manager.link_up(frozenset({"redial-1-1-x"}), 1.0) == []
        assert manager.held == 1
        assert manager.channel_ended("redial-1-1-x", 2.0) == [Unpause(1, "PJSIP/a", "redial")]

    def test_held_call_gone_while_disconnected_is_released(self) -> None:
        manager = _manager()
        manager.hold("redial-1-1-x", 1, "PJSIP/a")
        assert manager.link_up(frozenset(), 1.0) == [Unpause(1, "PJSIP/a", "redial")]

    def test_failed_again_keeps_the_call_to_check(self) -> None:
        """An unpause that fails again at a login is retried at the next one, still checking the call."""
        manager = _manager()
        manager.resume([(1, "PJSIP/a", "redial-1-1-x")])
        (unpause,) = manager.link_up(frozenset(), 1.0)
        assert isinstance(unpause, Unpause)
        manager.unpause_failed(unpause, AmiNotConnected("down"))
        assert manager.link_up(frozenset({"redial-1-1-x"}), 2.0) == [] and manager.held == 1

    def test_stopping_releases_everything_held(self) -> None:
        manager = _manager()
        manager.hold("c1", 1, "PJSIP/a")
        assert manager.release_all([(2, "PJSIP/b")], 1.0) == [
            Unpause(1, "PJSIP/a", "redial"),
            Unpause(2, "PJSIP/b", "redial"),
        ]
        assert manager.held == 0
