"""Tests for redial.ami.events."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

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
        for name in ("Hangup", "AgentConnect", "DialEnd", "OriginateResponse", "SoftHangupRequest", "AgentComplete"):
            event = ev.decode({**frame, "Event": name})
            assert event is None or type(event).__module__ == ev.__name__
