"""Tests for redial.agents."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from redial.agents import AgentBoard, Availability
from redial.ami import events as ev
from redial.replay import load_frames

ALICE = ev.MemberState(
    queue="support",
    interface="PJSIP/agent1",
    name="Alice",
    state_interface="PJSIP/agent1",
    status=1,
    paused=False,
    paused_reason="",
    in_call=False,
    last_call=1000,
    wrapup_time=0,
)


def board(*members: ev.MemberState) -> AgentBoard:
    result = AgentBoard()
    result.reset(members)
    return result


class TestAvailability:
    """Free, busy, paused, logged off, from queue-member state."""

    def test_free(self) -> None:
        assert board(ALICE).view("PJSIP/agent1", 2000, "redial").availability is Availability.FREE

    def test_on_a_call_ringing_on_hold(self) -> None:
        for status in (2, 3, 6, 7, 8):
            view = board(dataclasses.replace(ALICE, status=status)).view("PJSIP/agent1", 2000, "redial")
            assert view.availability is Availability.BUSY, status

    def test_in_call_flag(self) -> None:
        view = board(dataclasses.replace(ALICE, in_call=True)).view("PJSIP/agent1", 2000, "redial")
        assert view.availability is Availability.BUSY

    def test_wrap_up(self) -> None:
        agents = board(dataclasses.replace(ALICE, last_call=1990, wrapup_time=30))
        assert agents.view("PJSIP/agent1", 2000, "redial").availability is Availability.BUSY
        assert agents.view("PJSIP/agent1", 2020, "redial").availability is Availability.FREE

    def test_paused_for_another_reason_in_any_queue(self) -> None:
        sales = dataclasses.replace(ALICE, queue="sales", paused=True, paused_reason="lunch")
        view = board(ALICE, sales).view("PJSIP/agent1", 2000, "redial")
        assert view.availability is Availability.PAUSED and "lunch" in view.detail

    def test_paused_by_the_daemon_counts_as_free(self) -> None:
        mine = dataclasses.replace(ALICE, paused=True, paused_reason="redial")
        assert board(mine).view("PJSIP/agent1", 2000, "redial").availability is Availability.FREE

    def test_logged_off(self) -> None:
        agents = board(ALICE)
        agents.handle(ev.MemberRemoved(queue="support", interface="PJSIP/agent1"))
        assert agents.view("PJSIP/agent1", 2000, "redial").availability is Availability.LOGGED_OFF
        unavailable = board(dataclasses.replace(ALICE, status=5))
        assert unavailable.view("PJSIP/agent1", 2000, "redial").availability is Availability.LOGGED_OFF

    def test_unknown_before_any_state(self) -> None:
        assert AgentBoard().view("PJSIP/agent1", 0, "redial").availability is Availability.UNKNOWN

    def test_device_state_updates_members(self) -> None:
        agents = board(ALICE)
        assert agents.handle(ev.DeviceState(device="PJSIP/agent1", state="INUSE"))
        assert agents.view("PJSIP/agent1", 2000, "redial").availability is Availability.BUSY
        agents.handle(ev.DeviceState(device="PJSIP/agent1", state="NOT_INUSE"))
        assert agents.view("PJSIP/agent1", 2000, "redial").availability is Availability.FREE


class TestMembers:
    """Fallback candidates."""

    def test_free_members_longest_idle_first(self) -> None:
        bob = dataclasses.replace(ALICE, interface="PJSIP/agent2", state_interface="PJSIP/agent2", last_call=500)
        carol = dataclasses.replace(ALICE, interface="PJSIP/agent3", state_interface="PJSIP/agent3", status=2)
        agents = board(ALICE, bob, carol)
        assert agents.free_members("support", 2000, "redial") == ["PJSIP/agent2", "PJSIP/agent1"]
        assert agents.free_members("support", 2000, "redial", exclude={"PJSIP/agent2"}) == ["PJSIP/agent1"]
        assert agents.queues_of("PJSIP/agent1") == ("support",)

    def test_recorded_call_leaves_alice_free(self, corpus: Path) -> None:
        agents = AgentBoard()
        seen = []
        for event in map(ev.decode, load_frames(corpus / "asterisk22" / "drop_rtp_timeout.ami")):
            if event is not None and agents.handle(event):
                seen.append(agents.view("PJSIP/agent1", 1795354900, "redial").availability)
        assert seen[0] is Availability.BUSY and seen[-1] is Availability.FREE
