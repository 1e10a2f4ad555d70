"""Tests for redial.core.tracker."""

from __future__ import annotations

from pathlib import Path

import pytest

from redial.ami import events as ev
from redial.core.calls import presentation_withheld
from redial.core.tracker import (
    CallerWithheld,
    CallTracker,
    EndedBy,
    EndedCall,
    InboundCall,
    RoutedToAgent,
    TrackerOutput,
    trunk_of,
)
from redial.service.replay import load_frames


def run(
    frames: list[dict[str, object]] | list, tracker: CallTracker | None = None
) -> tuple[CallTracker, list[TrackerOutput]]:
    if tracker is None:
        tracker = CallTracker(is_own_channel=lambda linkedid: linkedid.startswith("redial-"))
    outputs: list[TrackerOutput] = []
    for index, frame in enumerate(frames):
        event = ev.decode(frame)
        if event is not None:
            outputs += tracker.handle(event, float(index))
    return tracker, outputs


def ended(outputs: list[TrackerOutput]) -> list[EndedCall]:
    return [o for o in outputs if isinstance(o, EndedCall)]


class TestAsterisk22Recordings:
    """Who ended the call and with which cause, on real traffic."""

    @pytest.mark.parametrize(
        ("name", "ended_by", "cause", "soft"),
        [
            ("drop_rtp_timeout.ami", EndedBy.CUSTOMER, 44, 1),
            ("drop_bye_q850_41.ami", EndedBy.CUSTOMER, 41, None),
            ("normal_customer_hangup.ami", EndedBy.CUSTOMER, 16, None),
            ("normal_agent_hangup.ami", EndedBy.AGENT, 16, None),
        ],
    )
    def test_end(self, corpus: Path, name: str, ended_by: EndedBy, cause: int, soft: int | None) -> None:
        tracker, outputs = run(load_frames(corpus / "asterisk22" / name))
        (call,) = ended(outputs)
        assert (call.ended_by, call.cause, call.soft_cause) == (ended_by, cause, soft)
        assert call.queue == "support" and call.agent_interface == "PJSIP/agent1" and call.agent_member == "Alice"
        assert call.customer_number == "5551234" and call.dialled == "100" and call.trunk == "trunk"
        assert call.answered_at is not None and not call.transferred
        assert len(tracker) == 0

    def test_inbound_call_reported_once(self, corpus: Path) -> None:
        _, outputs = run(load_frames(corpus / "asterisk22" / "drop_rtp_timeout.ami"))
        inbound = [o for o in outputs if isinstance(o, InboundCall)]
        assert [(i.uniqueid, i.caller_number) for i in inbound] == [("1795354875.10", "5551234")]

    def test_own_redial_channels_are_not_calls(self, corpus: Path) -> None:
        tracker, outputs = run(load_frames(corpus / "asterisk22" / "redial_originate.ami"))
        assert outputs == [] and len(tracker) == 0


class TestCacofoniskCorpus:
    """51 real normal flows (transfers, pickups, queues): no crash, nothing left in memory."""

    def test_every_flow(self, corpus: Path) -> None:
        files = sorted((corpus / "cacofonisk").rglob("*.json"))
        assert len(files) == 51
        for path in files:
            tracker, outputs = run(load_frames(path))
            assert len(tracker) == 0 and tracker.channel_count == 0, path.name
            for call in ended(outputs):
                # None of these flows is a queue call that an agent answered through app_queue.
                assert call.answered_at is None, path.name


def _channel(event: str, uid: str, linked: str, channel: str, **extra: str) -> dict[str, str]:
    return {"Event": event, "Uniqueid": uid, "Linkedid": linked, "Channel": channel, **extra}


def _answered_queue_call() -> list[dict[str, str]]:
    return [
        _channel("Newchannel", "1.1", "1.1", "PJSIP/trunk-01", CallerIDNum="5551234", Exten="100"),
        _channel("QueueCallerJoin", "1.1", "1.1", "PJSIP/trunk-01", Queue="q", CallerIDNum="5551234", Exten="100"),
        _channel("Newchannel", "1.2", "1.1", "PJSIP/agent1-02"),
        _channel("Newchannel", "1.3", "1.1", "PJSIP/agent2-03"),
        {
            "Event": "AgentConnect",
            "Uniqueid": "1.1",
            "Linkedid": "1.1",
            "Channel": "PJSIP/trunk-01",
            "DestUniqueid": "1.2",
            "DestLinkedid": "1.1",
            "DestChannel": "PJSIP/agent1-02",
            "Queue": "q",
            "Interface": "PJSIP/agent1",
            "MemberName": "Alice",
        },
    ]


