"""Tests for redial.core.adopt: calls already up when the daemon starts, rebuilt from CoreShowChannels."""

from __future__ import annotations

import dataclasses

from redial.ami import events as ev
from redial.core.adopt import calls_in_progress
from redial.core.tracker import CallTracker, EndedBy, EndedCall


def live(
    uid: str, linked: str, channel: str, app: str = "", data: str = "", bridge: str = "", **extra: str
) -> ev.LiveChannel:
    frame = {
        "Event": "CoreShowChannel",
        "Uniqueid": uid,
        "Linkedid": linked,
        "Channel": channel,
        "Application": app,
        "ApplicationData": data,
        "BridgeId": bridge,
        "Duration": "00:01:05",
        **extra,
    }
    channel_record = ev.live_channel(frame)
    assert channel_record is not None
    return channel_record


MEMBERS = {
    ("PJSIP/agent1", "support"): ("PJSIP/agent1", "Alice"),
    ("PJSIP/1001", "support"): ("Local/1001@from-queue/n", "Bob"),
}


def member_of(device: str, queue: str) -> tuple[str, str] | None:
    return MEMBERS.get((device, queue))


def never_own(_linkedid: str) -> bool:
    return False


class TestCallsInProgress:
    """The channel list gives each call's customer, queue and agent leg."""

    def test_direct_member(self) -> None:
        """A caller in Queue() bridged with a PJSIP member's channel."""
        (call,) = calls_in_progress(
            [
                live("9.1", "9.1", "PJSIP/trunk-01", "Queue", "support,t", "b1", CallerIDNum="5551234", Exten="100"),
                live("9.2", "9.1", "PJSIP/agent1-02", "AppQueue", "(Outgoing Line)", "b1"),
            ],
            member_of,
            never_own,
        )
        assert (call.queue, call.customer.ref.uniqueid, call.member) == ("support", "9.1", ("PJSIP/agent1", "Alice"))
        assert call.agent_leg is not None and call.agent_leg.ref.uniqueid == "9.2"
        assert call.customer.duration == 65

    def test_local_member_leads_to_the_phone(self) -> None:
        """Behind Local/1001@from-queue/n the agent leg is the phone bridged to the ;2 half."""
        (call,) = calls_in_progress(
            [
                live("9.1", "9.1", "PJSIP/trunk-01", "Queue", "support", "b1"),
                live("9.2", "9.1", "Local/1001@from-queue-0001;1", "AppQueue", "", "b1"),
                live("9.3", "9.1", "Local/1001@from-queue-0001;2", "Dial", "PJSIP/1001", "b2"),
                live("9.4", "9.1", "PJSIP/1001-04", "AppDial", "(Outgoing Line)", "b2"),
            ],
            member_of,
            never_own,
        )
        assert call.agent_leg is not None and call.agent_leg.ref.channel == "PJSIP/1001-04"
        assert call.member == ("Local/1001@from-queue/n", "Bob")

    def test_own_redials_and_plain_calls(self) -> None:
        """The daemon's own calls are skipped; a call in no queue has no queue."""
        found = calls_in_progress(
            [
                live("redial-1-1-9.1", "redial-1-1-9.1", "PJSIP/agent1-05", "AppDial"),
                live("8.1", "8.1", "PJSIP/agent1-06", "Dial", "PJSIP/2025550143@trunk", Exten="2025550143"),
            ],
            member_of,
            lambda linkedid: linkedid.startswith("redial-"),
        )
        assert [(c.linkedid, c.queue, c.agent_leg) for c in found] == [("8.1", None, None)]


class TestTakeUp:
    """A taken-up call's drop is reported like any other."""

    def test_drop_after_take_up(self) -> None:
        """The daemon started mid-call; the customer's media then stops: an abnormal end it can see."""
        tracker = CallTracker(number_key=lambda n: n)
        (found,) = calls_in_progress(
            [
                dataclasses.replace(
                    live("9.1", "9.1", "PJSIP/trunk-01", "Queue", "support", "b1", CallerIDNum="5551234", Exten="s"),
                    dialled="100",
                ),
                live("9.2", "9.1", "PJSIP/agent1-02", "AppQueue", "", "b1"),
            ],
            member_of,
            never_own,
        )
        assert tracker.take_up(found, 1000.0) and not tracker.take_up(found, 1000.0)
        assert tracker.live_call_with("5551234") == ("9.1", "caller")
        outputs = []
        for frame in (
            {
                "Event": "SoftHangupRequest",
                "Uniqueid": "9.1",
                "Linkedid": "9.1",
                "Channel": "PJSIP/trunk-01",
                "Cause": "1",
            },
            {"Event": "Hangup", "Uniqueid": "9.1", "Linkedid": "9.1", "Channel": "PJSIP/trunk-01", "Cause": "44"},
            {"Event": "Hangup", "Uniqueid": "9.2", "Linkedid": "9.1", "Channel": "PJSIP/agent1-02", "Cause": "44"},
        ):
            event = ev.decode(frame)
            assert event is not None
            outputs += tracker.handle(event, 1001.0)
        (call,) = [o for o in outputs if isinstance(o, EndedCall)]
        assert (call.queue, call.agent_interface, call.agent_member) == ("support", "PJSIP/agent1", "Alice")
        assert (call.ended_by, call.cause, call.customer_number, call.dialled) == (
            EndedBy.CUSTOMER,
            44,
            "5551234",
            "100",  # the DNID from the Status list, not the channel's current extension
        )
        assert call.answered_at == 1000.0 - 65
        assert len(tracker) == 0

    def test_call_that_ended_after_the_channel_list_is_not_taken_up(self) -> None:
        """Its Hangups came before the LinkUp: taking it up would leave a call that never ends."""
        tracker = CallTracker(number_key=lambda n: n)
        (found,) = calls_in_progress(
            [
                live("9.1", "9.1", "PJSIP/trunk-01", "Queue", "support", "b1", CallerIDNum="5551234"),
                live("9.2", "9.1", "PJSIP/agent1-02", "AppQueue", "", "b1"),
            ],
            member_of,
            never_own,
        )
        event = ev.decode({"Event": "Hangup", "Uniqueid": "9.1", "Linkedid": "9.1", "Channel": "PJSIP/trunk-01"})
        assert event is not None
        tracker.handle(event, 999.0)
        assert not tracker.take_up(found, 1000.0)
        assert len(tracker) == 0 and tracker.live_call_with("5551234") is None
