"""Tests for redial.core.agents."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redial.ami import events as ev
from redial.core.agents import AgentBoard, Availability, _with_device_status
from redial.service.replay import load_frames

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

    def test_find_member_by_any_name(self) -> None:
        """A promise's --agent: the member name, interface, device or extension, in any case; FreePBX Local too."""
        local = dataclasses.replace(
            ALICE, interface="Local/1001@from-queue/n", name="Dave", state_interface="PJSIP/1001"
        )
        agents = board(ALICE, local)
        for name in ("Alice", "alice", "PJSIP/agent1", "agent1"):
            assert agents.find_member(name) == ["PJSIP/agent1"], name
        for name in ("1001", "PJSIP/1001", "Local/1001@from-queue/n", "dave"):
            assert agents.find_member(name) == ["Local/1001@from-queue/n"], name
        assert agents.find_member("100") == [] and agents.find_member("Eve") == []

    def test_recorded_call_leaves_alice_free(self, corpus: Path) -> None:
        agents = AgentBoard()
        seen = []
        for event in map(ev.decode, load_frames(corpus / "asterisk22" / "drop_rtp_timeout.ami")):
            if event is not None and agents.handle(event):
                seen.append(agents.view("PJSIP/agent1", 1795354900, "redial").availability)
        assert seen[0] is Availability.BUSY and seen[-1] is Availability.FREE