class TestSyntheticEnds:
    """Ends the recordings do not hold."""

    def test_losing_ringall_member_does_not_count(self) -> None:
        frames = _answered_queue_call()
        frames.insert(4, _channel("Hangup", "1.3", "1.1", "PJSIP/agent2-03", Cause="26"))
        frames += [
            _channel("HangupRequest", "1.2", "1.1", "PJSIP/agent1-02"),
            _channel("Hangup", "1.2", "1.1", "PJSIP/agent1-02", Cause="16"),
            _channel("Hangup", "1.1", "1.1", "PJSIP/trunk-01", Cause="16"),
        ]
        (call,) = ended(run(frames)[1])
        assert (call.ended_by, call.cause) == (EndedBy.AGENT, 16)

    def test_hangup_without_request_names_first_leg_gone(self) -> None:
        frames = [
            *_answered_queue_call(),
            _channel("Hangup", "1.3", "1.1", "PJSIP/agent2-03", Cause="26"),
            _channel("Hangup", "1.1", "1.1", "PJSIP/trunk-01", Cause="38"),
            _channel("Hangup", "1.2", "1.1", "PJSIP/agent1-02", Cause="16"),
        ]
        (call,) = ended(run(frames)[1])
        assert (call.ended_by, call.cause) == (EndedBy.CUSTOMER, 38)

    def test_transfer_is_flagged(self) -> None:
        frames = [
            *_answered_queue_call(),
            _channel("Hangup", "1.3", "1.1", "PJSIP/agent2-03", Cause="26"),
            {"Event": "BlindTransfer", "TransfererLinkedid": "1.1", "TransfereeLinkedid": "1.1", "Result": "Success"},
            _channel("Hangup", "1.2", "1.1", "PJSIP/agent1-02", Cause="16"),
            _channel("Hangup", "1.1", "1.1", "PJSIP/trunk-01", Cause="41"),
        ]
        (call,) = ended(run(frames)[1])
        assert call.transferred

    def test_agent_complete_after_caller_gone_still_counts(self) -> None:
        """AgentComplete naming only the member (caller already destroyed) still gives TalkTime."""
        frames = [
            *_answered_queue_call(),
            _channel("Hangup", "1.3", "1.1", "PJSIP/agent2-03", Cause="26"),
            _channel("HangupRequest", "1.1", "1.1", "PJSIP/trunk-01"),
            _channel("Hangup", "1.1", "1.1", "PJSIP/trunk-01", Cause="16"),
            {
                "Event": "AgentComplete",
                "DestUniqueid": "1.2",
                "DestLinkedid": "1.1",
                "DestChannel": "PJSIP/agent1-02",
                "Queue": "q",
                "Interface": "PJSIP/agent1",
                "Reason": "caller",
                "TalkTime": "42",
            },
            _channel("Hangup", "1.2", "1.1", "PJSIP/agent1-02", Cause="16"),
        ]
        (call,) = ended(run(frames)[1])
        assert (call.talk_time, call.agent_complete_reason) == (42, "caller")

    def test_returning_caller_dialled_straight_to_agent_is_followed(self) -> None:
        """Routed to the agent outside Queue(), answered, then dropped: reported as a call of the old queue."""
        tracker = CallTracker()
        routed = RoutedToAgent("2.1", "support", "PJSIP/agent1", "Alice")
        frames = [
            _channel("Newchannel", "2.1", "2.1", "PJSIP/trunk-05", CallerIDNum="5551234", Exten="100"),
            _channel("Newchannel", "2.2", "2.1", "PJSIP/agent1-06"),
            {
                "Event": "DialEnd",
                "Uniqueid": "2.1",
                "Linkedid": "2.1",
                "Channel": "PJSIP/trunk-05",
                "DestUniqueid": "2.2",
                "DestLinkedid": "2.1",
                "DestChannel": "PJSIP/agent1-06",
                "DialStatus": "ANSWER",
            },
            _channel("SoftHangupRequest", "2.1", "2.1", "PJSIP/trunk-05", Cause="1"),
            _channel("Hangup", "2.1", "2.1", "PJSIP/trunk-05", Cause="44"),
            _channel("Hangup", "2.2", "2.1", "PJSIP/agent1-06", Cause="16"),
        ]
        run(frames[:1], tracker)
        tracker.routed_to_agent(routed, 0.5)
        (call,) = ended(run(frames[1:], tracker)[1])
        assert (call.queue, call.agent_interface, call.agent_member, call.agent_uniqueid) == (
            "support",
            "PJSIP/agent1",
            "Alice",
            "2.2",
        )
        assert call.answered_at is not None and call.joined_at == 0.5
        assert (call.ended_by, call.cause, call.soft_cause) == (EndedBy.CUSTOMER, 44, 1)

    def test_returning_caller_agent_not_answering_goes_through_queue(self) -> None:
        """The direct Dial is not answered: the call is then followed through Queue() as usual."""
        tracker = CallTracker()
        run(_answered_queue_call()[:1], tracker)
        tracker.routed_to_agent(RoutedToAgent("1.1", "other", "PJSIP/agent9", "Zed"), 0.5)
        frames = [
            {
                "Event": "DialEnd",
                "Uniqueid": "1.1",
                "Linkedid": "1.1",
                "Channel": "PJSIP/trunk-01",
                "DestUniqueid": "1.9",
                "DestLinkedid": "1.1",
                "DestChannel": "PJSIP/agent9-09",
                "DialStatus": "NOANSWER",
            },
            *_answered_queue_call()[1:],
            _channel("Hangup", "1.3", "1.1", "PJSIP/agent2-03", Cause="26"),
            _channel("Hangup", "1.1", "1.1", "PJSIP/trunk-01", Cause="44"),
            _channel("Hangup", "1.2", "1.1", "PJSIP/agent1-02", Cause="16"),
        ]
        (call,) = ended(run(frames, tracker)[1])
        assert (call.queue, call.agent_interface, call.agent_member) == ("q", "PJSIP/agent1", "Alice")

    def test_routing_a_channel_that_is_not_the_caller_is_ignored(self) -> None:
        """Only the call's first channel (the customer) can be routed; anything else changes nothing."""
        tracker, _ = run(_answered_queue_call()[:3])
        tracker.routed_to_agent(RoutedToAgent("1.2", "support", "PJSIP/agent1", "Alice"), 0.5)
        tracker.routed_to_agent(RoutedToAgent("7.7", "support", "PJSIP/agent1", "Alice"), 0.5)
        frames = [_channel("Hangup", u, "1.1", "PJSIP/x", Cause="16") for u in ("1.1", "1.2", "1.3")]
        (call,) = ended(run(frames, tracker)[1])
        assert call.queue == "q" and call.answered_at is None

    def test_unanswered_queue_call(self) -> None:
        frames = [*_answered_queue_call()[:2], _channel("Hangup", "1.1", "1.1", "PJSIP/trunk-01", Cause="16")]
        (call,) = ended(run(frames)[1])
        assert call.answered_at is None and call.queue == "q" and call.ended_by is EndedBy.UNKNOWN

    def test_call_stays_until_last_channel_gone(self) -> None:
        frames = [*_answered_queue_call(), _channel("Hangup", "1.1", "1.1", "PJSIP/trunk-01", Cause="41")]
        tracker, outputs = run(frames)
        assert ended(outputs) == [] and len(tracker) == 1

    def test_trunk_of_dashed_endpoint(self) -> None:
        frames = _answered_queue_call()
        frames[0] = _channel("Newchannel", "1.1", "1.1", "PJSIP/my-carrier-0000001a", CallerIDNum="5551234")
        frames[1] = _channel("QueueCallerJoin", "1.1", "1.1", "PJSIP/my-carrier-0000001a", Queue="q")
        frames += [_channel("Hangup", u, "1.1", "x", Cause="16") for u in ("1.1", "1.2", "1.3")]
        (call,) = ended(run(frames)[1])
        assert call.trunk == "my-carrier"


