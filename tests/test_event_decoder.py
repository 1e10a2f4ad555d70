"""Tests for redial.ami.event_decoder (reached as ``ev.decode`` & co., as the daemon does)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redial.ami import event_decoder
from redial.ami import events as ev
from redial.ami.frames import split_recording


def _events(path: Path) -> list[ev.AmiEvent]:
    return [e for e in map(ev.decode, split_recording(path.read_bytes())) if e is not None]


class TestDecodeRecordings:
    """Real Asterisk 22 traffic decodes into the expected records."""

    def test_rtp_timeout_drop(self, corpus: Path) -> None:
        events = _events(corpus / "asterisk22" / "drop_rtp_timeout.ami")
        soft = [e for e in events if isinstance(e, ev.HangupRequested)]
        assert [(e.soft, e.cause) for e in soft] == [(True, 1), (True, 16)]
        hangups = [e for e in events if isinstance(e, ev.ChannelHungUp)]
        assert [(e.ref.channel, e.cause) for e in hangups] == [
            ("PJSIP/trunk-0000000a", 44),
            ("PJSIP/agent1-0000000b", 44),
        ]
        (connect,) = [e for e in events if isinstance(e, ev.AgentConnected)]
        assert (connect.queue, connect.interface, connect.member_name) == ("support", "PJSIP/agent1", "Alice")
        assert connect.agent.uniqueid == "1795354876.11" and connect.ref.linkedid == "1795354875.10"

    def test_unknown_number_becomes_empty(self, corpus: Path) -> None:
        events = _events(corpus / "asterisk22" / "drop_rtp_timeout.ami")
        agent_new = [e for e in events if isinstance(e, ev.NewChannel) and "agent1" in e.ref.channel]
        assert agent_new[0].caller_number == ""

    def test_originate_response(self, corpus: Path) -> None:
        events = _events(corpus / "asterisk22" / "redial_originate.ami")
        (result,) = [e for e in events if isinstance(e, ev.OriginateResult)]
        assert result == ev.OriginateResult(
            action_id="r1", success=True, reason=4, uniqueid="redial-42-a", channel="PJSIP/agent1-00000012"
        )

    def test_originate_first_leg_dial_end_has_no_caller(self, corpus: Path) -> None:
        events = _events(corpus / "asterisk22" / "redial_originate.ami")
        dial_ends = [e for e in events if isinstance(e, ev.DialEnded)]
        assert dial_ends[0].caller is None and dial_ends[0].dest.uniqueid == "redial-42-a"
        assert dial_ends[1].caller is not None and dial_ends[1].dest.linkedid == "redial-42-a"

    def test_queue_caller_leave(self, corpus: Path) -> None:
        """The answered caller's QueueCallerLeave names the queue, the channel and the position they left."""
        events = _events(corpus / "asterisk22" / "drop_rtp_timeout.ami")
        (leave,) = [e for e in events if isinstance(e, ev.QueueCallerLeft)]
        assert leave == ev.QueueCallerLeft(
            ref=ev.ChannelRef("PJSIP/trunk-0000000a", "1795354875.10", "1795354875.10"), queue="support", position=1
        )


class TestDecodeQueueLine:
    """QueueCallerLeave and QueueEntry frames, and those that lack what they need."""

    def test_queue_caller_leave(self) -> None:
        """Channel, Uniqueid, Linkedid, Queue and Position are read; an unreadable position is None."""
        frame = {
            "Event": "QueueCallerLeave",
            "Channel": "PJSIP/trunk-01",
            "Uniqueid": "1.1",
            "Linkedid": "1.0",
            "Queue": "support",
            "Position": "3",
            "Count": "2",
        }
        assert ev.decode(frame) == ev.QueueCallerLeft(ev.ChannelRef("PJSIP/trunk-01", "1.1", "1.0"), "support", 3)
        odd = ev.decode({**frame, "Position": "first"})
        assert isinstance(odd, ev.QueueCallerLeft) and odd.position is None

    def test_queue_entry(self) -> None:
        """A QueueStatus entry: queue, uniqueid, caller number, seconds waited and position."""
        frame = {
            "Event": "QueueEntry",
            "Queue": "support",
            "Position": "2",
            "Uniqueid": "1.1",
            "CallerIDNum": "2025550123",
            "Wait": "42",
        }
        assert ev.decode(frame) == ev.QueueWaiting("1.1", "support", "2025550123", 42, 2)

    def test_queue_entry_odd_values(self) -> None:
        """<unknown> is no number; a negative or unreadable wait is 0, a missing position 0."""
        frame = {"Event": "QueueEntry", "Queue": "support", "Uniqueid": "1.1", "CallerIDNum": "<unknown>", "Wait": "-5"}
        assert ev.decode(frame) == ev.QueueWaiting("1.1", "support", "", 0, 0)
        waited = ev.decode({**frame, "Wait": "soon"})
        assert isinstance(waited, ev.QueueWaiting) and waited.wait == 0

    @pytest.mark.parametrize("name", ["QueueCallerLeave", "QueueEntry"])
    @pytest.mark.parametrize("missing", ["Queue", "Uniqueid"])
    def test_missing_queue_or_uniqueid_is_none(self, name: str, missing: str) -> None:
        """Without its queue or its caller's Uniqueid, the frame says nothing the line can use."""
        frame = {"Event": name, "Queue": "support", "Uniqueid": "1.1", "Channel": "PJSIP/trunk-01", "Wait": "1"}
        assert ev.decode({k: v for k, v in frame.items() if k != missing}) is None
        assert ev.decode({**frame, missing: ""}) is None