class TestQueueWrapup:
    """The queue's own wrapuptime (from the configuration), applied as app_queue applies it."""

    def test_no_wrapup_until_set(self) -> None:
        """Without set_queue_wrapup a member is free right after a call, as before."""
        agents = board(dataclasses.replace(ALICE, last_call=1990))
        assert agents.view("PJSIP/agent1", 2000, "redial").availability is Availability.FREE

    def test_queue_wrapup_keeps_the_member_busy(self) -> None:
        """A member stays busy until LastCall + the queue's wrap-up, then is free."""
        agents = board(dataclasses.replace(ALICE, last_call=1990))
        agents.set_queue_wrapup({"support": 30})
        view = agents.view("PJSIP/agent1", 2000, "redial")
        assert view.availability is Availability.BUSY and view.wrapup_until == 2020
        assert "wrap-up (support) for 20 s more" in view.detail
        assert agents.view("PJSIP/agent1", 2019.5, "redial").availability is Availability.BUSY
        free = agents.view("PJSIP/agent1", 2020, "redial")
        assert free.availability is Availability.FREE and free.wrapup_until is None

    def test_default_applies_to_other_queues(self) -> None:
        """Queues without their own entry take the default (the base policy's value)."""
        agents = board(dataclasses.replace(ALICE, last_call=1990))
        agents.set_queue_wrapup({"sales": 5}, default=60)
        assert agents.queue_wrapup("support") == 60 and agents.queue_wrapup("sales") == 5
        assert agents.view("PJSIP/agent1", 2040, "redial").wrapup_until == 2050

    def test_member_wrapup_overrides_even_when_shorter(self) -> None:
        """A member's own non-zero Wrapuptime replaces the queue's, as get_wrapuptime() does."""
        agents = board(dataclasses.replace(ALICE, last_call=1990, wrapup_time=5))
        agents.set_queue_wrapup({"support": 60})
        assert agents.view("PJSIP/agent1", 1994, "redial").availability is Availability.BUSY
        assert agents.view("PJSIP/agent1", 1995, "redial").availability is Availability.FREE

    def test_never_called_member_has_no_wrapup(self) -> None:
        """LastCall 0 (no call yet) is never a wrap-up."""
        agents = board(dataclasses.replace(ALICE, last_call=0))
        agents.set_queue_wrapup({"support": 3600})
        assert agents.view("PJSIP/agent1", 10, "redial").availability is Availability.FREE

    def test_each_queue_its_own_last_call(self) -> None:
        """Without shared_lastcall an old call in a long wrap-up queue does not block the agent."""
        support = dataclasses.replace(ALICE, last_call=1990)
        sales = dataclasses.replace(ALICE, queue="sales", last_call=1000)
        agents = board(support, sales)
        agents.set_queue_wrapup({"support": 0, "sales": 600})
        assert agents.view("PJSIP/agent1", 2000, "redial").availability is Availability.FREE
        agents.set_queue_wrapup({"support": 30, "sales": 600})
        assert agents.view("PJSIP/agent1", 2000, "redial").wrapup_until == 2020

    def test_shared_lastcall_takes_the_longest(self) -> None:
        """Entries sharing one LastCall (shared_lastcall) take the longest wrap-up of those queues."""
        support = dataclasses.replace(ALICE, last_call=1990)
        sales = dataclasses.replace(ALICE, queue="sales", last_call=1990, wrapup_time=5)
        agents = board(support, sales)
        agents.set_queue_wrapup({"support": 10, "sales": 40})
        # The call may have come from sales: support's entry then waits sales' 40 s.
        view = agents.view("PJSIP/agent1", 2020, "redial")
        assert view.availability is Availability.BUSY and view.wrapup_until == 2030
        assert "(sales)" in view.detail

    def test_free_members_skip_wrapup(self) -> None:
        """Fallback candidates in their queue's wrap-up are not offered."""
        bob = dataclasses.replace(ALICE, interface="PJSIP/agent2", state_interface="PJSIP/agent2", last_call=1995)
        agents = board(ALICE, bob)
        assert agents.free_members("support", 2000, "redial") == ["PJSIP/agent1", "PJSIP/agent2"]
        agents.set_queue_wrapup({"support": 10})
        assert agents.free_members("support", 2000, "redial") == ["PJSIP/agent1"]
        assert agents.free_members("support", 2005, "redial") == ["PJSIP/agent1", "PJSIP/agent2"]

    def test_new_wrapup_moves_versions(self) -> None:
        """A changed table makes every earlier plan stale; the same table again changes nothing."""
        agents = board(ALICE)
        before, of_alice = agents.version, agents.version_of("PJSIP/agent1")
        agents.set_queue_wrapup({"support": 30})
        assert agents.version > before and agents.version_of("PJSIP/agent1") > of_alice
        after = agents.version
        agents.set_queue_wrapup({"support": 30})
        assert agents.version == after

    def test_negative_refused(self) -> None:
        """A negative wrap-up is a programming error, not a silent zero."""
        with pytest.raises(ValueError, match="negative"):
            AgentBoard().set_queue_wrapup({"support": -1})
        with pytest.raises(ValueError, match="negative"):
            AgentBoard().set_queue_wrapup({}, default=-5)


class TestDeviceStatus:
    """A member's copy with its device's new status is what dataclasses.replace made of it."""

    @given(
        st.builds(
            ev.MemberState,
            queue=st.text(max_size=3),
            interface=st.text(max_size=3),
            name=st.text(max_size=3),
            state_interface=st.text(max_size=3),
            status=st.integers(0, 8),
            paused=st.booleans(),
            paused_reason=st.text(max_size=3),
            in_call=st.booleans(),
            last_call=st.integers(0, 2**31),
            wrapup_time=st.integers(0, 600),
        ),
        st.integers(0, 8),
    )
    def test_same_as_replace(self, member: ev.MemberState, status: int) -> None:
        want = dataclasses.replace(member, status=status, in_call=status != 1 and member.in_call)
        assert _with_device_status(member, status) == want

    def test_every_field_is_copied(self) -> None:
        # A field added to MemberState with a default would otherwise be reset silently.
        assert [f.name for f in dataclasses.fields(ev.MemberState)] == [
            "queue",
            "interface",
            "name",
            "state_interface",
            "status",
            "paused",
            "paused_reason",
            "in_call",
            "last_call",
            "wrapup_time",
        ]