class TestReconnect:
    """Calls whose end was lost while the link was down leave memory at the next login."""

    def test_forget_gone(self) -> None:
        tracker, _ = run(_answered_queue_call())
        assert len(tracker) == 1 and tracker.channel_count == 3
        assert tracker.end_gone(frozenset({"1.1"}), 9.0, pbx_restarted=False) == [] and len(tracker) == 1
        assert tracker.end_gone(frozenset(), 9.0, pbx_restarted=False) == []
        assert len(tracker) == 0 and tracker.channel_count == 0

    def test_answered_call_lost_in_a_pbx_restart_is_reported(self) -> None:
        """Asterisk restarted (or crashed) under an answered call: it ends as lost in the restart."""
        tracker, _ = run(_answered_queue_call())
        (call,) = tracker.end_gone(frozenset(), 9.0, pbx_restarted=True)
        assert call.pbx_restart and call.ended_by is EndedBy.UNKNOWN and call.queue == "q"
        assert len(tracker) == 0

    def test_call_whose_end_had_begun_is_reported(self) -> None:
        """The hang-up request was seen, the Hangups were lost: reported as it stands, restart or not."""
        frames = [*_answered_queue_call(), _channel("SoftHangupRequest", "1.1", "1.1", "PJSIP/trunk-01", Cause="4")]
        tracker, _ = run(frames)
        (call,) = tracker.end_gone(frozenset(), 9.0, pbx_restarted=False)
        assert (call.ended_by, call.soft_cause, call.pbx_restart) == (EndedBy.CUSTOMER, 4, False)