class TestDecodeEdges:
    """Frames the daemon ignores or cannot use."""

    def test_ignored_events_are_none(self) -> None:
        assert ev.decode({"Event": "VarSet", "Uniqueid": "1.1"}) is None
        assert ev.decode({"Response": "Success"}) is None

    def test_missing_uniqueid_is_none(self) -> None:
        assert ev.decode({"Event": "Hangup", "Cause": "16"}) is None

    def test_bad_cause_is_none_not_error(self) -> None:
        hangup = ev.decode({"Event": "Hangup", "Uniqueid": "1.1", "Cause": "x" * 5000})
        assert isinstance(hangup, ev.ChannelHungUp) and hangup.cause is None

    def test_transfer_collects_every_linkedid(self) -> None:
        event = ev.decode(
            {
                "Event": "AttendedTransfer",
                "OrigTransfererLinkedid": "a",
                "SecondTransfererLinkedid": "b",
                "Result": "Success",
            }
        )
        assert event == ev.Transferred(linkedids=frozenset({"a", "b"}), result="Success")

    def test_agent_complete_without_caller_snapshot_names_member(self) -> None:
        """Sent after the caller's channel is gone, AgentComplete falls back to the member's channel."""
        event = ev.decode(
            {
                "Event": "AgentComplete",
                "DestUniqueid": "1.2",
                "DestLinkedid": "1.1",
                "DestChannel": "PJSIP/agent1-02",
                "Reason": "caller",
                "TalkTime": "7",
            }
        )
        assert isinstance(event, ev.AgentCompleted)
        assert (event.ref.uniqueid, event.ref.linkedid, event.talk_time) == ("1.2", "1.1", 7)
        # Both channels gone: nothing links it to a call.
        assert (
            ev.decode(
                {
                    "Event": "AgentComplete",
                    "Queue": "support",
                    "Interface": "PJSIP/agent1",
                    "Reason": "caller",
                    "TalkTime": "7",
                }
            )
            is None
        )

    def test_panoramisk_lists_take_the_first(self) -> None:
        event = ev.decode({"Event": "Hangup", "Uniqueid": ["1.1", "1.2"], "Cause": "16"})
        assert isinstance(event, ev.ChannelHungUp) and event.ref.uniqueid == "1.1"

    @given(
        st.dictionaries(
            st.sampled_from(
                [
                    "Event",
                    "Uniqueid",
                    "Linkedid",
                    "Cause",
                    "Channel",
                    "Queue",
                    "DestUniqueid",
                    "Reason",
                    "Response",
                    "TalkTime",
                ]
            ),
            st.text(max_size=30),
        )
    )
    def test_any_frame_decodes_or_is_none(self, frame: dict[str, str]) -> None:
        names = ("Hangup", "AgentConnect", "DialEnd", "OriginateResponse", "SoftHangupRequest", "AgentComplete")
        for name in (*names, "QueueCallerLeave", "QueueEntry"):
            event = ev.decode({**frame, "Event": name})
            assert event is None or type(event).__module__ == ev.__name__


class TestLiveChannels:
    """A CoreShowChannel list item becomes a LiveChannel."""

    def test_list_item(self) -> None:
        """Every field is read; the HH:MM:SS duration becomes seconds and <unknown> an empty number."""
        channel = event_decoder.live_channel(
            {
                "Event": "CoreShowChannel",
                "Uniqueid": "1.1",
                "Linkedid": "1.1",
                "Channel": "PJSIP/trunk-01",
                "CallerIDNum": "<unknown>",
                "Exten": "400",
                "Application": "Queue",
                "ApplicationData": "support",
                "BridgeId": "b-1",
                "Duration": "01:02:03",
            }
        )
        assert channel == ev.LiveChannel(
            ref=ev.ChannelRef("PJSIP/trunk-01", "1.1", "1.1"),
            caller_number="",
            exten="400",
            application="Queue",
            application_data="support",
            bridge_id="b-1",
            duration=3723,
        )

    def test_unreadable_duration_is_zero(self) -> None:
        """A duration that is not HH:MM:SS counts as zero seconds, never an error."""
        for text in ("", "x", "1:-2:3", "00:00:" + "9" * 20):
            channel = event_decoder.live_channel({"Uniqueid": "1.1", "Duration": text})
            assert channel is not None and channel.duration == 0, text

    def test_item_without_uniqueid_is_none(self) -> None:
        """A list item that names no channel is dropped."""
        assert event_decoder.live_channel({"Event": "CoreShowChannel", "Channel": "PJSIP/x"}) is None


class TestDecoderTable:
    """One decoder per event name the daemon reads, and only those."""

    def test_needed_events_are_the_decoded_ones(self) -> None:
        """The event names Asterisk must send are exactly the table's."""
        assert frozenset(event_decoder.DECODERS) == event_decoder.NEEDED_EVENTS

    def test_every_record_type_is_an_ami_event(self) -> None:
        """Whatever a decoder returns is one of the AmiEvent records."""
        frame = {"Uniqueid": "1.1", "DestUniqueid": "1.2", "Queue": "q", "Interface": "i", "Status": "1", "Device": "d"}
        members = set(ev.AmiEvent.__args__)
        for name, decoder in event_decoder.DECODERS.items():
            record = decoder({**frame, "Event": name})
            assert type(record) in members, name