def _dial_end(caller: tuple[str, str], dest: tuple[str, str], linked: str, status: str = "ANSWER") -> dict[str, str]:
    """A DialEnd from ``caller`` (uniqueid, channel) to ``dest``, in call ``linked``."""
    return {
        "Event": "DialEnd",
        "Uniqueid": caller[0],
        "Linkedid": linked,
        "Channel": caller[1],
        "DestUniqueid": dest[0],
        "DestLinkedid": linked,
        "DestChannel": dest[1],
        "DialStatus": status,
    }


LOCAL1 = ("1.2", "Local/1001@from-queue-00000001;1")
LOCAL2 = ("1.3", "Local/1001@from-queue-00000001;2")
PHONE = ("1.4", "PJSIP/1001-00000004")


def _local_member_call(dial_end_first: bool = True) -> list[dict[str, str]]:
    """A queue call answered by a FreePBX-style member Local/1001@from-queue/n (state PJSIP/1001)."""
    connect = {
        "Event": "AgentConnect",
        "Uniqueid": "1.1",
        "Linkedid": "1.1",
        "Channel": "PJSIP/trunk-01",
        "DestUniqueid": LOCAL1[0],
        "DestLinkedid": "1.1",
        "DestChannel": LOCAL1[1],
        "Queue": "q",
        "Interface": "Local/1001@from-queue/n",
        "MemberName": "Alice",
    }
    phone_answers = _dial_end(LOCAL2, PHONE, "1.1")
    return [
        _channel("Newchannel", "1.1", "1.1", "PJSIP/trunk-01", CallerIDNum="5551234", Exten="100"),
        _channel("QueueCallerJoin", "1.1", "1.1", "PJSIP/trunk-01", Queue="q", CallerIDNum="5551234", Exten="100"),
        _channel("Newchannel", LOCAL1[0], "1.1", LOCAL1[1]),
        _channel("Newchannel", LOCAL2[0], "1.1", LOCAL2[1]),
        _channel("Newchannel", PHONE[0], "1.1", PHONE[1]),
        *([phone_answers, connect] if dial_end_first else [connect, phone_answers]),
    ]


class TestLocalMembers:
    """A Local-channel member's halves are not the agent: the phone behind them is."""

    @pytest.mark.parametrize("dial_end_first", [True, False])
    def test_agent_side_media_timeout_is_the_agents_end(self, dial_end_first: bool) -> None:
        """The phone's RTP timeout ends the call from the agent's side, with its cause 44."""
        frames = [
            *_local_member_call(dial_end_first),
            _channel("SoftHangupRequest", PHONE[0], "1.1", PHONE[1], Cause="1"),
            _channel("Hangup", PHONE[0], "1.1", PHONE[1], Cause="44"),
            _channel("HangupRequest", LOCAL2[0], "1.1", LOCAL2[1]),
            _channel("Hangup", LOCAL2[0], "1.1", LOCAL2[1], Cause="44"),
            _channel("SoftHangupRequest", LOCAL1[0], "1.1", LOCAL1[1], Cause="16"),
            _channel("Hangup", LOCAL1[0], "1.1", LOCAL1[1], Cause="44"),
            _channel("Hangup", "1.1", "1.1", "PJSIP/trunk-01", Cause="44"),
        ]
        (call,) = ended(run(frames)[1])
        assert (call.ended_by, call.cause, call.soft_cause) == (EndedBy.AGENT, 44, 1)
        assert (call.agent_interface, call.agent_uniqueid, call.agent_channel) == (
            "Local/1001@from-queue/n",
            PHONE[0],
            PHONE[1],
        )

    def test_optimised_away_halves_do_not_end_the_call(self) -> None:
        """Without /n both halves leave the bridge with cause 16; the later real drop still counts."""
        frames = [
            *_local_member_call(),
            _channel("HangupRequest", LOCAL1[0], "1.1", LOCAL1[1]),
            _channel("Hangup", LOCAL1[0], "1.1", LOCAL1[1], Cause="16"),
            _channel("Hangup", LOCAL2[0], "1.1", LOCAL2[1], Cause="16"),
            _channel("SoftHangupRequest", "1.1", "1.1", "PJSIP/trunk-01", Cause="1"),
            _channel("Hangup", "1.1", "1.1", "PJSIP/trunk-01", Cause="44"),
            _channel("Hangup", PHONE[0], "1.1", PHONE[1], Cause="44"),
        ]
        (call,) = ended(run(frames)[1])
        assert (call.ended_by, call.cause, call.soft_cause) == (EndedBy.CUSTOMER, 44, 1)

    def test_customer_through_a_local_ivr_is_the_real_channel(self) -> None:
        """Queue() reached through Dial(Local/...): the customer is the trunk channel, hung up by its drop."""
        ivr1, ivr2 = ("1.5", "Local/s@ivr-00000009;1"), ("1.6", "Local/s@ivr-00000009;2")
        frames = [
            _channel("Newchannel", "1.1", "1.1", "PJSIP/carrier-01", CallerIDNum="5551234", Exten="100"),
            _channel("Newchannel", ivr1[0], "1.1", ivr1[1]),
            _channel("Newchannel", ivr2[0], "1.1", ivr2[1]),
            _dial_end(("1.1", "PJSIP/carrier-01"), ivr1, "1.1"),
            _channel("QueueCallerJoin", ivr2[0], "1.1", ivr2[1], Queue="q", CallerIDNum="5551234", Exten="s"),
            _channel("Newchannel", "1.2", "1.1", "PJSIP/agent1-02"),
            {
                "Event": "AgentConnect",
                "Uniqueid": ivr2[0],
                "Linkedid": "1.1",
                "Channel": ivr2[1],
                "DestUniqueid": "1.2",
                "DestLinkedid": "1.1",
                "DestChannel": "PJSIP/agent1-02",
                "Queue": "q",
                "Interface": "PJSIP/agent1",
                "MemberName": "Alice",
            },
            _channel("SoftHangupRequest", "1.1", "1.1", "PJSIP/carrier-01", Cause="1"),
            _channel("Hangup", "1.1", "1.1", "PJSIP/carrier-01", Cause="44"),
            _channel("SoftHangupRequest", ivr1[0], "1.1", ivr1[1], Cause="16"),
            _channel("Hangup", ivr1[0], "1.1", ivr1[1], Cause="16"),
            _channel("Hangup", ivr2[0], "1.1", ivr2[1], Cause="16"),
            _channel("Hangup", "1.2", "1.1", "PJSIP/agent1-02", Cause="16"),
        ]
        (call,) = ended(run(frames)[1])
        assert (call.customer_channel, call.trunk, call.dialled) == ("PJSIP/carrier-01", "carrier", "100")
        assert (call.ended_by, call.cause) == (EndedBy.CUSTOMER, 44)


class TestOverflow:
    """A caller answered from a second queue is a call of that queue."""

    def test_agent_connect_names_the_queue(self) -> None:
        """Queue(a) timed out, Queue(b) answered: the call is b's."""
        frames = _answered_queue_call()
        frames.insert(2, _channel("QueueCallerJoin", "1.1", "1.1", "PJSIP/trunk-01", Queue="b", Exten="100"))
        frames[-1] = {**frames[-1], "Queue": "b"}
        frames += [_channel("Hangup", u, "1.1", "x", Cause="16") for u in ("1.1", "1.2", "1.3")]
        (call,) = ended(run(frames)[1])
        assert call.queue == "b"


class TestTrunkNames:
    """The trunk is read right from every channel driver's names."""

    @pytest.mark.parametrize(
        ("channel", "trunk"),
        [
            ("PJSIP/trunk-0000000a", "trunk"),
            ("PJSIP/my-carrier-0000001a", "my-carrier"),
            ("SIP/carrier-00000001", "carrier"),
            ("IAX2/carrier-1234", "carrier"),
            ("DAHDI/i1/5551234-1", "i1"),
            ("DAHDI/i2/-5", "i2"),
            ("DAHDI/3-1", "3"),
        ],
    )
    def test_trunk_of(self, channel: str, trunk: str) -> None:
        """Each driver's channel name gives its trunk, never the caller ID inside it."""
        assert trunk_of(channel) == trunk


def _keyed() -> CallTracker:
    return CallTracker(number_key=lambda n: n.lstrip("+") if len(n) >= 7 else "")


class TestLiveCustomers:
    """Which customers are on a live call right now, by their key."""

    def test_caller_is_live_until_the_call_ends(self) -> None:
        """An inbound caller is found while the call lasts, and forgotten after."""
        tracker, _ = run(_answered_queue_call(), _keyed())
        assert tracker.live_call_with("5551234") == ("1.1", "caller")
        run([_channel("Hangup", u, "1.1", "x", Cause="16") for u in ("1.1", "1.2", "1.3")], tracker)
        assert tracker.live_call_with("5551234") is None

    def test_number_an_agent_dialled_is_live(self) -> None:
        """An agent calling the customer by hand puts the customer on a live call."""
        tracker, _ = run(
            [_channel("Newchannel", "3.1", "3.1", "PJSIP/agent1-07", CallerIDNum="1001", Exten="2025550143")], _keyed()
        )
        assert tracker.live_call_with("2025550143") == ("3.1", "callee")
        assert tracker.live_call_with("1001") is None
        tracker.end_gone(frozenset(), 9.0, pbx_restarted=False)
        assert tracker.live_call_with("2025550143") is None


class TestWithheldPresentation:
    """A restricted presentation marks the call's number as withheld."""

    @pytest.mark.parametrize(
        ("pres", "withheld"),
        [("0", False), ("1", False), ("32", True), ("33", True), ("67", True), ("", False), ("x", False)],
    )
    def test_presentation_values(self, pres: str, withheld: bool) -> None:
        """Restricted (0x20) and unavailable (0x40) presentations are withheld; allowed ones are not."""
        assert presentation_withheld(pres) is withheld

    def test_withheld_before_the_channel_is_seen(self) -> None:
        """The hook answered before AMI's Newchannel arrived: the call is still withheld."""
        tracker = CallTracker()
        tracker.caller_withheld(CallerWithheld("1.1"))
        hangups = [_channel("Hangup", u, "1.1", "x", Cause="16") for u in ("1.1", "1.2", "1.3")]
        frames = [*_answered_queue_call(), *hangups]
        (call,) = ended(run(frames, tracker)[1])
        assert call.number_withheld

    def test_withheld_caller_reported(self) -> None:
        """The hook's word reaches the ended call."""
        tracker, _ = run(_answered_queue_call())
        tracker.caller_withheld(CallerWithheld("1.1"))
        frames = [_channel("Hangup", u, "1.1", "x", Cause="16") for u in ("1.1", "1.2", "1.3")]
        (call,) = ended(run(frames, tracker)[1])
        assert call.number_withheld
